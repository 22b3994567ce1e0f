// Response splitting: an app that echoes request input into its status or headers must never put
// a header (or a body) of the attacker's choosing on the wire. Every hostile head in
// apps/hostile.ts is sent over every transport of the conformance suite (memory, HTTP, SCGI, CGI,
// FastCGI with and without keep-conn): the driver must refuse it with a typed error on wsgi.errors
// and answer a plain 500, and nothing of the injected text may reach the client.
// Request-side checks of the HTTP transport (node:http's parser) are at the end, over raw sockets.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adapters } from '../conformance/adapters/index.js';
import type { Running } from '../conformance/adapters/types.js';
import { createHTTPServer } from '../../src/http/server.js';
import type { NsgiServer } from '../../src/server.js';
import type { App } from '../../src/types.js';
import app, { INJECTIONS, MARKER } from './apps/hostile.js';
import { quietErrors, rawTCP as rawHTTP } from './helpers.js';

const CASES = Object.entries(INJECTIONS).map(([name, [, , code]]) => ({ name, code }));

describe.each(adapters)('response head injection over $name', (adapter) => {
  let server: Running;
  beforeAll(async () => {
    server = await adapter.start({ app, module: 'test/security/apps/hostile.ts' });
  });
  afterAll(async () => {
    await server?.close();
  });

  it.each(CASES)('$name is refused with $code and a bare 500', async ({ name, code }) => {
    const res = await server.request({ method: 'GET', path: `/inject/${name}` });
    expect(res.status).toBe(500);
    expect(res.headers.map(([k]) => k.toLowerCase())).not.toContain(MARKER.toLowerCase());
    for (const [k, v] of res.headers) expect(`${k}: ${v}`).not.toContain(MARKER);
    expect(res.body.toString('latin1')).toBe('Internal Server Error\n');
    expect(server.errors()).toContain(`[${code}]`);
  });
});

// What node:http itself would refuse we still check byte for byte: the head the HTTP transport writes.
describe('response head injection on the raw HTTP wire', () => {
  let server: NsgiServer;
  let port: number;
  beforeAll(async () => {
    server = createHTTPServer(app, { errors: quietErrors, logger: { error() {} } });
    port = Number((await server.listen('127.0.0.1:0')).split(':').pop());
  });
  afterAll(() => server.close(1000));

  it.each(CASES)('$name: no injected byte is written', async ({ name }) => {
    const raw = await rawHTTP(port, `GET /inject/${name} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(raw.toString('latin1')).toMatch(/^HTTP\/1\.1 500 Internal Server Error\r\n/);
    expect(raw.toString('latin1')).not.toContain(MARKER);
    expect(raw.includes(0)).toBe(false);
  });
});

// The HTTP transport parses requests with node:http (llhttp). These are the framing attacks that
// desynchronise a front proxy and a backend (request smuggling, RFC 9112 §6.1, §6.3, §11.2): each
// must be a 400 with the connection closed, and the app must never run.
describe('request framing on the HTTP transport', () => {
  let server: NsgiServer;
  let port: number;
  let calls = 0;
  const counting: App = async (environ, startResponse) => {
    calls++;
    let n = 0;
    for await (const c of environ['wsgi.input']) n += (c as Buffer).length;
    startResponse('200 OK', [['Content-Type', 'text/plain']]);
    return [`read ${n} bytes; CONTENT_LENGTH=${environ.CONTENT_LENGTH ?? '-'}`];
  };
  beforeAll(async () => {
    server = createHTTPServer(counting, { errors: quietErrors, logger: { error() {} } });
    port = Number((await server.listen('127.0.0.1:0')).split(':').pop());
  });
  afterAll(() => server.close(1000));

  // Each request is followed by a smuggled second one; a 400 that closes the connection never reaches it.
  const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n';
  it.each([
    ['two different Content-Length', 'Content-Length: 3\r\nContent-Length: 40\r\n', 'abc'],
    ['two equal Content-Length', 'Content-Length: 3\r\nContent-Length: 3\r\n', 'abc'],
    ['a Content-Length list', 'Content-Length: 3, 3\r\n', 'abc'],
    ['a signed Content-Length', 'Content-Length: +3\r\n', 'abc'],
    ['Content-Length and Transfer-Encoding: chunked', 'Content-Length: 3\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n'],
    ['chunked that is not the final coding', 'Transfer-Encoding: chunked, identity\r\n', '3\r\nabc\r\n0\r\n\r\n'],
    ['Transfer-Encoding repeated', 'Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n', '3\r\nabc\r\n0\r\n\r\n'],
    ['a space before the colon', 'Content-Length : 3\r\n', 'abc'],
    ['a bare LF line end', 'X-A: 1\nContent-Length: 3\r\n', 'abc'],
    ['an obs-fold continuation line', 'X-A: 1\r\n Content-Length: 3\r\n', 'abc'],
    ['a NUL in a header value', 'X-A: a\0b\r\nContent-Length: 3\r\n', 'abc'],
  ])('refuses %s with 400 and runs nothing', async (_what, headers, body) => {
    const before = calls;
    const raw = (await rawHTTP(port, `POST /a HTTP/1.1\r\nHost: x\r\n${headers}\r\n${body}${SMUGGLED}`)).toString('latin1');
    expect(raw).toMatch(/^HTTP\/1\.1 400 /);
    expect(raw.match(/HTTP\/1\.1 /g)).toHaveLength(1);
    expect(calls).toBe(before);
  });

  // A broken chunk is found once the app is already reading the body: it may start, but the answer
  // is still a 400 on a closed connection, and the request smuggled behind it is never served.
  it.each([
    ['a chunk size with a bare LF', '3\nabc\r\n0\r\n\r\n'],
    ['a chunk size that is not hex', 'zz\r\nabc\r\n0\r\n\r\n'],
    ['a chunk longer than its size', '3\r\nabcdef\r\n0\r\n\r\n'],
  ])('refuses a body with %s with 400 and serves nothing after it', async (_what, body) => {
    const raw = (await rawHTTP(port, `POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${body}${SMUGGLED}`)).toString('latin1');
    expect(raw).toMatch(/^HTTP\/1\.1 400 /);
    expect(raw.match(/HTTP\/1\.1 /g)).toHaveLength(1);
    expect(raw).not.toContain('read ');
  });
});
