// Property-based tests of the SCGI request header parser (a netstring of NUL-separated CGI variables):
// valid headers round-trip however they are cut, mutated and random bytes give the same result or the
// same typed error cut or not, and the memory kept is bounded by maxHeaderBytes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LimitError } from '../../src/errors.js';
import { encodeSCGIHeader, SCGIHeaderParser } from '../../src/scgi/parser.js';
import { bytewise, cutsArb, expectCodeIn, fuzzTimeout, mutate, mutationsArb, outcome, params, privateField, splitAt } from '../helpers/fuzz.js';

const CODES = [
  'NSGI_ERR_SCGI_LENGTH',
  'NSGI_ERR_SCGI_NETSTRING',
  'NSGI_ERR_SCGI_HEADER',
  'NSGI_ERR_SCGI_CONTENT_LENGTH',
  'NSGI_ERR_SCGI_VERSION',
  'NSGI_ERR_SCGI_HEADER_TOO_LARGE',
];

// Names are sent as Latin-1: any byte but NUL. Values are UTF-8: any well-formed string without NUL.
const latin1Char = fc.integer({ min: 1, max: 255 }).map((c) => String.fromCharCode(c));
const nameArb = fc
  .oneof(
    { weight: 4, arbitrary: fc.string({ unit: latin1Char, minLength: 1, maxLength: 24 }) },
    { weight: 2, arbitrary: fc.constantFrom('REQUEST_METHOD', 'PATH_INFO', 'HTTP_HOST', 'constructor', 'toString') },
  )
  .filter((n) => n !== 'CONTENT_LENGTH' && n !== 'SCGI');
const valueArb = fc.oneof(
  { weight: 5, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }).map((v) => v.replaceAll('\0', '')) },
  { weight: 1, arbitrary: fc.constantFrom(127, 128, 1000, 70_000).map((n) => 'v'.repeat(n)) },
);
const varsArb = fc.dictionary(nameArb, valueArb, { maxKeys: 10 });
const bodyArb = fc.uint8Array({ maxLength: 200 });

interface Parsed {
  vars: Array<[string, string]>;
  contentLength: number;
  /** Every byte after the netstring's comma: the parser's `rest` and the pieces not pushed. */
  after: string;
}

function sorted(list: Array<[string, string]>): Array<[string, string]> {
  return [...list].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

// Pushes pieces until the parser returns the head; undefined when the input ended first.
function parsePieces(pieces: readonly Buffer[], maxHeaderBytes?: number): Parsed | undefined {
  const parser = new SCGIHeaderParser({ maxHeaderBytes });
  for (let i = 0; i < pieces.length; i++) {
    const head = parser.push(pieces[i]!);
    if (head !== undefined) {
      const after = Buffer.concat([head.rest, ...pieces.slice(i + 1)]);
      return { vars: Object.entries(head.vars), contentLength: head.contentLength, after: after.toString('hex') };
    }
  }
  return undefined;
}

describe('SCGI header parser (property-based)', () => {
  it('reads back any encoded header, however it is cut, with the body bytes after it untouched', () => {
    fc.assert(
      fc.property(varsArb, bodyArb, cutsArb(16), fc.boolean(), (vars, body, cuts, oneByte) => {
        const header = encodeSCGIHeader(vars, body.length);
        const bytes = Buffer.concat([header, body]);
        const pieces = oneByte && bytes.length < 2048 ? bytewise(bytes) : splitAt(bytes, cuts);
        const parsed = parsePieces(pieces, 16 * 1024 * 1024);
        expect(parsed).toBeDefined();
        expect(parsed!.contentLength).toBe(body.length);
        expect(parsed!.after).toBe(Buffer.from(body).toString('hex'));
        // (Sorted: an object lists integer-like keys first, whatever the order sent.)
        expect(sorted(parsed!.vars)).toEqual(sorted([['CONTENT_LENGTH', String(body.length)], ['SCGI', '1'], ...Object.entries(vars)]));
      }),
      params(),
    );
  }, fuzzTimeout());

  it('gives the same head, or the same typed error, for a mutated request however it is cut', () => {
    fc.assert(
      fc.property(varsArb, bodyArb, mutationsArb(), cutsArb(16), fc.integer({ min: 1, max: 200_000 }), (vars, body, mutations, cuts, maxHeaderBytes) => {
        const bytes = mutate(Buffer.concat([encodeSCGIHeader(vars, body.length), body]), mutations);
        const whole = outcome(() => parsePieces([bytes], maxHeaderBytes));
        const split = outcome(() => parsePieces(splitAt(bytes, cuts), maxHeaderBytes));
        expectCodeIn(whole, CODES);
        expect(split).toEqual(whole);
      }),
      params(),
    );
  }, fuzzTimeout());

  it('gives the same head, or the same typed error, for random bytes however they are cut', () => {
    // Random bytes behind a plausible length prefix, so that some get past the prefix into the pairs.
    const input = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u)),
      fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.concat([Buffer.from(`${Math.max(0, u.length - 1)}:`), u])),
      fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.concat([Buffer.from(`${u.length + 2}:CONTENT_LENGTH\x000\x00`), u])),
    );
    fc.assert(
      fc.property(input, cutsArb(24), fc.integer({ min: 1, max: 400 }), (bytes, cuts, maxHeaderBytes) => {
        const whole = outcome(() => parsePieces([bytes], maxHeaderBytes));
        const split = outcome(() => parsePieces(splitAt(bytes, cuts), maxHeaderBytes));
        expectCodeIn(whole, CODES);
        expect(split).toEqual(whole);
      }),
      params(),
    );
  }, fuzzTimeout());

  it('keeps memory bounded by maxHeaderBytes: an endless length prefix or an announced huge header is refused before it is buffered', () => {
    const input = fc.oneof(
      fc.stringMatching(/^[1-9][0-9]{0,30}$/).map((digits) => Buffer.from(digits)),
      fc.tuple(fc.integer({ min: 1, max: 10_000_000 }), fc.uint8Array({ maxLength: 2000 })).map(([n, u]) => Buffer.concat([Buffer.from(`${n}:`), u])),
    );
    fc.assert(
      fc.property(input, cutsArb(24), fc.integer({ min: 1, max: 5000 }), (bytes, cuts, maxHeaderBytes) => {
        const parser = new SCGIHeaderParser({ maxHeaderBytes });
        let error: unknown;
        try {
          for (const piece of splitAt(bytes, cuts)) {
            if (parser.push(piece) !== undefined) break;
            // White-box: the only buffer kept is the header cut across chunks, at its announced size + 1.
            const buf = privateField<Buffer | undefined>(parser, 'buf');
            expect(buf === undefined ? 0 : buf.length).toBeLessThanOrEqual(maxHeaderBytes + 1);
          }
        } catch (e) {
          error = e;
        }
        const colon = bytes.indexOf(0x3a);
        const digits = colon === -1 ? bytes.toString('latin1') : bytes.toString('latin1', 0, colon);
        if (Number(digits) > maxHeaderBytes) {
          expect(error).toBeInstanceOf(LimitError);
          expect((error as LimitError).code).toBe('NSGI_ERR_SCGI_HEADER_TOO_LARGE');
        }
      }),
      params(),
    );
  }, fuzzTimeout());
});
