/**
 * The SCGI transport: one request per connection, as lighttpd `mod_scgi`,
 * Apache `mod_proxy_scgi` and nginx `scgi_pass` speak it.
 *
 * The bytes are decoded by {@link SCGIHeaderParser} (no I/O); this file owns
 * the sockets: it feeds the parser, turns the variables into an environ with
 * the shared `buildEnviron`, hands the body to the app as `wsgi.input` (exactly
 * `CONTENT_LENGTH` bytes, pausing the socket while the app is behind), writes
 * the CGI-style response the shared `runApp` driver produces, and closes the
 * connection once the response is out.
 *
 * Half-close aware: a web server may shut its write side after the body; the
 * response is still written. A connection that closes before the response is
 * complete fires `nsgi.signal`. A malformed request is answered with
 * `Status: 400 Bad Request` (408 for a header that never came or a body that
 * stalled, 431 for a header too large, 503 beyond `maxConnections`) when the socket still allows, logged,
 * and never disturbs other connections.
 *
 * @example
 * ```ts
 * import { createSCGIServer } from 'nsgi';
 * const server = createSCGIServer(app, { maxConnections: 256 });
 * await server.listen('127.0.0.1:4000'); // lighttpd: scgi.server = ("/" => (("host" => "127.0.0.1", "port" => 4000, "check-local" => "disable")))
 * ```
 * @module
 */
import { createServer, type Server, type Socket } from 'node:net';
import { Readable, type Writable } from 'node:stream';
import { buildEnviron } from '../environ.js';
import { AbortedError, LimitError, NsgiError, ProtocolError } from '../errors.js';
import { cgiHead, type Status } from '../headers.js';
import { listen, type ListenOptions } from '../net/listen.js';
import { runApp, type ResponseSink } from '../response.js';
import { drained } from '../net/drain.js';
import { stderrLogger, type CommonServerOptions, type NsgiServer } from '../server.js';
import type { App, HeaderList, Logger } from '../types.js';
import { DEFAULT_MAX_SCGI_HEADER_BYTES, SCGIHeaderParser, type SCGIRequestHead } from './parser.js';

/** Options of the SCGI transport. */
export interface SCGIServerOptions extends CommonServerOptions, ListenOptions {
  /** Largest request header (the netstring of CGI variables), in bytes (default: `1048576`, 1 MiB). */
  maxHeaderBytes?: number;
  /** Most connections served at once; more are answered `503` and closed (default: `1024`). */
  maxConnections?: number;
  /** Time allowed to receive the whole request header, against slowloris, in ms (default: `10000`). */
  headerTimeout?: number;
  /**
   * Time allowed between two reads of the request body while it is
   * incomplete, in ms (the clock stops while the app is behind and the socket
   * paused); past it `wsgi.input` fails, `nsgi.signal` fires, and the request
   * is answered `408` if the response has not started, else reset
   * (default: `120000`; `0` for none). Twice nginx's `client_body_timeout`
   * and `scgi_send_timeout` (60 s), so that the web server normally gives up
   * first and tells its client.
   */
  bodyTimeout?: number;
  /** How long to keep reading (and discarding) what the web server still sends after the response, in ms (default: `5000`). */
  lingerTimeout?: number;
  /** Size of the `wsgi.input` buffer above which the socket is paused, in bytes (default: `65536`). */
  inputHighWaterMark?: number;
}

/** Default `maxConnections`. */
export const DEFAULT_SCGI_MAX_CONNECTIONS = 1024;
/** Default `headerTimeout`, in ms. */
export const DEFAULT_SCGI_HEADER_TIMEOUT = 10_000;
/** Default `bodyTimeout`, in ms. */
export const DEFAULT_SCGI_BODY_TIMEOUT = 120_000;

interface Settings {
  app: App;
  logger: Logger;
  errors: Writable;
  multiprocess: boolean;
  maxHeaderBytes: number;
  headerTimeout: number;
  bodyTimeout: number;
  lingerTimeout: number;
  inputHighWaterMark: number;
}

/**
 * Creates an SCGI server for `app`. Listen with `server.listen('unix:/run/app.sock')`,
 * `'127.0.0.1:4000'` or `'fd:0'`.
 */
export function createSCGIServer(app: App, options: SCGIServerOptions = {}): NsgiServer {
  if (typeof app !== 'function') throw new TypeError('createSCGIServer: app must be a function (environ, startResponse) => body');
  const settings: Settings = {
    app,
    logger: options.logger ?? stderrLogger,
    errors: (options.errors ?? process.stderr) as unknown as Writable,
    multiprocess: options.multiprocess ?? false,
    maxHeaderBytes: options.maxHeaderBytes ?? DEFAULT_MAX_SCGI_HEADER_BYTES,
    headerTimeout: options.headerTimeout ?? DEFAULT_SCGI_HEADER_TIMEOUT,
    bodyTimeout: options.bodyTimeout ?? DEFAULT_SCGI_BODY_TIMEOUT,
    lingerTimeout: options.lingerTimeout ?? 5_000,
    inputHighWaterMark: options.inputHighWaterMark ?? 65536,
  };
  const maxConnections = options.maxConnections ?? DEFAULT_SCGI_MAX_CONNECTIONS;
  const connections = new Set<Connection>();
  let active = 0;
  let closing = false;

  // allowHalfOpen: the web server may shut its write side after the body and still wait for the response.
  const server: Server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    if (closing) return void socket.destroy();
    if (connections.size >= maxConnections) {
      refuseBusy(socket, settings, maxConnections);
      return;
    }
    const conn = new Connection(socket, settings, {
      started: () => active++,
      finished: () => active--,
      closed: () => connections.delete(conn),
    });
    connections.add(conn);
  });

  return {
    transport: 'scgi',
    server,
    get activeRequests() {
      return active;
    },
    listen: (address) => listen(server, address, options),
    close: (timeoutMs = 30_000) =>
      new Promise<void>((resolve) => {
        closing = true;
        // Connections still waiting for a header have nothing in flight: drop them now.
        for (const c of connections) if (c.idle) c.destroy();
        let timer: NodeJS.Timeout | undefined;
        const done = (): void => {
          clearTimeout(timer);
          resolve();
        };
        if (server.listening) server.close(done);
        else if (connections.size === 0) return resolve();
        else {
          const poll = setInterval(() => {
            if (connections.size === 0) {
              clearInterval(poll);
              done();
            }
          }, 50);
          poll.unref();
        }
        timer = setTimeout(() => {
          for (const c of connections) c.destroy();
        }, timeoutMs);
        timer.unref();
      }),
  };
}

// One more connection than allowed: answer 503 without reading the request, so the web server can retry or report.
function refuseBusy(socket: Socket, settings: Settings, limit: number): void {
  socket.on('error', () => {});
  settings.logger.error(
    `scgi: refusing a connection from ${peerName(socket)}`,
    new LimitError('NSGI_ERR_SCGI_TOO_MANY_CONNECTIONS', `scgi: more than ${limit} connections at once (maxConnections)`, limit),
  );
  socket.end(errorResponse('503 Service Unavailable'));
  linger(socket, settings.lingerTimeout);
}

function errorResponse(status: string): Buffer {
  const body = `${status}\n`;
  return Buffer.from(`Status: ${status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\n\r\n${body}`, 'latin1');
}

// After our response: read and discard what the peer still sends, so closing never resets the
// connection while the response sits unread in the peer's buffer (which would lose it).
function linger(socket: Socket, timeoutMs: number): void {
  if (socket.destroyed) return;
  socket.removeAllListeners('data');
  socket.on('data', () => {});
  socket.resume();
  const timer = setTimeout(() => socket.destroy(), timeoutMs);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

function peerName(socket: Socket): string {
  return socket.remoteAddress !== undefined ? `${socket.remoteAddress}:${socket.remotePort}` : 'a unix socket peer';
}

interface Hooks {
  started(): void;
  finished(): void;
  closed(): void;
}

const enum State {
  Head,
  Body,
  Done,
}

/** One SCGI connection: one request, one response. */
class Connection {
  private state = State.Head;
  private readonly parser: SCGIHeaderParser;
  private headerTimer: NodeJS.Timeout | undefined;
  private bodyTimer: NodeJS.Timeout | undefined;
  private input: SCGIInput | undefined;
  private sink: SocketSink | undefined;
  private lingering = false;
  private readonly controller = new AbortController();
  private responding = false;
  private responded = false;

  constructor(
    private readonly socket: Socket,
    private readonly settings: Settings,
    private readonly hooks: Hooks,
  ) {
    this.parser = new SCGIHeaderParser({ maxHeaderBytes: settings.maxHeaderBytes });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    // ECONNRESET, EPIPE: 'close' follows and tells the app; nothing to log.
    socket.on('error', () => {});
    socket.once('close', () => this.onClose());
    this.headerTimer = setTimeout(() => this.onHeaderTimeout(), settings.headerTimeout);
    this.headerTimer.unref();
  }

  /** No request has started on this connection yet. */
  get idle(): boolean {
    return this.state === State.Head && !this.parser.started;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.state === State.Body) {
      const input = this.input!;
      input.feed(chunk);
      if (this.bodyTimer !== undefined) {
        if (input.remaining === 0) this.clearBodyTimer();
        else this.bodyTimer.refresh();
      }
      return;
    }
    if (this.state !== State.Head) return;
    let head: SCGIRequestHead | undefined;
    try {
      head = this.parser.push(chunk);
    } catch (err) {
      this.reject(err as NsgiError);
      return;
    }
    if (head !== undefined) this.start(head);
  }

  private onEnd(): void {
    if (this.state === State.Head) {
      clearTimeout(this.headerTimer);
      this.state = State.Done;
      if (!this.parser.started) {
        this.socket.end(); // a connect-and-close probe: nothing to answer
        return;
      }
      this.reject(new ProtocolError('NSGI_ERR_SCGI_TRUNCATED', `scgi: the connection ended inside the request header after ${this.parser.receivedBytes} bytes`));
      return;
    }
    if (this.state === State.Body && this.input !== undefined && this.input.remaining > 0) {
      // The web server will send no more: the body is cut short, so the request is void.
      this.input.destroy(new ProtocolError('NSGI_ERR_SCGI_TRUNCATED', `scgi: the connection ended with ${this.input.remaining} body bytes still expected (CONTENT_LENGTH)`));
      this.abort();
      this.socket.destroy();
    }
    // Otherwise a half-close after a complete body: the response still goes out.
  }

  private onClose(): void {
    clearTimeout(this.headerTimer);
    this.clearBodyTimer();
    if (this.responding && !this.responded) this.abort();
    if (this.input !== undefined && this.input.remaining > 0 && !this.input.destroyed) this.input.destroy(new AbortedError());
    this.hooks.closed();
  }

  private abort(reason: NsgiError = new AbortedError()): void {
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }

  private clearBodyTimer(): void {
    if (this.bodyTimer === undefined) return;
    clearTimeout(this.bodyTimer);
    this.bodyTimer = undefined;
  }

  // bodyTimeout passed with no body bytes: a stalled peer, unless the app is behind (socket paused).
  private onBodyTimeout(): void {
    const input = this.input!;
    if (this.state !== State.Body || input.remaining === 0 || input.destroyed) return this.clearBodyTimer();
    if (input.socketPaused) {
      this.bodyTimer!.refresh();
      return;
    }
    this.bodyTimer = undefined;
    const t = this.settings.bodyTimeout;
    const err = new LimitError('NSGI_ERR_SCGI_BODY_TIMEOUT', `scgi: no request body bytes for ${t} ms with ${input.remaining} still expected (bodyTimeout)`, t);
    this.settings.logger.error(`scgi: ending the request from ${peerName(this.socket)}`, err);
    // A reader learns why its body stops; with no reader listening, an 'error' event would be thrown at the process.
    input.destroy(input.listenerCount('error') > 0 ? err : undefined);
    this.abort(err);
    const sink = this.sink!;
    if (sink.started || !this.socket.writable) {
      sink.fail();
      return;
    }
    sink.takeOver();
    this.socket.end(errorResponse('408 Request Timeout'));
    this.lingering = true;
    linger(this.socket, this.settings.lingerTimeout);
  }

  private onHeaderTimeout(): void {
    if (this.state !== State.Head) return;
    const t = this.settings.headerTimeout;
    this.reject(new LimitError('NSGI_ERR_SCGI_HEADER_TIMEOUT', `scgi: the request header did not arrive within ${t} ms (headerTimeout)`, t));
  }

  // A request the parser refused: answer it when the socket still allows, log it, close.
  private reject(err: NsgiError): void {
    clearTimeout(this.headerTimer);
    this.state = State.Done;
    const code = err.code;
    const status =
      code === 'NSGI_ERR_SCGI_HEADER_TOO_LARGE' ? '431 Request Header Fields Too Large' : code === 'NSGI_ERR_SCGI_HEADER_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
    this.settings.logger.error(`scgi: bad request from ${peerName(this.socket)}`, err);
    if (this.socket.writable) {
      this.socket.end(errorResponse(status));
      linger(this.socket, this.settings.lingerTimeout);
    } else {
      this.socket.destroy();
    }
  }

  private start(head: SCGIRequestHead): void {
    clearTimeout(this.headerTimer);
    this.state = State.Body;
    const input = new SCGIInput(this.socket, head.contentLength, this.settings.inputHighWaterMark);
    this.input = input;
    if (head.rest.length > 0) input.feed(head.rest);
    if (input.remaining > 0 && this.settings.bodyTimeout > 0) {
      this.bodyTimer = setTimeout(() => this.onBodyTimeout(), this.settings.bodyTimeout);
      this.bodyTimer.unref();
    }
    const s = this.settings;
    // The variables object becomes the environ: no copy (buildEnviron takes ownership).
    const environ = buildEnviron(head.vars, {
      input,
      errors: s.errors,
      signal: this.controller.signal,
      multiprocess: s.multiprocess,
    });
    const sink = new SocketSink(this.socket);
    this.sink = sink;
    this.responding = true;
    this.hooks.started();
    runApp(s.app, environ, sink).then(
      () => this.finish(),
      /* c8 ignore next */ (err: unknown) => {
        s.logger.error('scgi: response driver failed', err);
        this.socket.destroy();
        this.finish();
      },
    );
  }

  private finish(): void {
    this.responded = true;
    this.hooks.finished();
    this.state = State.Done;
    // The sink ended (or reset) the socket; keep draining unread body bytes until the peer closes.
    if (!this.socket.destroyed && !this.lingering) linger(this.socket, this.settings.lingerTimeout);
  }
}

/**
 * `wsgi.input` under SCGI: exactly `CONTENT_LENGTH` bytes from the socket.
 * When the app reads slower than the web server sends, the buffer fills and
 * the socket is paused until the app reads again (backpressure all the way
 * to the web server).
 */
class SCGIInput extends Readable {
  remaining: number;
  private paused = false;

  /** `true` while the socket is paused because the app is behind. */
  get socketPaused(): boolean {
    return this.paused;
  }

  constructor(
    private readonly socket: Socket,
    contentLength: number,
    highWaterMark: number,
  ) {
    super({ highWaterMark });
    this.remaining = contentLength;
    if (contentLength === 0) this.push(null);
  }

  /** Takes body bytes from the socket; bytes past `CONTENT_LENGTH` are dropped. */
  feed(chunk: Buffer): void {
    if (this.remaining === 0 || this.destroyed) return;
    const part = chunk.length <= this.remaining ? chunk : chunk.subarray(0, this.remaining);
    this.remaining -= part.length;
    const more = this.push(part);
    if (this.remaining === 0) {
      this.push(null);
      if (this.paused) this.resumeSocket();
    } else if (!more && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  override _read(): void {
    if (this.paused) this.resumeSocket();
  }

  private resumeSocket(): void {
    this.paused = false;
    this.socket.resume();
  }
}

/**
 * Writes the response to the socket: the CGI head (corked together with the
 * first body chunk, so a small response is one write), then the body, waiting
 * for 'drain' when the socket is behind. (HEAD bodies never reach it: the
 * driver drops them for every transport, RFC 3875 §4.3.2.)
 */
class SocketSink implements ResponseSink {
  private pendingHead: Buffer | undefined;
  private closeEmitted = false;
  private wrote = false;
  private takenOver = false;

  /** `true` once response bytes were handed to the socket. */
  get started(): boolean {
    return this.wrote;
  }

  /** The connection answers on its own (a timeout): what the driver still sends is dropped. */
  takeOver(): void {
    this.takenOver = true;
  }

  constructor(private readonly socket: Socket) {
    socket.once('close', () => (this.closeEmitted = true));
  }

  head(status: Status, headers: HeaderList): void {
    this.pendingHead = cgiHead(status, headers);
  }

  body(chunk: Uint8Array): void | Promise<void> {
    const socket = this.socket;
    if (this.takenOver) return;
    this.wrote = true;
    if (socket.destroyed || !socket.writable) {
      // The peer is gone. Returning at once would let the driver pull a sync body to its end in one
      // blocking loop before the 'close' event (which fires nsgi.signal) can run: an endless body
      // would freeze the process. Wait for that event (`socket.closed` turns true earlier, when
      // destroy completes, so it cannot tell); the driver then sees the signal and stops.
      return socket.destroyed && !this.closeEmitted ? drained(socket) : undefined;
    }
    let ok: boolean;
    if (this.pendingHead !== undefined) {
      const head = this.pendingHead;
      this.pendingHead = undefined;
      socket.cork();
      socket.write(head);
      ok = socket.write(chunk);
      socket.uncork();
    } else {
      ok = socket.write(chunk);
    }
    if (ok) return;
    return drained(socket);
  }

  end(): void {
    const socket = this.socket;
    if (this.takenOver || socket.destroyed || !socket.writable) return;
    this.wrote = true;
    if (this.pendingHead !== undefined) {
      socket.end(this.pendingHead);
      this.pendingHead = undefined;
    } else {
      socket.end();
    }
  }

  fail(): void {
    if (this.takenOver) return;
    // A reset, not a FIN: the web server must not take a cut-short body for a complete one.
    if (!this.socket.destroyed) this.socket.resetAndDestroy();
  }
}
