/**
 * The HTTP transport: an app served on `node:http`. It is the embedded
 * default (`nsgi serve app.mjs` with no flag listens on 127.0.0.1:8000) and
 * the backend of "the simple proxy method" (nginx `proxy_pass`, lighttpd
 * `mod_proxy`, Apache `mod_proxy`).
 *
 * @example
 * ```ts
 * import { createHTTPServer } from 'nsgi';
 * const server = createHTTPServer(app);
 * console.log(await server.listen('127.0.0.1:8000'));
 * ```
 * @module
 */
import { createServer, type Server } from 'node:http';
import { LimitError } from '../errors.js';
import { listen, type ListenOptions } from '../net/listen.js';
import type { CommonServerOptions, NsgiServer } from '../server.js';
import { stderrLogger } from '../server.js';
import type { App } from '../types.js';
import { toNodeHandler } from './node-handler.js';

/** Options of the HTTP transport. */
export interface HTTPServerOptions extends CommonServerOptions, ListenOptions {
  /** The mount point given as `SCRIPT_NAME` (default: `''`). */
  scriptName?: string;
  /** Time allowed to receive a request's headers, against slowloris (default: `60000` ms). */
  headersTimeout?: number;
  /** Time allowed to receive a whole request (default: `300000` ms; `0` for none). */
  requestTimeout?: number;
  /** How long an idle keep-alive connection stays open (default: `5000` ms). */
  keepAliveTimeout?: number;
  /** Largest request head accepted, in bytes (default: `16384`, Node's). */
  maxHeaderSize?: number;
  /**
   * Most simultaneous connections; more are closed on accept and logged
   * (default: `1024`, as FastCGI and SCGI: the usual soft file-descriptor
   * limit, so that a flood is refused here rather than failing `accept()`,
   * the app's own files and sockets with `EMFILE`). `Infinity` for none.
   */
  maxConnections?: number;
  /**
   * Time allowed between two reads of a request body while it is incomplete,
   * in ms (the clock stops while the app is behind); past it the request is
   * answered `408` if the response has not started (else cut short),
   * `nsgi.signal` fires and `wsgi.input` fails (default: `60000`, nginx's
   * `client_body_timeout`; `0` for none).
   */
  bodyTimeout?: number;
}

/** Default `maxConnections` of the HTTP transport. */
export const DEFAULT_HTTP_MAX_CONNECTIONS = 1024;

/** Creates an HTTP server for `app`. */
export function createHTTPServer(app: App, options: HTTPServerOptions = {}): NsgiServer {
  let active = 0;
  const logger = options.logger ?? stderrLogger;
  const handler = toNodeHandler(app, {
    scriptName: options.scriptName,
    errors: options.errors,
    multiprocess: options.multiprocess,
    bodyTimeout: options.bodyTimeout ?? 60_000,
    logger,
    onDone: () => {
      active--;
    },
  });
  const headersTimeout = options.headersTimeout ?? 60_000;
  const requestTimeout = options.requestTimeout ?? 300_000;
  const server: Server = createServer(
    {
      headersTimeout,
      requestTimeout,
      // Node enforces both timeouts only when it checks, every 30 s by default: a 300 ms
      // headersTimeout would cut a slowloris after up to 30 s. Check at half the shorter one.
      connectionsCheckingInterval: Math.min(30_000, Math.max(100, Math.floor(Math.min(headersTimeout, requestTimeout || Infinity) / 2))),
      keepAliveTimeout: options.keepAliveTimeout ?? 5_000,
      maxHeaderSize: options.maxHeaderSize,
    },
    (req, res) => {
      active++;
      handler(req, res);
    },
  );
  // Node keeps only the first 1000 header fields and silently drops the rest: a client sending
  // 1000 tiny headers would push out the X-Forwarded-For a proxy appends after them, and ProxyFix
  // would trust the client's own. The head stays bounded by maxHeaderSize.
  server.maxHeadersCount = 0;
  const maxConnections = options.maxConnections ?? DEFAULT_HTTP_MAX_CONNECTIONS;
  if (maxConnections !== Infinity) server.maxConnections = maxConnections;
  server.on('drop', (data?: { remoteAddress?: string }) => {
    logger.error(
      'http: refusing a connection',
      new LimitError('NSGI_ERR_HTTP_TOO_MANY_CONNECTIONS', `http: ${maxConnections} connections are already open (maxConnections)${data?.remoteAddress ? `; closed one from ${data.remoteAddress}` : ''}`, maxConnections),
    );
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    // Node answers 400/408/431 itself when it can; we only make sure it is logged, not thrown.
    if (err.code !== 'ECONNRESET') logger.error('http: bad request from client', err);
    if (socket.writable && !socket.destroyed) {
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    } else {
      socket.destroy();
    }
  });

  return {
    transport: 'http',
    server,
    get activeRequests() {
      return active;
    },
    listen: (address) => listen(server, address, options),
    close: (timeoutMs = 30_000) =>
      new Promise<void>((resolve) => {
        if (!server.listening) return resolve();
        let timer: NodeJS.Timeout | undefined;
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
        timer = setTimeout(() => server.closeAllConnections(), timeoutMs);
        timer.unref();
      }),
  };
}
