// Many requests on kept connections, as nginx with `fastcgi_keep_conn on`
// sends them for hours: the server's output must stay a valid record stream
// however many bytes a connection has carried. A real nginx with responses
// sized to put a record on a buffer boundary on purpose, and nsgi's client in
// load mode for tens of thousands of requests.
//
// Regression: RecordWriter.streamEnd() evaluated `this.pool` before
// `this.reserve()`, which swaps in a new pool when the old one is full, so
// a stream-end header that fell on a pool boundary was written into the old
// pool (over the first 8 bytes of the segment already handed out) and the
// new pool's slot went out uninitialized. With a 14-byte hello response on
// one kept connection it broke at request 9,262 every time ("record version
// 64 is not supported" on the client; nginx: "upstream sent unsupported
// FastCGI protocol version" and a 502). Fixed in 39a4e51.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FastCGIClient } from '../../src/fastcgi/client.js';
import { createFastCGIServer } from '../../src/fastcgi/server.js';
import type { NsgiServer } from '../../src/server.js';
import type { App } from '../../src/types.js';
import router from '../fixtures/apps/router.mjs';
import { freePort, makeTempDir, removeTempDir, startNginx, type Peer } from '../helpers/peers.js';
import { nginxConfig } from './peer-configs.js';

const HELLO = Buffer.from('Hello, world!\n');
const hello: App = (_environ, startResponse) => {
  startResponse('200 OK', [['Content-Type', 'text/plain'], ['Content-Length', String(HELLO.length)]]);
  return [HELLO];
};

describe('tens of thousands of requests on kept connections', () => {
  let dir: string;
  let server: NsgiServer;
  let address: string;
  const logged: string[] = [];

  beforeAll(async () => {
    dir = makeTempDir('nsgi-fcgi-load-');
    server = createFastCGIServer(hello, { logger: { error: (m, e) => logged.push(`${m} ${(e as Error | undefined)?.message ?? ''}`) } });
    address = await server.listen(`unix:${join(dir, 'app.sock')}`);
  });
  afterAll(async () => {
    await server?.close(1000);
    removeTempDir(dir);
  });

  it.each([
    ['one connection, 32 multiplexed', 1],
    ['32 connections, one request each at a time (nginx-like)', 32],
  ])('%s: 20,000 requests, every response complete', async (_name, connections) => {
    const client = new FastCGIClient(address, { keepConn: true });
    try {
      const result = await client.load({ requests: 20_000, concurrency: 32, connections, request: { path: '/' } });
      expect(result).toMatchObject({ requests: 20_000, errors: 0, bytes: 20_000 * (64 + HELLO.length) });
    } finally {
      await client.close();
    }
    expect(logged).toEqual([]);
  });
});

describe('nginx -> nsgi FastCGI: a kept connection that carries hundreds of responses', () => {
  let nginx: Peer;
  let server: NsgiServer;
  let base: string;

  beforeAll(async () => {
    const dir = makeTempDir('nsgi-nginx-');
    server = createFastCGIServer(router, { socketMode: 0o666, logger: { error: () => {} } });
    const pass = await server.listen(`unix:${join(dir, 'app.sock')}`);
    const port = await freePort();
    nginx = await startNginx(() => nginxConfig({ port, pass, keepConn: true }), () => ({ port }), dir);
    base = `http://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    await nginx?.stop();
    await server?.close(1000);
    if (nginx) removeTempDir(nginx.dir);
  });

  // Sequential requests reuse one upstream connection, and each response is 440 bytes of records:
  // STDOUT head (8 + 65 + 7 padding), STDOUT body (8 + 328), end of STDOUT (8), END_REQUEST (16).
  // 148 of them plus the 149th's two STDOUT records fill 65,536 bytes exactly, so the 149th's
  // end-of-stream header is the first record after a 64 KiB boundary of the server's record
  // writer. Regression: RecordWriter.streamEnd() wrote that header into the previous pool, and
  // nginx got "upstream sent unsupported FastCGI protocol version: 64" and cut requests 149 and 298.
  // (If the head's format or the writer's pool size changes, the boundary moves: recompute n.)
  it('300 sequential requests on one kept connection all arrive whole', async () => {
    const failures: string[] = [];
    for (let i = 1; i <= 300; i++) {
      try {
        const res = await fetch(`${base}/app/sized?n=328`);
        const body = Buffer.from(await res.arrayBuffer());
        if (res.status !== 200 || body.length !== 328) failures.push(`#${i}: ${res.status}, ${body.length} bytes`);
      } catch (err) {
        failures.push(`#${i}: ${(err as Error).message}`);
      }
    }
    expect(failures, nginx.read('error.log').split('\n').filter((l) => l.includes('[error]')).slice(0, 3).join('\n')).toEqual([]);
  });
});
