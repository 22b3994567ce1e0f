// The fault tests' adapters: one per transport, each serving `faultApp` the way its test file always
// has (same options, same listen address) and saying, as data, what differs between transports:
// how a request looks on the wire, how the peer can drop a connection, what a raw answer starts with,
// which error codes a cut body gives. cases.ts runs the shared cases against any of them; each
// <transport>.test.ts builds its adapter with `serveFaults()` and adds the cases only it has.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, beforeEach, expect } from 'vitest';
import { AbortedError } from '../../src/errors.js';
import { FastCGIClient } from '../../src/fastcgi/client.js';
import { encodeParams } from '../../src/fastcgi/params.js';
import { beginRequestBody, encodeRecord, FCGI_BEGIN_REQUEST, FCGI_PARAMS, FCGI_RESPONDER, FCGI_STDIN } from '../../src/fastcgi/protocol.js';
import { createFastCGIServer } from '../../src/fastcgi/server.js';
import { createHTTPServer, type HTTPServerOptions } from '../../src/http/server.js';
import { SCGIClient } from '../../src/scgi/client.js';
import { encodeSCGIHeader } from '../../src/scgi/parser.js';
import { createSCGIServer, type SCGIServerOptions } from '../../src/scgi/server.js';
import type { NsgiServer } from '../../src/server.js';
import { expectNothingLeft, faultApp, memoryLogger, nullErrors, quietBaseline, type ResourceCounts } from './helpers.js';

/** How a peer drops a connection: a FIN (`closed`), or an RST (`reset`, TCP only). */
export type Drop = 'closed' | 'reset';

/** What a transport's own client got back. */
export interface Got {
  status: number;
  body: string;
}

/** One transport under fault, its server running (the fields are set by the time a test runs). */
export interface FaultTransport {
  /** `HTTP`, `SCGI`, `FastCGI`: the first word of every test group. */
  readonly name: string;
  /** Who sends the requests: `client` (HTTP) or `web server` (SCGI, FastCGI). */
  readonly peer: string;
  /** The ways the peer can drop a connection on this socket type. */
  readonly drops: readonly Drop[];
  /** What the transport's client rejects with when its request's signal aborts. */
  readonly abortError: abstract new (...args: never[]) => Error;
  /**
   * Only on transports that take the request head and body as one byte stream with timeouts of
   * their own (HTTP, SCGI): what the stream cases need. FastCGI frames the body in STDIN records
   * and has its stall cases in fastcgi.test.ts.
   */
  readonly stream?: StreamFaults;
  server: NsgiServer;
  address: string;
  readonly logger: ReturnType<typeof memoryLogger>;
  /** The server side of the connections accepted since the test began. */
  readonly serverSockets: Socket[];
  /** One whole request through the transport's own client (FastCGI: also checks the request completed). */
  request(path: string, options?: { query?: string; signal?: AbortSignal }): Promise<Got>;
  /** A whole GET of `path?probeName` as raw bytes (FastCGI: with the empty STDIN that ends it). */
  requestBytes(path: string, probeName: string): Buffer;
  /** A normal request still succeeds, and nothing is left behind (see `expectNothingLeft`). */
  expectHealthy(): Promise<void>;
}

export interface StreamFaults {
  /** The body timeout the server runs with, ms. */
  readonly bodyTimeout: number;
  /** The code a body timeout is logged with and wsgi.input fails with. */
  readonly bodyTimeoutCode: string;
  /** Regex source that starts a raw answer with the given status: `HTTP/1\.1 ` or `Status: `. */
  readonly statusPrefix: string;
  /** The head of a POST of `length` body bytes (the body itself not included). */
  post(path: string, probeName: string, length: number): Buffer;
  /** Half a request head: the server has it, never all of it. */
  partialHead(path: string, probeName: string): Buffer;
  /** The code logged when the peer half-closes inside the head (none asserted where undefined). */
  readonly truncatedHeadCode: string | undefined;
  /** How the peer leaves mid-body, and what wsgi.input then fails with (any error where undefined). */
  readonly bodyCuts: ReadonlyArray<readonly [how: Drop | 'half-closed', code: string | undefined]>;
  /** What else a raw answer cut short by a body timeout shows (HTTP: no final chunk). */
  expectCutShort?(answer: string): void;
}

interface Started {
  server: NsgiServer;
  address: string;
  request: FaultTransport['request'];
  close(): Promise<void>;
}

/**
 * Registers the file's beforeAll/afterAll/beforeEach: starts the server with `start`, warms it up
 * with one request, takes the resource baseline, and clears the logger and the socket list before each test.
 */
function serveFaults(spec: Pick<FaultTransport, 'name' | 'peer' | 'drops' | 'abortError' | 'stream' | 'requestBytes'>, start: (t: FaultTransport) => Promise<Started>): FaultTransport {
  let baseline: ResourceCounts;
  let started: Started;
  const t: FaultTransport = {
    ...spec,
    server: undefined as unknown as NsgiServer,
    address: '',
    logger: memoryLogger(),
    serverSockets: [],
    request: (path, options) => started.request(path, options),
    async expectHealthy() {
      expect(await t.request('/ok')).toEqual({ status: 200, body: 'ok' });
      await expectNothingLeft(t.server, baseline);
    },
  };
  beforeAll(async () => {
    started = await start(t);
    t.server = started.server;
    t.address = started.address;
    t.server.server.on('connection', (s: Socket) => t.serverSockets.push(s));
    // Warm up once (lazy module state, first-connection allocations), then take the baseline.
    await t.request('/ok');
    baseline = await quietBaseline(t.server);
  });
  afterAll(() => started.close());
  beforeEach(() => {
    t.serverSockets.length = 0;
    t.logger.entries.length = 0;
  });
  return t;
}

// --- HTTP ---------------------------------------------------------------------------------------

/** The start of a raw HTTP/1.1 GET of `path?probeName`, up to `extra` (no blank line: add `\r\n` to end it). */
export function httpHead(path: string, probeName: string, extra = ''): string {
  return `GET ${path}?${probeName} HTTP/1.1\r\nHost: faults\r\n${extra}`;
}

/** One request on its own connection (no agent, Connection: close); rejects when the response breaks. */
function httpGet(port: number, path: string, signal?: AbortSignal): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: false, headers: { Connection: 'close' }, signal }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
      res.on('aborted', () => reject(Object.assign(new Error('response aborted'), { code: 'ECONNRESET' })));
    });
    req.on('error', reject);
    req.end();
  });
}

/** createHTTPServer on 127.0.0.1, port 0, with `options` (bodyTimeout required: the stream cases use it). */
export function httpFaults(options: HTTPServerOptions & { bodyTimeout: number }): FaultTransport {
  const post = (path: string, probeName: string, length: number): string =>
    `POST ${path}?${probeName} HTTP/1.1\r\nHost: faults\r\nContent-Length: ${length}\r\nConnection: close\r\n\r\n`;
  return serveFaults(
    {
      name: 'HTTP',
      peer: 'client',
      drops: ['closed', 'reset'],
      // node:http rejects an aborted request with its own AbortError, not nsgi's.
      abortError: Error,
      requestBytes: (path, probeName) => Buffer.from(`${httpHead(path, probeName)}\r\n`),
      stream: {
        bodyTimeout: options.bodyTimeout,
        bodyTimeoutCode: 'NSGI_ERR_HTTP_BODY_TIMEOUT',
        statusPrefix: 'HTTP/1\\.1 ',
        post: (path, probeName, length) => Buffer.from(post(path, probeName, length)),
        partialHead: (path, probeName) => Buffer.from(httpHead(path, probeName)),
        truncatedHeadCode: undefined,
        bodyCuts: [
          ['closed', undefined],
          ['reset', undefined],
        ],
        expectCutShort: (answer) => expect(answer.endsWith('\r\n0\r\n\r\n')).toBe(false),
      },
    },
    async (t) => {
      const server = createHTTPServer(faultApp, { logger: t.logger, errors: nullErrors(), ...options });
      // No connectionsCheckingInterval tweak here: createHTTPServer derives it from the timeouts, so a
      // 300 ms headersTimeout is enforced within ~150 ms (Node's default check runs every 30 s).
      const address = await server.listen('127.0.0.1:0');
      const port = Number(address.split(':').pop());
      return {
        server,
        address,
        request: (path, o = {}) => httpGet(port, o.query === undefined ? path : `${path}?${o.query}`, o.signal),
        close: () => server.close(1000),
      };
    },
  );
}

// --- SCGI ---------------------------------------------------------------------------------------

/** A raw SCGI header (netstring) for `path?probeName` announcing `contentLength` body bytes. */
export function scgiHeader(path: string, probeName: string, contentLength = 0, method = 'GET'): Buffer {
  return encodeSCGIHeader({ REQUEST_METHOD: method, SCRIPT_NAME: '', PATH_INFO: path, QUERY_STRING: probeName, SERVER_PROTOCOL: 'HTTP/1.1' }, contentLength);
}

/** createSCGIServer on 127.0.0.1, port 0, with `options` (bodyTimeout required: the stream cases use it). */
export function scgiFaults(options: SCGIServerOptions & { bodyTimeout: number }): FaultTransport {
  return serveFaults(
    {
      name: 'SCGI',
      peer: 'web server',
      drops: ['closed', 'reset'],
      abortError: AbortedError,
      requestBytes: (path, probeName) => scgiHeader(path, probeName),
      stream: {
        bodyTimeout: options.bodyTimeout,
        bodyTimeoutCode: 'NSGI_ERR_SCGI_BODY_TIMEOUT',
        statusPrefix: 'Status: ',
        post: (path, probeName, length) => scgiHeader(path, probeName, length, 'POST'),
        partialHead: (path, probeName) => {
          const bytes = scgiHeader(path, probeName);
          return bytes.subarray(0, bytes.length >> 1);
        },
        // A half-close inside the header is a truncated request: answered 400, then closed.
        truncatedHeadCode: 'NSGI_ERR_SCGI_TRUNCATED',
        // A FIN (close or half-close) inside the body is a truncated request; a reset is a peer gone.
        bodyCuts: [
          ['closed', 'NSGI_ERR_SCGI_TRUNCATED'],
          ['reset', 'NSGI_ERR_ABORTED'],
          ['half-closed', 'NSGI_ERR_SCGI_TRUNCATED'],
        ],
      },
    },
    async (t) => {
      const server = createSCGIServer(faultApp, { logger: t.logger, errors: nullErrors(), ...options });
      const address = await server.listen('127.0.0.1:0');
      const client = new SCGIClient(address);
      return {
        server,
        address,
        async request(path, o = {}) {
          const res = await client.request({ path, params: o.query === undefined ? undefined : { QUERY_STRING: o.query }, signal: o.signal });
          return { status: res.status, body: res.body.toString() };
        },
        close: () => server.close(1000),
      };
    },
  );
}

// --- FastCGI ------------------------------------------------------------------------------------

/** The PARAMS of a GET of `path?probeName`, with `extra` on top. */
export function fcgiParams(path: string, probeName: string, extra: Record<string, string> = {}): Record<string, string> {
  return { REQUEST_METHOD: 'GET', SCRIPT_NAME: '', PATH_INFO: path, QUERY_STRING: probeName, SERVER_PROTOCOL: 'HTTP/1.1', ...extra };
}

/** BEGIN_REQUEST and the whole PARAMS stream (ended) of request 1. */
export function fcgiHead(path: string, probeName: string, extra?: Record<string, string>): Buffer {
  return Buffer.concat([
    encodeRecord(FCGI_BEGIN_REQUEST, 1, beginRequestBody(FCGI_RESPONDER, 0)),
    encodeRecord(FCGI_PARAMS, 1, encodeParams(fcgiParams(path, probeName, extra))),
    encodeRecord(FCGI_PARAMS, 1),
  ]);
}

/** createFastCGIServer on the unix socket `socketPath`, with default limits. */
export function fastcgiFaults(socketPath: string): FaultTransport {
  return serveFaults(
    {
      name: 'FastCGI',
      peer: 'web server',
      // A unix socket has no reset: it can only be closed.
      drops: ['closed'],
      abortError: AbortedError,
      requestBytes: (path, probeName) => Buffer.concat([fcgiHead(path, probeName), encodeRecord(FCGI_STDIN, 1)]),
    },
    async (t) => {
      const server = createFastCGIServer(faultApp, { logger: t.logger, errors: nullErrors() });
      const address = await server.listen(`unix:${socketPath}`);
      const client = new FastCGIClient(address);
      return {
        server,
        address,
        async request(path, o = {}) {
          const res = await client.request({ path, params: o.query === undefined ? undefined : { QUERY_STRING: o.query }, signal: o.signal });
          // FCGI_REQUEST_COMPLETE: the application answered, whatever its status.
          expect(res.protocolStatus).toBe(0);
          return { status: res.status, body: res.body.toString() };
        },
        async close() {
          await client.close();
          await server.close(1000);
        },
      };
    },
  );
}
