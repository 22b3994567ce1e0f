/**
 * One transport connection of the FastCGI server: the socket, its record
 * parser and writer, and the requests multiplexed on it (FastCGI 1.0 §3.3,
 * §3.5, §4, §5).
 *
 * - Records are dispatched by request id; ids are active from BEGIN_REQUEST
 *   until our END_REQUEST, and records for inactive ids are ignored (§3.3).
 * - Output is queued on a {@link RecordWriter} and flushed once per tick, so
 *   everything produced in one turn of the event loop (a small response's
 *   head, body and END_REQUEST, or the replies to several multiplexed
 *   requests) leaves in one write.
 * - When any request's `wsgi.input` is full, the socket is paused: nothing
 *   more is read until the app has caught up (multiplexed requests on that
 *   connection wait too: FastCGI has no per-request flow control).
 * - A protocol violation closes this connection only, and is logged.
 * @module
 */
import type { Socket } from 'node:net';
import { buildEnviron } from '../environ.js';
import { LimitError, NsgiError, ProtocolError } from '../errors.js';
import { parseStatus } from '../headers.js';
import { runApp } from '../response.js';
import type { App, Logger } from '../types.js';
import { ParamsDecoder } from './params.js';
import { RecordParser, type RecordHandler } from './parser.js';
import {
  FCGI_ABORT_REQUEST,
  FCGI_AUTHORIZER,
  FCGI_BEGIN_REQUEST,
  FCGI_GET_VALUES,
  FCGI_KEEP_CONN,
  FCGI_MAX_CONNS,
  FCGI_MAX_REQS,
  FCGI_MPXS_CONNS,
  FCGI_OVERLOADED,
  FCGI_PARAMS,
  FCGI_REQUEST_COMPLETE,
  FCGI_RESPONDER,
  FCGI_STDIN,
  FCGI_STDOUT,
  FCGI_UNKNOWN_ROLE,
  roleName,
} from './protocol.js';
import { DONE, RECEIVING_PARAMS, RUNNING, ServerRequest, type RequestHost } from './request.js';
import { RecordWriter } from './writer.js';

/** What a connection needs from its server. */
export interface ConnectionServer {
  readonly app: App;
  readonly logger: Logger;
  readonly lateErrors: NodeJS.WritableStream;
  readonly multiprocess: boolean;
  readonly maxConnections: number;
  readonly maxRequests: number;
  readonly maxParamsBytes: number;
  readonly inputHighWaterMark: number;
  /** Ms allowed from BEGIN_REQUEST to the end of PARAMS (`0`: no limit). */
  readonly paramsTimeout: number;
  /** Ms allowed between STDIN records while the body is incomplete (`0`: no limit). */
  readonly stdinTimeout: number;
  /** Requests running in the whole server. */
  activeRequests: number;
  /** `true` once `close()` began: no new connections; connections close once idle. */
  readonly closing: boolean;
  /** Ms an idle kept connection stays open after a graceful close began. */
  readonly closeIdleDelay: number;
  connectionClosed(connection: FastCGIConnection): void;
}

// What the record being parsed is for.
const IGNORE = 0;
const BEGIN = 1;
const PARAMS = 2;
const STDIN = 3;
const GET_VALUES = 4;
const ABORT = 5;
const UNKNOWN_MANAGEMENT = 6;

// Above this many queued bytes, flush now rather than at the end of the tick.
const FLUSH_NOW_BYTES = 64 * 1024;

const PARAMS_TOO_LARGE_STATUS = parseStatus('431 Request Header Fields Too Large');
const PARAMS_TOO_LARGE_BODY = Buffer.from('Request Header Fields Too Large\n');
const TIMEOUT_STATUS = parseStatus('408 Request Timeout');
const TIMEOUT_BODY = Buffer.from('Request Timeout\n');

/** A FastCGI transport connection. */
export class FastCGIConnection implements RecordHandler, RequestHost {
  private readonly parser = new RecordParser(this);
  private readonly writer = new RecordWriter();
  private readonly requests = new Map<number, ServerRequest>();
  // The record being parsed.
  private kind = IGNORE;
  private current: ServerRequest | undefined;
  private currentType = 0;
  private currentId = 0;
  private currentEmpty = false;
  private readonly beginBody = Buffer.alloc(8);
  private beginLength = 0;
  private management: ParamsDecoder | undefined;
  private flushScheduled = false;
  private endAfterFlush = false;
  private pausedInputs = 0;
  private drainWaiter: Promise<void> | undefined;
  private shuttingDown = false;
  private lingerTimer: NodeJS.Timeout | undefined;
  private closed = false;
  // When the chunk being parsed arrived (ms): what requests record as their peer's latest progress.
  private readAt = 0;

  constructor(
    private readonly server: ConnectionServer,
    readonly socket: Socket,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // A peer that resets is a peer that went away: its requests are aborted on 'close'.
      if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') this.server.logger.error('fastcgi: connection error', err);
    });
    socket.on('close', () => this.onClose());
    socket.on('timeout', () => {
      // idleTimeout: a kept connection with nothing running is closed (the web server reconnects).
      if (this.requests.size === 0) socket.destroy();
    });
  }

  /** Requests active on this connection. */
  get activeRequests(): number {
    return this.requests.size;
  }

  get lateErrors(): NodeJS.WritableStream {
    return this.server.lateErrors;
  }

  /**
   * Graceful close: a kept connection closes once it has been idle for
   * `closeIdleDelay` (the server option says why); a request that arrives
   * meanwhile is served, since the web server may have sent it before it
   * could know. A connection without FCGI_KEEP_CONN closes after its
   * request, as always.
   */
  shutdown(): void {
    this.shuttingDown = true;
    if (this.requests.size === 0) this.armLinger();
  }

  private armLinger(): void {
    if (this.lingerTimer !== undefined) return;
    const delay = this.server.closeIdleDelay;
    if (delay === 0) return this.endSoon();
    this.lingerTimer = setTimeout(() => {
      this.lingerTimer = undefined;
      if (this.requests.size === 0) this.endSoon();
    }, delay);
  }

  // Socket events ------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    this.readAt = Date.now();
    try {
      this.parser.push(chunk);
    } catch (error) {
      this.protocolError(error);
    }
  }

  private onEnd(): void {
    if (this.closed) return;
    if (!this.parser.atBoundary) {
      this.protocolError(new ProtocolError('NSGI_ERR_FASTCGI_TRUNCATED', 'fastcgi: the connection ended in the middle of a record'));
      return;
    }
    // The web server closed its side: that is how nginx aborts a request whose client went away (§5.4:
    // "the Web server can abort a request by closing the request's transport connection"). Every request
    // still active is aborted; what is already queued (a GET_VALUES answer) is still written.
    for (const request of [...this.requests.values()]) this.abortRequest(request);
    this.endSoon();
  }

  private onClose(): void {
    this.closed = true;
    clearTimeout(this.lingerTimer);
    // The web server went away: every request still running is aborted (nsgi.signal fires, return() is called).
    for (const request of this.requests.values()) {
      this.server.activeRequests--;
      request.abort();
    }
    this.requests.clear();
    this.server.connectionClosed(this);
    const waiter = this.drainResolve;
    this.drainResolve = undefined;
    waiter?.();
  }

  private protocolError(error: unknown): void {
    const where = this.socket.remoteAddress ? ` from ${this.socket.remoteAddress}` : '';
    this.server.logger.error(`fastcgi: closing connection${where} after a protocol error`, error);
    this.socket.destroy();
  }

  // RecordHandler ------------------------------------------------------------------

  record(type: number, requestId: number, contentLength: number): void {
    this.currentType = type;
    this.currentId = requestId;
    this.currentEmpty = contentLength === 0;
    this.current = undefined;
    if (requestId === 0) {
      // Management records (§4).
      if (type === FCGI_GET_VALUES) {
        this.kind = GET_VALUES;
        this.management = new ParamsDecoder({ maxBytes: 65535, what: 'GET_VALUES' });
      } else {
        this.kind = UNKNOWN_MANAGEMENT;
      }
      return;
    }
    switch (type) {
      case FCGI_BEGIN_REQUEST:
        this.kind = BEGIN;
        this.beginLength = 0;
        return;
      case FCGI_PARAMS: {
        const request = this.requests.get(requestId);
        if (request !== undefined && request.state === RECEIVING_PARAMS) {
          this.kind = PARAMS;
          this.current = request;
          return;
        }
        break;
      }
      case FCGI_STDIN: {
        const request = this.requests.get(requestId);
        if (request !== undefined && !request.inputEnded) {
          // §6.2: STDIN follows the whole PARAMS stream. Taking it earlier could pause the socket before
          // the PARAMS end that would start the app to read it: a deadlock, so it is a violation.
          if (request.state === RECEIVING_PARAMS) throw new ProtocolError('NSGI_ERR_FASTCGI_RECORD', `fastcgi: STDIN for request ${requestId} before its PARAMS stream ended`);
          this.kind = STDIN;
          this.current = request;
          if (contentLength === 0) request.inputEnded = true;
          return;
        }
        break;
      }
      case FCGI_ABORT_REQUEST:
        this.kind = ABORT;
        return;
    }
    // Records for inactive ids, FCGI_DATA of a role we do not play, types a web server does not send: ignored (§3.3).
    this.kind = IGNORE;
  }

  content(chunk: Buffer, start: number, end: number): void {
    switch (this.kind) {
      case STDIN:
        this.current!.since = this.readAt;
        this.current!.pushInput(chunk.subarray(start, end));
        return;
      case PARAMS: {
        const request = this.current!;
        if (request.params === undefined) return; // refused as too large earlier in this record
        try {
          request.params.push(chunk, start, end);
        } catch (error) {
          this.paramsTooLarge(request, error);
        }
        return;
      }
      case BEGIN: {
        const n = end - start;
        chunk.copy(this.beginBody, this.beginLength, start, end);
        this.beginLength += n;
        return;
      }
      case GET_VALUES:
        this.management!.push(chunk, start, end);
        return;
    }
  }

  recordEnd(): void {
    switch (this.kind) {
      case STDIN: {
        const request = this.current!;
        if (request.inputEnded && request.state !== DONE) request.endInput();
        return;
      }
      case PARAMS: {
        const request = this.current!;
        // The empty PARAMS record ends the stream (§5.2): the environ is complete, the app starts.
        if (request.params !== undefined && this.currentEmpty) this.start(request);
        return;
      }
      case BEGIN:
        this.begin(this.currentId, (this.beginBody[0]! << 8) | this.beginBody[1]!, this.beginBody[2]!);
        return;
      case ABORT: {
        const request = this.requests.get(this.currentId);
        if (request !== undefined) {
          // §5.4: answer with END_REQUEST as soon as possible; the app sees nsgi.signal fire.
          request.abort();
          this.endRequest(request, 0, FCGI_REQUEST_COMPLETE);
        }
        return;
      }
      case GET_VALUES:
        this.getValues(this.management!.end());
        this.management = undefined;
        return;
      case UNKNOWN_MANAGEMENT:
        // §4.2
        this.writer.unknownType(this.currentType);
        this.schedule();
        return;
    }
  }

  // Requests ------------------------------------------------------------------------

  private begin(id: number, role: number, flags: number): void {
    const keepConn = (flags & FCGI_KEEP_CONN) !== 0;
    if (this.requests.has(id)) {
      throw new ProtocolError('NSGI_ERR_FASTCGI_BUSY_ID', `fastcgi: BEGIN_REQUEST for request ${id}, which is still active`);
    }
    const server = this.server;
    let refusal = -1;
    if (role !== FCGI_RESPONDER && role !== FCGI_AUTHORIZER) refusal = FCGI_UNKNOWN_ROLE;
    else if (this.socket.writableEnded) {
      // We already closed our side (the web server sent this before it saw our FIN): it cannot be
      // answered; the web server sees the connection close and retries what it may retry.
      return;
    } else if (server.activeRequests >= server.maxRequests) {
      refusal = FCGI_OVERLOADED;
      server.logger.error(
        `fastcgi: refusing request ${id} with FCGI_OVERLOADED`,
        new LimitError('NSGI_ERR_FASTCGI_OVERLOADED', `fastcgi: ${server.maxRequests} requests are already running (maxRequests)`, server.maxRequests),
      );
    }
    if (refusal !== -1) {
      // §5.5: rejecting a request is an END_REQUEST with a protocol status; its later records are ignored.
      this.writer.endRequest(id, 0, refusal);
      if (!keepConn) this.endAfterFlush = this.requests.size === 0;
      this.schedule();
      return;
    }
    if (this.lingerTimer !== undefined) {
      clearTimeout(this.lingerTimer);
      this.lingerTimer = undefined;
    }
    const request = new ServerRequest(this, id, role, keepConn, server.maxParamsBytes, server.inputHighWaterMark);
    request.since = this.readAt;
    this.requests.set(id, request);
    server.activeRequests++;
  }

  private start(request: ServerRequest): void {
    const vars = request.params!.end();
    request.params = undefined;
    const environ = buildEnviron(vars, {
      input: request.input,
      errors: request.errors,
      signal: request.controller.signal,
      multiprocess: this.server.multiprocess,
    });
    // libfcgi and flup tell the app its role the same way.
    environ.FCGI_ROLE = request.role === FCGI_RESPONDER ? 'RESPONDER' : roleName(request.role);
    request.started(environ.REQUEST_METHOD);
    request.since = this.readAt;
    runApp(this.server.app, environ, request).then(undefined, /* c8 ignore next */ (error) => this.server.logger.error('fastcgi: response driver failed', error));
  }

  private paramsTooLarge(request: ServerRequest, error: unknown): void {
    this.server.logger.error(`fastcgi: refusing request ${request.id}`, error);
    if (!(error instanceof NsgiError)) throw error;
    request.started('GET');
    request.head(PARAMS_TOO_LARGE_STATUS, [['Content-Type', 'text/plain; charset=utf-8']], PARAMS_TOO_LARGE_BODY.length);
    void request.body(PARAMS_TOO_LARGE_BODY);
    request.end();
  }

  /**
   * Ends the requests whose peer stalled: PARAMS not complete `paramsTimeout` ms after
   * BEGIN_REQUEST, or no STDIN for `stdinTimeout` ms while the body is incomplete. Each is logged,
   * answered `408` if its head has not gone out (else cut short), and its slot freed; its app sees
   * `wsgi.input` fail and `nsgi.signal` fire. Called by the server's sweep timer.
   */
  sweep(now: number): void {
    if (this.requests.size === 0) return;
    if (this.pausedInputs > 0) {
      // The socket is paused for an app that is behind: the peer cannot make progress, so its clocks restart.
      for (const request of this.requests.values()) request.since = now;
      return;
    }
    const { paramsTimeout, stdinTimeout } = this.server;
    // Deleting the current entry while iterating a Map is safe: timeOut() releases the id.
    for (const request of this.requests.values()) {
      const waited = now - request.since;
      if (request.state === RECEIVING_PARAMS) {
        if (paramsTimeout > 0 && waited >= paramsTimeout) {
          this.timeOut(request, new LimitError('NSGI_ERR_FASTCGI_PARAMS_TIMEOUT', `fastcgi: the PARAMS of request ${request.id} did not complete within ${paramsTimeout} ms (paramsTimeout)`, paramsTimeout));
        }
      } else if (request.state === RUNNING && !request.inputEnded && request.role === FCGI_RESPONDER) {
        // Authorizers get no STDIN stream to wait for (§6.3).
        if (stdinTimeout > 0 && waited >= stdinTimeout) {
          this.timeOut(request, new LimitError('NSGI_ERR_FASTCGI_STDIN_TIMEOUT', `fastcgi: no STDIN for request ${request.id} within ${stdinTimeout} ms (stdinTimeout)`, stdinTimeout));
        }
      }
    }
  }

  private timeOut(request: ServerRequest, error: LimitError): void {
    this.server.logger.error(`fastcgi: ending request ${request.id}`, error);
    request.timeOut(error, TIMEOUT_STATUS, TIMEOUT_BODY);
  }

  private getValues(asked: Record<string, string>): void {
    const server = this.server;
    const known: Record<string, string> = {
      [FCGI_MAX_CONNS]: String(server.maxConnections),
      [FCGI_MAX_REQS]: String(server.maxRequests),
      [FCGI_MPXS_CONNS]: '1',
    };
    // §4.1: answer the names we know, omit the others.
    const answer: Record<string, string> = {};
    for (const name of Object.keys(asked)) if (Object.hasOwn(known, name)) answer[name] = known[name]!;
    this.writer.getValuesResult(answer);
    this.schedule();
  }

  // abort() first: it ends the input with an AbortedError for a reader, where release() would just close it.
  private abortRequest(request: ServerRequest): void {
    request.abort();
    this.release(request);
  }

  // RequestHost ---------------------------------------------------------------------

  stream(type: number, requestId: number, data: Uint8Array): void {
    this.writer.stream(type, requestId, data);
    if (this.writer.pendingBytes >= FLUSH_NOW_BYTES) this.flush();
    else this.schedule();
  }

  streamEnd(type: number, requestId: number): void {
    this.writer.streamEnd(type, requestId);
    this.schedule();
  }

  endRequest(request: ServerRequest, appStatus: number, protocolStatus: number): void {
    if (this.requests.get(request.id) !== request) return;
    this.writer.endRequest(request.id, appStatus, protocolStatus);
    this.release(request);
    this.schedule();
  }

  failRequest(request: ServerRequest): void {
    if (this.requests.get(request.id) !== request) return;
    if (this.requests.size === 1) {
      // Alone on the connection: cutting it is what makes the truncation visible to the web server and client.
      this.release(request);
      this.flush();
      this.socket.destroy();
    } else {
      // Others share the connection: end this one with a failure status rather than cut them all.
      this.writer.endRequest(request.id, 1, FCGI_REQUEST_COMPLETE);
      this.release(request);
      this.schedule();
    }
  }

  writable(): void | Promise<void> {
    if (!this.socket.writableNeedDrain || this.closed) return;
    return (this.drainWaiter ??= new Promise<void>((resolve) => {
      this.drainResolve = resolve;
      this.socket.once('drain', this.onDrain);
    }));
  }

  private drainResolve: (() => void) | undefined;
  private readonly onDrain = (): void => {
    this.drainWaiter = undefined;
    const resolve = this.drainResolve;
    this.drainResolve = undefined;
    resolve?.();
  };

  pauseInput(_request: ServerRequest): void {
    if (this.pausedInputs++ === 0) this.socket.pause();
  }

  resumeInput(_request: ServerRequest): void {
    if (--this.pausedInputs === 0 && !this.closed) this.socket.resume();
  }

  // Releases an id: END_REQUEST was queued, the request was refused, or it was aborted.
  private release(request: ServerRequest): void {
    if (this.requests.get(request.id) !== request) return;
    this.requests.delete(request.id);
    this.server.activeRequests--;
    if (request.state !== DONE) request.finish();
    // §5.1: without FCGI_KEEP_CONN the application closes the connection after the request.
    if (this.requests.size === 0) {
      if (!request.keepConn) this.endAfterFlush = true;
      else if (this.shuttingDown) this.armLinger();
    }
  }

  // Output ----------------------------------------------------------------------------

  private schedule(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    process.nextTick(flushLater, this);
  }

  /** Writes everything queued: one buffer in the common case, else one corked run (one writev). */
  flush(): void {
    this.flushScheduled = false;
    const socket = this.socket;
    if (this.closed || socket.destroyed || socket.writableEnded) {
      this.writer.take();
      return;
    }
    const out = this.writer.take();
    if (out.length === 1) socket.write(out[0]!);
    else if (out.length > 1) {
      socket.cork();
      for (let i = 0; i < out.length; i++) socket.write(out[i]!);
      socket.uncork();
    }
    if (this.endAfterFlush && this.requests.size === 0) {
      this.endAfterFlush = false;
      socket.end();
    }
  }

  private endSoon(): void {
    this.endAfterFlush = true;
    this.schedule();
  }
}

function flushLater(connection: FastCGIConnection): void {
  connection.flush();
}

