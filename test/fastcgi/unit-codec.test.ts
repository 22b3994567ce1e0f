// Byte tables for the FastCGI wire codec: record headers (§3.3), name-value pairs (§3.4), and the
// writer's framing of streams, END_REQUEST, GET_VALUES_RESULT and UNKNOWN_TYPE (§4, §5).
import { describe, expect, it } from 'vitest';
import { LimitError, ProtocolError } from '../../src/errors.js';
import { decodeParams, encodeParams, ParamsDecoder } from '../../src/fastcgi/params.js';
import {
  encodeRecord,
  FCGI_END_REQUEST,
  FCGI_GET_VALUES_RESULT,
  FCGI_OVERLOADED,
  FCGI_STDERR,
  FCGI_STDOUT,
  FCGI_UNKNOWN_TYPE,
  paddingFor,
  readHeader,
  recordTypeName,
  writeHeader,
} from '../../src/fastcgi/protocol.js';
import { MAX_RECORD_CONTENT, RecordWriter } from '../../src/fastcgi/writer.js';
import { parseAll } from './unit-helpers.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const concat = (list: Uint8Array[]): Buffer => Buffer.concat(list);

describe('record header (§3.3)', () => {
  it('encodes version, type, request id, content length and padding big-endian, reserved 0', () => {
    const h = Buffer.alloc(8, 0xff);
    writeHeader(h, 0, FCGI_STDOUT, 0x0102, 0x0304, 5);
    expect(hex(h)).toBe('0106010203040500');
    expect(readHeader(h)).toEqual({ version: 1, type: 6, requestId: 0x0102, contentLength: 0x0304, paddingLength: 5 });
  });

  it.each([
    [0, 0],
    [1, 7],
    [7, 1],
    [8, 0],
    [9, 7],
    [65535, 1],
  ])('pads %i content bytes with %i bytes to a multiple of 8', (length, padding) => {
    expect(paddingFor(length)).toBe(padding);
    expect(encodeRecord(FCGI_STDOUT, 1, Buffer.alloc(length)).length).toBe(8 + length + padding);
  });

  it('names record types, and unknown ones by number', () => {
    expect(recordTypeName(FCGI_STDOUT)).toBe('STDOUT');
    expect(recordTypeName(42)).toBe('UNKNOWN(42)');
  });
});

// Name-value pairs: lengths < 128 take one byte, others four with the high bit set (§3.4).
describe('name-value pairs (§3.4)', () => {
  const cases: Array<[string, string, string, string]> = [
    ['1-byte lengths', 'A', 'B', '0101' + '41' + '42'],
    ['empty value', 'QUERY_STRING', '', '0c00' + Buffer.from('QUERY_STRING').toString('hex')],
    ['127-byte name: still one byte', 'N'.repeat(127), 'v', '7f01' + '4e'.repeat(127) + '76'],
    ['128-byte name: four bytes', 'N'.repeat(128), 'v', '8000008001' + '4e'.repeat(128) + '76'],
    ['127-byte value: still one byte', 'n', 'V'.repeat(127), '017f' + '6e' + '56'.repeat(127)],
    ['128-byte value: four bytes', 'n', 'V'.repeat(128), '0180000080' + '6e' + '56'.repeat(128)],
    ['both long', 'N'.repeat(300), 'V'.repeat(70000), '8000012c' + '80011170' + '4e'.repeat(300) + '56'.repeat(70000)],
    ['UTF-8 value', 'PATH_INFO', '/snow ☃', '0909' + Buffer.from('PATH_INFO/snow ☃').toString('hex')],
  ];

  it.each(cases)('encodes %s', (_name, name, value, expected) => {
    expect(hex(encodeParams({ [name]: value }))).toBe(expected);
  });

  it.each(cases)('decodes %s', (_name, name, value, encoded) => {
    expect(decodeParams(Buffer.from(encoded, 'hex'))).toEqual({ [name]: value });
  });

  it('accepts the 4-byte form for a short length (the spec allows either for < 128)', () => {
    expect(decodeParams(Buffer.from('80000001' + '80000000' + '41', 'hex'))).toEqual({ A: '' });
    expect(decodeParams(Buffer.from('0180000002' + '41' + '4243', 'hex'))).toEqual({ A: 'BC' });
  });

  it('encodes pairs from an array, in order, repeats kept', () => {
    expect(hex(encodeParams([['A', '1'], ['A', '2']]))).toBe('010141310101' + '4132');
  });

  it('keeps the last value of a repeated name', () => {
    expect(decodeParams(encodeParams([['A', '1'], ['A', '2']]))).toEqual({ A: '2' });
  });

  it('makes a pair named __proto__ a plain key, never the prototype', () => {
    const vars = decodeParams(encodeParams([['__proto__', 'x'], ['B', 'y']]));
    expect(Object.getPrototypeOf(vars)).toBe(Object.prototype);
    expect(Object.keys(vars)).toEqual(['__proto__', 'B']);
    expect(vars['__proto__']).toBe('x');
  });

  // The decoder compiles an object shape for a sequence of names it has seen twice: the result must not differ.
  it('gives the same objects on the first, second and hundredth sighting of a sequence of names', () => {
    const pairs: Array<[string, string]> = [['B_NAME', '1'], ['A', 'x'], ['A', 'last'], ['EMPTY', ''], ['"quoted\\name\'', 'q'], ['10', 'numeric']];
    for (let i = 0; i < 100; i++) {
      const vars = decodeParams(encodeParams(pairs.map(([n, v]) => [n, v + i] as [string, string])));
      expect(vars).toEqual({ B_NAME: `1${i}`, A: `last${i}`, EMPTY: `${i}`, '"quoted\\name\'': `q${i}`, '10': `numeric${i}` });
      expect(Object.keys(vars)).toEqual(['10', 'B_NAME', 'A', 'EMPTY', '"quoted\\name\'']);
      expect(Object.getPrototypeOf(vars)).toBe(Object.prototype);
    }
  });

  it('keeps __proto__ an own key however often its sequence is seen', () => {
    for (let i = 0; i < 5; i++) {
      const vars = decodeParams(encodeParams([['X', String(i)], ['__proto__', 'p']]));
      expect(Object.getPrototypeOf(vars)).toBe(Object.prototype);
      expect(vars).toEqual({ X: String(i), ['__proto__']: 'p' });
    }
  });

  it('reads names as Latin-1 bytes and invalid UTF-8 values as U+FFFD, never throwing', () => {
    expect(decodeParams(Buffer.from('0101e9ff', 'hex'))).toEqual({ 'é': '\ufffd' });
  });

  // The decoder must give the same pairs however the stream is cut: inside a length, a name, a value.
  const stream = encodeParams([
    ['REQUEST_METHOD', 'POST'],
    ['N'.repeat(128), 'short'],
    ['HTTP_COOKIE', 'c'.repeat(200)],
    ['EMPTY', ''],
    ['PATH_INFO', '/snow ☃/.hidden'],
  ]);
  const expected = decodeParams(stream);

  it('decodes the same pairs with the stream cut at every offset', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const d = new ParamsDecoder();
      d.push(stream, 0, cut);
      d.push(stream, cut, stream.length);
      expect(d.end(), `cut at ${cut}`).toEqual(expected);
    }
  });

  it('decodes the same pairs fed one byte at a time, and in pieces of 3 with empty pushes between', () => {
    const d = new ParamsDecoder();
    for (let i = 0; i < stream.length; i++) d.push(stream, i, i + 1);
    expect(d.end()).toEqual(expected);
    const e = new ParamsDecoder();
    for (let i = 0; i < stream.length; i += 3) {
      e.push(stream, i, Math.min(i + 3, stream.length));
      e.push(stream, 0, 0);
    }
    expect(e.end()).toEqual(expected);
  });

  it.each([
    ['inside a length', '80'],
    ['inside a name', '0301' + '4142'],
    ['inside a value', '0103' + '41' + '4243'],
  ])('refuses a stream that ends %s (NSGI_ERR_FASTCGI_PARAMS)', (_where, bytes) => {
    const d = new ParamsDecoder();
    d.push(Buffer.from(bytes, 'hex'), 0, bytes.length / 2);
    expect(() => d.end()).toThrow(ProtocolError);
    expect(() => d.end()).toThrow(expect.objectContaining({ code: 'NSGI_ERR_FASTCGI_PARAMS' }));
  });

  it('refuses a stream past maxBytes with a LimitError naming the limit', () => {
    const d = new ParamsDecoder({ maxBytes: 100 });
    const big = encodeParams({ A: 'x'.repeat(120) });
    let error: unknown;
    try {
      d.push(big, 0, 60);
      d.push(big, 60, big.length);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LimitError);
    expect(error).toMatchObject({ code: 'NSGI_ERR_FASTCGI_PARAMS_TOO_LARGE', limit: 100 });
  });

  it('refuses a pair announcing more than maxBytes before allocating room for it', () => {
    const d = new ParamsDecoder({ maxBytes: 1000 });
    // name length 0x7fffffff announced in the first 5 bytes
    expect(() => d.push(Buffer.from('ffffffff01', 'hex'), 0, 5)).toThrow(expect.objectContaining({ code: 'NSGI_ERR_FASTCGI_PARAMS_TOO_LARGE' }));
  });
});

describe('RecordWriter framing (§3.3, §5.3)', () => {
  // [stream length, expected content lengths of its records]
  const streams: Array<[number, number[]]> = [
    [1, [1]],
    [8, [8]],
    [65528, [65528]],
    [65535, [65528, 7]],
    [65536, [65528, 8]],
    [66000, [65528, 472]],
    [200000, [65528, 65528, 65528, 3416]],
  ];

  it.each(streams)('frames a %i-byte stream into records of %j content bytes, each padded to 8', (length, lengths) => {
    const data = Buffer.alloc(length);
    for (let i = 0; i < length; i++) data[i] = (i * 7) & 0xff;
    const w = new RecordWriter();
    w.stream(FCGI_STDOUT, 3, data);
    w.streamEnd(FCGI_STDOUT, 3);
    const bytes = concat(w.take());
    expect(bytes.length % 8).toBe(0);
    const records = parseAll(bytes);
    expect(records.map((r) => r.content.length)).toEqual([...lengths, 0]);
    for (const r of records) {
      expect(r.type).toBe(FCGI_STDOUT);
      expect(r.requestId).toBe(3);
      expect(r.content.length).toBeLessThanOrEqual(65535);
      expect(r.paddingLength).toBe(paddingFor(r.content.length));
    }
    expect(Buffer.concat(records.map((r) => r.content)).equals(data)).toBe(true);
  });

  it('writes zero bytes as padding', () => {
    const w = new RecordWriter({ poolSize: 64 });
    // dirty the pool first so a missing fill would show
    w.stream(FCGI_STDOUT, 1, Buffer.alloc(40, 0xee));
    w.take();
    w.stream(FCGI_STDOUT, 1, Buffer.from('abc'));
    expect(hex(concat(w.take()))).toBe('0106000100030500' + '616263' + '0000000000');
  });

  it('queues nothing for empty stream data (an empty record would end the stream)', () => {
    const w = new RecordWriter();
    w.stream(FCGI_STDOUT, 1, new Uint8Array(0));
    expect(w.pendingBytes).toBe(0);
    expect(w.take()).toEqual([]);
  });

  it('puts a small response (head, body, stream ends, END_REQUEST) in one contiguous buffer', () => {
    const w = new RecordWriter();
    w.stream(FCGI_STDOUT, 1, Buffer.from('Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n'));
    w.stream(FCGI_STDOUT, 1, Buffer.from('Hello, world!\n'));
    w.streamEnd(FCGI_STDOUT, 1);
    w.endRequest(1, 0, 0);
    const out = w.take();
    expect(out).toHaveLength(1);
    expect(out[0]!.length % 8).toBe(0);
    expect(parseAll(out).map((r) => recordTypeName(r.type))).toEqual(['STDOUT', 'STDOUT', 'STDOUT', 'END_REQUEST']);
  });

  it('sends a large payload as a view of the caller\'s bytes, not a copy', () => {
    const big = Buffer.alloc(100_000, 1);
    const w = new RecordWriter();
    w.stream(FCGI_STDERR, 2, big);
    const out = w.take();
    const views = out.filter((b) => b.buffer === big.buffer);
    expect(views.map((v) => v.length)).toEqual([MAX_RECORD_CONTENT, 100_000 - MAX_RECORD_CONTENT]);
    expect(concat(out).length).toBe(8 + 65528 + 8 + 34472 + 0);
  });

  it('never overwrites bytes already handed out', () => {
    const w = new RecordWriter({ poolSize: 32 });
    w.stream(FCGI_STDOUT, 1, Buffer.from('first'));
    const a = w.take();
    const snapshot = hex(concat(a));
    for (let i = 0; i < 10; i++) w.stream(FCGI_STDOUT, 1, Buffer.from('second'));
    w.take();
    expect(hex(concat(a))).toBe(snapshot);
  });

  // Every kind of record, queued across many pool switches (a 24-byte pool holds at most one END_REQUEST
  // and one empty record): whatever was taken earlier must stay intact, and the stream must re-parse.
  it('keeps every record intact across pool switches, for every kind of record', () => {
    const w = new RecordWriter({ poolSize: 24 });
    const taken: Array<[Uint8Array, string]> = [];
    const expected: string[] = [];
    for (let id = 1; id <= 40; id++) {
      if (id % 4 !== 0) w.stream(FCGI_STDOUT, id, Buffer.alloc(id % 9, 0x61));
      if (id % 5 === 0) w.streamEnd(FCGI_STDERR, id);
      w.streamEnd(FCGI_STDOUT, id);
      w.endRequest(id, id, 0);
      if (id % 3 === 0) w.unknownType(id);
      if (id % 4 !== 0 && id % 9 !== 0) expected.push(`STDOUT ${id}`);
      if (id % 5 === 0) expected.push(`STDERR ${id}`);
      expected.push(`STDOUT ${id}`, `END_REQUEST ${id}`, ...(id % 3 === 0 ? ['UNKNOWN_TYPE 0'] : []));
      for (const b of w.take()) taken.push([b, hex(b)]);
    }
    for (const [b, snapshot] of taken) expect(hex(b)).toBe(snapshot);
    expect(parseAll(taken.map(([b]) => b)).map((r) => `${recordTypeName(r.type)} ${r.requestId}`)).toEqual(expected);
  });

  // Writers without a poolSize share one process-wide pool: interleaved, each must hand out only its own
  // records, in order, and never see its taken bytes overwritten by another.
  it('shares one pool between writers without mixing their records', () => {
    const writers = [new RecordWriter(), new RecordWriter(), new RecordWriter()];
    const taken: Array<Array<[Uint8Array, string]>> = writers.map(() => []);
    for (let round = 0; round < 2000; round++) {
      const i = round % 3;
      const w = writers[(round * 7) % 3]!;
      const id = (round * 7) % 3 + 1;
      w.stream(FCGI_STDOUT, id, Buffer.alloc(round % 50, 0x61 + i));
      w.endRequest(id, round, 0);
      if (round % 5 === 0) for (let k = 0; k < 3; k++) for (const b of writers[k]!.take()) taken[k]!.push([b, hex(b)]);
    }
    for (let k = 0; k < 3; k++) for (const b of writers[k]!.take()) taken[k]!.push([b, hex(b)]);
    for (let k = 0; k < 3; k++) {
      for (const [b, snapshot] of taken[k]!) expect(hex(b)).toBe(snapshot);
      const records = parseAll(taken[k]!.map(([b]) => b));
      expect(new Set(records.map((r) => r.requestId))).toEqual(new Set([k + 1]));
      const ends = records.filter((r) => r.type === FCGI_END_REQUEST).map((r) => r.content.readUInt32BE(0));
      expect(ends).toEqual(Array.from({ length: 2000 }, (_, r) => r).filter((r) => (r * 7) % 3 === k));
    }
  });

  it('costs no buffer until it writes (a connection that stays idle holds no pool)', () => {
    globalThis.gc?.();
    const before = process.memoryUsage().arrayBuffers;
    const writers = Array.from({ length: 1000 }, () => new RecordWriter());
    const after = process.memoryUsage().arrayBuffers;
    expect(writers).toHaveLength(1000);
    // One 64 KiB pool each would be 62.5 MiB.
    expect(after - before).toBeLessThan(4 * 1024 * 1024);
  });

  it('encodes END_REQUEST with appStatus (32-bit) and protocolStatus (§5.5)', () => {
    const w = new RecordWriter();
    w.endRequest(0x0102, 0x01020304, FCGI_OVERLOADED);
    expect(hex(concat(w.take()))).toBe('0103010200080000' + '01020304' + '02000000');
    expect(FCGI_END_REQUEST).toBe(3);
  });

  it('encodes UNKNOWN_TYPE with the type not understood (§4.2)', () => {
    const w = new RecordWriter();
    w.unknownType(0x42);
    expect(hex(concat(w.take()))).toBe('010b000000080000' + '4200000000000000');
    expect(FCGI_UNKNOWN_TYPE).toBe(11);
  });

  it('encodes GET_VALUES_RESULT as name-value pairs on request id 0 (§4.1)', () => {
    const w = new RecordWriter();
    w.getValuesResult({ FCGI_MPXS_CONNS: '1' });
    const [r] = parseAll(w.take());
    expect(r).toMatchObject({ type: FCGI_GET_VALUES_RESULT, requestId: 0 });
    expect(hex(r!.content)).toBe('0f01' + Buffer.from('FCGI_MPXS_CONNS1').toString('hex'));
  });

  it('reports each record to onRecord, e.g. for tracing', () => {
    const seen: string[] = [];
    const w = new RecordWriter({ onRecord: (type, id, content, pad) => seen.push(`${recordTypeName(type)} ${id} ${content.length}+${pad}`) });
    w.stream(FCGI_STDOUT, 1, Buffer.alloc(70000));
    w.streamEnd(FCGI_STDOUT, 1);
    w.endRequest(1, 0, 0);
    expect(seen).toEqual(['STDOUT 1 65528+0', 'STDOUT 1 4472+0', 'STDOUT 1 0+0', 'END_REQUEST 1 8+0']);
  });
});
