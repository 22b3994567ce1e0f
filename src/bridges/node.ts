/**
 * `fromNodeHandler(handler)`: a Node `(req, res)` handler (Express, Connect,
 * Koa's `app.callback()`, a bare `http.createServer` callback) as an nsgi
 * app, so it can be served over FastCGI, SCGI or CGI unchanged.
 *
 * The handler gets a real `http.IncomingMessage` and a real
 * `http.ServerResponse`, attached to a stand-in socket instead of a TCP
 * connection. Express swaps the prototypes of both objects for its own
 * (which inherit from Node's), so anything short of the real classes loses
 * its methods there; with them, every method and event behaves as Node's own
 * server makes it behave. The response head Node serialises is read back
 * and given to `startResponse`; body bytes flow out as the app's body, one
 * write at a time, and `res.write()` returns `false` (then `'drain'`) while
 * the gateway is behind.
 *
 * The request:
 * - `req.url` is `PATH_INFO` + `?QUERY_STRING`: the path below the mount
 *   point, as Connect and Express give a mounted app; `req.originalUrl` is
 *   the full path (`SCRIPT_NAME` + `PATH_INFO` + query) and `req.baseUrl`
 *   is `SCRIPT_NAME`, so Express routes below the mount point and builds
 *   links (`req.baseUrl + '/x'`, redirects from `originalUrl`) above it.
 *   With `{ url: 'full' }`, `req.url` is the full path instead. Paths are
 *   the raw bytes of `REQUEST_URI` when it agrees with the CGI variables.
 * - `req.headers` come from `HTTP_*`, `CONTENT_TYPE` and `CONTENT_LENGTH`;
 *   CGI upper-cases names, so `req.rawHeaders` gives them in Title-Case.
 * - The body is `wsgi.input`, read only when the handler reads, paused while
 *   the handler's buffer is full.
 * - `req.socket` has `remoteAddress`/`remotePort` (`REMOTE_ADDR`/`_PORT`),
 *   `localAddress`/`localPort` and, under https, `encrypted = true` (Express's
 *   `req.protocol`/`req.secure`).
 * - When `nsgi.signal` fires (the client or web server went away), `req` is
 *   destroyed as Node's server does it (`req.aborted`, `'aborted'`, `'close'`)
 *   and `res` emits `'close'` without `'finish'`.
 *
 * Environ keys read: the CGI variables above, `wsgi.input`, `wsgi.errors`,
 * `wsgi.url_scheme`, `nsgi.signal`.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { fromNodeHandler, serve } from 'nsgi';
 *
 * const web = express();
 * web.get('/hello', (req, res) => res.json({ hello: req.query.name ?? 'world' }));
 * await serve(fromNodeHandler(web), { fastcgi: 'unix:/run/app.sock' });
 * ```
 * @module
 */
import { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Duplex, type Readable } from 'node:stream';
import { AbortedError, NsgiError } from '../errors.js';
import { report } from '../response.js';
import type { App, Environ, StartResponse } from '../types.js';
import { ChunkedDecoder } from './chunked.js';
import { parseResponseHead, type ResponseHead } from './http-head.js';
import { requestPath, requestTarget } from './url.js';

/**
 * A Node request handler, as `http.createServer` takes it (Express and Connect apps are ones).
 *
 * @example
 * ```ts
 * import type { NodeHandler } from 'nsgi';
 * const handler: NodeHandler = (req, res) => res.end(`${req.method} ${req.url}`);
 * ```
 */
export type NodeHandler = (req: IncomingMessage, res: ServerResponse) => unknown;

/**
 * Options of {@link fromNodeHandler}.
 *
 * @example
 * ```ts
 * // A handler that routes on the public path, mount point included:
 * const app = fromNodeHandler(handler, { url: 'full' });
 * ```
 */
export interface FromNodeHandlerOptions {
  /**
   * What `req.url` holds. `'path-info'`: the path below the mount point
   * (`PATH_INFO` + query), with `req.originalUrl` the full path and
   * `req.baseUrl` = `SCRIPT_NAME`, as Express mounting does it. `'full'`:
   * the full path (`SCRIPT_NAME` + `PATH_INFO` + query), for handlers that
   * route on the public URL (default: `'path-info'`).
   */
  url?: 'path-info' | 'full';
}

/**
 * Runs a Node `(req, res)` handler as an nsgi app.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { fromNodeHandler, toNodeHandler } from 'nsgi';
 * // Any (req, res) handler, e.g. an Express app:
 * const app = fromNodeHandler((req, res) => res.end(`you asked for ${req.url}`));
 * // ...runs wherever an nsgi app runs, here back on node:http:
 * createServer(toNodeHandler(app)).listen(8000);
 * ```
 */
export function fromNodeHandler(handler: NodeHandler, options: FromNodeHandlerOptions = {}): App {
  if (typeof handler !== 'function') {
    throw new TypeError(`fromNodeHandler: handler must be a function (req, res) => void, got ${handler === null ? 'null' : typeof handler}`);
  }
  const fullUrl = options.url === 'full';
  return (environ, startResponse) => {
    const body = new NodeBridgeBody(environ, startResponse);
    const socket = new BridgeSocket(environ, body);
    const req = createRequest(environ, socket, fullUrl);
    const res = new ServerResponse(req) as ServerResponse & NodeInternals;
    // The gateway frames the body and owns the connection: no chunking, no keep-alive, no Date.
    res.useChunkedEncodingByDefault = false;
    res.shouldKeepAlive = false;
    res.sendDate = false;
    res.assignSocket(socket as unknown as Socket);
    body.attach(req, res, socket);
    try {
      const ret = handler(req, res);
      if (ret !== null && typeof ret === 'object' && typeof (ret as Promise<unknown>).then === 'function') {
        (ret as Promise<unknown>).then(undefined, (err: unknown) => body.handlerFailed(err));
      }
    } catch (err) {
      body.handlerFailed(err);
    }
    return body;
  };
}

// Members of Node's http classes that @types/node leaves out.
interface NodeInternals {
  useChunkedEncodingByDefault: boolean;
  shouldKeepAlive: boolean;
  _addHeaderLines?: (headers: string[], n: number) => void;
}

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const EMPTY = Buffer.alloc(0);
const NO_PIECES: Uint8Array[] = [];

/**
 * The body of the app: what the handler writes to `res`, as an async
 * iterator. The stand-in socket hands each write over; its callback runs
 * only when the consumer asks for the next chunk, so the socket's buffer
 * fills up and `res.write()` returns `false` while the gateway is behind.
 */
class NodeBridgeBody implements AsyncIterableIterator<Uint8Array> {
  private req!: IncomingMessage;
  private res!: ServerResponse;
  private socket!: BridgeSocket;
  private headDone = false;
  private partialHead: Buffer | undefined;
  private pendingHead: ResponseHead | undefined;
  private headWrite = -1;
  private decoder: ChunkedDecoder | undefined;
  private pieces: Uint8Array[] = NO_PIECES;
  private index = 0;
  private writeCb: ((err?: Error | null) => void) | undefined;
  private ended = false;
  private error: unknown;
  private closed = false;
  private waiter: { resolve: (r: IteratorResult<Uint8Array>) => void; reject: (e: unknown) => void } | undefined;
  private readonly onAbort = (): void => this.abort(new AbortedError());

  constructor(
    private readonly environ: Environ,
    private readonly startResponse: StartResponse,
  ) {}

  attach(req: IncomingMessage, res: ServerResponse, socket: BridgeSocket): void {
    this.req = req;
    this.res = res;
    this.socket = socket;
    res.once('finish', () => socket.end());
    // What Node's server does on its socket's 'drain' (socketOnDrain): pass it on when res.write() said false.
    socket.on('drain', () => {
      const r = res as unknown as Record<symbol, boolean>;
      const need = needDrainKey(res);
      if (need !== undefined ? r[need] === true : res.writableNeedDrain) {
        if (need !== undefined) r[need] = false;
        res.emit('drain');
      }
    });
    const signal = this.environ['nsgi.signal'];
    if (signal.aborted) queueMicrotask(this.onAbort);
    else signal.addEventListener('abort', this.onAbort, { once: true });
  }

  // --- the socket side ---

  write(chunk: Buffer, cb: (err?: Error | null) => void): void {
    if (this.closed || this.error !== undefined) return cb();
    let data: Buffer = chunk;
    if (!this.headDone) {
      try {
        data = this.takeHead(chunk);
      } catch (err) {
        this.fail(err);
        return cb();
      }
      if (data.length === 0) return cb();
    }
    let pieces: Uint8Array[];
    if (this.decoder !== undefined) {
      pieces = [];
      try {
        this.decoder.push(data, pieces);
      } catch (err) {
        this.fail(err);
        return cb();
      }
      if (pieces.length === 0) return cb();
    } else {
      pieces = [data];
    }
    this.pieces = pieces;
    this.index = 0;
    this.writeCb = cb;
    this.wake();
  }

  end(): void {
    this.ended = true;
    this.wake();
  }

  /** The socket was destroyed: by the handler (`res.destroy()`), or by us. */
  destroyed(err: Error | null): void {
    if (this.ended || this.closed) return;
    this.fail(err ?? new NsgiError('NSGI_ERR_BRIDGE_DESTROYED', 'bridge: the handler destroyed the response (res.destroy() or req.socket.destroy()) before ending it'));
  }

  // Node writes the head as the start of one write (1xx interim heads as writes of their own).
  private takeHead(chunk: Buffer): Buffer {
    let buf = chunk;
    if (this.partialHead !== undefined) {
      buf = Buffer.concat([this.partialHead, chunk]);
      this.partialHead = undefined;
    }
    for (;;) {
      const end = buf.indexOf(CRLFCRLF);
      if (end === -1) {
        this.partialHead = buf;
        return EMPTY;
      }
      const head = parseResponseHead(buf.toString('latin1', 0, end));
      const rest = buf.subarray(end + 4);
      // An interim response (100 Continue, 103 Early Hints): CGI has no way to relay it.
      if (head.code < 200) {
        buf = rest;
        continue;
      }
      this.headDone = true;
      if (head.chunked) this.decoder = new ChunkedDecoder();
      // Started a microtask later: res.end(data) marks the response ended only after writing.
      this.pendingHead = head;
      // Head bytes still counted in the socket's writableLength (none once the write is acknowledged).
      this.headWrite = buf !== chunk ? -1 : rest.length === 0 ? 0 : chunk.length - rest.length;
      queueMicrotask(this.startHead);
      return rest;
    }
  }

  private readonly startHead = (): void => {
    const head = this.pendingHead!;
    this.pendingHead = undefined;
    if (this.error !== undefined) return this.wake();
    if (!head.chunked && !head.hasLength && this.headWrite >= 0 && this.res.writableEnded && hasBody(head.code, this.req.method)) {
      // res.end(data) with nothing sent before: the whole body is in the socket's buffer now,
      // so its length is known, as Node's server knows it (it would send Content-Length).
      head.headers.push(['Content-Length', String(this.socket.writableLength - this.headWrite)]);
    }
    try {
      this.startResponse(`${head.code} ${head.reason}`, head.headers);
    } catch (err) {
      this.fail(err);
    }
    this.wake();
  };

  private fail(err: unknown): void {
    if (this.error !== undefined) return;
    this.error = err;
    this.wake();
  }

  /** The handler threw or its promise rejected. */
  handlerFailed(err: unknown): void {
    if (this.res.writableEnded) {
      // The response is already complete; Node's server would crash here, we only report it.
      report(this.environ, err);
      return;
    }
    this.fail(err);
  }

  private abort(reason: unknown): void {
    this.fail(reason);
    this.teardown(true);
  }

  private wake(): void {
    const w = this.waiter;
    if (w === undefined || (this.pendingHead !== undefined && this.error === undefined)) return;
    if (this.index < this.pieces.length) {
      this.waiter = undefined;
      w.resolve({ value: this.pieces[this.index++]!, done: false });
    } else if (this.error !== undefined) {
      this.waiter = undefined;
      w.reject(this.error);
    } else if (this.ended) {
      this.waiter = undefined;
      w.resolve({ value: undefined, done: true });
    }
  }

  // --- the app side ---

  next(): Promise<IteratorResult<Uint8Array>> {
    if (this.pendingHead !== undefined) return this.wait();
    if (this.index < this.pieces.length) return Promise.resolve({ value: this.pieces[this.index++]!, done: false });
    // The consumer took everything of the last write: acknowledge it, so the socket sends the next
    // (synchronously, when one is queued).
    const cb = this.writeCb;
    if (cb !== undefined) {
      this.writeCb = undefined;
      this.pieces = NO_PIECES;
      this.index = 0;
      cb();
      if (this.index < this.pieces.length) return Promise.resolve({ value: this.pieces[this.index++]!, done: false });
    }
    if (this.error !== undefined) return Promise.reject(this.error);
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return this.wait();
  }

  private wait(): Promise<IteratorResult<Uint8Array>> {
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  return(): Promise<IteratorResult<Uint8Array>> {
    this.teardown(!this.ended || this.error !== undefined || this.environ['nsgi.signal'].aborted);
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  // Ends the exchange as Node's server would: on a broken one, destroy req with ECONNRESET
  // ('aborted', 'close') and the socket (res 'close'); on a complete one, close the socket
  // and drain an unread request body so that req ends and closes.
  private teardown(broken: boolean): void {
    if (this.closed) return;
    this.closed = true;
    this.environ['nsgi.signal'].removeEventListener('abort', this.onAbort);
    const cb = this.writeCb;
    this.writeCb = undefined;
    this.pieces = NO_PIECES;
    if (broken) {
      if (!this.req.destroyed) this.req.destroy(connReset());
      if (!this.socket.destroyed) this.socket.destroy();
    } else {
      if (!this.socket.destroyed) this.socket.destroy();
      const r = this.req as IncomingMessage & { _consuming?: boolean };
      if (!r.readableEnded && !r._consuming && !r.readableFlowing) r.resume();
    }
    cb?.();
  }
}

// Node keeps "write() returned false" in a private symbol that only its server resets; find it once.
let kNeedDrain: symbol | null | undefined;
function needDrainKey(res: ServerResponse): symbol | undefined {
  if (kNeedDrain === undefined) kNeedDrain = Object.getOwnPropertySymbols(res).find((s) => s.description === 'kNeedDrain') ?? null;
  return kNeedDrain ?? undefined;
}

function hasBody(code: number, method: string | undefined): boolean {
  return method !== 'HEAD' && code !== 204 && code !== 304;
}

function connReset(): Error {
  return Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
}

/**
 * The stand-in for the TCP socket under `req` and `res`: it carries the
 * addresses the gateway reported, and its writable side feeds the app body.
 * Its readable side never produces data (`wsgi.input` feeds `req` directly).
 */
class BridgeSocket extends Duplex {
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly remoteFamily: string | undefined;
  readonly localAddress: string | undefined;
  readonly localPort: number | undefined;
  readonly encrypted: true | undefined;

  constructor(
    environ: Environ,
    private readonly body: NodeBridgeBody,
  ) {
    super({ allowHalfOpen: true });
    const addr = environ.REMOTE_ADDR;
    this.remoteAddress = addr || undefined;
    this.remoteFamily = addr ? (addr.indexOf(':') !== -1 ? 'IPv6' : 'IPv4') : undefined;
    this.remotePort = portOf(environ.REMOTE_PORT);
    this.localAddress = typeof environ.SERVER_ADDR === 'string' ? environ.SERVER_ADDR : undefined;
    this.localPort = portOf(environ.SERVER_PORT);
    this.encrypted = environ['wsgi.url_scheme'] === 'https' ? true : undefined;
  }

  override _read(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.body.write(chunk, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.body.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.body.destroyed(err);
    // Never 'error': Node's server does not surface socket errors to handlers either.
    cb(null);
  }

  // net.Socket's knobs: nothing to tune on a stand-in.
  setTimeout(_ms: number, _cb?: () => void): this {
    return this;
  }

  setNoDelay(_noDelay?: boolean): this {
    return this;
  }

  setKeepAlive(_enable?: boolean, _delay?: number): this {
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  address(): { address: string; family: string; port: number } | Record<string, never> {
    return this.localAddress !== undefined ? { address: this.localAddress, family: this.localAddress.indexOf(':') !== -1 ? 'IPv6' : 'IPv4', port: this.localPort ?? 0 } : {};
  }
}

function portOf(value: unknown): number | undefined {
  if (typeof value !== 'string' || value.length === 0) return undefined;
  const n = Number(value);
  return Number.isInteger(n) && n >= 0 && n <= 65535 ? n : undefined;
}

function createRequest(environ: Environ, socket: BridgeSocket, fullUrl: boolean): IncomingMessage {
  const req = new IncomingMessage(socket as unknown as Socket) as IncomingMessage & NodeInternals & { originalUrl?: string; baseUrl?: string };
  req.method = environ.REQUEST_METHOD;
  const v = /^HTTP\/(\d)\.(\d)$/.exec(environ.SERVER_PROTOCOL);
  req.httpVersionMajor = v ? Number(v[1]) : 1;
  req.httpVersionMinor = v ? Number(v[2]) : 0;
  req.httpVersion = `${req.httpVersionMajor}.${req.httpVersionMinor}`;
  const target = requestTarget(environ);
  if (fullUrl) {
    req.url = requestPath(target);
  } else {
    req.url = requestPath({ script: '', path: target.path, query: target.query });
    req.originalUrl = requestPath(target);
    req.baseUrl = target.script;
  }
  const raw = rawHeadersOf(environ);
  if (typeof req._addHeaderLines === 'function') req._addHeaderLines(raw, raw.length);
  else {
    req.rawHeaders = raw;
    const h: Record<string, string> = {};
    for (let i = 0; i < raw.length; i += 2) h[raw[i]!.toLowerCase()] = raw[i + 1]!;
    req.headers = h;
  }
  const length = environ.CONTENT_LENGTH;
  if ((length !== undefined && length !== '' && length !== '0') || environ.HTTP_TRANSFER_ENCODING !== undefined) {
    feedBody(req, environ['wsgi.input']);
  } else {
    // No body: end the stream now, as Node's parser does, so that `req.complete` holds at once.
    req.complete = true;
    req.push(null);
  }
  return req;
}

// wsgi.input -> req, read only once the handler reads, paused while req's buffer is full.
function feedBody(req: IncomingMessage, input: Readable): void {
  let started = false;
  const onData = (chunk: Buffer): void => {
    if (!req.push(chunk)) input.pause();
  };
  const onEnd = (): void => {
    cleanup();
    req.complete = true;
    req.push(null);
  };
  const onError = (err: Error): void => {
    cleanup();
    req.destroy(err);
  };
  const cleanup = (): void => {
    input.off('data', onData);
    input.off('end', onEnd);
    input.off('error', onError);
  };
  // An own property: Express replaces req's prototype, but own properties stay.
  (req as unknown as { _read: () => void })._read = () => {
    if (started) {
      input.resume();
      return;
    }
    started = true;
    (req as unknown as { _readableState: { readingMore: boolean } })._readableState.readingMore = false;
    input.on('data', onData);
    input.once('end', onEnd);
    input.once('error', onError);
  };
  req.once('close', cleanup);
}

// CGI names -> HTTP field names. CGI upper-cases, so the original casing is gone: use Title-Case.
const NAME_CACHE = new Map<string, string>();
const SPECIAL_NAMES: Record<string, string> = { DNT: 'DNT', TE: 'TE', WWW_AUTHENTICATE: 'WWW-Authenticate', CONTENT_MD5: 'Content-MD5' };

function fieldName(cgi: string): string {
  let name = NAME_CACHE.get(cgi);
  if (name !== undefined) return name;
  name = SPECIAL_NAMES[cgi] ?? cgi.toLowerCase().replace(/(^|_)([a-z])/g, (_m, sep: string, c: string) => (sep ? '-' : '') + c.toUpperCase()).replace(/_/g, '-');
  if (NAME_CACHE.size < 512) NAME_CACHE.set(cgi, name);
  return name;
}

function rawHeadersOf(environ: Environ): string[] {
  const raw: string[] = [];
  const contentType = environ.CONTENT_TYPE;
  const contentLength = environ.CONTENT_LENGTH;
  for (const key in environ) {
    if (!key.startsWith('HTTP_')) continue;
    const value = environ[key];
    if (typeof value !== 'string') continue;
    const cgi = key.slice(5);
    // Some gateways pass both CONTENT_TYPE and HTTP_CONTENT_TYPE; the CGI name wins.
    if ((cgi === 'CONTENT_TYPE' && contentType) || (cgi === 'CONTENT_LENGTH' && contentLength)) continue;
    raw.push(fieldName(cgi), value);
  }
  if (contentType) raw.push('Content-Type', contentType);
  if (contentLength) raw.push('Content-Length', contentLength);
  return raw;
}
