/**
 * FastCGI name-value pairs (FastCGI 1.0 §3.4): the content of FCGI_PARAMS,
 * FCGI_GET_VALUES and FCGI_GET_VALUES_RESULT.
 *
 * Each pair is the name length, the value length, the name, the value. A
 * length below 128 takes one byte; a longer one takes four, with the high
 * bit of the first set. The PARAMS stream may cut a pair anywhere: between
 * records, inside a length, inside a name. {@link ParamsDecoder} takes the
 * content in whatever pieces it arrives, decodes whole pairs straight from
 * those pieces, and copies only the one pair that straddles a cut.
 *
 * Names are read as Latin-1 (CGI variable names are ASCII tokens, and Latin-1
 * maps every byte to one character, so nothing is lost); values are read as
 * UTF-8, which is what web servers put in `PATH_INFO` and what apps expect.
 * @module
 */
import { isAscii } from 'node:buffer';
import { LimitError, ProtocolError } from '../errors.js';

/** Options of {@link ParamsDecoder}. */
export interface ParamsDecoderOptions {
  /** Largest total size of the encoded stream, in bytes (default: `1048576`, 1 MiB). */
  maxBytes?: number;
  /** The record type being decoded, for messages (default: `'PARAMS'`). */
  what?: string;
}

/** Default limit of a PARAMS stream: big cookies and long URLs are real, 1 MiB is not. */
export const DEFAULT_MAX_PARAMS_BYTES = 1024 * 1024;

/**
 * Decodes a stream of name-value pairs fed in arbitrary pieces. `push()` each
 * piece (a range of a buffer: no view is made), then `end()` when the stream
 * ends to get the pairs. A repeated name keeps its last value.
 *
 * @example
 * ```ts
 * const d = new ParamsDecoder();
 * d.push(content, 0, content.length);
 * const vars = d.end(); // { REQUEST_METHOD: 'GET', ... }
 * ```
 */
export class ParamsDecoder {
  // Pairs in arrival order; end() turns them into one object (see objectOf).
  // (Arrays taken from a pool, used up to `count`: no growth or allocation per request.)
  private names: string[] = takeArray();
  private values: string[] = takeArray();
  private count = 0;
  private readonly maxBytes: number;
  private readonly what: string;
  private total = 0;
  // The one pair cut by a piece boundary, copied until it is whole.
  private carry: Buffer | undefined;
  private carryLength = 0;

  constructor(options?: ParamsDecoderOptions) {
    this.maxBytes = options?.maxBytes ?? DEFAULT_MAX_PARAMS_BYTES;
    this.what = options?.what ?? 'PARAMS';
  }

  /** Bytes of encoded pairs received so far. */
  get receivedBytes(): number {
    return this.total;
  }

  /**
   * Feeds `buf[start..end)`. Throws a {@link LimitError}
   * (`NSGI_ERR_FASTCGI_PARAMS_TOO_LARGE`) once the stream passes `maxBytes`.
   */
  push(buf: Buffer, start: number, end: number): void {
    this.total += end - start;
    if (this.total > this.maxBytes) {
      throw new LimitError('NSGI_ERR_FASTCGI_PARAMS_TOO_LARGE', `fastcgi: ${this.what} stream exceeds ${this.maxBytes} bytes`, this.maxBytes);
    }
    let pos = start;
    if (this.carryLength > 0) {
      pos = this.fillCarry(buf, pos, end);
      if (pos === end) return;
    }
    const names = this.names;
    const values = this.values;
    let count = this.count;
    // The whole piece as one string when it is ASCII (as PARAMS nearly always are): then every name and
    // value is a slice of it, cut in JS, instead of two calls into C++ per pair.
    const text = end - pos >= 64 && isAscii(buf.subarray(pos, end)) ? latin1(buf, pos, end) : undefined;
    const base = pos;
    while (pos < end) {
      // Fast path: the whole pair lies in this piece.
      let p = pos;
      let nameLength = buf[p++]!;
      if (nameLength > 127) {
        if (p + 3 > end) break;
        nameLength = ((nameLength & 0x7f) << 24) | (buf[p]! << 16) | (buf[p + 1]! << 8) | buf[p + 2]!;
        p += 3;
      }
      if (p >= end) break;
      let valueLength = buf[p++]!;
      if (valueLength > 127) {
        if (p + 3 > end) break;
        valueLength = ((valueLength & 0x7f) << 24) | (buf[p]! << 16) | (buf[p + 1]! << 8) | buf[p + 2]!;
        p += 3;
      }
      const valueStart = p + nameLength;
      const pairEnd = valueStart + valueLength;
      if (pairEnd > end) break;
      names[count] = nameAt(buf, p, valueStart);
      values[count++] = text !== undefined ? text.slice(valueStart - base, pairEnd - base) : valueLength === 0 ? '' : utf8(buf, valueStart, pairEnd);
      pos = pairEnd;
    }
    this.count = count;
    if (pos < end) this.startCarry(buf, pos, end);
  }

  /**
   * The stream ended: returns the pairs. Throws a {@link ProtocolError}
   * (`NSGI_ERR_FASTCGI_PARAMS`) when it ended inside a pair.
   */
  end(): Record<string, string> {
    if (this.carryLength > 0) {
      throw new ProtocolError('NSGI_ERR_FASTCGI_PARAMS', `fastcgi: ${this.what} stream ended inside a name-value pair (${this.carryLength} bytes left over)`);
    }
    this.carry = undefined;
    const vars = objectOf(this.names, this.values, this.count);
    releaseArray(this.names);
    releaseArray(this.values);
    this.names = this.values = NO_ARRAY;
    return vars;
  }

  // Copies an incomplete pair's first bytes. The carry grows to the pair's size once its lengths are known.
  private startCarry(buf: Buffer, pos: number, end: number): void {
    const n = end - pos;
    if (this.carry === undefined || this.carry.length < n) this.carry = Buffer.allocUnsafe(Math.max(64, n));
    buf.copy(this.carry, 0, pos, end);
    this.carryLength = n;
    const need = pairSize(this.carry, this.carryLength);
    if (need > this.carry.length) this.growCarry(need);
  }

  // Completes the carried pair from `buf`; returns where the rest of `buf` starts (`end` if all was taken).
  private fillCarry(buf: Buffer, pos: number, end: number): number {
    let need = pairSize(this.carry!, this.carryLength);
    // The lengths themselves may be cut: take one byte at a time until they are known (at most 8).
    while (need < 0 && pos < end) {
      this.carry![this.carryLength++] = buf[pos++]!;
      need = pairSize(this.carry!, this.carryLength);
      if (need > this.carry!.length) this.growCarry(need);
    }
    if (need < 0) return pos;
    const take = Math.min(need - this.carryLength, end - pos);
    buf.copy(this.carry!, this.carryLength, pos, pos + take);
    this.carryLength += take;
    pos += take;
    if (this.carryLength === need) {
      const c = this.carry!;
      this.carryLength = 0;
      decodePairAt(c, this.names, this.values, this.count++);
    }
    return pos;
  }

  private growCarry(need: number): void {
    // `need` is bounded: push() already refused a stream past maxBytes... unless the lengths announce more than
    // will ever come. Refuse a pair larger than the limit before allocating for it.
    if (need > this.maxBytes) {
      throw new LimitError('NSGI_ERR_FASTCGI_PARAMS_TOO_LARGE', `fastcgi: a ${this.what} name-value pair of ${need} bytes exceeds ${this.maxBytes} bytes`, this.maxBytes);
    }
    const bigger = Buffer.allocUnsafe(need);
    this.carry!.copy(bigger, 0, 0, this.carryLength);
    this.carry = bigger;
  }
}

// Total encoded size of the pair at the start of buf[0..length), or -1 while its lengths are incomplete.
function pairSize(buf: Buffer, length: number): number {
  if (length < 1) return -1;
  let p = 0;
  let nameLength = buf[p++]!;
  if (nameLength > 127) {
    if (length < 4) return -1;
    nameLength = ((nameLength & 0x7f) << 24) | (buf[1]! << 16) | (buf[2]! << 8) | buf[3]!;
    p = 4;
  }
  if (length < p + 1) return -1;
  let valueLength = buf[p++]!;
  if (valueLength > 127) {
    if (length < p + 3) return -1;
    valueLength = ((valueLength & 0x7f) << 24) | (buf[p]! << 16) | (buf[p + 1]! << 8) | buf[p + 2]!;
    p += 3;
  }
  return p + nameLength + valueLength;
}

function decodePairAt(buf: Buffer, names: string[], values: string[], at: number): void {
  let p = 0;
  let nameLength = buf[p++]!;
  if (nameLength > 127) {
    nameLength = ((nameLength & 0x7f) << 24) | (buf[1]! << 16) | (buf[2]! << 8) | buf[3]!;
    p = 4;
  }
  let valueLength = buf[p++]!;
  if (valueLength > 127) {
    valueLength = ((valueLength & 0x7f) << 24) | (buf[p]! << 16) | (buf[p + 1]! << 8) | buf[p + 2]!;
    p += 3;
  }
  const valueStart = p + nameLength;
  names[at] = nameAt(buf, p, valueStart);
  values[at] = utf8(buf, valueStart, valueStart + valueLength);
}

// Names repeat on every request (REQUEST_METHOD, HTTP_HOST...). A small direct-mapped cache, keyed by a
// hash of the bytes and checked byte for byte, hands back the same string each time: no string is built,
// and the string is one V8 has already internalized as a property key, so storing it in the environ is
// cheap. Bounded: a peer sending random names only evicts entries.
const NAME_CACHE_SLOTS = 1024;
const MAX_CACHED_NAME = 64;
const nameCache: Array<string | undefined> = new Array<string | undefined>(NAME_CACHE_SLOTS).fill(undefined);

function nameAt(buf: Buffer, start: number, end: number): string {
  const length = end - start;
  if (length > MAX_CACHED_NAME) return latin1(buf, start, end);
  // A constant-time hash (length and four sampled bytes): the byte-for-byte check below settles the rest.
  if (length === 0) return '';
  let h = Math.imul(length, 0x9e3779b1) ^ buf[start]!;
  h = Math.imul(h ^ buf[end - 1]!, 0x01000193);
  h = Math.imul(h ^ buf[start + (length >>> 1)]!, 0x01000193);
  h = Math.imul(h ^ buf[start + (length >>> 2)]!, 0x01000193);
  const slot = (h ^ (h >>> 15)) & (NAME_CACHE_SLOTS - 1);
  const cached = nameCache[slot];
  if (cached !== undefined && cached.length === length) {
    let i = 0;
    while (i < length && cached.charCodeAt(i) === buf[start + i]) i++;
    if (i === length) return cached;
  }
  const name = latin1(buf, start, end);
  nameCache[slot] = name;
  return name;
}

/*
 * From pairs to an object. Adding some 30 keys one by one to a fresh object costs V8 a hidden-class
 * transition and a megamorphic store per key (about 0.8 µs per request, more than all the decoding).
 * But a web server sends the same names in the same order request after request. So once a sequence of
 * names has been seen twice, a function whose body is one object literal with those names is compiled
 * (names embedded with JSON.stringify, so any bytes are a safe string literal), and building the object
 * becomes one allocation with the final shape (~35 ns). The number of compiled shapes is capped
 * (a peer varying its names only falls back to the plain path); `__proto__` always takes the plain path,
 * where it becomes an own property, never the prototype. A repeated name keeps its last value either way.
 */
interface Shape {
  names: string[];
  build: (values: string[]) => Record<string, string>;
}

const MAX_SHAPES = 64;
const shapes = new Map<number, Shape>();
const seenOnce = new Map<number, string[]>();
let shapesLeft = MAX_SHAPES;
let codegen = true;

function objectOf(names: string[], values: string[], n: number): Record<string, string> {
  let sig = n;
  for (let i = 0; i < n; i++) {
    const name = names[i]!;
    sig = Math.imul(sig ^ name.length ^ (name.charCodeAt(0) << 8) ^ (name.charCodeAt(name.length - 1) << 16), 0x01000193);
  }
  const shape = shapes.get(sig);
  if (shape !== undefined && sameNames(shape.names, names, n)) return shape.build(values);
  if (codegen && shapesLeft > 0 && shape === undefined) {
    const earlier = seenOnce.get(sig);
    if (earlier !== undefined && sameNames(earlier, names, n)) {
      seenOnce.delete(sig);
      const compiled = compileShape(earlier);
      if (compiled !== undefined) {
        shapesLeft--;
        shapes.set(sig, compiled);
        return compiled.build(values);
      }
    } else if (seenOnce.size < MAX_SHAPES) {
      const copy = names.slice(0, n);
      if (!copy.includes('__proto__')) seenOnce.set(sig, copy);
    }
  }
  const vars: Record<string, string> = {};
  for (let i = 0; i < n; i++) set(vars, names[i]!, values[i]!);
  return vars;
}

// Whether shape names `a` are the first n of `b`.
function sameNames(a: string[], b: string[], n: number): boolean {
  if (a.length !== n) return false;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

const arrayPool: string[][] = [];
const NO_ARRAY: string[] = [];

function takeArray(): string[] {
  return arrayPool.pop() ?? new Array<string>(64).fill('');
}

function releaseArray(a: string[]): void {
  if (arrayPool.length < 64 && a !== NO_ARRAY) arrayPool.push(a);
}

function compileShape(names: string[]): Shape | undefined {
  if (names.includes('__proto__')) return undefined;
  const fields = names.map((name, i) => `${JSON.stringify(name)}: v[${i}]`).join(', ');
  try {
    const build = new Function('v', `"use strict"; return { ${fields} };`) as Shape['build'];
    return { names, build };
  } catch {
    // Code generation from strings is disabled (--disallow-code-generation-from-strings): plain path only.
    codegen = false;
    return undefined;
  }
}

// A pair named `__proto__` must become a key, not replace the object's prototype.
function set(vars: Record<string, string>, name: string, value: string): void {
  if (name === '__proto__') Object.defineProperty(vars, name, { value, enumerable: true, writable: true, configurable: true });
  else vars[name] = value;
}

/** Bytes needed to encode one length (§3.4): 1 below 128, else 4. */
function lengthSize(n: number): number {
  return n < 128 ? 1 : 4;
}

function writeLength(out: Buffer, pos: number, n: number): number {
  if (n < 128) {
    out[pos] = n;
    return pos + 1;
  }
  out.writeUInt32BE((n | 0x80000000) >>> 0, pos);
  return pos + 4;
}

/** The largest length the 31-bit encoding can carry. */
const MAX_LENGTH = 0x7fffffff;

/**
 * Encodes name-value pairs (§3.4) into one buffer. Names and values are
 * written as UTF-8 (for ASCII names that is the same as Latin-1).
 *
 * @example
 * ```ts
 * encodeParams({ REQUEST_METHOD: 'GET', QUERY_STRING: '' });
 * encodeParams([['FCGI_MAX_CONNS', ''], ['FCGI_MPXS_CONNS', '']]);
 * ```
 */
export function encodeParams(pairs: Record<string, string> | Iterable<readonly [string, string]>): Buffer {
  const list: Array<readonly [Buffer, Buffer]> = [];
  let size = 0;
  const entries = isIterable(pairs) ? pairs : Object.entries(pairs);
  for (const [name, value] of entries) {
    const n = Buffer.from(name, 'utf8');
    const v = Buffer.from(value, 'utf8');
    if (n.length > MAX_LENGTH || v.length > MAX_LENGTH) throw new RangeError('fastcgi: a name or value longer than 2^31-1 bytes cannot be encoded');
    list.push([n, v]);
    size += lengthSize(n.length) + lengthSize(v.length) + n.length + v.length;
  }
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  for (const [n, v] of list) {
    pos = writeLength(out, pos, n.length);
    pos = writeLength(out, pos, v.length);
    pos += n.copy(out, pos);
    pos += v.copy(out, pos);
  }
  return out;
}

function isIterable(x: unknown): x is Iterable<readonly [string, string]> {
  return typeof (x as Iterable<unknown>)[Symbol.iterator] === 'function';
}

/** Decodes a complete name-value pair buffer in one call (management records, tests). */
export function decodeParams(content: Buffer, options?: ParamsDecoderOptions): Record<string, string> {
  const d = new ParamsDecoder(options);
  d.push(content, 0, content.length);
  return d.end();
}

// Node's Buffer has latin1Slice/utf8Slice, the fast paths behind toString(encoding, start, end) that skip the
// encoding lookup; they matter here (two per pair, dozens per request). Fall back to toString where missing.
interface SliceBuffer extends Buffer {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
}
const fastSlices = typeof (Buffer.prototype as SliceBuffer).latin1Slice === 'function' && typeof (Buffer.prototype as SliceBuffer).utf8Slice === 'function';
const latin1: (buf: Buffer, start: number, end: number) => string = fastSlices
  ? (buf, start, end) => (buf as SliceBuffer).latin1Slice(start, end)
  : (buf, start, end) => buf.toString('latin1', start, end);
const utf8: (buf: Buffer, start: number, end: number) => string = fastSlices
  ? (buf, start, end) => (buf as SliceBuffer).utf8Slice(start, end)
  : (buf, start, end) => buf.toString('utf8', start, end);
