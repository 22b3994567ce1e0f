/**
 * An SCGI client: sends one request the way a web server would (the CGI
 * variables as a netstring, then the body) and reads the CGI-style response
 * with the shared {@link CGIResponseParser}. For tests, health checks and
 * `nsgi request --scgi ADDR`; it takes the same request shape as the FastCGI
 * client, so tools can switch protocol with one flag.
 *
 * @example
 * ```ts
 * import { SCGIClient } from 'nsgi';
 * const client = new SCGIClient('127.0.0.1:4000');
 * const res = await client.request({ method: 'POST', path: '/echo?x=1', body: 'hi' });
 * console.log(res.status, res.body.toString());
 * ```
 * @module
 */
import { connect, type Socket } from 'node:net';
import { CGIResponseParser } from '../cgi-response.js';
import { cgiHeaderName, decodePath } from '../environ.js';
import { AbortedError, ConfigError, ProtocolError } from '../errors.js';
import { parseAddress, type Address } from '../net/address.js';
import type { HeaderList } from '../types.js';
import { encodeSCGIHeader } from './parser.js';

/** A request to send. Every field has a default. */
export interface SCGIRequest {
  /** HTTP method (default: `GET`). */
  method?: string;
  /** The URL path as a client sent it, may carry `?query` (default: `/`). Percent-escapes are decoded into `PATH_INFO`. */
  path?: string;
  /** `SCRIPT_NAME`, the app's mount point (default: `''`). */
  scriptName?: string;
  /** CGI variables to add or override, sent as they are (e.g. `{ HTTPS: 'on' }`). */
  params?: Record<string, string>;
  /** Request headers, sent as `HTTP_*` (`Content-Type` as `CONTENT_TYPE`). */
  headers?: Record<string, string> | Array<[string, string]>;
  /** The body (default: none). SCGI needs its length first, so an iterable is read whole before sending. */
  body?: string | Uint8Array | Iterable<Uint8Array | string> | AsyncIterable<Uint8Array | string>;
  /** Aborts the request: the connection is closed and the promise rejects with `NSGI_ERR_ABORTED`. */
  signal?: AbortSignal;
}

/** The response, as read from the connection. */
export interface SCGIResponse {
  status: number;
  statusText: string;
  /** Headers in order, repeats kept, without `Status`. */
  headers: HeaderList;
  body: Buffer;
  /** Always empty: SCGI has no error stream (the field matches the FastCGI client's). */
  stderr: string;
}

/** Options of {@link SCGIClient}. */
export interface SCGIClientOptions {
  /** Largest response head accepted, in bytes (default: `65536`). */
  maxHeadBytes?: number;
}

/** Sends SCGI requests to one address (`unix:/path`, `HOST:PORT`, `:PORT`). */
export class SCGIClient {
  private readonly address: Address;

  constructor(
    address: string | Address,
    private readonly options: SCGIClientOptions = {},
  ) {
    this.address = typeof address === 'string' ? parseAddress(address) : address;
    if (this.address.kind === 'fd') throw new ConfigError('NSGI_ERR_ADDRESS', 'scgi: a client cannot connect to fd:N; use unix:/path or HOST:PORT');
  }

  /** Sends one request on a new connection and resolves with the whole response. */
  async request(req: SCGIRequest = {}): Promise<SCGIResponse> {
    const body = await bodyBytes(req.body);
    const header = encodeSCGIHeader(requestVars(req, this.address), body.length);
    req.signal?.throwIfAborted();
    return new Promise<SCGIResponse>((resolve, reject) => {
      const a = this.address;
      const socket: Socket = a.kind === 'unix' ? connect({ path: a.path }) : connect({ host: (a as { host: string }).host, port: (a as { port: number }).port });
      const parser = new CGIResponseParser({ maxHeadBytes: this.options.maxHeadBytes });
      let head: ReturnType<CGIResponseParser['push']>;
      const chunks: Buffer[] = [];
      let settled = false;
      const settle = (err: Error | undefined): void => {
        if (settled) return;
        settled = true;
        req.signal?.removeEventListener('abort', onAbort);
        if (err !== undefined) {
          socket.destroy();
          return reject(err);
        }
        if (head === undefined) return reject(new ProtocolError('NSGI_ERR_SCGI_TRUNCATED', 'scgi: the connection closed before a complete response head'));
        resolve({ status: head.status, statusText: head.statusText, headers: head.headers, body: Buffer.concat(chunks), stderr: '' });
      };
      const onAbort = (): void => settle(new AbortedError('scgi: request aborted by the caller'));
      req.signal?.addEventListener('abort', onAbort, { once: true });
      socket.on('connect', () => {
        socket.write(header);
        if (body.length > 0) socket.write(body);
      });
      socket.on('data', (chunk: Buffer) => {
        if (head !== undefined) return void chunks.push(chunk);
        try {
          head = parser.push(chunk);
        } catch (err) {
          return settle(err as Error);
        }
        if (head !== undefined && head.rest.length > 0) chunks.push(head.rest);
      });
      socket.on('end', () => {
        socket.end();
        settle(undefined);
      });
      socket.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ECONNRESET' && head !== undefined) {
          settle(new ProtocolError('NSGI_ERR_SCGI_TRUNCATED', 'scgi: the server reset the connection before the response was complete', { cause: err }));
        } else settle(err);
      });
      socket.on('close', () => settle(undefined));
    });
  }
}

// The variables a web server would send for this request.
function requestVars(req: SCGIRequest, address: Address): Record<string, string> {
  const path = req.path ?? '/';
  const q = path.indexOf('?');
  const rawPath = q === -1 ? path : path.slice(0, q);
  const scriptName = req.scriptName ?? '';
  const vars: Record<string, string> = {
    REQUEST_METHOD: (req.method ?? 'GET').toUpperCase(),
    REQUEST_URI: scriptName + path,
    SCRIPT_NAME: scriptName,
    PATH_INFO: decodePath(rawPath),
    QUERY_STRING: q === -1 ? '' : path.slice(q + 1),
    SERVER_PROTOCOL: 'HTTP/1.1',
    SERVER_NAME: 'localhost',
    SERVER_PORT: address.kind === 'tcp' ? String(address.port) : '80',
    SERVER_SOFTWARE: 'nsgi-scgi-client',
    GATEWAY_INTERFACE: 'CGI/1.1',
    REMOTE_ADDR: '127.0.0.1',
  };
  const headers = Array.isArray(req.headers) ? req.headers : Object.entries(req.headers ?? {});
  for (const [name, value] of headers) {
    const key = cgiHeaderName(name);
    if (key === 'CONTENT_LENGTH') continue; // always the real body length
    vars[key] = vars[key] === undefined || key === 'CONTENT_TYPE' ? value : `${vars[key]}${key === 'HTTP_COOKIE' ? '; ' : ', '}${value}`;
  }
  if (vars.HTTP_HOST !== undefined) vars.SERVER_NAME = vars.HTTP_HOST.replace(/:\d+$/, '');
  if (req.params !== undefined) Object.assign(vars, req.params);
  return vars;
}

async function bodyBytes(body: SCGIRequest['body']): Promise<Buffer> {
  if (body === undefined) return Buffer.alloc(0);
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const parts: Buffer[] = [];
  for await (const c of body as AsyncIterable<Uint8Array | string>) parts.push(typeof c === 'string' ? Buffer.from(c, 'utf8') : Buffer.from(c.buffer, c.byteOffset, c.byteLength));
  return Buffer.concat(parts);
}
