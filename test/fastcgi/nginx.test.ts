// nsgi's FastCGI server behind a real nginx, the way it is deployed: nginx
// started from a generated config in a temp dir, the nsgi server in this test
// process (so the test can watch what the app saw: nsgi.signal, return()).
// Run over the matrix {unix socket, TCP} x {one connection per request,
// fastcgi_keep_conn on + upstream keepalive}: the same assertions hold in each.
import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFastCGIServer } from '../../src/fastcgi/server.js';
import type { NsgiServer } from '../../src/server.js';
import type { Logger } from '../../src/types.js';
import router from '../fixtures/apps/router.mjs';
import { seen as slowSeen } from '../fixtures/apps/slow.mjs';
import { expectedSha256 } from '../fixtures/apps/stream.mjs';
import { freePort, makeTempDir, removeTempDir, startNginx, type Peer } from '../helpers/peers.js';
import { nginxConfig } from './peer-configs.js';

const MATRIX = [
  { transport: 'unix', keepConn: false },
  { transport: 'unix', keepConn: true },
  { transport: 'tcp', keepConn: false },
  { transport: 'tcp', keepConn: true },
] as const;

describe.each(MATRIX)('nginx -> nsgi FastCGI over $transport, keep-conn $keepConn', ({ transport, keepConn }) => {
  let nginx: Peer;
  let server: NsgiServer;
  let base: string;
  let connections = 0;
  const logged: string[] = [];
  const logger: Logger = {
    error: (message, error) => logged.push(`${message} ${(error as Error | undefined)?.message ?? ''}`),
    info: () => {},
  };

  beforeAll(async () => {
    // The backend listens first, in the temp dir nginx will then use for its config and logs.
    const dir = makeTempDir('nsgi-nginx-');
    server = createFastCGIServer(router, { logger, socketMode: 0o666 });
    server.server.on('connection', () => connections++);
    const pass = await server.listen(transport === 'unix' ? `unix:${join(dir, 'app.sock')}` : '127.0.0.1:0');
    const port = await freePort();
    nginx = await startNginx(() => nginxConfig({ port, pass, keepConn }), () => ({ port }), dir);
    base = `http://127.0.0.1:${port}`;
  });

  afterAll(async () => {
    await nginx?.stop();
    await server?.close(1000);
    if (nginx) removeTempDir(nginx.dir);
  });

  it('GET: the app sees the request as CGI variables from fastcgi_params', async () => {
    const res = await fetch(`${base}/app/snow%20%E2%98%83/environ?name=Ada&x=%20`, { headers: { 'X-Custom': 'yes' } });
    expect(res.status).toBe(200);
    const env = (await res.json()) as Record<string, unknown>;
    expect(env).toMatchObject({
      REQUEST_METHOD: 'GET',
      SCRIPT_NAME: '/app',
      PATH_INFO: '/snow ☃/environ',
      QUERY_STRING: 'name=Ada&x=%20',
      REQUEST_URI: '/app/snow%20%E2%98%83/environ?name=Ada&x=%20',
      SERVER_PROTOCOL: 'HTTP/1.1',
      GATEWAY_INTERFACE: 'CGI/1.1',
      REMOTE_ADDR: '127.0.0.1',
      HTTP_X_CUSTOM: 'yes',
      'wsgi.url_scheme': 'http',
      'nsgi.signal': true,
    });
  });

  it('HEAD: status and headers, no body', async () => {
    const res = await fetch(`${base}/app/environ`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect((await res.arrayBuffer()).byteLength).toBe(0);
  });

  it('POST: a small body reaches wsgi.input with its CONTENT_LENGTH', async () => {
    const res = await fetch(`${base}/app/upload`, { method: 'POST', body: 'hello=world' });
    expect(await res.json()).toEqual({ length: 11, sha256: sha256(Buffer.from('hello=world')), contentLength: '11' });
  });

  it('POST: a 20 MiB upload arrives byte for byte (sha256 computed by the app)', async () => {
    const body = randomBytes(20 * 1024 * 1024);
    const res = await fetch(`${base}/app/upload`, { method: 'POST', body });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ length: body.length, sha256: sha256(body), contentLength: String(body.length) });
  });

  it('GET: a 30 MiB streamed response arrives byte for byte (sha256 checked here)', async () => {
    const res = await fetch(`${base}/app/stream?mib=30`);
    expect(res.status).toBe(200);
    const body = Buffer.from(await res.arrayBuffer());
    expect(body.length).toBe(30 * 1024 * 1024);
    expect(sha256(body)).toBe(expectedSha256(30));
  });

  it('a 404 with two Set-Cookie headers keeps both', async () => {
    const res = await fetch(`${base}/app/cookies`);
    expect(res.status).toBe(404);
    expect(res.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2; Path=/; HttpOnly']);
    expect(await res.text()).toBe('no such thing\n');
  });

  it('a client that goes away mid-response fires nsgi.signal and the body return()', async () => {
    const id = `${transport}-${keepConn}-${Date.now()}`;
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest(`${base}/app/slow?id=${id}`, (res) => {
        // The first bytes prove the app is streaming through nginx; then hang up.
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(err)));
      req.end();
    });
    // nginx notices the client's EOF and closes its FastCGI connection; nsgi must see that as an abort.
    await waitFor(() => slowSeen.get(id)?.returned === true, () => `app state: ${JSON.stringify(slowSeen.get(id))}`);
    expect(slowSeen.get(id)).toMatchObject({ started: true, aborted: true, returned: true });
    await waitFor(() => server.activeRequests === 0, () => `activeRequests ${server.activeRequests}`);
  });

  it('a wsgi.errors line lands in nginx error log as "FastCGI sent in stderr"', async () => {
    const marker = `marker-${transport}-${keepConn}-${Math.random().toString(36).slice(2)}`;
    const res = await fetch(`${base}/app/errors?msg=${marker}`);
    expect(await res.text()).toBe('logged\n');
    await waitFor(() => nginx.read('error.log').includes(marker), () => nginx.read('error.log').slice(-2000));
    const line = nginx.read('error.log').split('\n').find((l) => l.includes(marker))!;
    expect(line).toContain('FastCGI sent in stderr');
  });

  it(`${keepConn ? 'reuses' : 'opens one'} FastCGI connection${keepConn ? 's' : ' per request'} over 20 sequential requests`, async () => {
    const before = connections;
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${base}/app/environ?i=${i}`);
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    }
    const opened = connections - before;
    if (keepConn) expect(opened).toBeLessThanOrEqual(2);
    else expect(opened).toBe(20);
  });

  it('serves 32 concurrent requests', async () => {
    const bodies = await Promise.all(
      Array.from({ length: 32 }, async (_, i) => {
        const res = await fetch(`${base}/app/environ?n=${i}`);
        return ((await res.json()) as { QUERY_STRING: string }).QUERY_STRING;
      }),
    );
    expect(bodies).toEqual(Array.from({ length: 32 }, (_, i) => `n=${i}`));
  });

  it('logged no protocol errors', () => {
    expect(logged).toEqual([]);
  });
});

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

async function waitFor(check: () => boolean, explain: () => string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${explain()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('nginx -> nsgi FastCGI beyond maxRequests', () => {
  let nginx: Peer;
  let server: NsgiServer;
  let base: string;
  const logged: string[] = [];

  beforeAll(async () => {
    const dir = makeTempDir('nsgi-nginx-');
    server = createFastCGIServer(router, { maxRequests: 1, socketMode: 0o666, logger: { error: (m, e) => logged.push(`${m}: ${(e as { code?: string })?.code}`) } });
    const pass = await server.listen(`unix:${join(dir, 'app.sock')}`);
    const port = await freePort();
    nginx = await startNginx(() => nginxConfig({ port, pass, keepConn: false }), () => ({ port }), dir);
    base = `http://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    await nginx?.stop();
    await server?.close(1000);
    if (nginx) removeTempDir(nginx.dir);
  });

  it('answers FCGI_OVERLOADED at once (nginx: 502), never a hang, and serves again once there is room', async () => {
    const id = `overload-${Date.now()}`;
    const busy = new AbortController();
    const first = fetch(`${base}/app/slow?id=${id}`, { signal: busy.signal }).then(async (res) => {
      await res.arrayBuffer();
    });
    first.catch(() => {});
    await waitFor(() => slowSeen.get(id)?.chunks !== undefined && slowSeen.get(id)!.chunks > 0, () => 'the slow request never started');
    const refused = await fetch(`${base}/app/environ`, { signal: AbortSignal.timeout(5000) });
    expect(refused.status).toBe(502);
    expect(logged).toContain('fastcgi: refusing request 1 with FCGI_OVERLOADED: NSGI_ERR_FASTCGI_OVERLOADED');
    busy.abort();
    await waitFor(() => server.activeRequests === 0, () => `activeRequests ${server.activeRequests}`);
    expect((await fetch(`${base}/app/environ`)).status).toBe(200);
  });
});
