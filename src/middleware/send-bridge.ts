/**
 * Runs the `send` package under the nsgi contract. `send` does the HTTP
 * semantics of serving a file (Content-Type from `mime-types`, ETag and
 * Last-Modified, conditional requests and `304`, `Range`/`206`/`416`, `HEAD`)
 * but speaks to Node's `req`/`res`. Here it gets a minimal request-like object
 * built from the environ, and a response-like `Writable` that records the
 * status and headers and turns the bytes `send` pipes into it into an async
 * iterable body, one chunk in flight at a time: the file is streamed from
 * disk only as fast as the transport takes it (no `readFile`), and the file
 * stream is destroyed when the response ends early or `nsgi.signal` fires.
 *
 * Errors `send` would answer by itself (404, 412, 416, 500) and directory
 * hits are reported to the caller instead, through `send`'s `error` and
 * `directory` events, so the middleware decides (fall through, redirect
 * under `SCRIPT_NAME`, its own error body).
 * @module
 */
import type { ReadStream } from 'node:fs';
import { Writable } from 'node:stream';
import send from 'send';
import type { Environ, HeaderList } from '../types.js';

/** What `send` decided for a request. */
export type SendDecision =
  | { kind: 'response'; status: number; headers: HeaderList; body: AsyncIterable<Uint8Array> }
  | { kind: 'error'; status: number; headers: HeaderList }
  | { kind: 'directory' }
  | { kind: 'aborted' };

/** The `send` options the bridge passes through. */
export interface SendBridgeOptions {
  root: string;
  maxAgeMs: number;
  immutable: boolean;
  etag: boolean;
  lastModified: boolean;
}

// The request headers send reads (send 1.x: conditional GET, Range, If-Range).
const REQUEST_HEADERS: Array<[string, string]> = [
  ['range', 'HTTP_RANGE'],
  ['if-range', 'HTTP_IF_RANGE'],
  ['if-match', 'HTTP_IF_MATCH'],
  ['if-none-match', 'HTTP_IF_NONE_MATCH'],
  ['if-modified-since', 'HTTP_IF_MODIFIED_SINCE'],
  ['if-unmodified-since', 'HTTP_IF_UNMODIFIED_SINCE'],
];

/**
 * Serves `path` (URL-encoded, relative to `options.root`) with `send`.
 * Resolves once the status and headers are known.
 */
export function sendFile(environ: Environ, path: string, options: SendBridgeOptions): Promise<SendDecision> {
  const headers: Record<string, string> = {};
  for (const [name, key] of REQUEST_HEADERS) {
    const value = environ[key];
    if (typeof value === 'string') headers[name] = value;
  }
  const req = { method: environ.REQUEST_METHOD, headers, url: path };
  const signal = environ['nsgi.signal'];

  return new Promise<SendDecision>((resolve) => {
    let file: ReadStream | undefined;
    const sink = new ResponseWritable(() => resolve({ kind: 'response', status: sink.statusCode, headers: sink.headerList(), body: sink }));
    const cleanup = (): void => {
      file?.destroy();
      sink.destroy();
      signal.removeEventListener('abort', onAbort);
    };
    const onAbort = (): void => {
      cleanup();
      resolve({ kind: 'aborted' });
    };
    sink.cleanup = cleanup;
    signal.addEventListener('abort', onAbort, { once: true });

    const stream = send(req as never, path, {
      root: options.root,
      index: false,
      dotfiles: 'allow', // the middleware applied its own policy before
      maxAge: options.maxAgeMs,
      immutable: options.immutable,
      etag: options.etag,
      lastModified: options.lastModified,
    });
    stream.on('stream', (s: ReadStream) => {
      file = s;
      if (signal.aborted) s.destroy();
    });
    stream.on('error', (err: { status?: number; statusCode?: number; headers?: Record<string, string> }) => {
      if (sink.headersSent) {
        // A read error after the head went out: end the body visibly broken.
        sink.fail(err);
        return;
      }
      cleanup();
      const status = err.status ?? err.statusCode ?? 500;
      resolve({ kind: 'error', status, headers: Object.entries(err.headers ?? {}).map(([k, v]) => [k, String(v)]) });
    });
    stream.on('directory', () => {
      cleanup();
      resolve({ kind: 'directory' });
    });
    if (signal.aborted) onAbort();
    else stream.pipe(sink as never);
  });
}

/**
 * The `res` that `send` writes to: keeps the head, and hands each piped chunk
 * to the async iterator, acknowledging it (so the pipe sends the next) only
 * when the consumer asks for the following one.
 */
class ResponseWritable extends Writable implements AsyncIterable<Uint8Array> {
  statusCode = 200;
  headersSent = false;
  cleanup: () => void = () => {};
  private readonly fields = new Map<string, [string, unknown]>();
  private chunk: Uint8Array | null = null;
  private ack: ((error?: Error | null) => void) | null = null;
  private handedAck: ((error?: Error | null) => void) | null = null;
  private finished = false;
  private failure: unknown = undefined;
  private wake: (() => void) | null = null;

  constructor(private readonly onHead: () => void) {
    super({ highWaterMark: 0 });
    // Writes after an abort destroyed us must not surface as an unhandled 'error'.
    this.on('error', () => {});
  }

  setHeader(name: string, value: unknown): this {
    this.fields.set(name.toLowerCase(), [name, value]);
    return this;
  }

  getHeader(name: string): unknown {
    return this.fields.get(name.toLowerCase())?.[1];
  }

  removeHeader(name: string): void {
    this.fields.delete(name.toLowerCase());
  }

  getHeaderNames(): string[] {
    return [...this.fields.keys()];
  }

  headerList(): HeaderList {
    const list: HeaderList = [];
    for (const [name, value] of this.fields.values()) list.push([name, String(value)]);
    return list;
  }

  fail(error: unknown): void {
    this.failure = error ?? new Error('static: the file could not be read');
    this.wakeUp();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.commitHead();
    this.chunk = chunk;
    this.ack = callback;
    this.wakeUp();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.commitHead();
    this.finished = true;
    this.wakeUp();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.wakeUp();
    callback(error);
  }

  private commitHead(): void {
    if (this.headersSent) return;
    this.headersSent = true;
    this.onHead();
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return {
      next: async (): Promise<IteratorResult<Uint8Array>> => {
        // The consumer is back for more: it has taken the last chunk, let the pipe send the next.
        const handed = this.handedAck;
        this.handedAck = null;
        handed?.();
        for (;;) {
          if (this.failure !== undefined) throw this.failure;
          if (this.chunk !== null) {
            const value = this.chunk;
            this.chunk = null;
            this.handedAck = this.ack;
            this.ack = null;
            return { value, done: false };
          }
          if (this.finished) return { value: undefined, done: true };
          if (this.destroyed) return { value: undefined, done: true };
          await new Promise<void>((resolve) => (this.wake = resolve));
        }
      },
      return: async (): Promise<IteratorResult<Uint8Array>> => {
        this.cleanup();
        return { value: undefined, done: true };
      },
    };
  }
}
