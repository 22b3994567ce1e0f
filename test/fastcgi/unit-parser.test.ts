// The sans-I/O record parser: every table of records must parse the same way whether it arrives whole,
// cut at any single offset (inside a header, content or padding), or one byte at a time (§3.3).
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import { encodeParams } from '../../src/fastcgi/params.js';
import { RecordParser, type RecordHandler } from '../../src/fastcgi/parser.js';
import {
  FCGI_ABORT_REQUEST,
  FCGI_BEGIN_REQUEST,
  FCGI_GET_VALUES,
  FCGI_KEEP_CONN,
  FCGI_PARAMS,
  FCGI_STDIN,
  recordTypeName,
} from '../../src/fastcgi/protocol.js';
import { begin, makeRecord } from './unit-helpers.js';

interface Event {
  type: string;
  requestId: number;
  content: string;
  padding: number;
}

// Collects records with their content reassembled; checks that ranges are never empty.
function collector(): { handler: RecordHandler; events: Event[] } {
  const events: Event[] = [];
  let cur: Event | undefined;
  let ended = true;
  const handler: RecordHandler = {
    record(type, requestId, _length, paddingLength) {
      expect(ended, 'record() before the previous recordEnd()').toBe(true);
      ended = false;
      cur = { type: recordTypeName(type), requestId, content: '', padding: paddingLength };
    },
    content(chunk, start, end) {
      expect(end).toBeGreaterThan(start);
      cur!.content += chunk.toString('latin1', start, end);
    },
    recordEnd() {
      ended = true;
      events.push(cur!);
    },
  };
  return { handler, events };
}

function parseIn(pieces: Buffer[]): Event[] {
  const { handler, events } = collector();
  const parser = new RecordParser(handler);
  for (const p of pieces) parser.push(p);
  expect(parser.atBoundary).toBe(true);
  return events;
}

const tables: Array<[string, Buffer[]]> = [
  ['an empty record', [makeRecord(FCGI_STDIN, 1)]],
  ['an nginx-style GET', [begin(1, FCGI_KEEP_CONN), makeRecord(FCGI_PARAMS, 1, encodeParams({ REQUEST_METHOD: 'GET', REQUEST_URI: '/a?b' })), makeRecord(FCGI_PARAMS, 1), makeRecord(FCGI_STDIN, 1)]],
  ['records with odd padding, including padding on empty records', [makeRecord(FCGI_STDIN, 1, 'abc', 13), makeRecord(FCGI_STDIN, 1, '', 255), makeRecord(FCGI_PARAMS, 2, 'x', 0)]],
  ['two interleaved requests', [begin(1), begin(2), makeRecord(FCGI_STDIN, 2, 'two'), makeRecord(FCGI_STDIN, 1, 'one'), makeRecord(FCGI_ABORT_REQUEST, 2), makeRecord(FCGI_STDIN, 1)]],
  ['a management record and a high request id', [makeRecord(FCGI_GET_VALUES, 0, encodeParams({ FCGI_MAX_CONNS: '' })), makeRecord(FCGI_STDIN, 0xfedc, 'hi')]],
  ['a 65535-byte record', [makeRecord(FCGI_STDIN, 7, Buffer.alloc(65535, 0x61))]],
];

describe('RecordParser', () => {
  it.each(tables)('parses %s fed whole', (_name, records) => {
    const events = parseIn([Buffer.concat(records)]);
    expect(events).toHaveLength(records.length);
  });

  it.each(tables.filter(([name]) => !name.includes('65535')))('parses %s the same when cut at every offset', (_name, records) => {
    const all = Buffer.concat(records);
    const expected = parseIn([all]);
    for (let cut = 0; cut <= all.length; cut++) {
      expect(parseIn([all.subarray(0, cut), all.subarray(cut)]), `cut at ${cut}`).toEqual(expected);
    }
  });

  it.each(tables)('parses %s the same fed one byte at a time', (_name, records) => {
    const all = Buffer.concat(records);
    const expected = parseIn([all]);
    const bytes: Buffer[] = [];
    for (let i = 0; i < all.length; i++) bytes.push(all.subarray(i, i + 1));
    expect(parseIn(bytes)).toEqual(expected);
  });

  it('cuts a 65535-byte record at every 97th offset and a few hard ones the same way', () => {
    const all = Buffer.concat([makeRecord(FCGI_STDIN, 7, Buffer.alloc(65535, 0x61)), makeRecord(FCGI_STDIN, 7)]);
    const expected = parseIn([all]);
    const cuts = [1, 7, 8, 9, 65542, 65543, 65544, 65545, all.length - 1];
    for (let c = 0; c < all.length; c += 97) cuts.push(c);
    for (const cut of cuts) expect(parseIn([all.subarray(0, cut), all.subarray(cut)])).toEqual(expected);
  });

  it('reports the fields of a record header', () => {
    expect(parseIn([makeRecord(FCGI_STDIN, 0x1234, 'hello', 3)])).toEqual([{ type: 'STDIN', requestId: 0x1234, content: 'hello', padding: 3 }]);
  });

  it('hands out ranges of the pushed chunk itself (no copy)', () => {
    const chunk = makeRecord(FCGI_STDIN, 1, 'payload');
    const seen: Buffer[] = [];
    const parser = new RecordParser({ record() {}, content: (c) => seen.push(c), recordEnd() {} });
    parser.push(chunk);
    expect(seen).toEqual([chunk]);
    expect(seen[0]).toBe(chunk);
  });

  it('is not at a boundary while a record is incomplete', () => {
    const parser = new RecordParser(collector().handler);
    const r = makeRecord(FCGI_STDIN, 1, 'abc');
    parser.push(r.subarray(0, 3));
    expect(parser.atBoundary).toBe(false);
    parser.push(r.subarray(3, 12));
    expect(parser.atBoundary).toBe(false);
    parser.push(r.subarray(12));
    expect(parser.atBoundary).toBe(true);
  });

  it.each([0, 2, 255])('refuses version %i with NSGI_ERR_FASTCGI_VERSION, and stays failed', (version) => {
    const bad = makeRecord(FCGI_STDIN, 1, 'x');
    bad[0] = version;
    const parser = new RecordParser(collector().handler);
    expect(() => parser.push(bad)).toThrow(ProtocolError);
    expect(() => parser.push(bad)).toThrow(expect.objectContaining({ code: 'NSGI_ERR_FASTCGI_VERSION', message: `fastcgi: record version ${version} is not supported (only 1 is)` }));
    expect(() => parser.push(makeRecord(FCGI_STDIN, 1))).toThrow(expect.objectContaining({ code: 'NSGI_ERR_FASTCGI_VERSION' }));
  });

  it('refuses a bad version even when the header arrives a byte at a time', () => {
    const bad = makeRecord(FCGI_STDIN, 1);
    bad[0] = 9;
    const parser = new RecordParser(collector().handler);
    for (let i = 0; i < 7; i++) parser.push(bad.subarray(i, i + 1));
    expect(() => parser.push(bad.subarray(7, 8))).toThrow(expect.objectContaining({ code: 'NSGI_ERR_FASTCGI_VERSION' }));
  });

  it.each([0, 7, 9, 16])('refuses a BEGIN_REQUEST of %i content bytes (it is 8, §5.1) with NSGI_ERR_FASTCGI_RECORD', (length) => {
    const parser = new RecordParser(collector().handler);
    expect(() => parser.push(makeRecord(FCGI_BEGIN_REQUEST, 1, Buffer.alloc(length)))).toThrow(expect.objectContaining({ code: 'NSGI_ERR_FASTCGI_RECORD' }));
  });

  it('rethrows what a handler throws and parses nothing more of that chunk', () => {
    let n = 0;
    const parser = new RecordParser({
      record() {
        if (++n === 2) throw new Error('stop');
      },
      content() {},
      recordEnd() {},
    });
    expect(() => parser.push(Buffer.concat([makeRecord(FCGI_STDIN, 1), makeRecord(FCGI_STDIN, 2), makeRecord(FCGI_STDIN, 3)]))).toThrow('stop');
    expect(n).toBe(2);
  });
});
