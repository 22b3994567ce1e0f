// Property-based tests of the FastCGI record layer (FastCGI 1.0 §3.3): the sans-I/O RecordParser fed
// valid, mutated and random byte streams cut at random offsets, and the RecordWriter's output read back.
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import { RecordParser } from '../../src/fastcgi/parser.js';
import {
  encodeRecord,
  FCGI_BEGIN_REQUEST,
  FCGI_END_REQUEST,
  FCGI_GET_VALUES_RESULT,
  FCGI_HEADER_LEN,
  FCGI_MAX_CONTENT,
  FCGI_STDERR,
  FCGI_STDOUT,
  FCGI_UNKNOWN_TYPE,
  paddingFor,
} from '../../src/fastcgi/protocol.js';
import { MAX_RECORD_CONTENT, RecordWriter } from '../../src/fastcgi/writer.js';
import { bytewise, cutsArb, expectCodeIn, fuzzTimeout, mutate, mutationsArb, outcome, params, splitAt } from '../helpers/fuzz.js';

interface Rec {
  type: number;
  requestId: number;
  contentLength: number;
  paddingLength: number;
  content: Buffer;
}

/** A record with its content as a digest: cheap to compare with toEqual, even for 64 KiB contents. */
interface Digest {
  type: number;
  requestId: number;
  contentLength: number;
  paddingLength: number;
  sha1: string;
}

function digest(r: Rec): Digest {
  return { type: r.type, requestId: r.requestId, contentLength: r.contentLength, paddingLength: r.paddingLength, sha1: createHash('sha1').update(r.content).digest('hex') };
}

interface ParseResult {
  records: Digest[];
  /** The records with their contents, when asked for. */
  raw?: Rec[];
  /** A record whose header was read but whose content did not all arrive. */
  partial: { type: number; requestId: number; received: number } | undefined;
  atBoundary: boolean;
}

const PARSER_CODES = ['NSGI_ERR_FASTCGI_VERSION', 'NSGI_ERR_FASTCGI_RECORD'];
const FIXED_SIZE = new Set([FCGI_BEGIN_REQUEST, FCGI_END_REQUEST, FCGI_UNKNOWN_TYPE]);

// Feeds the pieces to a fresh parser, checking the handler contract on the way: content ranges are
// non-empty views of the pushed chunk, a record's content adds up to its length, recordEnd comes
// exactly once per record and before the next record begins.
function parsePieces(pieces: readonly Buffer[], keepRaw = false): ParseResult {
  const records: Digest[] = [];
  const raw: Rec[] = [];
  let cur: { type: number; requestId: number; contentLength: number; paddingLength: number; parts: Buffer[]; received: number } | undefined;
  let pushing: Buffer | undefined;
  const parser = new RecordParser({
    record(type, requestId, contentLength, paddingLength) {
      if (cur !== undefined) throw new Error(`record() before recordEnd() of the previous record`);
      cur = { type, requestId, contentLength, paddingLength, parts: [], received: 0 };
    },
    content(chunk, start, end) {
      if (cur === undefined) throw new Error('content() outside a record');
      if (chunk !== pushing) throw new Error('content() handed out a buffer other than the chunk pushed (a copy)');
      if (!(start >= 0 && start < end && end <= chunk.length)) throw new Error(`content() range [${start}, ${end}) is empty or outside the chunk of ${chunk.length}`);
      cur.parts.push(Buffer.from(chunk.subarray(start, end)));
      cur.received += end - start;
      if (cur.received > cur.contentLength) throw new Error(`content() delivered ${cur.received} bytes of a ${cur.contentLength}-byte record`);
    },
    recordEnd() {
      if (cur === undefined) throw new Error('recordEnd() outside a record');
      if (cur.received !== cur.contentLength) throw new Error(`recordEnd() after ${cur.received} of ${cur.contentLength} bytes`);
      const rec = { type: cur.type, requestId: cur.requestId, contentLength: cur.contentLength, paddingLength: cur.paddingLength, content: Buffer.concat(cur.parts) };
      records.push(digest(rec));
      if (keepRaw) raw.push(rec);
      cur = undefined;
    },
  });
  for (const piece of pieces) {
    pushing = piece;
    parser.push(piece);
  }
  const result: ParseResult = { records, partial: cur && { type: cur.type, requestId: cur.requestId, received: cur.received }, atBoundary: parser.atBoundary };
  if (keepRaw) result.raw = raw;
  return result;
}

// Records as a web server or an application might send them: any type (fixed-size ones with their 8
// bytes), any id, content from empty to the 16-bit maximum, any padding.
const contentArb = fc.oneof(
  { weight: 8, arbitrary: fc.uint8Array({ maxLength: 96 }) },
  { weight: 1, arbitrary: fc.constantFrom(0, 1, 7, 8, 9, 65528, 65534, FCGI_MAX_CONTENT).map((n) => new Uint8Array(n).fill(n & 0xff)) },
);
const recordArb: fc.Arbitrary<Rec> = fc
  .record({
    type: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 1, max: 11 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
    requestId: fc.oneof(fc.constantFrom(0, 1, 2, 255, 256, 65535), fc.integer({ min: 0, max: 65535 })),
    content: contentArb,
    paddingLength: fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 255 })),
  })
  .map(({ type, requestId, content, paddingLength }) => {
    const bytes = Buffer.from(FIXED_SIZE.has(type) ? content.subarray(0, 8) : content);
    const body = FIXED_SIZE.has(type) && bytes.length < 8 ? Buffer.concat([bytes, Buffer.alloc(8 - bytes.length)]) : bytes;
    const padding = paddingLength === -1 ? paddingFor(body.length) : paddingLength;
    return { type, requestId, contentLength: body.length, paddingLength: padding, content: body };
  });
const streamArb = fc.array(recordArb, { maxLength: 12 });

function encode(records: readonly Rec[]): Buffer {
  return Buffer.concat(records.map((r) => encodeRecord(r.type, r.requestId, r.content, r.paddingLength)));
}

describe('RecordParser (property-based)', () => {
  it('parses any valid record stream cut anywhere into exactly the records encoded, ending at a boundary', () => {
    fc.assert(
      fc.property(streamArb, cutsArb(), fc.boolean(), (records, cuts, oneByte) => {
        const bytes = encode(records);
        const pieces = oneByte && bytes.length < 4096 ? bytewise(bytes) : splitAt(bytes, cuts);
        const result = parsePieces(pieces);
        expect(result.records).toEqual(records.map(digest));
        expect(result.partial).toBeUndefined();
        expect(result.atBoundary).toBe(true);
      }),
      params(),
    );
  }, fuzzTimeout());

  it('gives the same events or the same typed error for a mutated stream, however it is cut', () => {
    fc.assert(
      fc.property(streamArb, mutationsArb(), cutsArb(), (records, mutations, cuts) => {
        const bytes = mutate(encode(records), mutations);
        const whole = outcome(() => parsePieces([bytes]));
        const split = outcome(() => parsePieces(splitAt(bytes, cuts)));
        expectCodeIn(whole, PARSER_CODES);
        expect(split).toEqual(whole);
      }),
      params(),
    );
  }, fuzzTimeout());

  it('gives the same events or the same typed error for random bytes, however they are cut', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), cutsArb(24), (raw, cuts) => {
        const bytes = Buffer.from(raw);
        // Random bytes rarely start with version 1; make half of them do, to get past the first header.
        if (bytes.length > 0 && cuts.length % 2 === 0) bytes[0] = 1;
        const whole = outcome(() => parsePieces([bytes]));
        const split = outcome(() => parsePieces(splitAt(bytes, cuts)));
        expectCodeIn(whole, PARSER_CODES);
        expect(split).toEqual(whole);
      }),
      params(),
    );
  }, fuzzTimeout());

  it('once it has thrown, throws the same error on every later push, whatever is pushed', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }).filter((v) => v !== 1), fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 4 }), (version, later) => {
        const parser = new RecordParser({ record() {}, content() {}, recordEnd() {} });
        const bad = encodeRecord(FCGI_STDOUT, 1, Buffer.from('x'));
        bad[0] = version;
        let first: unknown;
        try {
          parser.push(bad);
        } catch (error) {
          first = error;
        }
        expect(first).toBeInstanceOf(ProtocolError);
        for (const chunk of later) expect(() => parser.push(Buffer.from(chunk))).toThrow(first as Error);
      }),
      params(0.2),
    );
  });

  it('keeps no more than a header of state: a stream of N bytes cut into 1-byte pieces allocates nothing per byte', () => {
    // The parser's only buffer is its 8-byte header scratch; pushing a large record one byte at a time
    // must hand out 1-byte views and never grow it.
    const bytes = encodeRecord(FCGI_STDOUT, 7, Buffer.alloc(FCGI_MAX_CONTENT, 0x61), 255);
    const parser = new RecordParser({ record() {}, content() {}, recordEnd() {} });
    for (const piece of bytewise(bytes)) parser.push(piece);
    const header = (parser as unknown as { header: Buffer }).header;
    expect(header.length).toBe(FCGI_HEADER_LEN);
    expect(parser.atBoundary).toBe(true);
  });
});

// RecordWriter -> RecordParser: what the writer frames reads back as the same streams, in records of
// at most 65528 content bytes padded to 8, and bytes already handed out are never overwritten.
type WriterOp =
  | { op: 'stream'; type: number; requestId: number; data: Uint8Array }
  | { op: 'streamEnd'; type: number; requestId: number }
  | { op: 'endRequest'; requestId: number; appStatus: number; protocolStatus: number }
  | { op: 'getValuesResult'; values: Record<string, string> }
  | { op: 'unknownType'; type: number }
  | { op: 'record'; type: number; requestId: number; content: Uint8Array }
  | { op: 'take' };

const idArb = fc.integer({ min: 1, max: 65535 });
const opArb: fc.Arbitrary<WriterOp> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant('stream' as const),
      type: fc.constantFrom(FCGI_STDOUT, FCGI_STDERR),
      requestId: idArb,
      data: fc.oneof(
        { weight: 6, arbitrary: fc.uint8Array({ minLength: 0, maxLength: 3000 }) },
        { weight: 1, arbitrary: fc.integer({ min: 65000, max: 200_000 }).map((n) => new Uint8Array(n).fill(n & 0xff)) },
      ),
    }),
  },
  // With small pools, a stream end often lands when the pool is full: its header must go in the new pool
  // (this property found it written into the previous one, fixed in 39a4e51).
  { weight: 2, arbitrary: fc.record({ op: fc.constant('streamEnd' as const), type: fc.constantFrom(FCGI_STDOUT, FCGI_STDERR), requestId: idArb }) },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('endRequest' as const), requestId: idArb, appStatus: fc.integer({ min: 0, max: 0xffffffff }), protocolStatus: fc.integer({ min: 0, max: 3 }) }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('getValuesResult' as const), values: fc.dictionary(fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 20 }), fc.string({ maxLength: 20 }), { maxKeys: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('unknownType' as const), type: fc.integer({ min: 0, max: 255 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('record' as const),
      // Any type but the fixed-size ones, whose 8 content bytes the parser checks.
      type: fc.integer({ min: 0, max: 255 }).filter((t) => !FIXED_SIZE.has(t)),
      requestId: fc.integer({ min: 0, max: 65535 }),
      content: fc.uint8Array({ maxLength: 300 }),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ op: 'take' as const }) },
);

describe('RecordWriter round trip (property-based)', () => {
  it('frames every stream so that the parser reads back the same bytes, in aligned records of at most 65528 bytes', () => {
    fc.assert(
      fc.property(
        fc.array(opArb, { maxLength: 20 }),
        fc.integer({ min: 16, max: 70_000 }),
        fc.integer({ min: 0, max: 5000 }),
        cutsArb(),
        (ops, poolSize, copyBelow, cuts) => {
          const writer = new RecordWriter({ poolSize, copyBelow });
          const taken: Uint8Array[] = [];
          const snapshots: Buffer[] = [];
          // Expected: per stream, the bytes written; per discrete record, its bytes.
          const expectedStreams = new Map<string, Buffer[]>();
          let expectedBytes = 0;
          const doTake = (): void => {
            const pending = writer.pendingBytes;
            const out = writer.take();
            const copy = Buffer.concat(out);
            expect(copy.length).toBe(pending);
            taken.push(...out);
            snapshots.push(copy);
          };
          for (const op of ops) {
            switch (op.op) {
              case 'stream': {
                writer.stream(op.type, op.requestId, op.data);
                const key = `${op.type}/${op.requestId}`;
                const list = expectedStreams.get(key) ?? [];
                list.push(Buffer.from(op.data));
                expectedStreams.set(key, list);
                expectedBytes += op.data.length;
                break;
              }
              case 'streamEnd':
                writer.streamEnd(op.type, op.requestId);
                break;
              case 'endRequest':
                writer.endRequest(op.requestId, op.appStatus, op.protocolStatus);
                break;
              case 'getValuesResult':
                writer.getValuesResult(op.values);
                break;
              case 'unknownType':
                writer.unknownType(op.type);
                break;
              case 'record':
                writer.record(op.type, op.requestId, op.content);
                break;
              case 'take':
                doTake();
                break;
            }
          }
          doTake();
          // Bytes handed out earlier are still what they were when taken (the pool never rewinds).
          const all = Buffer.concat(taken);
          expect(all.equals(Buffer.concat(snapshots))).toBe(true);
          const parsed = parsePieces(splitAt(all, cuts), true);
          const records = parsed.raw!;
          const atBoundary = parsed.atBoundary;
          expect(atBoundary).toBe(true);
          const got = new Map<string, Buffer[]>();
          let streamed = 0;
          let r = 0;
          for (const op of ops) {
            if (op.op === 'take') continue;
            if (op.op === 'stream') {
              // A stream write is ceil(n / 65528) records, none empty (an empty write queues nothing).
              for (let left = op.data.length; left > 0; left -= MAX_RECORD_CONTENT) {
                const rec = records[r++]!;
                expect([rec.type, rec.requestId]).toEqual([op.type, op.requestId]);
                expect(rec.contentLength).toBe(Math.min(left, MAX_RECORD_CONTENT));
                expect(rec.paddingLength).toBe(paddingFor(rec.contentLength));
                const key = `${op.type}/${op.requestId}`;
                const list = got.get(key) ?? [];
                list.push(rec.content);
                got.set(key, list);
                streamed += rec.contentLength;
              }
              continue;
            }
            const rec = records[r++]!;
            if (op.op === 'streamEnd') expect([rec.type, rec.requestId, rec.contentLength]).toEqual([op.type, op.requestId, 0]);
            else if (op.op === 'endRequest') {
              expect([rec.type, rec.requestId, rec.contentLength]).toEqual([FCGI_END_REQUEST, op.requestId, 8]);
              expect(rec.content.readUInt32BE(0)).toBe(op.appStatus);
              expect(rec.content[4]).toBe(op.protocolStatus);
            } else if (op.op === 'getValuesResult') expect([rec.type, rec.requestId]).toEqual([FCGI_GET_VALUES_RESULT, 0]);
            else if (op.op === 'unknownType') expect([rec.type, rec.content[0]]).toEqual([FCGI_UNKNOWN_TYPE, op.type]);
            else expect([rec.type, rec.requestId, rec.content]).toEqual([op.type, op.requestId, Buffer.from(op.content)]);
            expect((FCGI_HEADER_LEN + rec.contentLength + rec.paddingLength) % 8).toBe(0);
          }
          expect(r).toBe(records.length);
          expect(streamed).toBe(expectedBytes);
          for (const [key, parts] of expectedStreams) expect(Buffer.concat(got.get(key) ?? []).equals(Buffer.concat(parts))).toBe(true);
        },
      ),
      params(0.3),
    );
  }, fuzzTimeout(20));
});
