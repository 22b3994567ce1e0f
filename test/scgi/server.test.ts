// The SCGI server on real sockets: raw bytes in, CGI-style responses out; limits, malformed
// requests, half-close, aborts, backpressure, and the CLI's --scgi flag.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CGIResponseParser } from '../../src/cgi-response.js';
import { serve } from '../../src/serve.js';
import { SCGIClient } from '../../src/scgi/client.js';
import { encodeSCGIHeader } from '../../src/scgi/parser.js';
import { createSCGIServer, type SCGIServerOptions } from '../../src/scgi/server.js';
import type { NsgiServer } from '../../src/server.js';
import type { App, Environ, Logger } from '../../src/types.js';
import { spawnNsgi } from '../helpers/cli.js';
import { freePort, makeTempDir, removeTempDir } from '../helpers/peers.js';

const servers: NsgiServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close(1000)));
});

interface Logged {
  logger: Logger;
  errors: Array<{ message: string; code: string | undefined }>;
}
function captureLogger(): Logged {
  const errors: Logged['errors'] = [];
  return { errors, logger: { error: (message, err) => errors.push({ message, code: (err as { code?: string } | undefined)?.code }) } };
}

async function start(app: App, options: SCGIServerOptions = {}): Promise<{ server: NsgiServer; address: string; port: number }> {
  const server = createSCGIServer(app, { errors: devNull(), ...options });
  servers.push(server);
  const address = await server.listen('127.0.0.1:0');
  return { server, address, port: Number(address.split(':').pop()) };
}

function devNull(): NodeJS.WritableStream {
  return { write: () => true } as unknown as NodeJS.WritableStream;
}

// Sends raw bytes, optionally half-closes, and collects everything the server sends until it closes.
async function raw(port: number, bytes: Buffer | Buffer[], { halfClose = false } = {}): Promise<Buffer> {
  const socket = connect({ port, host: '127.0.0.1' });
  await once(socket, 'connect');
  for (const b of Array.isArray(bytes) ? bytes : [bytes]) socket.write(b);
  if (halfClose) socket.end();
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  await once(socket, 'close');
  return Buffer.concat(chunks);
}

function parseResponse(bytes: Buffer): { status: number; headers: Array<[string, string]>; body: string } {
  const head = new CGIResponseParser().push(bytes);
  if (head === undefined) throw new Error(`no response head in ${JSON.stringify(bytes.toString())}`);
  return { status: head.status, headers: head.headers, body: head.rest.toString() };
}

const echo: App = async (environ, startResponse) => {
  const chunks: Buffer[] = [];
  for await (const c of environ['wsgi.input']) chunks.push(c as Buffer);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(environ)) if (typeof v === 'string') out[k] = v;
  out.body = Buffer.concat(chunks).toString();
  out.multithread = environ['wsgi.multithread'];
  out.runOnce = environ['wsgi.run_once'];
  startResponse('200 OK', [['Content-Type', 'application/json']]);
  return [JSON.stringify(out)];
};

describe('SCGI server: requests and responses', () => {
  it('answers a request from the SCGI client with the CGI variables it sent', async () => {
    const { address } = await start(echo);
    const res = await new SCGIClient(address).request({ method: 'POST', path: '/a%20b/☃?x=%E2%98%83&y', body: 'hello', headers: { 'Content-Type': 'text/plain', 'X-Two': 'a' } });
    expect(res.status).toBe(200);
    expect(res.headers).toEqual([['Content-Type', 'application/json']]);
    const env = JSON.parse(res.body.toString());
    expect(env).toMatchObject({ REQUEST_METHOD: 'POST', PATH_INFO: '/a b/☃', QUERY_STRING: 'x=%E2%98%83&y', CONTENT_LENGTH: '5', CONTENT_TYPE: 'text/plain', HTTP_X_TWO: 'a', SCGI: '1', body: 'hello', multithread: true, runOnce: false });
  });

  it('reads exactly CONTENT_LENGTH body bytes, even when the peer sends more', async () => {
    const { port } = await start(echo);
    const out = await raw(port, [encodeSCGIHeader({ REQUEST_METHOD: 'POST' }, 3), Buffer.from('abcdef')]);
    expect(JSON.parse(parseResponse(out).body).body).toBe('abc');
  });

  it('answers a peer that half-closes after the body (shutdown(SHUT_WR))', async () => {
    const { port } = await start(echo);
    const out = await raw(port, [encodeSCGIHeader({ REQUEST_METHOD: 'PUT' }, 4), Buffer.from('data')], { halfClose: true });
    const res = parseResponse(out);
    expect([res.status, JSON.parse(res.body).body]).toEqual([200, 'data']);
  });

  it('answers a request split into one-byte writes', async () => {
    const { port } = await start(echo);
    const bytes = Buffer.concat([encodeSCGIHeader({ REQUEST_METHOD: 'POST', PATH_INFO: '/x' }, 2), Buffer.from('ok')]);
    const socket = connect({ port, host: '127.0.0.1' });
    socket.setNoDelay(true);
    await once(socket, 'connect');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    for (let i = 0; i < bytes.length; i++) {
      socket.write(bytes.subarray(i, i + 1));
      if (i % 16 === 0) await new Promise((r) => setImmediate(r));
    }
    await once(socket, 'close');
    expect(JSON.parse(parseResponse(Buffer.concat(chunks)).body)).toMatchObject({ PATH_INFO: '/x', body: 'ok' });
  });

  it('sends the Status line, repeated headers in order, and no body for HEAD (RFC 3875 §4.3.2)', async () => {
    const app: App = (_e, startResponse) => {
      startResponse('404 Not Here', [['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']]);
      return ['gone'];
    };
    const { address } = await start(app);
    const client = new SCGIClient(address);
    const get = await client.request({ path: '/' });
    expect([get.status, get.statusText, get.headers, get.body.toString()]).toEqual([404, 'Not Here', [['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']], 'gone']);
    const head = await client.request({ method: 'HEAD', path: '/' });
    expect([head.status, head.headers.length, head.body.length]).toEqual([404, 2, 0]);
  });

  it('serves on a unix socket through serve({ scgi })', async () => {
    const dir = makeTempDir();
    try {
      const { server, address } = await serve(echo, { scgi: `unix:${join(dir, 's.sock')}`, errors: devNull() });
      servers.push(server);
      expect(server.transport).toBe('scgi');
      const res = await new SCGIClient(address).request({ path: '/u' });
      expect(JSON.parse(res.body.toString()).PATH_INFO).toBe('/u');
    } finally {
      removeTempDir(dir);
    }
  });

  it('cuts the connection with a reset (RST, not FIN) when the app fails after the head', async () => {
    const app: App = (_e, startResponse) => {
      startResponse('200 OK', []);
      return (async function* () {
        yield 'part';
        throw new Error('boom');
      })();
    };
    const { port } = await start(app);
    // Linux may report a RST that follows data as EOF to a reader; a write after it tells them apart:
    // it fails once the peer reset, and succeeds while the peer's side is merely half-closed.
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    socket.write(encodeSCGIHeader({}, 0));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    const outcome = await new Promise<string>((resolve) => {
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
      socket.once('end', () => {
        const probe = (): void => void socket.write('x', (err) => (err ? resolve((err as NodeJS.ErrnoException).code ?? 'error') : setTimeout(probe, 20)));
        probe();
      });
    });
    socket.destroy();
    expect(['ECONNRESET', 'EPIPE']).toContain(outcome);
    expect(parseResponse(Buffer.concat(chunks)).body).toBe('part');
  });

  it('half-closes (FIN) after a complete response and keeps reading until the peer closes', async () => {
    const { port } = await start(echo);
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    socket.write(encodeSCGIHeader({}, 0));
    socket.resume();
    await once(socket, 'end');
    // The server still reads: a late write from the web server is not answered with a reset.
    await new Promise<void>((resolve, reject) => socket.write('late bytes', (err) => (err ? reject(err) : resolve())));
    socket.end();
    await once(socket, 'close');
  });
});

describe('SCGI server: wsgi.input backpressure', () => {
  it('pauses the socket while the app reads slowly, and still delivers every byte', async () => {
    let maxBuffered = 0;
    const app: App = async (environ, startResponse) => {
      const input = environ['wsgi.input'];
      const hash = createHash('sha256');
      let n = 0;
      for await (const c of input) {
        maxBuffered = Math.max(maxBuffered, input.readableLength);
        hash.update(c as Buffer);
        n += (c as Buffer).length;
        if (n % (1 << 20) < 65536) await new Promise((r) => setTimeout(r, 5));
      }
      startResponse('200 OK', []);
      return [`${n} ${hash.digest('hex')}`];
    };
    const { address } = await start(app, { inputHighWaterMark: 16384 });
    const body = Buffer.alloc(8 << 20, 7);
    const res = await new SCGIClient(address).request({ method: 'POST', body });
    expect(res.body.toString()).toBe(`${body.length} ${createHash('sha256').update(body).digest('hex')}`);
    // Without the pause, the whole 8 MiB would pile up in the stream's buffer.
    expect(maxBuffered).toBeLessThan(1 << 20);
  });
});

describe('SCGI server: aborts', () => {
  it('fires nsgi.signal and calls the body return() when the web server closes mid-response', async () => {
    let signalled!: () => void;
    const aborted = new Promise<void>((r) => (signalled = r));
    let returned = false;
    let environRef: Environ | undefined;
    const app: App = (environ, startResponse) => {
      environRef = environ;
      environ['nsgi.signal'].addEventListener('abort', () => signalled());
      startResponse('200 OK', []);
      const body: AsyncIterableIterator<string> = {
        [Symbol.asyncIterator]: () => body,
        next: () => new Promise((r) => setTimeout(() => r({ done: false, value: 'tick\n' }), 10)),
        return: () => {
          returned = true;
          return Promise.resolve({ done: true as const, value: undefined });
        },
      };
      return body;
    };
    const { port, server } = await start(app);
    const socket = connect({ port, host: '127.0.0.1' });
    socket.write(encodeSCGIHeader({}, 0));
    await once(socket, 'data');
    expect(server.activeRequests).toBe(1);
    socket.destroy();
    await aborted;
    expect(environRef!['nsgi.signal'].aborted).toBe(true);
    await new Promise((r) => setTimeout(r, 20));
    expect(returned).toBe(true);
    expect(server.activeRequests).toBe(0);
  });

  it('fails wsgi.input with NSGI_ERR_SCGI_TRUNCATED when the peer ends before CONTENT_LENGTH bytes', async () => {
    let inputError: unknown;
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    const app: App = async (environ, startResponse) => {
      try {
        for await (const _ of environ['wsgi.input']) void _;
      } catch (err) {
        inputError = err;
      }
      done();
      startResponse('200 OK', []);
      return [];
    };
    const { port } = await start(app);
    await raw(port, [encodeSCGIHeader({}, 100), Buffer.from('only ten..')], { halfClose: true });
    await finished;
    expect(inputError).toMatchObject({ code: 'NSGI_ERR_SCGI_TRUNCATED' });
  });
});

describe('SCGI server: malformed requests and limits', () => {
  it.each([
    ['HTTP instead of SCGI', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 400, 'NSGI_ERR_SCGI_LENGTH'],
    ['no comma', Buffer.from('24:CONTENT_LENGTH\x000\x00SCGI\x001\x00;'), 400, 'NSGI_ERR_SCGI_NETSTRING'],
    ['missing SCGI=1', Buffer.from('20:CONTENT_LENGTH\x000\x00X\x00\x00,'), 400, 'NSGI_ERR_SCGI_VERSION'],
    ['CONTENT_LENGTH not first', Buffer.from('24:SCGI\x001\x00CONTENT_LENGTH\x000\x00,'), 400, 'NSGI_ERR_SCGI_CONTENT_LENGTH'],
    ['an oversize header', Buffer.from('99999:'), 431, 'NSGI_ERR_SCGI_HEADER_TOO_LARGE'],
  ])('answers %s with a CGI-style %i and logs %s', async (_name, bytes, status, code) => {
    const log = captureLogger();
    const { port } = await start(echo, { logger: log.logger, maxHeaderBytes: 4096 });
    const res = parseResponse(await raw(port, bytes));
    expect(res.status).toBe(status);
    expect(log.errors).toEqual([expect.objectContaining({ code })]);
  });

  it('answers a header cut short by a half-close with 400 NSGI_ERR_SCGI_TRUNCATED', async () => {
    const log = captureLogger();
    const { port } = await start(echo, { logger: log.logger });
    const res = parseResponse(await raw(port, Buffer.from('30:CONTENT_LENGTH\x00'), { halfClose: true }));
    expect(res.status).toBe(400);
    expect(log.errors[0]!.code).toBe('NSGI_ERR_SCGI_TRUNCATED');
  });

  it('closes a connect-and-close probe silently', async () => {
    const log = captureLogger();
    const { port } = await start(echo, { logger: log.logger });
    expect((await raw(port, [], { halfClose: true })).length).toBe(0);
    expect(log.errors).toEqual([]);
  });

  it('answers a header that does not arrive within headerTimeout with 408 (slowloris)', async () => {
    const log = captureLogger();
    const { port } = await start(echo, { logger: log.logger, headerTimeout: 100 });
    const res = parseResponse(await raw(port, Buffer.from('50:CONTENT_')));
    expect(res.status).toBe(408);
    expect(log.errors[0]!.code).toBe('NSGI_ERR_SCGI_HEADER_TIMEOUT');
  });

  it('answers 503 beyond maxConnections, and serves again once a connection is free', async () => {
    const log = captureLogger();
    const { port, address } = await start(echo, { logger: log.logger, maxConnections: 1 });
    const hog = connect({ port, host: '127.0.0.1' });
    await once(hog, 'connect');
    await new Promise((r) => setTimeout(r, 20));
    const res = parseResponse(await raw(port, encodeSCGIHeader({}, 0)));
    expect(res.status).toBe(503);
    expect(log.errors[0]!.code).toBe('NSGI_ERR_SCGI_TOO_MANY_CONNECTIONS');
    hog.destroy();
    await new Promise((r) => setTimeout(r, 20));
    expect((await new SCGIClient(address).request({})).status).toBe(200);
  });

  it('keeps serving other connections while one sends garbage', async () => {
    const log = captureLogger();
    const { port, address } = await start(echo, { logger: log.logger });
    const client = new SCGIClient(address);
    const [bad, ...good] = await Promise.all([raw(port, Buffer.from('x:')), ...Array.from({ length: 5 }, (_, i) => client.request({ path: `/${i}` }))]);
    expect(parseResponse(bad).status).toBe(400);
    expect(good.map((r) => JSON.parse(r.body.toString()).PATH_INFO)).toEqual(['/0', '/1', '/2', '/3', '/4']);
  });
});

describe('SCGI server: close()', () => {
  it('lets a request in flight finish, then resolves', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const app: App = async (_e, startResponse) => {
      await gate;
      startResponse('200 OK', []);
      return ['late'];
    };
    const { server, address } = await start(app);
    const pending = new SCGIClient(address).request({});
    await new Promise((r) => setTimeout(r, 30));
    const closed = server.close(5000);
    setTimeout(release, 30);
    expect((await pending).body.toString()).toBe('late');
    await closed;
    expect(server.server.listening).toBe(false);
  });
});

describe('nsgi serve --scgi', () => {
  it('serves examples/hello.mjs over SCGI on HOST:PORT', async () => {
    const port = await freePort();
    const child = spawnNsgi(['serve', 'examples/hello.mjs', '--scgi', `127.0.0.1:${port}`]);
    try {
      for (let i = 0; i < 200 && !child.output().includes('serving'); i++) await new Promise((r) => setTimeout(r, 50));
      const res = await new SCGIClient(`127.0.0.1:${port}`).request({ path: '/snow%20%E2%98%83', params: { QUERY_STRING: 'name=Ada' } });
      expect(res.status).toBe(200);
      expect(res.body.toString()).toContain('Hello, Ada!\nYou asked for /snow ☃');
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
  });
});
