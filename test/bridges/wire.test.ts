// The sans-I/O pieces under the bridges: reading back Node's response head, undoing chunked
// framing (fed at every split point), and the URL helpers.
import { describe, expect, test } from 'vitest';
import { ChunkedDecoder } from '../../src/bridges/chunked.js';
import { parseResponseHead } from '../../src/bridges/http-head.js';
import { encodePath, hostOf, requestTarget } from '../../src/bridges/url.js';
import { createEnviron } from '../../src/testing/index.js';

describe('parseResponseHead', () => {
  test('reads status, reason and headers in order, dropping hop-by-hop fields', () => {
    const head = parseResponseHead('HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nConnection: close\r\nKeep-Alive: timeout=5\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 3');
    expect(head).toEqual({ code: 404, reason: 'Not Found', headers: [['Content-Type', 'text/plain'], ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2'], ['Content-Length', '3']], chunked: false, hasLength: true });
  });

  test('notes chunked transfer coding and drops the field', () => {
    expect(parseResponseHead('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked')).toMatchObject({ headers: [], chunked: true });
  });

  test('keeps an empty reason and empty values', () => {
    expect(parseResponseHead('HTTP/1.1 599 \r\nX-Empty: ')).toMatchObject({ code: 599, reason: '', headers: [['X-Empty', '']] });
  });

  test.each([['no status line', 'Status: 200 OK'], ['a line without a colon', 'HTTP/1.1 200 OK\r\nbroken']])('rejects %s (NSGI_ERR_BRIDGE_HEAD)', (_n, text) => {
    expect(() => parseResponseHead(text)).toThrow(expect.objectContaining({ code: 'NSGI_ERR_BRIDGE_HEAD' }));
  });
});

describe('ChunkedDecoder', () => {
  const wire = Buffer.from('5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\nIGNORED');
  test('decodes the payload at every split point of the input', () => {
    for (let split = 0; split <= wire.length; split++) {
      const d = new ChunkedDecoder();
      const out: Uint8Array[] = [];
      d.push(wire.subarray(0, split), out);
      d.push(wire.subarray(split), out);
      expect(Buffer.concat(out).toString(), `split at ${split}`).toBe('hello 0123456789');
      expect(d.done).toBe(true);
    }
  });

  test('decodes one byte at a time', () => {
    const d = new ChunkedDecoder();
    const out: Uint8Array[] = [];
    for (const b of wire) d.push(Buffer.from([b]), out);
    expect(Buffer.concat(out).toString()).toBe('hello 0123456789');
  });

  test.each([['a non-hex size', 'zz\r\n'], ['data not followed by CRLF', '1\r\nab'], ['a size line without LF', '1\rx']])('rejects %s (NSGI_ERR_BRIDGE_CHUNKED)', (_n, bad) => {
    expect(() => new ChunkedDecoder().push(Buffer.from(bad), [])).toThrow(expect.objectContaining({ code: 'NSGI_ERR_BRIDGE_CHUNKED' }));
  });
});

describe('URL helpers', () => {
  test.each([
    ['/plain/path', '/plain/path'],
    ['/a b', '/a%20b'],
    ['/é', '/%C3%A9'],
    ['/100%', '/100%25'],
    ['/q?#', '/q%3F%23'],
    ["/keep:@!$&'()*+,;=", "/keep:@!$&'()*+,;="],
    ['/lone\uD800', '/lone%EF%BF%BD'],
  ])('encodePath(%j) = %j', (input, want) => {
    expect(encodePath(input)).toBe(want);
  });

  test('requestTarget prefers the raw REQUEST_URI, absolute form included', () => {
    const e = createEnviron({ path: '/x' });
    Object.assign(e, { SCRIPT_NAME: '/s', PATH_INFO: '/a/b', REQUEST_URI: 'http://h/s/a%2fb?z', QUERY_STRING: 'z' });
    expect(requestTarget(e)).toEqual({ script: '/s', path: '/a%2fb', query: 'z' });
  });

  test('hostOf uses Host, else SERVER_NAME with a non-default port', () => {
    expect(hostOf(createEnviron({ headers: { Host: 'h:1' } }))).toBe('h:1');
    expect(hostOf(createEnviron({ serverName: 'n', serverPort: 80 }))).toBe('n');
    expect(hostOf(createEnviron({ serverName: 'n', serverPort: 81 }))).toBe('n:81');
  });
});
