/**
 * Bridges between nsgi apps and WHATWG fetch handlers,
 * `(request: Request) => Response | Promise<Response>`, the shape of Hono,
 * itty-router, h3 and the Remix/SvelteKit adapters, of Deno and Bun's
 * servers and of edge runtimes.
 *
 * - {@link fromFetchHandler} runs a fetch handler as an nsgi app: behind
 *   FastCGI, SCGI or CGI.
 * - {@link toFetchHandler} runs an nsgi app as a fetch handler: inside a
 *   fetch-based server or framework.
 *
 * Bodies stream both ways with backpressure (a chunk is read only when the
 * other side wants one), `request.signal` follows `nsgi.signal` and the
 * other way round, and repeated `Set-Cookie` headers stay separate.
 * @module
 */
import { Readable } from 'node:stream';
import { STATUS_CODES } from 'node:http';
import { buildEnviron, cgiHeaderName, decodePath } from '../environ.js';
import { AbortedError, ContractError } from '../errors.js';
import type { Status } from '../headers.js';
import { runApp, type ResponseSink } from '../response.js';
import type { App, Environ, HeaderList } from '../types.js';
import { requestTarget, requestURL } from './url.js';

/**
 * A WHATWG fetch handler. Extra arguments (Hono's `env`, `ctx`) are not passed.
 *
 * @example
 * ```ts
 * import type { FetchHandler } from 'nsgi';
 * const handler: FetchHandler = (request) => Response.json({ url: request.url });
 * ```
 */
export type FetchHandler = (request: Request) => Response | Promise<Response>;

/**
 * Options of {@link fromFetchHandler}.
 *
 * @example
 * ```ts
 * // Published at /app/ by the web server, a Hono app written for '/' routes below it:
 * const app = fromFetchHandler(hono.fetch, { url: 'path-info' });
 * ```
 */
export interface FromFetchHandlerOptions {
  /**
   * What `request.url` holds. `'full'`: the public URL, `SCRIPT_NAME` +
   * `PATH_INFO`, so links and redirects come out right and the handler routes
   * with the mount point (Hono: `app.basePath('/app')` or `app.route('/app', sub)`).
   * `'path-info'`: the URL without `SCRIPT_NAME`, so the handler routes below
   * the mount point as a WSGI app would (default: `'full'`).
   */
  url?: 'full' | 'path-info';
}

const NO_BODY_METHODS = new Set(['GET', 'HEAD']);

/**
 * Runs a fetch handler as an nsgi app. The `Request` gets the URL rebuilt
 * from the environ (PEP 3333 URL reconstruction: `wsgi.url_scheme`, `Host`
 * or `SERVER_NAME:SERVER_PORT`, the raw path when `REQUEST_URI` agrees), the
 * `HTTP_*` headers, `wsgi.input` as a streamed body, and `nsgi.signal` as
 * its `signal`. The `Response` body is streamed to the gateway, one chunk
 * read per chunk sent.
 *
 * A `Host` header that makes no valid URL is answered `400 Bad Request`.
 *
 * @example
 * ```ts
 * import { Hono } from 'hono';
 * import { fromFetchHandler, serve } from 'nsgi';
 *
 * const hono = new Hono();
 * hono.get('/hello/:name', (c) => c.json({ hello: c.req.param('name') }));
 * await serve(fromFetchHandler(hono.fetch), { fastcgi: '127.0.0.1:9000' });
 * ```
 */
export function fromFetchHandler(handler: FetchHandler, options: FromFetchHandlerOptions = {}): App {
  if (typeof handler !== 'function') {
    throw new TypeError(`fromFetchHandler: handler must be a function (request) => Response, got ${handler === null ? 'null' : typeof handler}`);
  }
  const pathInfoOnly = options.url === 'path-info';
  return async (environ, startResponse) => {
    const request = createRequest(environ, pathInfoOnly);
    if (request === undefined) {
      startResponse('400 Bad Request', [['Content-Type', 'text/plain; charset=utf-8']]);
      return ['Bad Request: the Host header does not make a valid URL\n'];
    }
    const response = await handler(request);
    if (!(response instanceof Response)) {
      throw new ContractError('NSGI_ERR_BRIDGE_RESPONSE', `bridge: the fetch handler must return a Response, got ${response === null ? 'null' : typeof response}`);
    }
    const headers: HeaderList = [];
    response.headers.forEach((value, name) => {
      if (name !== 'set-cookie') headers.push([name, value]);
    });
    for (const cookie of response.headers.getSetCookie()) headers.push(['set-cookie', cookie]);
    const status = response.status;
    startResponse(`${status} ${response.statusText || STATUS_CODES[status] || 'Unknown'}`, headers);
    const body = response.body;
    if (body === null) return [];
    if (environ.REQUEST_METHOD === 'HEAD') {
      // The gateway would drop it; do not make the handler produce it.
      void body.cancel().catch(() => {});
      return [];
    }
    return streamBody(body);
  };
}

function createRequest(environ: Environ, pathInfoOnly: boolean): Request | undefined {
  let target = requestTarget(environ);
  if (pathInfoOnly) target = { script: '', path: target.path, query: target.query };
  let url: URL;
  try {
    url = new URL(requestURL(environ, target));
  } catch {
    return undefined;
  }
  const headers = new Headers();
  for (const key in environ) {
    if (!key.startsWith('HTTP_')) continue;
    const value = environ[key];
    if (typeof value !== 'string') continue;
    if ((key === 'HTTP_CONTENT_TYPE' && environ.CONTENT_TYPE) || (key === 'HTTP_CONTENT_LENGTH' && environ.CONTENT_LENGTH)) continue;
    appendHeader(headers, key.slice(5).replace(/_/g, '-').toLowerCase(), value);
  }
  if (environ.CONTENT_TYPE) appendHeader(headers, 'content-type', environ.CONTENT_TYPE);
  if (environ.CONTENT_LENGTH) appendHeader(headers, 'content-length', environ.CONTENT_LENGTH);
  const method = environ.REQUEST_METHOD;
  const init: RequestInit & { duplex?: 'half' } = { method, headers, signal: environ['nsgi.signal'] };
  if (!NO_BODY_METHODS.has(method) && environ.CONTENT_LENGTH !== '0') {
    init.body = inputStream(environ['wsgi.input']);
    init.duplex = 'half';
  }
  return new Request(url, init);
}

function appendHeader(headers: Headers, name: string, value: string): void {
  try {
    headers.append(name, value);
  } catch {
    // A name or value fetch refuses (e.g. not a token): the gateway let it through, we cannot.
  }
}

// wsgi.input as a ReadableStream that reads only when pulled.
function inputStream(input: Readable): ReadableStream<Uint8Array> {
  const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const step = await it.next();
      if (step.done) controller.close();
      else controller.enqueue(new Uint8Array(step.value.buffer, step.value.byteOffset, step.value.byteLength));
    },
    async cancel() {
      await it.return?.();
    },
  });
}

// A Response body as the app's body: one read per chunk the gateway takes; return() cancels it.
function streamBody(body: ReadableStream<Uint8Array>): AsyncIterableIterator<Uint8Array> {
  const reader = body.getReader();
  return {
    async next() {
      const step = await reader.read();
      return step.done ? { value: undefined, done: true } : { value: step.value, done: false };
    },
    async return() {
      await reader.cancel().catch(() => {});
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/**
 * Options of {@link toFetchHandler}.
 *
 * @example
 * ```ts
 * // Mounted by Hono at /legacy (Hono strips the prefix): tell the app where it lives.
 * web.mount('/legacy', toFetchHandler(legacyApp, { scriptName: '/legacy' }));
 * ```
 */
export interface ToFetchHandlerOptions {
  /** The mount point given to the app as `SCRIPT_NAME`; the request's whole path is `PATH_INFO` (default: `''`). */
  scriptName?: string;
  /** The `wsgi.errors` stream (default: `process.stderr`). */
  errors?: NodeJS.WritableStream;
}

/**
 * Runs an nsgi app as a fetch handler. The environ is built by
 * `buildEnviron` from the `Request`: its URL gives `PATH_INFO` (decoded),
 * `QUERY_STRING`, `SERVER_NAME`, `SERVER_PORT` and `HTTPS`; its headers the
 * `HTTP_*` variables (names with `_` are dropped, as nginx and Apache do);
 * its body is `wsgi.input`. `nsgi.signal` fires when `request.signal` does
 * or when the consumer cancels the response body.
 *
 * The promise resolves when the app starts its response, with a `Response`
 * whose body streams what the app yields. It rejects with `AbortedError`
 * when the request is aborted before that.
 *
 * @example
 * ```ts
 * import { Hono } from 'hono';
 * import { toFetchHandler } from 'nsgi';
 *
 * const web = new Hono();
 * web.mount('/legacy', toFetchHandler(legacyApp)); // Hono strips /legacy from the URL
 * export default web; // Bun, Deno, Cloudflare, @hono/node-server
 * ```
 */
export function toFetchHandler(app: App, options: ToFetchHandlerOptions = {}): (request: Request) => Promise<Response> {
  if (typeof app !== 'function') throw new TypeError('toFetchHandler: app must be a function (environ, startResponse) => body');
  const errors = (options.errors ?? process.stderr) as unknown as import('node:stream').Writable;
  return (request) => {
    const controller = new AbortController();
    const onAbort = (): void => controller.abort(request.signal.reason);
    if (request.signal.aborted) onAbort();
    else request.signal.addEventListener('abort', onAbort, { once: true });
    const environ = buildEnviron(requestVars(request, options.scriptName ?? ''), {
      input: request.body === null ? Readable.from([]) : webInput(request.body),
      errors,
      signal: controller.signal,
    });
    return new Promise<Response>((resolve, reject) => {
      const sink = new FetchResponseSink(request.method === 'HEAD', controller, resolve);
      runApp(app, environ, sink).then(
        (outcome) => {
          request.signal.removeEventListener('abort', onAbort);
          if (!sink.started) reject(outcome === 'failed' && sink.failure !== undefined ? sink.failure : new AbortedError());
        },
        /* c8 ignore next */ reject,
      );
    });
  };
}

// The CGI variables of a fetch Request, as the HTTP transport computes them from a node:http request.
function requestVars(request: Request, scriptName: string): Record<string, string> {
  const url = new URL(request.url);
  const https = url.protocol === 'https:';
  const vars: Record<string, string> = {
    REQUEST_METHOD: request.method,
    SCRIPT_NAME: scriptName,
    PATH_INFO: decodePath(url.pathname),
    QUERY_STRING: url.search.length > 1 ? url.search.slice(1) : '',
    REQUEST_URI: url.pathname + url.search,
    SERVER_PROTOCOL: 'HTTP/1.1',
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_SOFTWARE: 'nsgi',
    SERVER_NAME: url.hostname,
    SERVER_PORT: url.port || (https ? '443' : '80'),
  };
  if (https) vars.HTTPS = 'on';
  request.headers.forEach((value, name) => {
    if (name.indexOf('_') !== -1 || name === 'set-cookie') return;
    vars[cgiHeaderName(name)] = value;
  });
  if (vars.HTTP_HOST === undefined) vars.HTTP_HOST = url.host;
  return vars;
}

// A request body as wsgi.input: one read from the stream per read() of the Readable.
function webInput(body: ReadableStream<Uint8Array>): Readable {
  const reader = body.getReader();
  return new Readable({
    read() {
      reader.read().then(
        (step) => {
          if (step.done) this.push(null);
          else this.push(step.value);
        },
        (err: Error) => this.destroy(err),
      );
    },
    destroy(err, cb) {
      reader.cancel(err ?? undefined).catch(() => {});
      cb(err);
    },
  });
}

/** Turns the driver's output into a `Response` whose body is pulled by its consumer. */
class FetchResponseSink implements ResponseSink {
  started = false;
  /** Why the response could not be started (the app's status does not fit a Response). */
  failure: unknown;
  private controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  private pullWaiter: (() => void) | undefined;
  private cancelled = false;

  constructor(
    private readonly head_: boolean,
    private readonly abort: AbortController,
    private readonly resolve: (response: Response) => void,
  ) {}

  head(status: Status, headers: HeaderList, knownLength: number | undefined): void {
    if (status.code < 200 || status.code > 599) {
      throw new ContractError('NSGI_ERR_BRIDGE_STATUS', `bridge: a fetch Response cannot carry status ${status.code} (only 200 to 599)`);
    }
    const h = new Headers();
    for (let i = 0; i < headers.length; i++) h.append(headers[i]![0], headers[i]![1]);
    const nullBody = this.head_ || status.code === 204 || status.code === 205 || status.code === 304;
    if (knownLength !== undefined && !nullBody && !h.has('content-length')) h.set('content-length', String(knownLength));
    let body: ReadableStream<Uint8Array> | null = null;
    if (!nullBody) {
      body = new ReadableStream<Uint8Array>(
        {
          start: (c) => {
            this.controller = c;
          },
          pull: () => this.wakePull(),
          cancel: () => {
            // The consumer went away: stop the app as a gone client would.
            this.cancelled = true;
            this.wakePull();
            this.abort.abort(new AbortedError());
          },
        },
        { highWaterMark: 1 },
      );
    } else {
      this.cancelled = true; // discard whatever the app yields
    }
    this.started = true;
    this.resolve(new Response(body, { status: status.code, statusText: status.reason, headers: h }));
  }

  body(chunk: Uint8Array): void | Promise<void> {
    if (this.cancelled || this.controller === undefined) return;
    this.controller.enqueue(chunk);
    if ((this.controller.desiredSize ?? 1) > 0) return;
    return new Promise<void>((resolve) => {
      this.pullWaiter = resolve;
    });
  }

  end(): void {
    if (!this.cancelled) this.controller?.close();
  }

  fail(error: unknown): void {
    if (!this.started) this.failure = error;
    else if (!this.cancelled) this.controller?.error(error);
  }

  private wakePull(): void {
    const w = this.pullWaiter;
    this.pullWaiter = undefined;
    w?.();
  }
}
