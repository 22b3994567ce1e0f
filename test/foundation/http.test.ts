// The HTTP transport with real requests over loopback: the contract holds on the wire,
// bodies stream both ways with backpressure, and a client that goes away fires nsgi.signal.
import { createHash } from 'node:crypto';
import { request, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHTTPServer, type App, type NsgiServer } from '../../src/index.js';

const MiB = 1024 * 1024;
let server: NsgiServer;
let base: string;
let port: number;
const events: string[] = [];
const errors: string[] = [];
let maxBuffered = 0;

// Deterministic bytes of any length, made chunk by chunk so neither side holds the whole body.
function* pattern(total: number, chunk = 64 * 1024): Generator<Buffer> {
  const block = Buffer.alloc(chunk);
  for (let i = 0; i < chunk; i++) block[i] = (i * 31 + 7) & 0xff;
  for (let sent = 0; sent < total; sent += chunk) yield block.subarray(0, Math.min(chunk, total - sent));
}

const app: App = async (environ, start) => {
  const path = environ.PATH_INFO;
  if (path.startsWith('/echo-environ')) {
    start('200 OK', [['Content-Type', 'application/json']]);
    const { REQUEST_METHOD, SCRIPT_NAME, PATH_INFO, QUERY_STRING, CONTENT_TYPE, CONTENT_LENGTH, SERVER_PROTOCOL, REMOTE_ADDR, HTTP_X_CUSTOM, HTTP_COOKIE, HTTP_X_SPOOF } = environ;
    return [JSON.stringify({ REQUEST_METHOD, SCRIPT_NAME, PATH_INFO, QUERY_STRING, CONTENT_TYPE, CONTENT_LENGTH, SERVER_PROTOCOL, REMOTE_ADDR, HTTP_X_CUSTOM, HTTP_COOKIE, HTTP_X_SPOOF, scheme: environ['wsgi.url_scheme'] })];
  }
  if (path === '/sha256') {
    // Reads slowly (a 10 ms nap per MiB, while the client sends as fast as it can) and records how
    // much the transport held in memory meanwhile: without backpressure that would grow by megabytes.
    const input = environ['wsgi.input'];
    const hash = createHash('sha256');
    let n = 0;
    for await (const chunk of input) {
      hash.update(chunk as Buffer);
      n += (chunk as Buffer).length;
      if (n % MiB < 65536) {
        await new Promise((r) => setTimeout(r, 10));
        // After the nap: what arrived meanwhile and is held in memory, unread.
        maxBuffered = Math.max(maxBuffered, input.readableLength + ((input as unknown as { socket?: { readableLength: number } }).socket?.readableLength ?? 0));
      }
    }
    start('200 OK', [['Content-Type', 'text/plain']]);
    return [`${n} ${hash.digest('hex')}`];
  }
  if (path === '/cookies') {
    start('404 Not Found', [['Set-Cookie', 'a=1; Path=/'], ['Set-Cookie', 'b=2; Path=/'], ['Content-Type', 'text/plain']]);
    return ['no such thing'];
  }
  if (path === '/inject') {
    start('200 OK', [['X-Evil', 'x\r\nSet-Cookie: pwned=1']]);
    return ['should not be sent'];
  }
  if (path === '/throw') throw new Error('app exploded');
  if (path === '/big') {
    start('200 OK', [['Content-Type', 'application/octet-stream']]);
    return pattern(Number(environ.QUERY_STRING) * MiB);
  }
  if (path === '/endless') {
    const signal = environ['nsgi.signal'];
    signal.addEventListener('abort', () => events.push('signal'));
    start('200 OK', [['Content-Type', 'text/plain']]);
    return (async function* () {
      try {
        for (;;) {
          yield 'tick\n'.repeat(1000);
          await new Promise((r) => setTimeout(r, 5));
        }
      } finally {
        events.push('return');
      }
    })();
  }
  if (path === '/utf8') {
    start('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
    return ['snow ☃ ', Buffer.from('日本')];
  }
  start('200 OK', []);
  return ['ok'];
};

beforeAll(async () => {
  const { Writable } = await import('node:stream');
  server = createHTTPServer(app, {
    errors: new Writable({ write: (c, _e, cb) => (errors.push(String(c)), cb()) }),
    logger: { error: (m) => errors.push(m) },
  });
  const address = await server.listen('127.0.0.1:0');
  port = Number(address.split(':').pop());
  base = `http://${address}`;
});
afterAll(() => server.close(1000));

describe('HTTP transport', () => {
  it('builds the environ as CGI does: decoded PATH_INFO, raw QUERY_STRING, headers as HTTP_*', async () => {
    const res = await fetch(`${base}/echo-environ?q=caf%C3%A9&x=1`, { headers: { 'X-Custom': 'v', Cookie: 'a=1' } });
    const env = (await res.json()) as Record<string, string>;
    expect(env).toMatchObject({ REQUEST_METHOD: 'GET', SCRIPT_NAME: '', PATH_INFO: '/echo-environ', QUERY_STRING: 'q=caf%C3%A9&x=1', SERVER_PROTOCOL: 'HTTP/1.1', REMOTE_ADDR: '127.0.0.1', HTTP_X_CUSTOM: 'v', HTTP_COOKIE: 'a=1', scheme: 'http' });
  });

  it('percent-decodes the path into PATH_INFO as UTF-8', async () => {
    const res = await fetch(`${base}/echo-environ/snow%20%E2%98%83/a%2Fb`);
    expect(((await res.json()) as { PATH_INFO: string }).PATH_INFO).toBe('/echo-environ/snow ☃/a/b');
  });

  it('drops request headers with underscores (no spoofing of HTTP_X_SPOOF)', async () => {
    const body = await rawRequest('GET /echo-environ HTTP/1.1\r\nHost: x\r\nX_Spoof: evil\r\nConnection: close\r\n\r\n');
    expect(body).not.toContain('evil');
  });

  it('sends repeated headers (two Set-Cookie on a 404)', async () => {
    const res = await fetch(`${base}/cookies`);
    expect(res.status).toBe(404);
    expect(res.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2; Path=/']);
  });

  it('sends UTF-8 strings as UTF-8 bytes with a Content-Length for array bodies', async () => {
    const res = await fetch(`${base}/utf8`);
    expect(Buffer.from(await res.arrayBuffer())).toEqual(Buffer.from('snow ☃ 日本'));
    expect(res.headers.get('content-length')).toBe(String(Buffer.byteLength('snow ☃ 日本')));
  });

  it('refuses header injection with a 500 and no injected header', async () => {
    const res = await fetch(`${base}/inject`);
    expect(res.status).toBe(500);
    expect(res.headers.getSetCookie()).toEqual([]);
    expect(errors.join('')).toContain('NSGI_ERR_HEADER_INJECTION');
  });

  it('answers 500 for a throwing app and keeps serving', async () => {
    const res = await fetch(`${base}/throw`);
    expect(res.status).toBe(500);
    expect(errors.join('')).toContain('app exploded');
    expect(await (await fetch(`${base}/`)).text()).toBe('ok');
  });

  it('streams a 50 MiB POST through wsgi.input with bounded buffering', async () => {
    maxBuffered = 0;
    const expected = createHash('sha256');
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/sha256', headers: { 'Content-Length': String(50 * MiB) } }, resolve);
      req.on('error', reject);
      const chunks = pattern(50 * MiB);
      const pump = (): void => {
        for (let next = chunks.next(); !next.done; next = chunks.next()) {
          expected.update(next.value);
          if (!req.write(next.value)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    let text = '';
    for await (const c of res) text += c;
    expect(text).toBe(`${50 * MiB} ${expected.digest('hex')}`);
    // The request stream's buffer stays near its high-water mark; the whole body never piles up.
    expect(maxBuffered).toBeLessThan(2 * MiB);
  });

  it('streams a large response with a correct checksum', async () => {
    const res = await fetch(`${base}/big?8`);
    const got = createHash('sha256').update(Buffer.from(await res.arrayBuffer())).digest('hex');
    const want = createHash('sha256');
    for (const c of pattern(8 * MiB)) want.update(c);
    expect(got).toBe(want.digest('hex'));
  });

  it('fires nsgi.signal and calls return() when the client goes away', async () => {
    events.length = 0;
    await new Promise<void>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/endless' }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => {});
      req.on('close', () => {});
      req.end();
      setTimeout(() => reject(new Error('no data')), 5000).unref();
    });
    await waitFor(() => events.includes('signal') && events.includes('return'));
    expect(events).toContain('signal');
    expect(events).toContain('return');
    expect(server.activeRequests).toBe(0);
  });
});

function rawRequest(text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(text));
    let out = '';
    s.on('data', (d) => (out += d.toString()));
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}

async function waitFor(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('httpRequestVars', () => {
  // RFC 9112 §3.2.2: absolute-form targets carry the path after the authority; an empty path is the root.
  it.each([
    ['http://example.com?x=1', '/', 'x=1'],
    ['http://example.com', '/', ''],
    ['http://example.com/a%20b?y', '/a b', 'y'],
    ['/plain?z=2', '/plain', 'z=2'],
  ])('reads %j as PATH_INFO %j and QUERY_STRING %j', async (url, path, query) => {
    const { httpRequestVars } = await import('../../src/http/environ.js');
    const req = { url, method: 'GET', httpVersion: '1.1', rawHeaders: [], socket: {} } as unknown as import('node:http').IncomingMessage;
    expect(httpRequestVars(req)).toMatchObject({ PATH_INFO: path, QUERY_STRING: query });
  });
});
