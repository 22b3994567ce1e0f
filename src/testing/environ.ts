/**
 * `createEnviron()`: a complete, valid environ for a request that never
 * touched a socket, for unit tests of apps and middleware.
 * @module
 */
import { Readable, Writable } from 'node:stream';
import { buildEnviron, cgiHeaderName, decodePath } from '../environ.js';
import type { Environ } from '../types.js';

/** A request body for the test client: bytes, text, chunks, or a stream. */
export type TestBody = string | Uint8Array | Iterable<Uint8Array | string> | AsyncIterable<Uint8Array | string> | Readable;

/** What a test request looks like. Every field has a default. */
export interface EnvironOptions {
  /** HTTP method (default: `GET`). */
  method?: string;
  /** The URL path, may carry `?query` (default: `/`). Percent-escapes are decoded into `PATH_INFO`. */
  path?: string;
  /** The query: a raw string, or an object/URLSearchParams encoded for you (default: the one in `path`, or none). */
  query?: string | Record<string, string | string[]> | URLSearchParams;
  /** `SCRIPT_NAME`, the app's mount point (default: `''`). */
  scriptName?: string;
  /** Request headers; `Content-Type` and `Content-Length` get their CGI names. */
  headers?: Record<string, string> | Array<[string, string]>;
  /** The body; its length becomes `CONTENT_LENGTH` when known and not given. */
  body?: TestBody;
  /** `http` or `https` (default: `http`). */
  scheme?: string;
  /** `SERVER_NAME` (default: the `Host` header's name, or `localhost`). */
  serverName?: string;
  /** `SERVER_PORT` (default: `80`, or `443` for https). */
  serverPort?: string | number;
  /** `SERVER_PROTOCOL` (default: `HTTP/1.1`). */
  protocol?: string;
  /** `REMOTE_ADDR` (default: `127.0.0.1`). */
  remoteAddr?: string;
  /** An `nsgi.signal` to use (default: a fresh one that never fires unless you abort it via {@link createEnviron}'s result). */
  signal?: AbortSignal;
  /** Where `wsgi.errors` writes (default: a buffer you can read back as `environ['nsgi.test.errors']`). */
  errors?: Writable;
  /** Extra keys merged in last (e.g. other CGI variables, or values middleware expects). */
  extra?: Record<string, unknown>;
}

/**
 * Builds an environ the way a gateway would.
 *
 * @example
 * ```ts
 * const environ = createEnviron({ method: 'POST', path: '/users?x=1', body: '{"a":1}',
 *   headers: { 'Content-Type': 'application/json' } });
 * ```
 */
export function createEnviron(options: EnvironOptions = {}): Environ {
  const path = options.path ?? '/';
  const q = path.indexOf('?');
  const rawPath = q === -1 ? path : path.slice(0, q);
  const scheme = options.scheme ?? 'http';
  const vars: Record<string, string> = {
    REQUEST_METHOD: (options.method ?? 'GET').toUpperCase(),
    SCRIPT_NAME: options.scriptName ?? '',
    PATH_INFO: decodePath(rawPath),
    QUERY_STRING: encodeQuery(options.query) ?? (q === -1 ? '' : path.slice(q + 1)),
    SERVER_PROTOCOL: options.protocol ?? 'HTTP/1.1',
    SERVER_PORT: String(options.serverPort ?? (scheme === 'https' ? 443 : 80)),
    SERVER_NAME: '',
    REMOTE_ADDR: options.remoteAddr ?? '127.0.0.1',
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_SOFTWARE: 'nsgi-test',
  };
  vars.REQUEST_URI = (options.scriptName ?? '') + rawPath + (vars.QUERY_STRING ? `?${vars.QUERY_STRING}` : '');
  if (scheme === 'https') vars.HTTPS = 'on';
  const headers = Array.isArray(options.headers) ? options.headers : Object.entries(options.headers ?? {});
  for (const [name, value] of headers) {
    const key = cgiHeaderName(name);
    vars[key] = vars[key] === undefined ? value : `${vars[key]}, ${value}`;
  }
  vars.SERVER_NAME = options.serverName ?? (vars.HTTP_HOST ? vars.HTTP_HOST.replace(/:\d+$/, '') : 'localhost');
  const { stream, length } = bodyStream(options.body);
  if (length !== undefined && vars.CONTENT_LENGTH === undefined) vars.CONTENT_LENGTH = String(length);
  let errors = options.errors;
  const captured: Buffer[] = [];
  if (errors === undefined) {
    errors = new Writable({
      write(chunk: Buffer, _enc, cb) {
        captured.push(chunk);
        cb();
      },
    });
  }
  const environ = buildEnviron(vars, {
    input: stream,
    errors,
    signal: options.signal ?? new AbortController().signal,
    urlScheme: scheme,
  });
  Object.defineProperty(environ, 'nsgi.test.errors', { get: () => Buffer.concat(captured).toString('utf8'), enumerable: false });
  if (options.extra) Object.assign(environ, options.extra);
  return environ;
}

function encodeQuery(query: EnvironOptions['query']): string | undefined {
  if (query === undefined) return undefined;
  if (typeof query === 'string') return query.startsWith('?') ? query.slice(1) : query;
  if (query instanceof URLSearchParams) return query.toString();
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) for (const item of Array.isArray(v) ? v : [v]) params.append(k, item);
  return params.toString();
}

function bodyStream(body: TestBody | undefined): { stream: Readable; length: number | undefined } {
  if (body === undefined) return { stream: Readable.from([], { objectMode: false }), length: undefined };
  if (typeof body === 'string') {
    const bytes = Buffer.from(body, 'utf8');
    return { stream: Readable.from([bytes], { objectMode: false }), length: bytes.length };
  }
  if (body instanceof Uint8Array) return { stream: Readable.from([Buffer.from(body.buffer, body.byteOffset, body.byteLength)], { objectMode: false }), length: body.byteLength };
  if (body instanceof Readable) return { stream: body, length: undefined };
  return {
    stream: Readable.from(
      (async function* () {
        for await (const c of body as AsyncIterable<Uint8Array | string>) yield typeof c === 'string' ? Buffer.from(c, 'utf8') : c;
      })(),
      { objectMode: false },
    ),
    length: undefined,
  };
}
