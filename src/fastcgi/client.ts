/**
 * A FastCGI client: plays the web server's part, for tests (ours and
 * users'), debugging (`nsgi request --fastcgi`, with a record trace) and
 * load generation in benchmarks.
 *
 * It builds the CGI variables a web server would (`REQUEST_METHOD`,
 * `SCRIPT_NAME`, `PATH_INFO`, `QUERY_STRING`, `REQUEST_URI`, `SERVER_*`,
 * `CONTENT_*`, `HTTP_*`; any of them overridable), sends BEGIN_REQUEST,
 * PARAMS and STDIN, and reads STDOUT (through the shared
 * {@link CGIResponseParser}), STDERR and END_REQUEST. With `keepConn` it
 * keeps one connection and multiplexes concurrent requests on it.
 *
 * @example
 * ```ts
 * import { FastCGIClient } from 'nsgi';
 * const client = new FastCGIClient('unix:/run/app/fcgi.sock', { keepConn: true });
 * const res = await client.request({ method: 'POST', path: '/items?x=1', body: '{"a":1}', headers: { 'Content-Type': 'application/json' } });
 * console.log(res.status, res.headers, res.body.toString());
 * await client.close();
 * ```
 * @module
 */
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { CGIResponseParser, type CGIHead } from '../cgi-response.js';
import { cgiHeaderName, decodePath } from '../environ.js';
import { AbortedError, ProtocolError } from '../errors.js';
import { parseAddress } from '../net/address.js';
import type { HeaderList } from '../types.js';
import { encodeParams, ParamsDecoder } from './params.js';
import { RecordParser, type RecordHandler } from './parser.js';
import {
  beginRequestBody,
  FCGI_ABORT_REQUEST,
  FCGI_BEGIN_REQUEST,
  FCGI_END_REQUEST,
  FCGI_GET_VALUES,
  FCGI_GET_VALUES_RESULT,
  FCGI_HEADER_LEN,
  FCGI_KEEP_CONN,
  FCGI_PARAMS,
  FCGI_REQUEST_COMPLETE,
  FCGI_RESPONDER,
  FCGI_STDERR,
  FCGI_STDIN,
  FCGI_STDOUT,
  FCGI_UNKNOWN_TYPE,
  protocolStatusName,
  recordTypeName,
} from './protocol.js';
import { RecordWriter } from './writer.js';

/** A record as the trace callback sees it. */
export interface FastCGITraceRecord {
  type: number;
  /** The type's name without `FCGI_`, e.g. `STDOUT`. */
  typeName: string;
  requestId: number;
  contentLength: number;
  paddingLength: number;
  /** The record's content (a copy). */
  content: Buffer;
}

/** Options of {@link FastCGIClient}. */
export interface FastCGIClientOptions {
  /**
   * Keep one connection open (FCGI_KEEP_CONN) and multiplex concurrent
   * requests on it (default: `false`: one connection per request, closed by
   * the application, as nginx does without `fastcgi_keep_conn`).
   */
  keepConn?: boolean;
  /** Called for every record sent and received, e.g. to print a trace (default: none). */
  trace?: (direction: 'send' | 'recv', record: FastCGITraceRecord) => void;
  /** Largest response head accepted, in bytes (default: `65536`). */
  maxHeadBytes?: number;
}

/** One request. */
export interface FastCGIRequest {
  /** The HTTP method (default: `POST` when there is a body, else `GET`). */
  method?: string;
  /** The request target, `/path?query` (default: `/`). Becomes `REQUEST_URI`, `PATH_INFO` (decoded) and `QUERY_STRING`. */
  path?: string;
  /** The mount point: `SCRIPT_NAME`, cut from the front of the path for `PATH_INFO` (default: `''`). */
  scriptName?: string;
  /** CGI variables to add or override; they win over the computed ones. */
  params?: Record<string, string>;
  /** HTTP request headers, as `HTTP_*` (and `CONTENT_TYPE`, `CONTENT_LENGTH`). Repeats are joined with `, `. */
  headers?: Record<string, string> | Array<[string, string]>;
  /** The body, sent as FCGI_STDIN. A string is UTF-8; an async iterable is streamed (no `CONTENT_LENGTH` unless given). */
  body?: Uint8Array | string | AsyncIterable<Uint8Array>;
  /** The FastCGI role (default: `1`, FCGI_RESPONDER; `2` is FCGI_AUTHORIZER). */
  role?: number;
  /** Aborting it sends FCGI_ABORT_REQUEST and rejects with an {@link AbortedError}. */
  signal?: AbortSignal;
}

/** A response. */
export interface FastCGIResponse {
  /** The HTTP status from the CGI head; `0` when the application refused the request (see `protocolStatus`). */
  status: number;
  statusText: string;
  /** Response headers in order, repeats kept, without `Status`. */
  headers: HeaderList;
  body: Buffer;
  /** Everything the application wrote to FCGI_STDERR, as UTF-8. */
  stderr: string;
  /** FCGI_END_REQUEST `appStatus`. */
  appStatus: number;
  /** FCGI_END_REQUEST `protocolStatus`: `0` complete, `1` cannot multiplex, `2` overloaded, `3` unknown role. */
  protocolStatus: number;
}

/** Options of {@link FastCGIClient.load}. */
export interface FastCGILoadOptions {
  /** The request to repeat (its body must be a string or bytes). */
  request?: Omit<FastCGIRequest, 'signal'>;
  /** How many requests to complete in all (default: `10000`). */
  requests?: number;
  /** How many are in flight at once (default: `32`). */
  concurrency?: number;
  /**
   * Connections to spread them over (default: `1`: all multiplexed on one
   * kept connection). Set it to `concurrency` to mimic nginx, which sends
   * one request at a time per connection.
   */
  connections?: number;
}

/** What {@link FastCGIClient.load} measured. */
export interface FastCGILoadResult {
  requests: number;
  /** Requests that did not end with status 2xx and FCGI_REQUEST_COMPLETE. */
  errors: number;
  seconds: number;
  requestsPerSecond: number;
  /** STDOUT bytes received (heads and bodies). */
  bytes: number;
}

/** A FastCGI client for one application address (`unix:/path`, `HOST:PORT`). */
export class FastCGIClient {
  private readonly address: string;
  private readonly options: FastCGIClientOptions;
  private kept: ClientConnection | undefined;
  private readonly open = new Set<ClientConnection>();

  constructor(address: string, options: FastCGIClientOptions = {}) {
    const a = parseAddress(address);
    if (a.kind === 'fd') throw new TypeError('fastcgi: a client connects to unix:/path or HOST:PORT, not fd:N');
    this.address = address;
    this.options = options;
  }

  /** Sends one request and resolves with the whole response. */
  async request(req: FastCGIRequest = {}): Promise<FastCGIResponse> {
    const signal = req.signal;
    if (signal?.aborted) throw new AbortedError('fastcgi: request aborted before it was sent');
    const conn = this.connection();
    const pending = new Pending(this.options.maxHeadBytes, false);
    const id = conn.add(pending);
    const body = req.body;
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body instanceof Uint8Array ? body : undefined;
    const params = buildParams(req, bytes);
    conn.writer.record(FCGI_BEGIN_REQUEST, id, beginRequestBody(req.role ?? FCGI_RESPONDER, this.options.keepConn ? FCGI_KEEP_CONN : 0));
    conn.writeParams(id, params);
    let onAbort: (() => void) | undefined;
    if (signal !== undefined) {
      onAbort = () => {
        conn.abort(id);
        pending.fail(new AbortedError('fastcgi: request aborted'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
    }
    try {
      if (body === undefined || bytes !== undefined) {
        if (bytes !== undefined) conn.writer.stream(FCGI_STDIN, id, bytes);
        conn.writer.streamEnd(FCGI_STDIN, id);
        conn.flush();
      } else {
        await conn.streamBody(id, body as AsyncIterable<Uint8Array>, pending);
      }
      return await pending.promise;
    } finally {
      if (onAbort !== undefined) signal!.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Asks FCGI_GET_VALUES (§4.1), e.g. `['FCGI_MAX_CONNS', 'FCGI_MAX_REQS', 'FCGI_MPXS_CONNS']`,
   * and resolves with the values the application knows.
   */
  async getValues(names: string[]): Promise<Record<string, string>> {
    const conn = this.connection();
    try {
      return await conn.getValues(names);
    } finally {
      if (conn !== this.kept) conn.close();
    }
  }

  /**
   * Runs `requests` copies of one request, `concurrency` at a time, and
   * measures the rate. The request is encoded once; responses are counted,
   * not parsed, so the client costs little beside the server it measures.
   */
  async load(options: FastCGILoadOptions = {}): Promise<FastCGILoadResult> {
    const total = options.requests ?? 10_000;
    const concurrency = Math.max(1, Math.min(options.concurrency ?? 32, total));
    const connectionCount = Math.max(1, Math.min(options.connections ?? 1, concurrency));
    const req = options.request ?? {};
    const body = req.body;
    if (body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array)) throw new TypeError('fastcgi: load() needs a string or bytes body');
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    // One template of the whole request with id 1; each send copies it and patches the ids.
    const template = new RecordWriter({ copyBelow: Infinity, poolSize: 1 << 20 });
    template.record(FCGI_BEGIN_REQUEST, 1, beginRequestBody(req.role ?? FCGI_RESPONDER, FCGI_KEEP_CONN));
    const encoded = encodeParams(buildParams(req, bytes));
    if (encoded.length > 0) template.stream(FCGI_PARAMS, 1, encoded);
    template.streamEnd(FCGI_PARAMS, 1);
    if (bytes !== undefined && bytes.length > 0) template.stream(FCGI_STDIN, 1, bytes);
    template.streamEnd(FCGI_STDIN, 1);
    const image = Buffer.concat(template.take());
    const headerOffsets: number[] = [];
    for (let at = 0; at < image.length; at += FCGI_HEADER_LEN + ((image[at + 4]! << 8) | image[at + 5]!) + image[at + 6]!) headerOffsets.push(at);

    const conns: ClientConnection[] = [];
    for (let i = 0; i < connectionCount; i++) conns.push(this.newConnection(true));
    let started = 0;
    let errors = 0;
    let received = 0;
    const start = performance.now();
    try {
      await new Promise<void>((resolve, reject) => {
        let done = 0;
        const launch = (conn: ClientConnection): void => {
          started++;
          const pending = new Pending(undefined, true);
          const id = conn.add(pending);
          const copy = Buffer.allocUnsafe(image.length);
          image.copy(copy);
          for (const at of headerOffsets) {
            copy[at + 2] = id >>> 8;
            copy[at + 3] = id & 0xff;
          }
          conn.send(copy);
          pending.promise.then((res) => {
            if (res.protocolStatus !== FCGI_REQUEST_COMPLETE || res.status < 200 || res.status > 299) errors++;
            received += pending.stdoutBytes;
            if (++done === total) resolve();
            else if (started < total) launch(conn);
          }, reject);
        };
        for (let i = 0; i < concurrency; i++) launch(conns[i % connectionCount]!);
      });
    } finally {
      for (const c of conns) c.close();
    }
    const seconds = (performance.now() - start) / 1000;
    return { requests: total, errors, seconds, requestsPerSecond: total / seconds, bytes: received };
  }

  /** Closes the kept connection (and any still open); requests in flight are rejected. */
  async close(): Promise<void> {
    const all = [...this.open];
    this.kept = undefined;
    await Promise.all(all.map((c) => c.close()));
  }

  private connection(): ClientConnection {
    if (!this.options.keepConn) return this.newConnection(false);
    if (this.kept === undefined || this.kept.closed) this.kept = this.newConnection(true);
    return this.kept;
  }

  private newConnection(keep: boolean): ClientConnection {
    const conn = new ClientConnection(this.address, this.options, keep, () => this.open.delete(conn));
    this.open.add(conn);
    return conn;
  }
}

/** One request waiting for its response. */
class Pending {
  readonly promise: Promise<FastCGIResponse>;
  resolve!: (res: FastCGIResponse) => void;
  reject!: (err: unknown) => void;
  settled = false;
  private readonly parser: CGIResponseParser | undefined;
  private head: CGIHead | undefined;
  private readonly body: Buffer[] = [];
  private readonly stderr: Buffer[] = [];
  stdoutBytes = 0;
  // load(): only the status line is read.
  private status = 0;

  constructor(
    maxHeadBytes: number | undefined,
    private readonly light: boolean,
  ) {
    this.promise = new Promise<FastCGIResponse>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.parser = light ? undefined : new CGIResponseParser({ maxHeadBytes });
    // A rejection nobody awaits (the request was aborted) must not surface as unhandled.
    this.promise.catch(() => {});
  }

  stdout(view: Buffer): void {
    this.stdoutBytes += view.length;
    if (this.light) {
      if (this.status === 0) this.status = statusOf(view);
      return;
    }
    if (this.head === undefined) {
      this.head = this.parser!.push(view);
      if (this.head !== undefined && this.head.rest.length > 0) this.body.push(this.head.rest);
    } else {
      this.body.push(view);
    }
  }

  stderrData(view: Buffer): void {
    if (!this.light) this.stderr.push(view);
  }

  end(appStatus: number, protocolStatus: number): void {
    if (this.settled) return;
    this.settled = true;
    if (this.light) {
      this.resolve({ status: this.status || 200, statusText: '', headers: [], body: EMPTY, stderr: '', appStatus, protocolStatus });
      return;
    }
    const stderr = Buffer.concat(this.stderr).toString('utf8');
    if (this.head === undefined) {
      if (protocolStatus === FCGI_REQUEST_COMPLETE && this.stdoutBytes > 0) {
        this.reject(new ProtocolError('NSGI_ERR_FASTCGI_RESPONSE', 'fastcgi: STDOUT ended before the response head was complete'));
        return;
      }
      // Refused (OVERLOADED, UNKNOWN_ROLE...) or no output at all: no HTTP status to give.
      this.resolve({ status: 0, statusText: protocolStatusName(protocolStatus), headers: [], body: EMPTY, stderr, appStatus, protocolStatus });
      return;
    }
    const h = this.head;
    this.resolve({ status: h.status, statusText: h.statusText, headers: h.headers, body: Buffer.concat(this.body), stderr, appStatus, protocolStatus });
  }

  fail(error: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.reject(error);
  }
}

const EMPTY = Buffer.alloc(0);
const STATUS_PREFIX = Buffer.from('Status: ');

// The status code of a CGI head's first line when it is `Status: NNN`, else 200 (load mode only).
function statusOf(view: Buffer): number {
  if (view.length >= 11 && view.compare(STATUS_PREFIX, 0, 8, 0, 8) === 0) return Number(view.toString('latin1', 8, 11)) || 200;
  return 200;
}

// What the record being parsed is for.
const R_IGNORE = 0;
const R_STDOUT = 1;
const R_STDERR = 2;
const R_END = 3;
const R_VALUES = 4;
const R_UNKNOWN_TYPE = 5;

/** One client connection: a socket, a parser, a writer, requests by id. */
class ClientConnection implements RecordHandler {
  readonly writer: RecordWriter;
  readonly socket: Socket;
  closed = false;
  private readonly parser = new RecordParser(this);
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private valueWaiters: Array<{ resolve: (v: Record<string, string>) => void; reject: (e: unknown) => void }> = [];
  private valuesDecoder: ParamsDecoder | undefined;
  private kind = R_IGNORE;
  private current: Pending | undefined;
  private currentId = 0;
  private currentType = 0;
  private readonly scratch = Buffer.alloc(8);
  private scratchLength = 0;
  private traceParts: Buffer[] | undefined;
  private currentPadding = 0;
  private readonly trace: FastCGIClientOptions['trace'];
  private flushScheduled = false;
  private outbox: Buffer[] = [];
  private freeIds: number[] = [];
  private maxId = 0;
  private closedResolve: (() => void) | undefined;
  private readonly closedPromise: Promise<void>;

  constructor(
    address: string,
    options: FastCGIClientOptions,
    private readonly keep: boolean,
    onClosed: () => void,
  ) {
    this.trace = options.trace;
    const trace = options.trace;
    this.writer = new RecordWriter({
      onRecord:
        trace === undefined
          ? undefined
          : (type, requestId, content, paddingLength) =>
              trace('send', { type, typeName: recordTypeName(type), requestId, contentLength: content.length, paddingLength, content: Buffer.from(content) }),
    });
    const a = parseAddress(address);
    this.socket = a.kind === 'unix' ? connect({ path: a.path }) : connect({ host: (a as { host: string }).host, port: (a as { port: number }).port, noDelay: true });
    this.closedPromise = new Promise<void>((resolve) => (this.closedResolve = resolve));
    this.socket.on('data', (chunk: Buffer) => {
      try {
        this.parser.push(chunk);
      } catch (error) {
        this.failAll(error);
        this.socket.destroy();
      }
    });
    let lastError: unknown;
    this.socket.on('error', (err) => {
      lastError = err;
    });
    this.socket.on('close', () => {
      this.closed = true;
      onClosed();
      this.failAll(lastError ?? new ProtocolError('NSGI_ERR_FASTCGI_CLOSED', 'fastcgi: the connection closed before the application ended the request'));
      this.closedResolve!();
    });
  }

  /**
   * Registers a request; returns its id. Ids stay taken until END_REQUEST
   * arrives (an aborted request's too, so an id is never reused early), and
   * freed ids are reused first: small ids are cheapest for a server (§3.3).
   */
  add(pending: Pending): number {
    let id: number;
    if (!this.keep) id = 1;
    else {
      id = this.freeIds.pop() ?? ++this.maxId;
      if (id > 65535) throw new RangeError('fastcgi: more than 65535 requests in flight on one connection');
    }
    this.pending.set(id, pending);
    return id;
  }

  writeParams(id: number, params: Record<string, string>): void {
    const encoded = encodeParams(params);
    if (encoded.length > 0) this.writer.stream(FCGI_PARAMS, id, encoded);
    this.writer.streamEnd(FCGI_PARAMS, id);
  }

  async streamBody(id: number, body: AsyncIterable<Uint8Array>, pending: Pending): Promise<void> {
    this.flush();
    for await (const chunk of body) {
      if (pending.settled || this.closed) return;
      if (chunk.length === 0) continue;
      this.writer.stream(FCGI_STDIN, id, chunk);
      this.flush();
      if (this.socket.writableNeedDrain) await new Promise<void>((resolve) => {
        const done = (): void => {
          this.socket.off('drain', done);
          this.socket.off('close', done);
          resolve();
        };
        this.socket.on('drain', done);
        this.socket.on('close', done);
      });
    }
    if (pending.settled || this.closed) return;
    this.writer.streamEnd(FCGI_STDIN, id);
    this.flush();
  }

  /** Sends FCGI_ABORT_REQUEST (§5.4). */
  abort(id: number): void {
    if (this.closed) return;
    this.writer.record(FCGI_ABORT_REQUEST, id, EMPTY);
    this.flush();
  }

  getValues(names: string[]): Promise<Record<string, string>> {
    return new Promise((resolve, reject) => {
      this.valueWaiters.push({ resolve, reject });
      this.writer.record(FCGI_GET_VALUES, 0, encodeParams(names.map((n) => [n, ''] as const)));
      this.flush();
    });
  }

  /** Queues pre-encoded records (load mode); they leave with the next flush, at the end of this tick. */
  send(bytes: Buffer): void {
    this.outbox.push(bytes);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(() => this.flush());
    }
  }

  flush(): void {
    this.flushScheduled = false;
    const out = this.writer.take();
    if (this.outbox.length > 0) {
      for (const b of this.outbox) out.push(b);
      this.outbox = [];
    }
    if (this.closed || out.length === 0) return;
    if (out.length === 1) this.socket.write(out[0]!);
    else {
      this.socket.cork();
      for (const b of out) this.socket.write(b);
      this.socket.uncork();
    }
  }

  close(): Promise<void> {
    if (!this.closed) this.socket.end();
    // A server that does not close its side within a moment is cut.
    const t = setTimeout(() => this.socket.destroy(), 1000);
    t.unref();
    return this.closedPromise.finally(() => clearTimeout(t));
  }

  private failAll(error: unknown): void {
    for (const p of this.pending.values()) p.fail(error);
    this.pending.clear();
    for (const w of this.valueWaiters) w.reject(error);
    this.valueWaiters = [];
  }

  // RecordHandler -------------------------------------------------------------------------

  record(type: number, requestId: number, _contentLength: number, paddingLength: number): void {
    this.currentType = type;
    this.currentId = requestId;
    this.currentPadding = paddingLength;
    this.scratchLength = 0;
    if (this.trace !== undefined) this.traceParts = [];
    this.current = requestId === 0 ? undefined : this.pending.get(requestId);
    if (requestId === 0) {
      if (type === FCGI_GET_VALUES_RESULT) {
        this.kind = R_VALUES;
        this.valuesDecoder = new ParamsDecoder({ maxBytes: 65535, what: 'GET_VALUES_RESULT' });
      } else this.kind = type === FCGI_UNKNOWN_TYPE ? R_UNKNOWN_TYPE : R_IGNORE;
      return;
    }
    if (this.current === undefined) this.kind = R_IGNORE;
    else if (type === FCGI_STDOUT) this.kind = R_STDOUT;
    else if (type === FCGI_STDERR) this.kind = R_STDERR;
    else if (type === FCGI_END_REQUEST) this.kind = R_END;
    else this.kind = R_IGNORE;
  }

  content(chunk: Buffer, start: number, end: number): void {
    if (this.traceParts !== undefined) this.traceParts.push(Buffer.from(chunk.subarray(start, end)));
    switch (this.kind) {
      case R_STDOUT:
        if (!this.current!.settled) this.current!.stdout(chunk.subarray(start, end));
        return;
      case R_STDERR:
        if (!this.current!.settled) this.current!.stderrData(chunk.subarray(start, end));
        return;
      case R_END:
      case R_UNKNOWN_TYPE:
        chunk.copy(this.scratch, this.scratchLength, start, end);
        this.scratchLength += end - start;
        return;
      case R_VALUES:
        this.valuesDecoder!.push(chunk, start, end);
        return;
    }
  }

  recordEnd(): void {
    if (this.traceParts !== undefined) {
      const content = Buffer.concat(this.traceParts);
      this.traceParts = undefined;
      this.trace!('recv', { type: this.currentType, typeName: recordTypeName(this.currentType), requestId: this.currentId, contentLength: content.length, paddingLength: this.currentPadding, content });
    }
    switch (this.kind) {
      case R_END: {
        const s = this.scratch;
        const pending = this.current!;
        this.pending.delete(this.currentId);
        if (this.keep) this.freeIds.push(this.currentId);
        // Settled already: this END_REQUEST answers our ABORT_REQUEST, and only frees the id.
        pending.end(s.readUInt32BE(0), s[4]!);
        if (!this.keep) void this.close();
        return;
      }
      case R_VALUES: {
        const values = this.valuesDecoder!.end();
        this.valuesDecoder = undefined;
        this.valueWaiters.shift()?.resolve(values);
        return;
      }
      case R_UNKNOWN_TYPE:
        if (this.scratch[0] === FCGI_GET_VALUES) {
          this.valueWaiters.shift()?.reject(new ProtocolError('NSGI_ERR_FASTCGI_RESPONSE', 'fastcgi: the application does not understand FCGI_GET_VALUES'));
        }
        return;
    }
  }
}

/** The CGI variables a web server would send for `req` (RFC 3875 §4.1), `req.params` winning. */
export function buildParams(req: Omit<FastCGIRequest, 'signal'>, body: Uint8Array | undefined): Record<string, string> {
  const target = req.path ?? '/';
  const q = target.indexOf('?');
  const rawPath = q === -1 ? target : target.slice(0, q);
  const scriptName = req.scriptName ?? '';
  const pathInfo = scriptName !== '' && rawPath.startsWith(scriptName) ? rawPath.slice(scriptName.length) : rawPath;
  const headers: Array<[string, string]> = req.headers === undefined ? [] : Array.isArray(req.headers) ? req.headers : Object.entries(req.headers);
  const vars: Record<string, string> = {
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_SOFTWARE: 'nsgi-fastcgi-client',
    REQUEST_METHOD: req.method ?? (req.body !== undefined ? 'POST' : 'GET'),
    REQUEST_URI: target,
    SCRIPT_NAME: scriptName,
    PATH_INFO: decodePath(pathInfo),
    QUERY_STRING: q === -1 ? '' : target.slice(q + 1),
    SERVER_NAME: 'localhost',
    SERVER_PORT: '80',
    SERVER_PROTOCOL: 'HTTP/1.1',
    REQUEST_SCHEME: 'http',
    REMOTE_ADDR: '127.0.0.1',
  };
  if (body !== undefined) vars.CONTENT_LENGTH = String(body.length);
  for (const [name, value] of headers) {
    const key = cgiHeaderName(name);
    if (key === 'HTTP_HOST') {
      // The Host header also names the server (RFC 3875 §4.1.14).
      const m = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(value);
      if (m !== null) {
        vars.SERVER_NAME = m[1]!;
        if (m[2] !== undefined) vars.SERVER_PORT = m[2];
      }
    }
    // Repeated headers are joined as RFC 9110 §5.3 allows (cookies with "; ", RFC 6265 §5.4).
    const seen = vars[key];
    vars[key] = seen !== undefined && key.startsWith('HTTP_') ? `${seen}${key === 'HTTP_COOKIE' ? '; ' : ', '}${value}` : value;
  }
  if (req.params !== undefined) Object.assign(vars, req.params);
  return vars;
}
