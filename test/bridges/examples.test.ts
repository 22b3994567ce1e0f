// examples/express and examples/hono, served over FastCGI behind a real nginx whose location
// block is the one their README shows (read from the README, so the docs stay true).
// The examples import 'nsgi' by name: the package's own dist/ (built by `npm ci`/`npm run build`).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createFastCGIServer } from '../../src/fastcgi/server.js';
import type { NsgiServer } from '../../src/server.js';
import type { App } from '../../src/types.js';
import { freePort, makeTempDir, removeTempDir, startNginx, type Peer } from '../helpers/peers.js';

const root = join(import.meta.dirname, '../..');

// The ```nginx block of a README, with its socket path and `include` pointed at this test's.
function readmeLocation(example: string, socket: string): string {
  const readme = readFileSync(join(root, 'examples', example, 'README.md'), 'utf8');
  const m = /```nginx\n([\s\S]*?)```/.exec(readme);
  if (m === null) throw new Error(`examples/${example}/README.md has no nginx block`);
  return m[1]!.replace(/unix:\/tmp\/[^;]+/, `unix:${socket}`).replace('include fastcgi_params;', 'include /etc/nginx/fastcgi_params;');
}

let nginx: Peer;
const servers: NsgiServer[] = [];
let base = '';

beforeAll(async () => {
  const dir = makeTempDir('nsgi-examples-');
  const locations: string[] = [];
  for (const example of ['express', 'hono']) {
    const app = (await import(join(root, 'examples', example, 'app.mjs'))).default as App;
    const server = createFastCGIServer(app, { socketMode: 0o666, logger: { error() {} } });
    servers.push(server);
    const socket = join(dir, `${example}.sock`);
    await server.listen(`unix:${socket}`);
    locations.push(readmeLocation(example, socket));
  }
  const port = await freePort();
  nginx = await startNginx(() => `server {\n listen 127.0.0.1:${port};\n${locations.join('\n')}\n}`, () => ({ port }), dir);
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  await nginx?.stop();
  await Promise.all(servers.map((s) => s.close(1000)));
  if (nginx) removeTempDir(nginx.dir);
});

describe('examples/express behind nginx', () => {
  test('the home page links below the mount point', async () => {
    const res = await fetch(`${base}/express/`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('href="/express/api/hello?name=nginx"');
  });

  test('a JSON route sets a cookie and sees the full original URL', async () => {
    const res = await fetch(`${base}/express/api/hello?name=you`);
    expect(await res.json()).toEqual({ hello: 'you', from: '127.0.0.1', protocol: 'http', url: '/express/api/hello?name=you' });
    expect(res.headers.getSetCookie()).toEqual(['seen=1; Path=/; HttpOnly']);
  });

  test('express.json() and express.urlencoded() parse bodies', async () => {
    const json = await fetch(`${base}/express/api/echo`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"a":1}' });
    expect(json.status).toBe(201);
    expect(await json.json()).toEqual({ received: { a: 1 } });
    const form = await fetch(`${base}/express/api/echo`, { method: 'POST', body: new URLSearchParams({ b: '2' }) });
    expect(await form.json()).toEqual({ received: { b: '2' } });
  });

  test('express.static answers Range requests; the redirect keeps the prefix', async () => {
    const part = await fetch(`${base}/express/static/hello.txt`, { headers: { Range: 'bytes=0-4' } });
    expect(part.status).toBe(206);
    expect(await part.text()).toBe('Hello');
    const old = await fetch(`${base}/express/old`, { redirect: 'manual' });
    expect(old.status).toBe(301);
    expect(old.headers.get('location')).toBe('/express/');
  });
});

describe('examples/hono behind nginx', () => {
  test('the app sees the public URL and routes under its basePath', async () => {
    const res = await fetch(`${base}/hono/api/hello?name=you`, { headers: { Cookie: 'visits=2' } });
    // Debian's fastcgi_params sends HTTP_HOST as $host, which drops the port (see the README).
    expect(await res.json()).toEqual({ hello: 'you', url: 'http://127.0.0.1/hono/api/hello?name=you' });
    expect(res.headers.getSetCookie()).toEqual(['visits=3; Path=/; HttpOnly']);
  });

  test('a streamed response arrives tick by tick, unbuffered', async () => {
    const res = await fetch(`${base}/hono/stream`);
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe('tick 1\n');
    let rest = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      rest += new TextDecoder().decode(value);
    }
    expect(rest).toBe('tick 2\ntick 3\ntick 4\ntick 5\n');
  });

  test('POST JSON and the redirect', async () => {
    const echo = await fetch(`${base}/hono/api/echo`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '[1,2]' });
    expect(echo.status).toBe(201);
    expect(await echo.json()).toEqual({ received: [1, 2] });
    const old = await fetch(`${base}/hono/old`, { redirect: 'manual' });
    expect(old.headers.get('location')).toBe('/hono/');
  });
});
