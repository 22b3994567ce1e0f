/**
 * `validate()`: a lint middleware that checks both sides of the contract at
 * run time, like `wsgiref.validate` and werkzeug's `LintMiddleware`. Put it
 * around an app (or between two middlewares) in development and tests: it
 * throws a {@link ContractError} with code `NSGI_ERR_LINT` and a message that
 * says which rule broke, where the servers would only log a 500.
 *
 * Checks the environ it is given (required CGI keys are strings,
 * `SCRIPT_NAME`/`PATH_INFO` are empty or start with `/`, `SCRIPT_NAME` is
 * never `/` alone, `CONTENT_LENGTH` is digits, the `wsgi.*`/`nsgi.*` keys have
 * their types), and what the app does with it (status and header types,
 * `startResponse` called once unless with `excInfo`, and before the first
 * chunk; a body that is an iterable of strings or bytes and not a bare string
 * or buffer; no `write()` after the body ended; no body on 1xx/204/304;
 * `Content-Length` matching the bytes sent).
 *
 * Production caveat: it wraps every body in an async iterator and checks
 * every chunk, which costs time; leave it out of production pipelines.
 *
 * @example
 * ```ts
 * import { validate } from 'nsgi';
 * const checked = compose(validate(), PrefixMiddleware())(app);
 * ```
 * @module
 */
import { Readable, Writable } from 'node:stream';
import { ContractError } from '../errors.js';
import { describe } from '../headers.js';
import type { App, Body, Chunk, Environ, HeaderList, Middleware, StartResponse } from '../types.js';

const STATUS = /^[1-9]\d\d [^\r\n\0]*$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const REQUIRED = ['REQUEST_METHOD', 'SCRIPT_NAME', 'PATH_INFO', 'QUERY_STRING', 'SERVER_NAME', 'SERVER_PORT', 'SERVER_PROTOCOL'] as const;

function lint(message: string): ContractError {
  return new ContractError('NSGI_ERR_LINT', `validate: ${message}`);
}

/** Checks an environ against the contract; throws `NSGI_ERR_LINT` on the first broken rule. */
export function checkEnviron(environ: Environ): void {
  if (environ === null || typeof environ !== 'object') throw lint(`environ must be an object, got ${describe(environ)}`);
  for (const key of REQUIRED) {
    if (typeof environ[key] !== 'string') throw lint(`environ.${key} must be a string, got ${describe(environ[key])}`);
  }
  for (const [key, value] of Object.entries(environ)) {
    if (!key.includes('.') && typeof value !== 'string') throw lint(`environ.${key} is a CGI variable and must be a string, got ${describe(value)}`);
  }
  if (!/^[A-Z][A-Z0-9_-]*$/i.test(environ.REQUEST_METHOD)) throw lint(`REQUEST_METHOD ${JSON.stringify(environ.REQUEST_METHOD)} is not a method token`);
  const script = environ.SCRIPT_NAME;
  if (script !== '' && !script.startsWith('/')) throw lint(`SCRIPT_NAME ${JSON.stringify(script)} must be empty or start with "/"`);
  if (script === '/') throw lint('SCRIPT_NAME must not be "/" alone (the root mount is the empty string)');
  const path = environ.PATH_INFO;
  if (path !== '' && !path.startsWith('/')) throw lint(`PATH_INFO ${JSON.stringify(path)} must be empty or start with "/"`);
  const length = environ.CONTENT_LENGTH;
  if (length !== undefined && length !== '' && !/^\d+$/.test(length)) throw lint(`CONTENT_LENGTH ${JSON.stringify(length)} must be digits`);
  if (!(environ['wsgi.input'] instanceof Readable)) throw lint(`wsgi.input must be a Readable, got ${describe(environ['wsgi.input'])}`);
  const errors = environ['wsgi.errors'] as unknown;
  if (!(errors instanceof Writable) && typeof (errors as Writable | null)?.write !== 'function') throw lint(`wsgi.errors must be a Writable, got ${describe(errors)}`);
  const scheme = environ['wsgi.url_scheme'];
  if (scheme !== 'http' && scheme !== 'https') throw lint(`wsgi.url_scheme must be "http" or "https", got ${describe(scheme)}`);
  const version = environ['wsgi.version'];
  if (!Array.isArray(version) || version.length !== 2) throw lint(`wsgi.version must be [1, 0], got ${describe(version)}`);
  for (const key of ['wsgi.multithread', 'wsgi.multiprocess', 'wsgi.run_once'] as const) {
    if (typeof environ[key] !== 'boolean') throw lint(`${key} must be a boolean, got ${describe(environ[key])}`);
  }
  if (!(environ['nsgi.signal'] instanceof AbortSignal)) throw lint(`nsgi.signal must be an AbortSignal, got ${describe(environ['nsgi.signal'])}`);
}

function checkStartResponse(status: unknown, headers: unknown): void {
  if (typeof status !== 'string') throw lint(`status must be a string like "200 OK", got ${describe(status)}`);
  if (!STATUS.test(status)) throw lint(`status ${JSON.stringify(status)} must be a 3-digit code, a space and a reason, e.g. "200 OK"`);
  if (!Array.isArray(headers)) throw lint(`headers must be an array of [name, value] pairs, got ${describe(headers)}`);
  for (const pair of headers as unknown[]) {
    if (!Array.isArray(pair) || pair.length !== 2) throw lint(`each header must be a [name, value] pair, got ${describe(pair)}`);
    const [name, value] = pair as unknown[];
    if (typeof name !== 'string' || typeof value !== 'string') throw lint(`header names and values must be strings, got [${describe(name)}, ${describe(value)}]`);
    if (!TOKEN.test(name)) throw lint(`header name ${JSON.stringify(name)} is not a valid token`);
    if (name.toLowerCase() === 'status') throw lint('"Status" must not be a header; pass it to startResponse');
    if (/[\r\n\0]/.test(value)) throw lint(`value of header ${name} contains CR, LF or NUL`);
  }
}

function checkChunk(chunk: unknown): asserts chunk is Chunk {
  if (typeof chunk !== 'string' && !(chunk instanceof Uint8Array)) throw lint(`body chunks must be strings or Uint8Array, got ${describe(chunk)}`);
}

function byteLength(chunk: Chunk): number {
  return typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
}

/** The lint middleware. Takes no options. */
export function validate(): Middleware {
  return (app: App): App => {
    if (typeof app !== 'function') throw new TypeError(`validate: the app must be a function, got ${describe(app)}`);
    return async (environ, startResponse) => {
      checkEnviron(environ);
      let started = false;
      let ended = false;
      let statusCode = 0;
      let declaredLength: number | undefined;
      let sent = 0;
      const checkedStart: StartResponse = (status, headers, excInfo) => {
        checkStartResponse(status, headers);
        if (started && (excInfo === undefined || excInfo === null)) throw lint('startResponse called a second time without excInfo');
        started = true;
        statusCode = Number(status.slice(0, 3));
        declaredLength = lengthOf(headers);
        const write = startResponse(status, headers, excInfo);
        return (chunk) => {
          if (ended) throw lint('write() called after the body ended');
          checkChunk(chunk);
          sent += byteLength(chunk);
          write(chunk);
        };
      };
      const body = await app(environ, checkedStart);
      if (typeof body === 'string') throw lint('the app returned a string; return [string] (a bare string would be sent one character at a time)');
      if (body instanceof Uint8Array) throw lint('the app returned a bare Uint8Array; return [bytes]');
      if (body === null || typeof body !== 'object' || !(Symbol.iterator in body || Symbol.asyncIterator in body)) {
        throw lint(`the app must return an iterable or async iterable of chunks, got ${describe(body)}`);
      }
      return checkedBody(body, () => {
        ended = true;
        if (!started) throw lint('the body ended but startResponse was never called');
        if ((statusCode < 200 || statusCode === 204 || statusCode === 304) && sent > 0) throw lint(`a ${statusCode} response must not have a body (${sent} bytes sent)`);
        if (declaredLength !== undefined && environ.REQUEST_METHOD !== 'HEAD' && sent !== declaredLength) {
          throw lint(`Content-Length says ${declaredLength} but the body had ${sent} bytes`);
        }
      }, (chunk) => {
        checkChunk(chunk);
        const n = byteLength(chunk);
        if (n > 0 && !started) throw lint('the body yielded bytes before startResponse was called');
        sent += n;
      });
    };
  };
}

function lengthOf(headers: HeaderList): number | undefined {
  for (const [k, v] of headers) if (k.toLowerCase() === 'content-length') return Number(v);
  return undefined;
}

// Wraps a body so each chunk is checked and the end is observed; return() reaches the app's iterator.
function checkedBody(body: Body, onEnd: () => void, onChunk: (chunk: unknown) => void): AsyncIterable<Chunk> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<Chunk> {
      const inner: Iterator<Chunk> | AsyncIterator<Chunk> =
        Symbol.asyncIterator in body ? (body as AsyncIterable<Chunk>)[Symbol.asyncIterator]() : (body as Iterable<Chunk>)[Symbol.iterator]();
      let closed = false;
      return {
        async next() {
          if (closed) return { done: true, value: undefined };
          const step = await inner.next();
          if (step.done) {
            closed = true;
            onEnd();
            return step;
          }
          onChunk(step.value);
          return step;
        },
        async return() {
          closed = true;
          if (typeof inner.return === 'function') await inner.return();
          return { done: true, value: undefined };
        },
      };
    },
  };
}
