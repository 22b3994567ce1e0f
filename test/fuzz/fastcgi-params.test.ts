// Property-based tests of FastCGI name-value pairs (FastCGI 1.0 §3.4): encodeParams -> ParamsDecoder
// round trips at every length encoding (127/128, 65535/65536+), the same result however the stream is
// cut, typed errors only, and memory bounded by maxBytes whatever a peer announces.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LimitError } from '../../src/errors.js';
import { encodeParams, ParamsDecoder } from '../../src/fastcgi/params.js';
import { cutsArb, expectCodeIn, fuzzTimeout, mutate, mutationsArb, outcome, params, privateField, splitAt } from '../helpers/fuzz.js';

const CODES = ['NSGI_ERR_FASTCGI_PARAMS', 'NSGI_ERR_FASTCGI_PARAMS_TOO_LARGE'];

// Names: CGI names are ASCII tokens, but the codec must carry any ASCII, the empty name, names that are
// Object.prototype keys, and names whose length sits on the 1-byte/4-byte boundary.
const nameArb = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 40 }) },
  { weight: 2, arbitrary: fc.constantFrom('REQUEST_METHOD', 'HTTP_HOST', 'PATH_INFO', '__proto__', 'constructor', 'toString', 'hasOwnProperty', '') },
  { weight: 1, arbitrary: fc.constantFrom(126, 127, 128, 129, 300).map((n) => 'N'.repeat(n)) },
);
// Values: any well-formed Unicode (encoded as UTF-8), and ASCII values of lengths around the encoding
// boundaries and past 64 KiB (a value may exceed one record: the pair is cut across PARAMS records).
const valueArb = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'binary', maxLength: 60 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary-ascii', minLength: 60, maxLength: 400 }) },
  { weight: 1, arbitrary: fc.constantFrom(127, 128, 65535, 65536, 70_001).map((n) => 'v'.repeat(n)) },
);
const pairsArb = fc.array(fc.tuple(nameArb, valueArb), { maxLength: 12 });

/** Own enumerable entries, sorted: compares `__proto__` as a plain key, as the decoder stores it. */
function entries(vars: Record<string, string>): Array<[string, string]> {
  return Object.entries(vars).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

function expected(pairs: ReadonlyArray<readonly [string, string]>): Array<[string, string]> {
  const last = new Map<string, string>();
  for (const [n, v] of pairs) last.set(n, v);
  return [...last].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/**
 * Decodes `bytes` fed as the given pieces. `inPlace` pushes ranges of the one buffer (as the connection
 * does with a socket chunk); otherwise each piece is its own buffer.
 */
function decodePieces(bytes: Buffer, pieces: readonly Buffer[], inPlace: boolean, maxBytes?: number): Record<string, string> {
  const d = new ParamsDecoder({ maxBytes });
  let at = 0;
  for (const piece of pieces) {
    if (inPlace) d.push(bytes, at, at + piece.length);
    else d.push(Buffer.from(piece), 0, piece.length);
    at += piece.length;
  }
  return d.end();
}

describe('name-value pairs (property-based)', () => {
  it('round-trips any pairs, at any length encoding, however the stream is cut (a repeated name keeps its last value)', () => {
    fc.assert(
      fc.property(pairsArb, cutsArb(16), fc.boolean(), (pairs, cuts, inPlace) => {
        const bytes = encodeParams(pairs);
        const vars = decodePieces(bytes, splitAt(bytes, cuts), inPlace, 16 * 1024 * 1024);
        expect(entries(vars)).toEqual(expected(pairs));
        // A pair named __proto__ is a key, never the object's prototype.
        expect(Object.getPrototypeOf(vars)).toBe(Object.prototype);
      }),
      params(),
    );
  }, fuzzTimeout());

  it('encodes each length in 1 byte below 128 and in 4 bytes from 128 (§3.4)', () => {
    fc.assert(
      fc.property(pairsArb, (pairs) => {
        let size = 0;
        for (const [n, v] of pairs) {
          const nb = Buffer.byteLength(n, 'utf8');
          const vb = Buffer.byteLength(v, 'utf8');
          size += (nb < 128 ? 1 : 4) + (vb < 128 ? 1 : 4) + nb + vb;
        }
        expect(encodeParams(pairs).length).toBe(size);
      }),
      params(0.3),
    );
  });

  it('gives the same pairs or the same typed error for a mutated stream, however it is cut', () => {
    fc.assert(
      fc.property(pairsArb, mutationsArb(), cutsArb(16), fc.integer({ min: 1, max: 100_000 }), (pairs, mutations, cuts, maxBytes) => {
        const bytes = mutate(encodeParams(pairs), mutations);
        const whole = outcome(() => entries(decodePieces(bytes, [bytes], true, maxBytes)));
        const split = outcome(() => entries(decodePieces(bytes, splitAt(bytes, cuts), true, maxBytes)));
        expectCodeIn(whole, CODES);
        expect(split).toEqual(whole);
      }),
      params(),
    );
  }, fuzzTimeout());

  it('gives the same pairs or the same typed error for random bytes, however they are cut', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), cutsArb(24), fc.integer({ min: 1, max: 1000 }), (raw, cuts, maxBytes) => {
        const bytes = Buffer.from(raw);
        const whole = outcome(() => entries(decodePieces(bytes, [bytes], false, maxBytes)));
        const split = outcome(() => entries(decodePieces(bytes, splitAt(bytes, cuts), false, maxBytes)));
        expectCodeIn(whole, CODES);
        expect(split).toEqual(whole);
      }),
      params(),
    );
  }, fuzzTimeout());

  it('keeps memory bounded by maxBytes: the carried pair never outgrows the limit, and past it push() refuses', () => {
    // A peer can announce a 2 GiB value in 8 bytes; the decoder must refuse it, not allocate it.
    const announced = fc.tuple(fc.integer({ min: 0, max: 0x7fffffff }), fc.integer({ min: 0, max: 0x7fffffff })).map(([n, v]) => {
      const b = Buffer.alloc(8);
      b.writeUInt32BE((n | 0x80000000) >>> 0, 0);
      b.writeUInt32BE((v | 0x80000000) >>> 0, 4);
      return b;
    });
    const stream = fc.oneof(
      fc.uint8Array({ maxLength: 3000 }).map((u) => Buffer.from(u)),
      fc.tuple(announced, fc.uint8Array({ maxLength: 3000 })).map(([h, u]) => Buffer.concat([h, u])),
    );
    fc.assert(
      fc.property(stream, cutsArb(24), fc.integer({ min: 1, max: 4096 }), (bytes, cuts, maxBytes) => {
        const d = new ParamsDecoder({ maxBytes });
        let refused: unknown;
        for (const piece of splitAt(bytes, cuts)) {
          try {
            d.push(piece, 0, piece.length);
          } catch (error) {
            refused = error;
            break;
          }
          // White-box: the one buffer the decoder keeps is the carry of a pair cut between pieces.
          const carry = privateField<Buffer | undefined>(d, 'carry');
          expect(carry === undefined ? 0 : carry.length).toBeLessThanOrEqual(Math.max(64, maxBytes));
          expect(d.receivedBytes).toBeLessThanOrEqual(maxBytes);
        }
        if (bytes.length > maxBytes) expect(refused).toBeInstanceOf(LimitError);
        if (refused !== undefined) {
          // push() refuses with a LimitError only; a malformed stream is end()'s to report.
          expect(refused).toBeInstanceOf(LimitError);
          expect((refused as LimitError).code).toBe('NSGI_ERR_FASTCGI_PARAMS_TOO_LARGE');
          expect((refused as LimitError).limit).toBe(maxBytes);
        }
      }),
      params(),
    );
  }, fuzzTimeout());
});
