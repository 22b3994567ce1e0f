/**
 * One FastCGI request on a connection (FastCGI 1.0 §5, §6): its PARAMS
 * decoder, its STDIN as `wsgi.input`, its FCGI_STDERR as `wsgi.errors`, and
 * the {@link ResponseSink} that frames the app's response as FCGI_STDOUT
 * records and ends it with FCGI_END_REQUEST.
 *
 * The request does no I/O itself: it queues records on its connection's
 * writer and asks the connection to flush, pause or resume the socket.
 * @module
 */
import { Readable, Writable } from 'node:stream';
import { AbortedError, type LimitError } from '../errors.js';
import type { Status } from '../headers.js';
import { cgiHead } from '../headers.js';
import type { ResponseSink } from '../response.js';
import type { HeaderList } from '../types.js';
import { ParamsDecoder } from './params.js';
import { FCGI_REQUEST_COMPLETE, FCGI_STDERR, FCGI_STDOUT } from './protocol.js';

/** What a request needs from its connection. */
export interface RequestHost {
  /** Queues a stream record for the socket. */
  stream(type: number, requestId: number, data: Uint8Array): void;
  /** Queues the end of a stream. */
  streamEnd(type: number, requestId: number): void;
  /** Queues END_REQUEST and releases the request id. */
  endRequest(request: ServerRequest, appStatus: number, protocolStatus: number): void;
  /** Resolves once the socket can take more (now, if it can); never rejects. */
  writable(): void | Promise<void>;
  /** The app failed after its head went out: make the truncation visible. */
  failRequest(request: ServerRequest): void;
  /** Stops or restarts reading the socket for this request's input. */
  pauseInput(request: ServerRequest): void;
  resumeInput(request: ServerRequest): void;
  /** Where `wsgi.errors` writes go once the request has ended. */
  readonly lateErrors: NodeJS.WritableStream;
}

// Request states.
/** Receiving FCGI_PARAMS; the app has not started. */
export const RECEIVING_PARAMS = 0;
/** The app is running. */
export const RUNNING = 1;
/** END_REQUEST was sent, or the connection is gone; the id is free again. */
export const DONE = 2;

// Status codes whose responses never carry a body (RFC 9110 §6.4.1), so no Content-Length is added.
function bodiless(code: number): boolean {
  return code < 200 || code === 204 || code === 304;
}

/** A FastCGI request and the sink of its response. */
export class ServerRequest implements ResponseSink {
  state = RECEIVING_PARAMS;
  /** The PARAMS decoder while the stream is open. */
  params: ParamsDecoder | undefined;
  readonly controller = new AbortController();
  readonly input: FastCGIInput;
  /** `true` once the empty STDIN record arrived. */
  inputEnded = false;
  /** `true` while this request's input holds the socket paused. */
  inputPaused = false;
  /**
   * When the peer last moved this request forward (ms, `Date.now()`): BEGIN_REQUEST, the end of
   * PARAMS, the latest STDIN bytes. The connection's timeout sweep compares it with the deadlines.
   */
  since = 0;
  /** `true` once the response head was queued: a timeout can no longer answer with a status. */
  headSent = false;
  private errorsStream: FastCGIErrors | undefined;
  private stderrUsed = false;
  private method = '';

  constructor(
    private readonly host: RequestHost,
    readonly id: number,
    readonly role: number,
    readonly keepConn: boolean,
    maxParamsBytes: number,
    inputHighWaterMark: number,
  ) {
    this.params = new ParamsDecoder({ maxBytes: maxParamsBytes });
    this.input = new FastCGIInput(this, inputHighWaterMark);
  }

  /** `wsgi.errors`: a Writable whose bytes become FCGI_STDERR records. */
  get errors(): FastCGIErrors {
    return (this.errorsStream ??= new FastCGIErrors(this));
  }

  /** Remembers what the response head needs to know about the request. */
  started(method: string): void {
    this.state = RUNNING;
    this.method = method;
  }

  /** STDIN content: a view of the socket's chunk, handed to `wsgi.input` as is. */
  pushInput(view: Buffer): void {
    if (this.input.destroyed) return;
    if (!this.input.push(view) && !this.inputPaused) {
      this.inputPaused = true;
      this.host.pauseInput(this);
    }
  }

  /** The empty STDIN record: end of the request body. */
  endInput(): void {
    this.inputEnded = true;
    if (!this.input.destroyed) this.input.push(null);
    this.releaseInput();
  }

  /** The app's consumer wants more input. */
  readMore(): void {
    this.releaseInput();
  }

  /** Writes FCGI_STDERR for `wsgi.errors`; after the end, to the server's fallback stream. */
  stderr(chunk: Buffer): void {
    if (this.state === DONE) {
      this.host.lateErrors.write(chunk);
      return;
    }
    if (chunk.length === 0) return;
    this.stderrUsed = true;
    this.host.stream(FCGI_STDERR, this.id, chunk);
  }

  /** Fires `nsgi.signal` and drops the input; the host has already freed the id. */
  abort(): void {
    this.state = DONE;
    this.params = undefined;
    this.releaseInput();
    if (!this.input.destroyed) {
      // A reader still waiting for body bytes learns why they stop; with no reader listening, an 'error'
      // event would be thrown at the process, so the stream is just closed.
      if (!this.inputEnded && this.input.listenerCount('error') > 0) this.input.destroy(new AbortedError());
      else this.input.destroy();
    }
    this.controller.abort();
  }

  /**
   * Ends the request because the peer stalled (`error` says which timeout): a reader of
   * `wsgi.input` gets `error`, `nsgi.signal` fires with it, and the peer gets `status` with a
   * short text if no head went out yet, else the response is cut short ({@link fail}).
   */
  timeOut(error: LimitError, status: Status, text: Buffer): void {
    if (this.state === DONE) return;
    if (!this.input.destroyed && !this.inputEnded) {
      if (this.input.listenerCount('error') > 0) this.input.destroy(error);
      else this.input.destroy();
    }
    if (this.headSent) {
      this.fail();
    } else {
      if (this.state === RECEIVING_PARAMS) this.started('GET');
      this.head(status, [['Content-Type', 'text/plain; charset=utf-8']], text.length);
      if (this.method !== 'HEAD') this.host.stream(FCGI_STDOUT, this.id, text);
      this.end();
    }
    this.controller.abort(error);
  }

  // ResponseSink ---------------------------------------------------------------

  head(status: Status, headers: HeaderList, knownLength: number | undefined): void {
    if (this.state === DONE) return;
    // A known length lets the web server keep its client connection alive without chunking. For HEAD
    // the driver sends no body but still reports what the array body weighed; an empty one there says
    // nothing of the GET response's length, so no `Content-Length: 0` is made up.
    if (knownLength !== undefined && (knownLength > 0 || this.method !== 'HEAD') && !bodiless(status.code) && !hasHeader(headers, 'content-length')) {
      headers = headers.concat([['Content-Length', String(knownLength)]]);
    }
    this.headSent = true;
    this.host.stream(FCGI_STDOUT, this.id, cgiHead(status, headers));
  }

  body(chunk: Uint8Array): void | Promise<void> {
    if (this.state === DONE) return;
    this.host.stream(FCGI_STDOUT, this.id, chunk);
    return this.host.writable();
  }

  end(): void {
    if (this.state === DONE) return;
    // §6.1: a stream ends with an empty record; FCGI_STDERR only if it was used.
    if (this.stderrUsed) this.host.streamEnd(FCGI_STDERR, this.id);
    this.host.streamEnd(FCGI_STDOUT, this.id);
    this.finish();
    this.host.endRequest(this, 0, FCGI_REQUEST_COMPLETE);
  }

  fail(): void {
    if (this.state === DONE) return;
    this.finish();
    this.host.failRequest(this);
  }

  /** The response is over: the id is freed, input still unread is dropped. */
  finish(): void {
    this.state = DONE;
    this.params = undefined;
    this.releaseInput();
    if (!this.input.destroyed) this.input.destroy();
  }

  private releaseInput(): void {
    if (this.inputPaused) {
      this.inputPaused = false;
      this.host.resumeInput(this);
    }
  }
}

/**
 * `wsgi.input` under FastCGI: STDIN content pushed as views of the socket's
 * buffers. When it holds `highWaterMark` bytes the consumer has not read,
 * the connection stops reading the socket until the consumer catches up.
 */
export class FastCGIInput extends Readable {
  constructor(
    private readonly request: ServerRequest,
    highWaterMark: number,
  ) {
    super({ highWaterMark });
  }

  override _read(): void {
    this.request.readMore();
  }
}

/** `wsgi.errors` under FastCGI: each write becomes FCGI_STDERR records of its request. */
export class FastCGIErrors extends Writable {
  constructor(private readonly request: ServerRequest) {
    super();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.request.stderr(chunk);
    callback();
  }
}

function hasHeader(headers: HeaderList, lower: string): boolean {
  for (let i = 0; i < headers.length; i++) if (headers[i]![0].toLowerCase() === lower) return true;
  return false;
}
