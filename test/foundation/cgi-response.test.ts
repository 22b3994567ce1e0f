// RFC 3875 §6 response heads, as nsgi's clients read them; fed whole and split at every offset.
import { describe, expect, it } from 'vitest';
import { CGIResponseParser } from '../../src/index.js';

const cases: Array<[string, string, number, string, Array<[string, string]>, string]> = [
  ['Status and CRLF', 'Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nnope', 404, 'Not Found', [['Content-Type', 'text/plain']], 'nope'],
  ['bare LF lines', 'Content-Type: text/html\nX-A: 1\n\n<p>', 200, 'OK', [['Content-Type', 'text/html'], ['X-A', '1']], '<p>'],
  ['Location without Status', 'Location: /elsewhere\r\n\r\n', 302, 'Found', [['Location', '/elsewhere']], ''],
  ['repeated headers kept in order', 'Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n', 200, 'OK', [['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']], ''],
  ['body holding a blank line', 'Status: 200 OK\r\n\r\nline\r\n\r\nmore', 200, 'OK', [], 'line\r\n\r\nmore'],
  ['empty head', '\r\nbody', 200, 'OK', [], 'body'],
];

describe('CGIResponseParser', () => {
  it.each(cases)('%s', (_name, input, status, reason, headers, body) => {
    const bytes = Buffer.from(input, 'latin1');
    for (let split = 0; split <= bytes.length; split++) {
      const p = new CGIResponseParser();
      let head = split > 0 ? p.push(bytes.subarray(0, split)) : undefined;
      let rest = Buffer.alloc(0);
      if (head === undefined) head = p.push(bytes.subarray(split));
      else rest = bytes.subarray(split);
      expect(head, `split at ${split}`).toBeDefined();
      expect([head!.status, head!.statusText, head!.headers]).toEqual([status, reason, headers]);
      expect(Buffer.concat([head!.rest, rest]).toString('latin1')).toBe(body);
    }
  });

  it('refuses a malformed header line', () => {
    expect(() => new CGIResponseParser().push(Buffer.from('no colon here\r\n\r\n'))).toThrow(expect.objectContaining({ code: 'NSGI_ERR_CGI_RESPONSE' }));
  });

  it('refuses a head over its limit that arrives whole, in one chunk', () => {
    const p = new CGIResponseParser({ maxHeadBytes: 100 });
    expect(() => p.push(Buffer.from(`X-Long: ${'a'.repeat(1000)}\r\n\r\nbody`))).toThrow(expect.objectContaining({ code: 'NSGI_ERR_CGI_RESPONSE_TOO_LARGE' }));
  });

  it('refuses a head longer than its limit', () => {
    const p = new CGIResponseParser({ maxHeadBytes: 16 });
    expect(() => p.push(Buffer.from('X-Long: ' + 'a'.repeat(32)))).toThrow(expect.objectContaining({ code: 'NSGI_ERR_CGI_RESPONSE_TOO_LARGE' }));
  });
});
