// The ways the bridge tests reach an app: in memory (TestClient) and over HTTP (createHTTPServer
// + fetch). Each gives the same small request/response shape, so one table of cases runs on all.
import { createHTTPServer } from '../../src/http/server.js';
import type { NsgiServer } from '../../src/server.js';
import { TestClient } from '../../src/testing/index.js';
import type { App } from '../../src/types.js';

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
  return {
    async request(req) {
      let body: RequestInit['body'];
      if (typeof req.body === 'string' || Buffer.isBuffer(req.body)) body = req.body;
      else if (req.body !== undefined) body = iterableStream(req.body);
      const res = await fetch(`http://${address}${req.path}`, {
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
    close: () => server.close(1000),
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
