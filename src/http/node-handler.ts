/**
 * `toNodeHandler(app)`: an nsgi app as a `(req, res)` handler, to serve it
 * from `http.createServer`, Express, or any server that speaks Node's API.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { toNodeHandler } from 'nsgi';
 * createServer(toNodeHandler(app)).listen(8000);
 * ```
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { buildEnviron } from '../environ.js';
import { LimitError } from '../errors.js';
import type { Status } from '../headers.js';
import { drained } from '../net/drain.js';
import { runApp, type Outcome, type ResponseSink } from '../response.js';
import type { App, HeaderList, Logger } from '../types.js';
import { httpRequestVars } from './environ.js';

/** Options for {@link toNodeHandler}. */
export interface NodeHandlerOptions {
  /** The mount point given to the app as `SCRIPT_NAME` (default: `''`). */
  scriptName?: string;
  /** The `wsgi.errors` stream (default: `process.stderr`). */
  errors?: NodeJS.WritableStream;
  /** `wsgi.multiprocess` (default: `false`). */
  multiprocess?: boolean;
  /** Called when a request ends, with how it ended (for counters and access logs). */
  onDone?: (req: IncomingMessage, res: ServerResponse, outcome: Outcome) => void;
  /**
   * Milliseconds allowed between two reads of a request body while it is
   * incomplete (the clock stops while the app is behind); past it the request
   * is answered `408` if the response has not started (else cut short),
   * `nsgi.signal` fires and `wsgi.input` fails with a `LimitError`
   * `NSGI_ERR_HTTP_BODY_TIMEOUT` (default: `0`, none: the server that calls
   * the handler owns its timeouts; `createHTTPServer` sets 60 s).
   */
  bodyTimeout?: number;
  /** Where a body timeout is logged (default: nowhere). */
  logger?: Logger;
}

/** Runs `app` for each Node HTTP request. */
export function toNodeHandler(app: App, options: NodeHandlerOptions = {}): (req: IncomingMessage, res: ServerResponse) => void {
  const errors = (options.errors ?? process.stderr) as unknown as import('node:stream').Writable;
  const bodyTimeout = options.bodyTimeout ?? 0;
  return (req, res) => {
    const controller = new AbortController();
    const sink = new NodeResponseSink(req, res);
    const watch = bodyTimeout > 0 && hasBody(req) ? watchBody(req, res, sink, controller, bodyTimeout, options.logger) : undefined;
    const onClose = (): void => {
      if (watch !== undefined) clearTimeout(watch);
      if (!res.writableFinished) controller.abort();
    };
    res.once('close', onClose);
    const environ = buildEnviron(httpRequestVars(req, { scriptName: options.scriptName }), {
      input: req,
      errors,
      signal: controller.signal,
      multiprocess: options.multiprocess,
    });
    runApp(app, environ, sink).then(
      (outcome) => options.onDone?.(req, res, outcome),
      /* c8 ignore next */ (err) => res.destroy(err),
    );
  };
}

// RFC 9112 §6.3: a request has a body only with Transfer-Encoding or a Content-Length.
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

const TIMEOUT_TEXT = 'Request Timeout\n';

/**
 * Watches a request body for a stalled client: a timer refreshed while the socket reads on (or
 * while the app is behind: the body buffer full, the socket paused); when it fires with neither,
 * the request is ended. Node's own `requestTimeout` bounds the whole request, not the gaps in its body.
 */
function watchBody(req: IncomingMessage, res: ServerResponse, sink: NodeResponseSink, controller: AbortController, ms: number, logger: Logger | undefined): NodeJS.Timeout {
  const socket = req.socket;
  let seen = socket.bytesRead;
  const timer = setTimeout(() => {
    if (req.complete || res.destroyed || socket.destroyed) return;
    const read = socket.bytesRead;
    // The app is behind when the body buffer is full: Node then stops reading the socket, and the
    // client cannot send. Bytes waiting below that say nothing: the socket still reads.
    if (read !== seen || req.readableLength >= req.readableHighWaterMark) {
      seen = read;
      timer.refresh();
      return;
    }
    const error = new LimitError('NSGI_ERR_HTTP_BODY_TIMEOUT', `http: no request body bytes for ${ms} ms (bodyTimeout)`, ms);
    logger?.error('http: ending a request whose body stalled', error);
    controller.abort(error);
    // A reader learns why the body stops; with no reader listening, an 'error' event would be thrown at the process.
    const fail = (): void => void req.destroy(req.listenerCount('error') > 0 ? error : undefined);
    if (res.headersSent) {
      fail(); // first: sink.fail() destroys the request without saying why
      sink.fail();
      return;
    }
    sink.takeOver();
    // Destroying the request destroys the socket: only once the 408 is out.
    res.writeHead(408, 'Request Timeout', ['Connection', 'close', 'Content-Type', 'text/plain; charset=utf-8', 'Content-Length', String(TIMEOUT_TEXT.length)]);
    res.end(TIMEOUT_TEXT, fail);
  }, ms);
  timer.unref();
  return timer;
}

// Status codes whose responses never carry a body (RFC 9110 §6.4.1).
function bodiless(code: number): boolean {
  return code < 200 || code === 204 || code === 304;
}

/** Writes a driver's response to a `ServerResponse`, waiting on 'drain' when the socket is behind. */
export class NodeResponseSink implements ResponseSink {
  private takenOver = false;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {}

  /** The handler answers on its own (a timeout): what the driver still sends is dropped. */
  takeOver(): void {
    this.takenOver = true;
  }

  head(status: Status, headers: HeaderList, knownLength: number | undefined): void {
    if (this.takenOver) return;
    const flat: string[] = [];
    for (let i = 0; i < headers.length; i++) flat.push(headers[i]![0], headers[i]![1]);
    // A known length lets keep-alive work without chunked encoding.
    if (knownLength !== undefined && !bodiless(status.code) && !hasHeader(headers, 'content-length') && !hasHeader(headers, 'transfer-encoding')) {
      flat.push('Content-Length', String(knownLength));
    }
    this.res.writeHead(status.code, status.reason, flat);
  }

  body(chunk: Uint8Array): void | Promise<void> {
    if (this.takenOver || this.res.destroyed) return;
    if (this.res.write(chunk)) return;
    return drained(this.res);
  }

  end(): void {
    if (!this.takenOver && !this.res.destroyed) this.res.end();
  }

  fail(): void {
    if (this.takenOver) return;
    // Destroying the socket makes the truncation visible: no final chunk, or fewer bytes than Content-Length.
    this.res.destroy();
    this.req.destroy();
  }
}

function hasHeader(headers: HeaderList, lower: string): boolean {
  for (let i = 0; i < headers.length; i++) if (headers[i]![0].toLowerCase() === lower) return true;
  return false;
}
