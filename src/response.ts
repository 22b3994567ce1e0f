/**
 * The response driver: runs an app for one environ and feeds a transport's
 * {@link ResponseSink}. Every adapter (HTTP, FastCGI, SCGI, CGI, the test
 * client) uses this one piece, so PEP 3333's rules hold the same everywhere:
 *
 * - `startResponse` validates status and headers; a second call needs
 *   `excInfo` and replaces headers not yet sent, or rethrows once they were.
 * - Headers go out with the first non-empty chunk (or at the end), so an app
 *   may still change its mind until it yields bytes.
 * - Strings are UTF-8. Body chunks are pulled one at a time and the next is
 *   pulled only when the sink has taken the last (backpressure).
 * - The body iterator's `return()` is called when the response ends, early
 *   or not (WSGI's `close()`).
 * - An exception before the headers were sent becomes `500 Internal Server
 *   Error` (the error goes to `wsgi.errors`); after, the response is cut short
 *   ({@link ResponseSink.fail}) so the client cannot mistake it for complete.
 * - When `nsgi.signal` fires, pulling stops at once, even while the body is
 *   waiting for its next chunk.
 * - A `HEAD` response carries no body (RFC 3875 §4.3.2, RFC 9110 §9.3.2): the
 *   head goes out as for `GET` (with the `Content-Length` an array body
 *   implies), then pulling stops and the body's `return()` is called.
 * @module
 */
import { ContractError } from './errors.js';
import { describe, getHeader, parseStatus, validateHeaders, type Status } from './headers.js';
import type { App, Body, Chunk, Environ, HeaderList, StartResponse, WriteFn } from './types.js';

/** What a transport does with the response the driver produces. */
export interface ResponseSink {
  /**
   * Sends the status and headers; called once, before any body bytes.
   * `knownLength` is the body's total size when the driver knows it up front
   * (an array body), so that a transport may add `Content-Length`.
   */
  head(status: Status, headers: HeaderList, knownLength: number | undefined): void;
  /**
   * Sends body bytes (never empty). Returns a promise when the peer is behind;
   * the driver pulls no more chunks until it settles. The promise must never
   * reject, and must settle when the connection closes.
   */
  body(chunk: Uint8Array): void | Promise<void>;
  /** The response is complete. */
  end(): void | Promise<void>;
  /** The app failed after the head was sent: end the response visibly broken (reset, truncate). */
  fail(error: unknown): void;
}

/** How a run ended. */
export type Outcome = 'complete' | 'failed' | 'aborted';

const INTERNAL_ERROR_BODY = Buffer.from('Internal Server Error\n');
const INTERNAL_ERROR_STATUS = parseStatus('500 Internal Server Error');
const EMPTY = Buffer.alloc(0);

/** Turns a body chunk into bytes: strings as UTF-8, `Uint8Array` as is. */
export function toBytes(chunk: Chunk): Uint8Array {
  if (typeof chunk === 'string') return chunk.length === 0 ? EMPTY : Buffer.from(chunk, 'utf8');
  if (chunk instanceof Uint8Array) return chunk;
  throw new ContractError('NSGI_ERR_INVALID_BODY', `response: body chunks must be strings or Uint8Array, got ${describe(chunk)}`);
}

/**
 * Runs `app` for `environ`, writing the response to `sink`. Never rejects:
 * app errors are turned into a 500 or a failed response and written to
 * `environ['wsgi.errors']`.
 */
export async function runApp(app: App, environ: Environ, sink: ResponseSink): Promise<Outcome> {
  const signal = environ['nsgi.signal'];
  const headOnly = environ.REQUEST_METHOD === 'HEAD';
  let status: Status | undefined;
  let headers: HeaderList | undefined;
  let headSent = false;
  let finished = false;
  let iterator: Iterator<Chunk> | AsyncIterator<Chunk> | undefined;

  const sendHead = (knownLength: number | undefined): void => {
    if (status === undefined) {
      throw new ContractError('NSGI_ERR_NO_START_RESPONSE', 'response: the app produced a response without calling startResponse');
    }
    headSent = true;
    sink.head(status, headers!, knownLength);
  };

  const write: WriteFn = (chunk) => {
    if (finished) throw new ContractError('NSGI_ERR_WRITE_AFTER_END', 'response: write() called after the response ended');
    const bytes = toBytes(chunk);
    if (bytes.length === 0) return;
    if (!headSent) sendHead(undefined);
    if (headOnly) return;
    // Legacy write() cannot wait; the sink queues, and body() promises never reject.
    void sink.body(bytes);
  };

  const startResponse: StartResponse = (statusLine, headerList, excInfo) => {
    if (excInfo !== undefined && excInfo !== null) {
      // PEP 3333: with exc_info, replace headers not yet sent; once sent, reraise.
      if (headSent) throw excInfo;
    } else if (status !== undefined) {
      throw new ContractError('NSGI_ERR_START_RESPONSE_TWICE', 'response: startResponse called twice without excInfo');
    }
    if (finished) throw new ContractError('NSGI_ERR_WRITE_AFTER_END', 'response: startResponse called after the response ended');
    const parsed = parseStatus(statusLine);
    validateHeaders(headerList);
    status = parsed;
    headers = headerList;
    return write;
  };

  try {
    const body = await app(environ, startResponse);
    if (Array.isArray(body)) {
      await sendArray(body);
    } else {
      iterator = iteratorOf(body);
      await pull(iterator);
    }
    if (signal.aborted) return 'aborted';
    if (!headSent) sendHead(0);
    finished = true;
    await sink.end();
    return 'complete';
  } catch (error) {
    finished = true;
    if (signal.aborted) return 'aborted';
    report(environ, error);
    if (!headSent) {
      headSent = true;
      sink.head(INTERNAL_ERROR_STATUS, [['Content-Type', 'text/plain; charset=utf-8'], ['Content-Length', String(INTERNAL_ERROR_BODY.length)]], INTERNAL_ERROR_BODY.length);
      if (!headOnly) await sink.body(INTERNAL_ERROR_BODY);
      await sink.end();
    } else {
      sink.fail(error);
    }
    return 'failed';
  } finally {
    finished = true;
    if (iterator !== undefined && typeof iterator.return === 'function') closeIterator(iterator, environ);
  }

  // An array body: its size is known before the head goes out.
  async function sendArray(chunks: readonly Chunk[]): Promise<void> {
    const bytes: Uint8Array[] = new Array(chunks.length);
    let total = 0;
    for (let i = 0; i < chunks.length; i++) {
      const b = toBytes(chunks[i]!);
      bytes[i] = b;
      total += b.length;
    }
    if (total === 0) return;
    if (!headSent) sendHead(getHeader(headers ?? [], 'content-length') === undefined ? total : undefined);
    if (headOnly) return;
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i]!.length === 0) continue;
      const wait = sink.body(bytes[i]!);
      if (wait !== undefined) await wait;
      if (signal.aborted) return;
    }
  }

  async function pull(it: Iterator<Chunk> | AsyncIterator<Chunk>): Promise<void> {
    for (;;) {
      const next = it.next();
      let step: IteratorResult<Chunk> | undefined;
      if (isPromise(next)) {
        step = await untilAborted(next, signal);
        if (step === undefined) return; // aborted while waiting for the app
      } else {
        step = next;
      }
      if (step.done) return;
      const bytes = toBytes(step.value);
      if (bytes.length === 0) continue;
      if (!headSent) sendHead(undefined);
      if (headOnly) return; // the head is out; the rest of the body is not wanted
      const wait = sink.body(bytes);
      if (wait !== undefined) await wait;
      if (signal.aborted) return;
    }
  }
}

function iteratorOf(body: Body): Iterator<Chunk> | AsyncIterator<Chunk> {
  if (body instanceof Uint8Array || typeof body === 'string') {
    throw new ContractError('NSGI_ERR_INVALID_BODY', `response: the body must be an iterable of chunks; return [body] instead of ${describe(body)}`);
  }
  if (body != null) {
    const asyncFn = (body as AsyncIterable<Chunk>)[Symbol.asyncIterator];
    if (typeof asyncFn === 'function') return asyncFn.call(body);
    const syncFn = (body as Iterable<Chunk>)[Symbol.iterator];
    if (typeof syncFn === 'function') return syncFn.call(body);
  }
  throw new ContractError('NSGI_ERR_INVALID_BODY', `response: the app must return an iterable or async iterable of chunks (e.g. ["text"]), got ${describe(body)}`);
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as Promise<T> | null)?.then === 'function';
}

// Resolves with the step, or undefined as soon as the signal fires.
function untilAborted<T>(step: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) {
    step.catch(() => {});
    return Promise.resolve(undefined);
  }
  return new Promise<T | undefined>((resolve, reject) => {
    const onAbort = (): void => resolve(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    step.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) resolve(undefined);
        else reject(e);
      },
    );
  });
}

function closeIterator(it: Iterator<Chunk> | AsyncIterator<Chunk>, environ: Environ): void {
  try {
    const r = it.return!();
    // An async generator still awaiting its next chunk answers return() only
    // after that chunk; do not wait for it, but do not lose its error either.
    if (isPromise(r)) r.then(undefined, (e) => report(environ, e));
  } catch (error) {
    report(environ, error);
  }
}

/** Writes an app error to `wsgi.errors`, never throwing. */
export function report(environ: Environ, error: unknown): void {
  const code = (error as { code?: unknown } | null)?.code;
  const text = (typeof code === 'string' ? `[${code}] ` : '') + (error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error));
  const where = `${environ.REQUEST_METHOD} ${environ.SCRIPT_NAME}${environ.PATH_INFO}`;
  try {
    environ['wsgi.errors'].write(`nsgi: error in app (${where}): ${text}\n`);
  } catch {
    // wsgi.errors itself is broken: nowhere left to report to.
  }
}
