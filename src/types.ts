/**
 * The nsgi application contract: PEP 3333 (WSGI) brought to Node.
 *
 * An application is a plain function over a CGI-style {@link Environ}. It calls
 * {@link StartResponse} with a status and headers, and returns a {@link Body}.
 * Middleware is a function from app to app. One app runs unchanged under
 * FastCGI, SCGI, HTTP or CGI.
 *
 * @example
 * ```ts
 * import type { App } from 'nsgi';
 *
 * export const app: App = (environ, startResponse) => {
 *   startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
 *   return [`Hello from ${environ.PATH_INFO}\n`];
 * };
 * ```
 * @module
 */
import type { Readable, Writable } from 'node:stream';

/** One body chunk: bytes, or a string that is sent as UTF-8. */
export type Chunk = Uint8Array | string;

/**
 * What an app returns: any iterable or async iterable of chunks. An array is
 * the simplest body; a generator streams. If the iterator has `return()`, it
 * is called when the response ends, early or not (WSGI's `close()`).
 */
export type Body = Iterable<Chunk> | AsyncIterable<Chunk>;

/** Response headers: name/value pairs, order kept, repeats kept (`Set-Cookie`). */
export type HeaderList = Array<[string, string]>;

/** The legacy `write()` callable returned by {@link StartResponse}. */
export type WriteFn = (chunk: Chunk) => void;

/**
 * Starts the response. `status` is `"<3-digit code> <reason>"`, e.g. `"200 OK"`.
 *
 * May be called a second time only with `excInfo` (the caught error), and only
 * while the headers have not been sent: the new status and headers replace the
 * old ones. Once sent, calling it with `excInfo` rethrows `excInfo` (PEP 3333).
 */
export type StartResponse = (status: string, headers: HeaderList, excInfo?: unknown) => WriteFn;

/**
 * The request: CGI/1.1 meta-variables as strings, exactly as the gateway sent
 * them, plus the `wsgi.*` and `nsgi.*` extension keys. Open for other keys
 * (`REQUEST_URI`, `DOCUMENT_ROOT`, `HTTPS`, `HTTP_*`, middleware additions).
 */
export interface Environ {
  REQUEST_METHOD: string;
  /** The mount point of the app: empty, or starting with `/` (never `/` alone). */
  SCRIPT_NAME: string;
  /** The rest of the path, percent-decoded as CGI requires. */
  PATH_INFO: string;
  /** The query string, raw (still percent-encoded), without `?`. */
  QUERY_STRING: string;
  CONTENT_TYPE?: string;
  CONTENT_LENGTH?: string;
  SERVER_NAME: string;
  SERVER_PORT: string;
  SERVER_PROTOCOL: string;
  REMOTE_ADDR?: string;
  REMOTE_PORT?: string;
  REQUEST_URI?: string;
  GATEWAY_INTERFACE?: string;
  HTTPS?: string;
  /** The request body: `for await (const chunk of environ['wsgi.input'])`. */
  'wsgi.input': Readable;
  /** Where the app writes diagnostics; under FastCGI it becomes FCGI_STDERR. */
  'wsgi.errors': Writable;
  /** `http` or `https`. */
  'wsgi.url_scheme': string;
  'wsgi.version': readonly [number, number];
  'wsgi.multithread': boolean;
  'wsgi.multiprocess': boolean;
  'wsgi.run_once': boolean;
  /** Fires when the client or web server goes away (FCGI_ABORT_REQUEST, closed socket). */
  'nsgi.signal': AbortSignal;
  [key: string]: unknown;
}

/** A web application: `(environ, startResponse) => body`. */
export type App = (environ: Environ, startResponse: StartResponse) => Body | Promise<Body>;

/** A function from app to app. */
export type Middleware = (app: App) => App;

/** Where a library component reports what it cannot return to a caller. */
export interface Logger {
  /** A failure worth an operator's attention (a protocol violation, an app error after headers). */
  error(message: string, error?: unknown): void;
  /** Routine events (a server started, stopped). */
  info?(message: string): void;
}
