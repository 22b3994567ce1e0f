// Property-based tests of CGIResponseParser (RFC 3875 §6), which every nsgi client reads FastCGI STDOUT,
// SCGI and CGI responses through: valid heads with LF or CRLF lines read back however they are cut,
// malformed bytes give a typed error or the same head cut or not, and what it keeps stays bounded.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CGIResponseParser } from '../../src/cgi-response.js';
import { LimitError } from '../../src/errors.js';
import { bytewise, cutsArb, expectCodeIn, fuzzTimeout, mutate, mutationsArb, outcome, params, splitAt } from '../helpers/fuzz.js';

const CODES = ['NSGI_ERR_CGI_RESPONSE', 'NSGI_ERR_CGI_RESPONSE_TOO_LARGE'];
const TOKEN = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

const tokenArb = fc.string({ unit: fc.constantFrom(...TOKEN), minLength: 1, maxLength: 20 });
// Header values: visible Latin-1 with inner spaces and tabs, no leading or trailing blank (the parser trims).
const valueArb = fc
  .string({ unit: fc.oneof(fc.integer({ min: 0x21, max: 0x7e }), fc.integer({ min: 0xa0, max: 0xff }), fc.constantFrom(0x20, 0x09)).map((c) => String.fromCharCode(c)), maxLength: 40 })
  .map((v) => v.trim());
const headerArb = fc.oneof(
  { weight: 5, arbitrary: fc.tuple(tokenArb.filter((n) => n.toLowerCase() !== 'status'), valueArb) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('Location', 'location', 'Set-Cookie', 'Content-Type'), valueArb) },
);
const statusArb = fc.option(
  fc.tuple(fc.integer({ min: 100, max: 599 }), fc.oneof(fc.constant(''), fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 30 }).map((r) => r.trim()))),
  { nil: undefined },
);

interface Response {
  status: [number, string] | undefined;
  statusAt: number;
  headers: Array<[string, string]>;
  /** Line ending of each line (and of the blank line, last). */
  crlf: boolean[];
  body: Uint8Array;
  statusName: string;
}

const responseArb: fc.Arbitrary<Response> = fc
  .record({
    status: statusArb,
    statusAt: fc.nat(),
    headers: fc.array(headerArb, { maxLength: 10 }),
    crlf: fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
    body: fc.uint8Array({ maxLength: 200 }),
    statusName: fc.constantFrom('Status', 'status', 'STATUS'),
  });

function encode(r: Response): Buffer {
  const lines = r.headers.map(([n, v]) => `${n}: ${v}`);
  if (r.status !== undefined) lines.splice(r.statusAt % (lines.length + 1), 0, `${r.statusName}: ${r.status[0]}${r.status[1] ? ` ${r.status[1]}` : ''}`);
  let text = '';
  lines.forEach((line, i) => (text += line + (r.crlf[i] ? '\r\n' : '\n')));
  text += r.crlf[11] ? '\r\n' : '\n';
  return Buffer.concat([Buffer.from(text, 'latin1'), r.body]);
}

interface Parsed {
  status: number;
  statusText: string;
  headers: Array<[string, string]>;
  after: string;
}

function parsePieces(pieces: readonly Buffer[], maxHeadBytes?: number): Parsed | undefined {
  const parser = new CGIResponseParser({ maxHeadBytes });
  for (let i = 0; i < pieces.length; i++) {
    const head = parser.push(pieces[i]!);
    if (head !== undefined) {
      return { status: head.status, statusText: head.statusText, headers: head.headers as Array<[string, string]>, after: Buffer.concat([head.rest, ...pieces.slice(i + 1)]).toString('hex') };
    }
  }
  return undefined;
}

describe('CGI response parser (property-based)', () => {
  it('reads back any valid head (LF or CRLF lines, Status anywhere, Location) however it is cut, the body untouched', () => {
    fc.assert(
      fc.property(responseArb, cutsArb(16), fc.boolean(), (r, cuts, oneByte) => {
        const bytes = encode(r);
        const parsed = parsePieces(oneByte ? bytewise(bytes) : splitAt(bytes, cuts));
        expect(parsed).toBeDefined();
        const location = r.headers.some(([n]) => n.toLowerCase() === 'location');
        const [code, reason] = r.status ?? (location ? [302, 'Found'] : [200, 'OK']);
        expect([parsed!.status, parsed!.statusText]).toEqual([code, reason]);
        expect(parsed!.headers).toEqual(r.headers);
        expect(parsed!.after).toBe(Buffer.from(r.body).toString('hex'));
      }),
      params(),
    );
  }, fuzzTimeout());

  // maxHeadBytes stays at its default here: a head that crosses the limit gives a different outcome cut
  // or not (see the hardening report: the limit is only checked while the blank line has not come).
  it('gives the same head, or the same typed error, for a mutated response however it is cut', () => {
    fc.assert(
      fc.property(responseArb, mutationsArb(), cutsArb(16), (r, mutations, cuts) => {
        const bytes = mutate(encode(r), mutations);
        const whole = outcome(() => parsePieces([bytes]));
        const split = outcome(() => parsePieces(splitAt(bytes, cuts)));
        expectCodeIn(whole, CODES);
        expect(split).toEqual(whole);
      }),
      params(),
    );
  }, fuzzTimeout());

  it('gives the same head, or the same typed error, for random bytes however they are cut', () => {
    const byte = fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 0, max: 255 }) }, { weight: 2, arbitrary: fc.constantFrom(0x0a, 0x0d, 0x3a, 0x20) });
    fc.assert(
      fc.property(fc.array(byte, { maxLength: 400 }), cutsArb(24), (raw, cuts) => {
        const bytes = Buffer.from(raw);
        const whole = outcome(() => parsePieces([bytes]));
        const split = outcome(() => parsePieces(splitAt(bytes, cuts)));
        expectCodeIn(whole, CODES);
        expect(split).toEqual(whole);
      }),
      params(),
    );
  }, fuzzTimeout());

  it('keeps what it buffers bounded: a head that never ends is refused once it passes maxHeadBytes', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 2000 }), (chunks, maxHeadBytes) => {
        const parser = new CGIResponseParser({ maxHeadBytes });
        let received = 0;
        let refused: unknown;
        for (const c of chunks) {
          // No LF at all: the blank line can never come.
          const chunk = Buffer.from(c.map((b) => (b === 0x0a ? 0x20 : b)));
          try {
            parser.push(chunk);
          } catch (error) {
            refused = error;
            break;
          }
          received += chunk.length;
          expect(received).toBeLessThanOrEqual(maxHeadBytes);
        }
        const total = chunks.reduce((n, c) => n + c.length, 0);
        if (total > maxHeadBytes) {
          expect(refused).toBeInstanceOf(LimitError);
          expect((refused as LimitError).code).toBe('NSGI_ERR_CGI_RESPONSE_TOO_LARGE');
        } else expect(refused).toBeUndefined();
      }),
      params(),
    );
  }, fuzzTimeout());
});
