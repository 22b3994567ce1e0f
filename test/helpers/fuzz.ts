// Shared pieces of the property-based (fast-check) tests in test/fuzz/.
//
// Run counts come from the environment so that one suite serves both modes:
//   npx vitest run test/fuzz                          short: the default runs per property, seconds per file
//   NSGI_FUZZ_RUNS=20000 npx vitest run test/fuzz     long: minutes (`npm run fuzz`)
// NSGI_FUZZ_SEED=<n> replays a failure fast-check reported (it prints the seed and the path).
import fc from 'fast-check';
import { expect } from 'vitest';
import { NsgiError } from '../../src/errors.js';

/** Runs per property (default 300; `NSGI_FUZZ_RUNS` overrides). */
export const FUZZ_RUNS = positiveEnv('NSGI_FUZZ_RUNS', 300);

/** A seed to replay, when `NSGI_FUZZ_SEED` is set. */
export const FUZZ_SEED = process.env.NSGI_FUZZ_SEED !== undefined && process.env.NSGI_FUZZ_SEED !== '' ? Number(process.env.NSGI_FUZZ_SEED) : undefined;

/**
 * A per-test timeout that grows with the run count, so the long mode is not
 * cut by vitest's default while the short mode stays bounded.
 */
export function fuzzTimeout(msPerRun = 5, floorMs = 30_000): number {
  return Math.max(floorMs, FUZZ_RUNS * msPerRun);
}

/** fast-check parameters: `runs` is a fraction of FUZZ_RUNS for the costlier properties. */
export function params(fraction = 1): fc.Parameters<unknown> {
  const numRuns = Math.max(10, Math.round(FUZZ_RUNS * fraction));
  return FUZZ_SEED === undefined ? { numRuns } : { numRuns, seed: FUZZ_SEED };
}

function positiveEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}

/** Sorted, distinct cut offsets strictly inside `0..length` (fractions in [0,1) scaled, so shrinking stays valid). */
export function cutsArb(maxCuts = 12): fc.Arbitrary<number[]> {
  return fc.array(fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), { maxLength: maxCuts });
}

/** Cuts `buf` into pieces at the given fractions of its length (every piece non-empty). */
export function splitAt(buf: Buffer, fractions: readonly number[]): Buffer[] {
  const offsets = [...new Set(fractions.map((f) => Math.floor(f * buf.length)))].filter((o) => o > 0 && o < buf.length).sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let from = 0;
  for (const o of offsets) {
    pieces.push(buf.subarray(from, o));
    from = o;
  }
  if (from < buf.length || pieces.length === 0) pieces.push(buf.subarray(from));
  return pieces;
}

/** Every split into 1-byte pieces: the harshest cut, tried beside the random ones. */
export function bytewise(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i++) out.push(buf.subarray(i, i + 1));
  return out;
}

/** What a parser run ended with: a value, or the code of the typed error it threw. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; code: string; name: string };

/**
 * Runs `fn`; a thrown {@link NsgiError} becomes `{ ok: false, code }`. Any
 * other exception is a property failure (rethrown with a note).
 */
export function outcome<T>(fn: () => T): Outcome<T> {
  try {
    return { ok: true, value: fn() };
  } catch (error) {
    if (error instanceof NsgiError) return { ok: false, code: error.code, name: error.name };
    throw new Error(`a parser threw something other than an NsgiError: ${String(error)}`, { cause: error });
  }
}

/** Asserts that a typed error has one of the codes expected of this parser. */
export function expectCodeIn<T>(result: Outcome<T>, codes: readonly string[]): void {
  if (!result.ok) expect(codes).toContain(result.code);
}

/**
 * A mutation of a valid byte stream: flip, overwrite, insert or delete bytes,
 * or truncate. Valid inputs reach deep into a parser; their mutants probe every
 * check on the way.
 */
export type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; byte: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; count: number }
  | { kind: 'truncate'; at: number };

/** Mutations whose positions are fractions of the length (applied by {@link mutate}). */
export function mutationsArb(maxMutations = 4): fc.Arbitrary<Mutation[]> {
  const at = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at, bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ kind: fc.constant('set' as const), at, byte: fc.constantFrom(0, 0x7f, 0x80, 0xff, 0x0a, 0x0d, 0x3a, 0x2c, 0x30) }),
    fc.record({ kind: fc.constant('insert' as const), at, bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }) }),
    fc.record({ kind: fc.constant('delete' as const), at, count: fc.integer({ min: 1, max: 12 }) }),
    fc.record({ kind: fc.constant('truncate' as const), at }),
  ) as fc.Arbitrary<Mutation>;
  return fc.array(mutation, { minLength: 1, maxLength: maxMutations });
}

/** Applies mutations in order (fractional positions resolved against the current length). */
export function mutate(input: Buffer, mutations: readonly Mutation[]): Buffer {
  let buf = Buffer.from(input);
  for (const m of mutations) {
    const at = Math.floor(m.at * buf.length);
    switch (m.kind) {
      case 'flip':
        if (buf.length > 0) buf[at] = buf[at]! ^ (1 << m.bit);
        break;
      case 'set':
        if (buf.length > 0) buf[at] = m.byte;
        break;
      case 'insert':
        buf = Buffer.concat([buf.subarray(0, at), m.bytes, buf.subarray(at)]);
        break;
      case 'delete':
        buf = Buffer.concat([buf.subarray(0, at), buf.subarray(at + m.count)]);
        break;
      case 'truncate':
        buf = buf.subarray(0, at);
        break;
    }
  }
  return buf;
}

/** Reads a private field of a parser, to check the memory it keeps (white-box, tests only). */
export function privateField<T>(object: object, name: string): T {
  return (object as Record<string, unknown>)[name] as T;
}
