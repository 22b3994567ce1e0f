/**
 * The FastCGI transport: an app served as a FastCGI Responder (and
 * Authorizer) behind nginx, lighttpd or Apache (FastCGI 1.0).
 *
 * The web server connects, sends BEGIN_REQUEST, the CGI variables as
 * FCGI_PARAMS and the body as FCGI_STDIN; the app's environ is built straight
 * from the PARAMS, `wsgi.input` streams STDIN with backpressure, the response
 * goes back as FCGI_STDOUT, `wsgi.errors` as FCGI_STDERR, then
 * FCGI_END_REQUEST. Requests may be multiplexed on one connection, and
 * connections kept (`FCGI_KEEP_CONN`, nginx `fastcgi_keep_conn on`).
 *
 * Limits (each refused with a typed error in the logger): `maxConnections`,
 * `maxRequests` (beyond it: END_REQUEST with FCGI_OVERLOADED, never a hang),
 * `maxParamsBytes` (beyond it: `431`), `idleTimeout` on kept connections,
 * `paramsTimeout` and `stdinTimeout` on a peer that stalls mid-request
 * (beyond them: `408`, the slot freed).
 * `FCGI_WEB_SERVER_ADDRS` (or `webServerAddrs`) restricts TCP peers.
 *
 * @example
 * ```ts
 * import { createFastCGIServer } from 'nsgi';
 * const server = createFastCGIServer(app, { maxRequests: 256 });
 * await server.listen('unix:/run/app/fcgi.sock'); // nginx: fastcgi_pass unix:/run/app/fcgi.sock;
 * ```
 * @module
 */
import { createServer, isIP, type Server, type Socket } from 'node:net';
import { ConfigError, LimitError, ProtocolError } from '../errors.js';
import { listen, type ListenOptions } from '../net/listen.js';
import type { CommonServerOptions, NsgiServer } from '../server.js';
import { stderrLogger } from '../server.js';
import type { App, Logger } from '../types.js';
import { FastCGIConnection, type ConnectionServer } from './connection.js';
import { DEFAULT_MAX_PARAMS_BYTES } from './params.js';

/** Options of the FastCGI transport. */
export interface FastCGIServerOptions extends CommonServerOptions, ListenOptions {
  /** Most simultaneous connections; more are closed on accept and logged (default: `1024`). Answered to FCGI_GET_VALUES as `FCGI_MAX_CONNS`. */
  maxConnections?: number;
  /** Most requests running at once in this server; more are refused with FCGI_OVERLOADED (default: `1024`). Answered as `FCGI_MAX_REQS`. */
  maxRequests?: number;
  /** Largest PARAMS stream of one request, in bytes; a larger one is answered `431` (default: `1048576`, 1 MiB). */
  maxParamsBytes?: number;
  /**
   * Milliseconds a connection may sit idle with no request running before it
   * is closed (default: `120000`; `0` for never). Longer than nginx's upstream
   * `keepalive_timeout` (60 s), so that nginx, not nsgi, normally closes first.
   */
  idleTimeout?: number;
  /**
   * Peer IP addresses allowed to connect over TCP, as a list or a
   * comma-separated string; others are closed on accept. Unix sockets are
   * not checked, as in libfcgi (default: the `FCGI_WEB_SERVER_ADDRS`
   * environment variable; unset or empty: any peer).
   */
  webServerAddrs?: string | readonly string[];
  /** Bytes of request body buffered for an app that is not reading before the socket is paused (default: `65536`). */
  inputHighWaterMark?: number;
  /**
   * Milliseconds allowed from BEGIN_REQUEST to the end of the request's
   * PARAMS stream; past it the request is answered `408` and its slot freed
   * (default: `30000`; `0` for none). Web servers send PARAMS in one go, so
   * this only catches a stuck or hostile peer holding a `maxRequests` slot.
   */
  paramsTimeout?: number;
  /**
   * Milliseconds allowed between two STDIN records while the request body is
   * incomplete (the clock stops while the app is behind and the socket
   * paused); past it the app's `wsgi.input` fails, `nsgi.signal` fires, and
   * the request is answered `408` if its head has not gone out, else cut
   * short (default: `120000`; `0` for none). Twice nginx's
   * `client_body_timeout` and `fastcgi_send_timeout` (60 s), so that the web
   * server, which can tell its client, normally gives up first.
   */
  stdinTimeout?: number;
  /**
   * On a graceful `close()`, milliseconds a kept connection must have been
   * idle before nsgi closes it (default: `200`; `0`: at once). With
   * `FCGI_KEEP_CONN` the web server owns the connection (§5.1) and may be
   * writing the next request on it at the very moment nsgi closes it; nginx
   * then retries a GET but answers a POST `502`. So a closing server still
   * serves every request that arrives on a kept connection, and closes the
   * connection only once it has sat unused this long: nginx reuses its most
   * recently used connection first, so one idle that long is the least likely
   * to be picked. Never right after a response, when it is the most likely.
   */
  closeIdleDelay?: number;
}

/**
 * Creates a FastCGI server for `app`. Call `listen(address)` with
 * `unix:/path`, `HOST:PORT`, `:PORT` or `fd:N` (`fd:0` under lighttpd
 * `bin-path`, Apache mod_fcgid or spawn-fcgi).
 */
export function createFastCGIServer(app: App, options: FastCGIServerOptions = {}): NsgiServer {
  if (typeof app !== 'function') throw new TypeError('fastcgi: app must be a function (environ, startResponse) => body');
  const logger: Logger = options.logger ?? stderrLogger;
  const allowed = parseAllowList(options.webServerAddrs ?? process.env.FCGI_WEB_SERVER_ADDRS);
  const idleTimeout = options.idleTimeout ?? 120_000;
  const connections = new Set<FastCGIConnection>();
  let onIdle: (() => void) | undefined;

  const state: ConnectionServer & { closing: boolean } = {
    app,
    logger,
    lateErrors: options.errors ?? process.stderr,
    multiprocess: options.multiprocess ?? false,
    maxConnections: positive(options.maxConnections, 1024, 'maxConnections'),
    maxRequests: positive(options.maxRequests, 1024, 'maxRequests'),
    maxParamsBytes: positive(options.maxParamsBytes, DEFAULT_MAX_PARAMS_BYTES, 'maxParamsBytes'),
    inputHighWaterMark: positive(options.inputHighWaterMark, 65536, 'inputHighWaterMark'),
    paramsTimeout: nonNegative(options.paramsTimeout, 30_000, 'paramsTimeout'),
    closeIdleDelay: nonNegative(options.closeIdleDelay, 200, 'closeIdleDelay'),
    stdinTimeout: nonNegative(options.stdinTimeout, 120_000, 'stdinTimeout'),
    activeRequests: 0,
    closing: false,
    connectionClosed(connection) {
      connections.delete(connection);
      if (connections.size === 0 && sweeper !== undefined) {
        clearInterval(sweeper);
        sweeper = undefined;
      }
      onIdle?.();
    },
  };

  // One timer for the whole server, running while it has connections, checks the request timeouts:
  // requests only record timestamps, so the hot path arms no timer. Checking four times per shortest
  // timeout enforces each within 25 % of its value.
  const timeouts = [state.paramsTimeout, state.stdinTimeout].filter((t) => t > 0);
  const sweepEvery = timeouts.length === 0 ? 0 : Math.max(25, Math.floor(Math.min(...timeouts) / 4));
  let sweeper: NodeJS.Timeout | undefined;
  const sweep = (): void => {
    const now = Date.now();
    for (const c of connections) c.sweep(now);
  };

  // allowHalfOpen: on the peer's FIN the connection decides (aborts its requests, flushes, ends) rather than Node.
  const server: Server = createServer({ allowHalfOpen: true, noDelay: true }, (socket: Socket) => {
    if (allowed !== undefined && socket.remoteAddress !== undefined && !allowed.has(normalizeIP(socket.remoteAddress))) {
      logger.error(
        'fastcgi: refusing a connection',
        new ProtocolError('NSGI_ERR_FASTCGI_PEER_REFUSED', `fastcgi: peer ${socket.remoteAddress} is not in FCGI_WEB_SERVER_ADDRS`),
      );
      socket.destroy();
      return;
    }
    if (idleTimeout > 0) socket.setTimeout(idleTimeout);
    const connection = new FastCGIConnection(state, socket);
    connections.add(connection);
    if (sweeper === undefined && sweepEvery > 0) {
      sweeper = setInterval(sweep, sweepEvery);
      sweeper.unref();
    }
    if (state.closing) connection.shutdown();
  });
  server.maxConnections = state.maxConnections;
  server.on('drop', (data?: { remoteAddress?: string }) => {
    logger.error(
      'fastcgi: refusing a connection',
      new LimitError('NSGI_ERR_FASTCGI_MAX_CONNS', `fastcgi: ${state.maxConnections} connections are already open (maxConnections)${data?.remoteAddress ? `; closed one from ${data.remoteAddress}` : ''}`, state.maxConnections),
    );
  });

  return {
    transport: 'fastcgi',
    server,
    get activeRequests() {
      return state.activeRequests;
    },
    listen: (address) => listen(server, address, options),
    close: (timeoutMs = 30_000) =>
      new Promise<void>((resolve) => {
        state.closing = true;
        let serverClosed = !server.listening;
        let timer: NodeJS.Timeout | undefined;
        const finish = (): void => {
          if (!serverClosed || connections.size > 0) return;
          clearTimeout(timer);
          onIdle = undefined;
          resolve();
        };
        onIdle = finish;
        if (!serverClosed) {
          server.close(() => {
            serverClosed = true;
            finish();
          });
        }
        for (const c of connections) c.shutdown();
        // What is still running after the grace period is cut (its apps see nsgi.signal fire).
        timer = setTimeout(() => {
          for (const c of connections) c.socket.destroy();
        }, timeoutMs);
        timer.unref();
        finish();
      }),
  };
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!(Number.isInteger(value) && value > 0)) throw new ConfigError('NSGI_ERR_CONFIG', `fastcgi: ${name} must be a positive integer, got ${String(value)}`);
  return value;
}

function nonNegative(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!(Number.isInteger(value) && value >= 0)) throw new ConfigError('NSGI_ERR_CONFIG', `fastcgi: ${name} must be a non-negative integer (ms), got ${String(value)}`);
  return value;
}

function parseAllowList(value: string | readonly string[] | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  const list = (typeof value === 'string' ? value.split(',') : [...value]).map((s) => s.trim()).filter((s) => s !== '');
  if (list.length === 0) return undefined;
  for (const ip of list) if (isIP(ip) === 0) throw new ConfigError('NSGI_ERR_CONFIG', `fastcgi: FCGI_WEB_SERVER_ADDRS entry ${JSON.stringify(ip)} is not an IP address`);
  return new Set(list.map(normalizeIP));
}

// One canonical text per address, for entries and peers alike: an IPv4 peer on a dual-stack
// socket shows as ::ffff:a.b.c.d, and an operator may write 0:0:0:0:0:0:0:1 or ::FFFF:7f00:1.
// The URL parser canonicalises IPv6 (RFC 5952); IPv4-mapped addresses become plain IPv4.
function normalizeIP(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  const canonical = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
  if (mapped === null) return canonical;
  const hi = parseInt(mapped[1]!, 16);
  const lo = parseInt(mapped[2]!, 16);
  return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
}
