// The ways the bridge tests reach an app: in memory (TestClient), over HTTP (createHTTPServer
// + fetch), over FastCGI (createFastCGIServer + FastCGIClient), and behind a real nginx speaking
// FastCGI to it. Each gives the same small request/response shape, so one table of cases runs on all.
import { join } from 'node:path';
import { FastCGIClient } from '../../src/fastcgi/client.js';
import { createFastCGIServer } from '../../src/fastcgi/server.js';
import { createHTTPServer } from '../../src/http/server.js';
import type { NsgiServer } from '../../src/server.js';
import { TestClient } from '../../src/testing/index.js';
import type { App } from '../../src/types.js';
import { nginxConfig } from '../fastcgi/peer-configs.js';
import { freePort, makeTempDir, removeTempDir, startNginx } from '../helpers/peers.js';

export interface Reply {
  status: number;
  headers: Array<[string, string]>;
  body: Buffer;
}

export interface Req {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer | Iterable<Buffer> | AsyncIterable<Buffer>;
  signal?: AbortSignal;
}

export interface Target {
  /** The URL prefix the app is mounted at on this target ('' or '/app'): requests go below it. */
  prefix: string;
  request(req: Req): Promise<Reply>;
  close(): Promise<void>;
}

export function header(reply: Reply, name: string): string | undefined {
  return reply.headers.find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
}

export function headerAll(reply: Reply, name: string): string[] {
  return reply.headers.filter(([k]) => k.toLowerCase() === name.toLowerCase()).map(([, v]) => v);
}

/** Runs requests through the TestClient: no sockets, same response driver. */
export function inMemory(app: App, scriptName = ''): Target {
  const client = new TestClient(app, { defaults: { scriptName, headers: { Host: 'bridge.test' } } });
  return {
    prefix: '',
    async request(req) {
      const res = await client.request({ method: req.method ?? 'GET', path: req.path, headers: req.headers, body: req.body, signal: req.signal });
      return { status: res.status, headers: res.headers, body: res.body };
    },
    close: async () => {},
  };
}

/** Serves the app on 127.0.0.1 with the HTTP transport and talks to it with fetch. */
export async function overHTTP(app: App): Promise<Target> {
  const server: NsgiServer = createHTTPServer(app, { logger: { error() {} } });
  const address = await server.listen('127.0.0.1:0');
  return { ...fetchTarget(`http://${address}`, ''), close: () => server.close(1000) };
}

/** Serves the app with the FastCGI transport on a unix socket and talks to it with FastCGIClient (one kept connection). */
export async function overFastCGI(app: App): Promise<Target> {
  const dir = makeTempDir('nsgi-bridge-fcgi-');
  const server = createFastCGIServer(app, { logger: { error() {} } });
  const address = await server.listen(`unix:${join(dir, 'app.sock')}`);
  const client = new FastCGIClient(address, { keepConn: true });
  return {
    prefix: '',
    async request(req) {
      let body: Uint8Array | string | AsyncIterable<Uint8Array> | undefined;
      if (typeof req.body === 'string' || Buffer.isBuffer(req.body)) body = req.body;
      else if (req.body !== undefined) body = toAsync(req.body);
      const res = await client.request({ method: req.method ?? 'GET', path: req.path, headers: { Host: 'bridge.test', ...req.headers }, body, signal: req.signal });
      return { status: res.status, headers: res.headers, body: res.body };
    },
    async close() {
      await client.close();
      await server.close(1000);
      removeTempDir(dir);
    },
  };
}

/**
 * A real nginx in front: the app is served with the FastCGI transport on a unix socket and
 * published by nginx at /app/ with the stock fastcgi_params (the config docs/fastcgi.md shows),
 * so it runs with SCRIPT_NAME = /app. Requests go to nginx with fetch.
 */
export async function behindNginx(app: App): Promise<Target> {
  const dir = makeTempDir('nsgi-bridge-nginx-');
  const server = createFastCGIServer(app, { logger: { error() {} }, socketMode: 0o666 });
  const pass = await server.listen(`unix:${join(dir, 'app.sock')}`);
  const port = await freePort();
  const nginx = await startNginx(() => nginxConfig({ port, pass, keepConn: true }), () => ({ port }), dir);
  return {
    ...fetchTarget(`http://127.0.0.1:${port}`, '/app'),
    async close() {
      await nginx.stop();
      await server.close(1000);
      removeTempDir(dir);
    },
  };
}

async function* toAsync(source: Iterable<Buffer> | AsyncIterable<Buffer>): AsyncIterable<Uint8Array> {
  yield* source;
}

function fetchTarget(base: string, prefix: string): Target {
  return {
    prefix,
    async request(req) {
      let body: RequestInit['body'];
      if (typeof req.body === 'string' || Buffer.isBuffer(req.body)) body = req.body;
      else if (req.body !== undefined) body = iterableStream(req.body);
      const res = await fetch(`${base}${prefix}${req.path}`, {
        method: req.method ?? 'GET',
        headers: req.headers,
        body,
        signal: req.signal,
        redirect: 'manual',
        ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
      } as RequestInit);
      const headers: Array<[string, string]> = [];
      res.headers.forEach((v, k) => {
        if (k !== 'set-cookie') headers.push([k, v]);
      });
      for (const c of res.headers.getSetCookie()) headers.push(['set-cookie', c]);
      return { status: res.status, headers, body: Buffer.from(await res.arrayBuffer()) };
    },
    close: async () => {},
  };
}

function iterableStream(source: Iterable<Buffer> | AsyncIterable<Buffer>): ReadableStream<Uint8Array> {
  const it = Symbol.asyncIterator in source ? (source as AsyncIterable<Buffer>)[Symbol.asyncIterator]() : (source as Iterable<Buffer>)[Symbol.iterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const step = await it.next();
      if (step.done) controller.close();
      else controller.enqueue(step.value);
    },
  });
}
