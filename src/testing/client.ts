/**
 * `TestClient`: runs an app with no sockets and returns what a client would
 * see. The same response driver as every real transport runs the app, so a
 * test here exercises the PEP 3333 rules the servers enforce.
 *
 * @example
 * ```ts
 * import { TestClient } from 'nsgi/testing';
 * const client = new TestClient(app);
 * const res = await client.get('/hello?name=Ada');
 * expect(res.status).toBe(200);
 * expect(res.text).toBe('Hello, Ada');
 * ```
 * @module
 */
import type { Status } from '../headers.js';
import { runApp, type Outcome, type ResponseSink } from '../response.js';
import type { App, Environ, HeaderList } from '../types.js';
import { createEnviron, type EnvironOptions, type TestBody } from './environ.js';

/** A response as the test client saw it. */
export class TestResponse {
  constructor(
    /** The numeric status, e.g. `404`. */
    readonly status: number,
    /** The reason phrase, e.g. `Not Found`. */
    readonly statusText: string,
    /** Headers in order, repeats kept. */
    readonly headers: HeaderList,
    /** The body bytes. */
    readonly body: Buffer,
    /** How the run ended: `complete`, `failed` (the app threw after sending headers) or `aborted`. */
    readonly outcome: Outcome,
    /** The environ the app ran with (to inspect what middleware changed). */
    readonly environ: Environ,
  ) {}

  /** The status line, e.g. `"404 Not Found"`. */
  get statusLine(): string {
    return `${this.status} ${this.statusText}`;
  }

  /** The body as UTF-8 text. */
  get text(): string {
    return this.body.toString('utf8');
  }

  /** The body parsed as JSON. */
  json<T = unknown>(): T {
    return JSON.parse(this.text) as T;
  }

  /** The first value of a header (case-insensitive), or `undefined`. */
  header(name: string): string | undefined {
    const lower = name.toLowerCase();
    for (const [k, v] of this.headers) if (k.toLowerCase() === lower) return v;
    return undefined;
  }

  /** Every value of a header (case-insensitive), e.g. all `Set-Cookie` lines. */
  headerAll(name: string): string[] {
    const lower = name.toLowerCase();
    return this.headers.filter(([k]) => k.toLowerCase() === lower).map(([, v]) => v);
  }

  /** What the app wrote to `wsgi.errors` (when the client captured it). */
  get errors(): string {
    return (this.environ['nsgi.test.errors'] as string | undefined) ?? '';
  }
}

/** Per-request options of the test client (see {@link EnvironOptions}). */
export type RequestOptions = Omit<EnvironOptions, 'method' | 'path' | 'body'>;

/** Options of {@link TestClient}. */
export interface TestClientOptions {
  /** Defaults merged into every request (e.g. `headers`, `scriptName`, `scheme`). */
  defaults?: RequestOptions;
}

/** Runs requests against an app in memory. */
export class TestClient {
  constructor(
    readonly app: App,
    private readonly options: TestClientOptions = {},
  ) {
    if (typeof app !== 'function') throw new TypeError('TestClient: app must be a function (environ, startResponse) => body');
  }

  /** Runs one request described by `options` (method, path, headers, body...). */
  async request(options: EnvironOptions = {}): Promise<TestResponse> {
    const d = this.options.defaults ?? {};
    const environ = createEnviron({ ...d, ...options, headers: mergeHeaders(d.headers, options.headers) });
    return runInMemory(this.app, environ);
  }

  /** `GET path`. */
  get(path: string, options?: RequestOptions): Promise<TestResponse> {
    return this.request({ ...options, method: 'GET', path });
  }

  /** `HEAD path`. */
  head(path: string, options?: RequestOptions): Promise<TestResponse> {
    return this.request({ ...options, method: 'HEAD', path });
  }

  /** `DELETE path`. */
  delete(path: string, options?: RequestOptions): Promise<TestResponse> {
    return this.request({ ...options, method: 'DELETE', path });
  }

  /** `POST path` with a body. A plain object is sent as JSON. */
  post(path: string, body?: TestBody | object, options?: RequestOptions): Promise<TestResponse> {
    return this.request({ ...withBody(body, options), method: 'POST', path });
  }

  /** `PUT path` with a body. A plain object is sent as JSON. */
  put(path: string, body?: TestBody | object, options?: RequestOptions): Promise<TestResponse> {
    return this.request({ ...withBody(body, options), method: 'PUT', path });
  }

  /** `PATCH path` with a body. A plain object is sent as JSON. */
  patch(path: string, body?: TestBody | object, options?: RequestOptions): Promise<TestResponse> {
    return this.request({ ...withBody(body, options), method: 'PATCH', path });
  }
}

/** Runs `app` on a ready environ and collects the response. */
export async function runInMemory(app: App, environ: Environ): Promise<TestResponse> {
  const chunks: Buffer[] = [];
  let status: Status = { code: 0, reason: '', line: '' };
  let headers: HeaderList = [];
  const sink: ResponseSink = {
    head(s, h) {
      status = s;
      headers = h.slice();
    },
    body(chunk) {
      chunks.push(Buffer.from(chunk));
    },
    end() {},
    fail() {},
  };
  const outcome = await runApp(app, environ, sink);
  return new TestResponse(status.code, status.reason, headers, Buffer.concat(chunks), outcome, environ);
}

function withBody(body: TestBody | object | undefined, options: RequestOptions | undefined): EnvironOptions {
  if (body === undefined || typeof body === 'string' || body instanceof Uint8Array || isIterable(body)) return { ...options, body: body as TestBody | undefined };
  // A plain object: JSON, unless the caller set a Content-Type.
  const headers = normalizeHeaders(options?.headers);
  if (!headers.some(([k]) => k.toLowerCase() === 'content-type')) headers.push(['Content-Type', 'application/json']);
  return { ...options, headers, body: JSON.stringify(body) };
}

function isIterable(value: object): boolean {
  return Symbol.iterator in value || Symbol.asyncIterator in value;
}

function normalizeHeaders(h: EnvironOptions['headers']): Array<[string, string]> {
  return Array.isArray(h) ? h.slice() : Object.entries(h ?? {});
}

function mergeHeaders(a: EnvironOptions['headers'], b: EnvironOptions['headers']): Array<[string, string]> | undefined {
  if (a === undefined) return b === undefined ? undefined : normalizeHeaders(b);
  const merged = normalizeHeaders(a);
  for (const [k, v] of normalizeHeaders(b)) {
    const i = merged.findIndex(([m]) => m.toLowerCase() === k.toLowerCase());
    if (i === -1) merged.push([k, v]);
    else merged[i] = [k, v];
  }
  return merged;
}
