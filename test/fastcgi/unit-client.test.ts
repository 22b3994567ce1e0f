// FastCGIClient round trips through the real nsgi FastCGI server, over a unix socket and TCP:
// the CGI variables it builds, bodies both ways, keep-conn multiplexing, aborts, GET_VALUES, trace, load().
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortedError } from '../../src/errors.js';
import { FastCGIClient, type FastCGITraceRecord } from '../../src/fastcgi/client.js';
import { FCGI_AUTHORIZER, FCGI_OVERLOADED, FCGI_REQUEST_COMPLETE } from '../../src/fastcgi/protocol.js';
import { createFastCGIServer } from '../../src/fastcgi/server.js';
import type { NsgiServer } from '../../src/server.js';
import type { App } from '../../src/types.js';
import { memoryLogger, waitFor } from './unit-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'nsgi-fcgi-client-'));
const seenSignals: AbortSignal[] = [];
let gateRelease: (() => void) | undefined;

// One app for every test, routed by PATH_INFO.
const app: App = async (environ, startResponse) => {
  const path = environ.PATH_INFO;
  if (path === '/environ') {
    const keys = ['REQUEST_METHOD', 'REQUEST_URI', 'SCRIPT_NAME', 'PATH_INFO', 'QUERY_STRING', 'SERVER_NAME', 'SERVER_PORT', 'SERVER_PROTOCOL', 'CONTENT_TYPE', 'CONTENT_LENGTH', 'HTTP_ACCEPT', 'HTTP_COOKIE', 'HTTP_X_EXTRA', 'FCGI_ROLE', 'GATEWAY_INTERFACE'];
    startResponse('200 OK', [['Content-Type', 'application/json']]);
    return [JSON.stringify(Object.fromEntries(keys.map((k) => [k, environ[k]])))];
  }
  if (path === '/sha') {
    const hash = createHash('sha256');
    let n = 0;
    for await (const c of environ['wsgi.input']) {
      hash.update(c as Buffer);
      n += (c as Buffer).length;
    }
    startResponse('200 OK', [['Content-Type', 'text/plain']]);
    return [`${n} ${hash.digest('hex')}`];
  }
  if (path === '/big') {
    startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
    return (function* () {
      for (let i = 0; i < 48; i++) yield Buffer.alloc(65536, i);
    })();
  }
  if (path === '/cookies') {
    environ['wsgi.errors'].write('a warning\n');
    startResponse('404 Not Found', [['Set-Cookie', 'a=1; Path=/'], ['Content-Type', 'text/plain'], ['Set-Cookie', 'b=2; Path=/']]);
    return ['missing'];
  }
  if (path === '/hang') {
    seenSignals.push(environ['nsgi.signal']);
    await new Promise<void>((resolve) => {
      gateRelease = resolve;
      environ['nsgi.signal'].addEventListener('abort', () => resolve());
    });
    startResponse('200 OK', []);
    return ['released'];
  }
  if (path === '/fail') {
    startResponse('200 OK', []);
    return (async function* () {
      yield 'part';
      throw new Error('late');
    })();
  }
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  return [`hello ${environ.REQUEST_METHOD} ${environ.PATH_INFO} ${environ.QUERY_STRING}`];
};

let server: NsgiServer;
const connections: Socket[] = [];
const logger = memoryLogger();
const addresses: Record<string, string> = {};

beforeAll(async () => {
  server = createFastCGIServer(app, { logger, maxRequests: 40 });
  server.server.on('connection', (s: Socket) => connections.push(s));
  addresses.tcp = await server.listen('127.0.0.1:0');
  // A second server on a unix socket, same app.
  const unixServer = createFastCGIServer(app, { logger });
  addresses.unix = await unixServer.listen(`unix:${join(dir, 'app.sock')}`);
  servers.push(unixServer);
});
const servers: NsgiServer[] = [];
afterAll(async () => {
  await server.close(100);
  for (const s of servers) await s.close(100);
  rmSync(dir, { recursive: true, force: true });
});

describe.each(['unix', 'tcp'])('FastCGIClient over %s', (kind) => {
  const client = (keepConn = false, trace?: (d: 'send' | 'recv', r: FastCGITraceRecord) => void): FastCGIClient => new FastCGIClient(addresses[kind]!, { keepConn, trace });

  it('sends the CGI variables a web server would, computed from method, path, headers and body', async () => {
    const res = await client().request({
      method: 'PUT',
      path: '/app/environ?x=1&y=%20',
      scriptName: '/app',
      headers: [['Accept', 'text/html'], ['Accept', 'application/json'], ['Host', 'example.org:8080'], ['Cookie', 'a=1'], ['Cookie', 'b=2'], ['Content-Type', 'text/plain']],
      body: 'héllo',
      params: { HTTP_X_EXTRA: 'from params' },
    });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body.toString())).toEqual({
      REQUEST_METHOD: 'PUT',
      REQUEST_URI: '/app/environ?x=1&y=%20',
      SCRIPT_NAME: '/app',
      PATH_INFO: '/environ',
      QUERY_STRING: 'x=1&y=%20',
      SERVER_NAME: 'example.org',
      SERVER_PORT: '8080',
      SERVER_PROTOCOL: 'HTTP/1.1',
      CONTENT_TYPE: 'text/plain',
      CONTENT_LENGTH: '6',
      HTTP_ACCEPT: 'text/html, application/json',
      HTTP_COOKIE: 'a=1; b=2',
      HTTP_X_EXTRA: 'from params',
      FCGI_ROLE: 'RESPONDER',
      GATEWAY_INTERFACE: 'CGI/1.1',
    });
  });

  it('decodes the path for PATH_INFO and defaults to GET without a body', async () => {
    const res = await client().request({ path: '/snow%20%E2%98%83/?q' });
    expect(res.body.toString()).toBe('hello GET /snow ☃/ q');
    expect(res).toMatchObject({ appStatus: 0, protocolStatus: FCGI_REQUEST_COMPLETE, statusText: 'OK' });
  });

  it('keeps repeated response headers in order and collects STDERR', async () => {
    const res = await client().request({ path: '/cookies' });
    expect(res.status).toBe(404);
    expect(res.statusText).toBe('Not Found');
    expect(res.headers.filter(([n]) => n === 'Set-Cookie')).toEqual([
      ['Set-Cookie', 'a=1; Path=/'],
      ['Set-Cookie', 'b=2; Path=/'],
    ]);
    expect(res.stderr).toBe('a warning\n');
  });

  it('uploads bytes and a streamed async iterable whole (checksummed)', async () => {
    const body = Buffer.alloc(5 * 1024 * 1024 + 13);
    for (let i = 0; i < body.length; i += 997) body[i] = i & 0xff;
    const expected = `${body.length} ${createHash('sha256').update(body).digest('hex')}`;
    expect((await client().request({ path: '/sha', body })).body.toString()).toBe(expected);
    async function* pieces(): AsyncIterable<Uint8Array> {
      for (let i = 0; i < body.length; i += 100_000) yield body.subarray(i, i + 100_000);
    }
    expect((await client().request({ path: '/sha', body: pieces() })).body.toString()).toBe(expected);
  });

  it('downloads a 3 MiB response whole', async () => {
    const res = await client().request({ path: '/big' });
    expect(res.body.length).toBe(48 * 65536);
    for (let i = 0; i < 48; i++) expect(res.body[i * 65536 + 100]).toBe(i);
  });

  it('without keepConn opens one connection per request, each closed by the application', async () => {
    const before = connections.length;
    const c = client();
    await Promise.all([c.request({ path: '/a' }), c.request({ path: '/b' }), c.request({ path: '/c' })]);
    if (kind === 'tcp') expect(connections.length - before).toBe(3);
    await c.close();
  });

  it('with keepConn multiplexes concurrent requests on one connection', async () => {
    const before = connections.length;
    const ids = new Set<number>();
    const c = client(true, (d, r) => {
      if (d === 'send' && r.typeName === 'BEGIN_REQUEST') ids.add(r.requestId);
    });
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => c.request({ path: `/n${i}` })));
    results.forEach((r, i) => expect(r.body.toString()).toBe(`hello GET /n${i} `));
    expect(ids.size).toBeGreaterThan(1);
    // and keeps it for the next requests
    expect((await c.request({ path: '/again' })).status).toBe(200);
    if (kind === 'tcp') expect(connections.length - before).toBe(1);
    await c.close();
  });

  it('traces every record sent and received', async () => {
    const lines: string[] = [];
    await client(false, (d, r) => lines.push(`${d} ${r.typeName} ${r.requestId} ${r.contentLength}`)).request({ path: '/t', body: 'xy' });
    expect(lines[0]).toBe('send BEGIN_REQUEST 1 8');
    expect(lines).toContain('send STDIN 1 2');
    expect(lines).toContain('send STDIN 1 0');
    expect(lines).toContain('send PARAMS 1 0');
    expect(lines.filter((l) => l.startsWith('recv STDOUT'))).not.toHaveLength(0);
    expect(lines.at(-1)).toBe('recv END_REQUEST 1 8');
  });

  it('an aborted signal sends ABORT_REQUEST: the app sees nsgi.signal fire, the request rejects, the kept connection lives on', async () => {
    const sent: string[] = [];
    const c = client(true, (d, r) => d === 'send' && sent.push(r.typeName));
    const controller = new AbortController();
    const n = seenSignals.length;
    const pending = c.request({ path: '/hang', signal: controller.signal });
    await waitFor(() => seenSignals.length > n, 'the app to start');
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(AbortedError);
    await waitFor(() => seenSignals[n]!.aborted, 'nsgi.signal');
    expect(sent).toContain('ABORT_REQUEST');
    expect((await c.request({ path: '/after-abort' })).body.toString()).toBe('hello GET /after-abort ');
    await c.close();
  });

  it('rejects at once when the signal is already aborted', async () => {
    await expect(client().request({ signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortedError);
  });

  it('asks FCGI_GET_VALUES', async () => {
    expect(await client().getValues(['FCGI_MPXS_CONNS', 'FCGI_MAX_REQS', 'NOPE'])).toEqual({ FCGI_MPXS_CONNS: '1', FCGI_MAX_REQS: kind === 'tcp' ? '40' : '1024' });
    const kept = client(true);
    expect(await kept.getValues(['FCGI_MAX_CONNS'])).toEqual({ FCGI_MAX_CONNS: '1024' });
    await kept.close();
  });

  it('passes the role: an Authorizer request says so in FCGI_ROLE', async () => {
    const res = await client().request({ path: '/environ', role: FCGI_AUTHORIZER });
    expect(JSON.parse(res.body.toString()).FCGI_ROLE).toBe('AUTHORIZER');
  });

  it('rejects with NSGI_ERR_FASTCGI_CLOSED when the connection closes before END_REQUEST', async () => {
    await expect(client().request({ path: '/fail' })).rejects.toMatchObject({ code: 'NSGI_ERR_FASTCGI_CLOSED' });
  });

  it('rejects with the socket error when nothing listens', async () => {
    const c = new FastCGIClient(kind === 'unix' ? `unix:${join(dir, 'nothing.sock')}` : '127.0.0.1:1');
    await expect(c.request({})).rejects.toMatchObject({ code: kind === 'unix' ? 'ENOENT' : 'ECONNREFUSED' });
  });

  it('load() runs many requests with a bounded number in flight, over one or several connections', async () => {
    const c = client(true);
    const one = await c.load({ requests: 300, concurrency: 16, request: { path: '/load' } });
    expect(one).toMatchObject({ requests: 300, errors: 0 });
    expect(one.bytes).toBeGreaterThan(300 * 20);
    expect(one.requestsPerSecond).toBeGreaterThan(0);
    const several = await c.load({ requests: 100, concurrency: 8, connections: 8, request: { method: 'POST', path: '/sha', body: 'abc' } });
    expect(several).toMatchObject({ requests: 100, errors: 0 });
    await c.close();
  });
});

describe('FastCGIClient and a refusing server', () => {
  it('resolves an OVERLOADED refusal with status 0 and the protocol status', async () => {
    const n = seenSignals.length;
    const c = new FastCGIClient(addresses.tcp!, { keepConn: true });
    const hanging = Array.from({ length: 40 }, () => c.request({ path: '/hang' }));
    await waitFor(() => seenSignals.length === n + 40, 'maxRequests apps to run');
    const refused = await new FastCGIClient(addresses.tcp!).request({ path: '/x' });
    expect(refused).toMatchObject({ status: 0, statusText: 'OVERLOADED', protocolStatus: FCGI_OVERLOADED, body: Buffer.alloc(0) });
    await c.close();
    await Promise.allSettled(hanging);
    await waitFor(() => server.activeRequests === 0, 'the hanging requests to be aborted');
  });
});
