/**
 * `nsgi request --fastcgi ADDR [options] /path?query`: curl for gateway
 * protocols. Sends one request to a FastCGI (or SCGI) application the way a
 * web server would, prints the body to stdout, what the app wrote to its
 * error stream to stderr, and with `--trace` every FastCGI record that went
 * either way (FastCGI is notoriously hard to debug; this is the tool for it).
 *
 * A protocol is one entry of {@link requestProtocols}: a function from an
 * address and options to a client with `request()`; adding one is adding an
 * entry and its flag.
 *
 * @example
 * ```sh
 * nsgi request --fastcgi unix:/run/app.sock -i /hello?name=Ada
 * nsgi request --fastcgi 127.0.0.1:9000 --trace -X POST -d @photo.jpg -H 'Content-Type: image/jpeg' /upload
 * ```
 * @module
 */
import { createReadStream, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError } from '../errors.js';
import { FastCGIClient } from '../fastcgi/client.js';
import { FCGI_AUTHORIZER, FCGI_FILTER, FCGI_RESPONDER, protocolStatusName } from '../fastcgi/protocol.js';
import { RecordTracer, type TracedRecord } from '../fastcgi/trace.js';
import { SCGIClient } from '../scgi/client.js';
import type { HeaderList } from '../types.js';

export const REQUEST_HELP = `Usage: nsgi request (--fastcgi ADDR | --scgi ADDR) [options] [PATH]

Sends one request to a FastCGI or SCGI application, as a web server would,
and prints the response body to stdout. PATH is the URL path, with an
optional ?query (default: /); percent-escapes are decoded into PATH_INFO.

Protocol (one):
  --fastcgi ADDR         FastCGI responder at ADDR
  --scgi ADDR            SCGI application at ADDR
  ADDR is unix:/path/to.sock, HOST:PORT or :PORT (loopback).

Options:
  -X, --method METHOD    request method (default: GET, or POST with -d)
  -H, --header 'N: V'    a request header, sent as HTTP_N (Content-Type and
                         Content-Length as CONTENT_TYPE/CONTENT_LENGTH);
                         repeatable
  -d, --data DATA        the request body; @FILE reads a file, @- stdin
  -p, --param NAME=VALUE a CGI variable sent as is (e.g. SCRIPT_FILENAME
                         for PHP-FPM, HTTPS=on); repeatable, wins over the
                         computed ones
      --script-name S    SCRIPT_NAME, the app's mount point (default: '')
      --role ROLE        FastCGI role: responder, authorizer or filter
                         (default: responder)
      --keep-conn        set FCGI_KEEP_CONN (the app keeps the connection)
      --trace            print every FastCGI record sent (>) and received (<)
                         to stderr: type, request id, lengths, PARAMS decoded
                         as NAME=VALUE, content previewed
      --get-values       ask FCGI_MAX_CONNS, FCGI_MAX_REQS, FCGI_MPXS_CONNS
                         (FCGI_GET_VALUES) and print the answer; no request
  -i, --include          print the response head (Status: line and headers)
                         before the body
      --timeout S        give up after S seconds (default: none)
  -h, --help             this help

Exit codes: 0 when the response status is below 400; 1 when it is 400 or
more, when the request failed (connection refused, protocol error, timeout)
or when FastCGI ended it without completing (OVERLOADED, UNKNOWN_ROLE);
2 on a usage error.
`;

/** A request as the command builds it; every protocol client takes this shape. */
export interface GatewayRequest {
  method: string;
  path: string;
  scriptName: string;
  params: Record<string, string>;
  headers: HeaderList;
  body?: Uint8Array | AsyncIterable<Uint8Array>;
  role?: number;
  signal?: AbortSignal;
}

/** A response as the command prints it. */
export interface GatewayResponse {
  status: number;
  statusText: string;
  headers: HeaderList;
  body: Buffer;
  stderr: string;
  /** FastCGI only: END_REQUEST's protocolStatus (0 = REQUEST_COMPLETE). */
  protocolStatus?: number;
  /** FastCGI only: END_REQUEST's appStatus. */
  appStatus?: number;
}

/** A connected client of one protocol. */
export interface GatewayClient {
  request(req: GatewayRequest): Promise<GatewayResponse>;
  getValues?(names: string[]): Promise<Record<string, string>>;
  close?(): unknown;
}

/** What the command passes to a protocol's client factory. */
export interface GatewayClientOptions {
  keepConn: boolean;
  /** Called with every record sent and received, where the protocol has records (FastCGI). */
  trace?: (direction: 'send' | 'recv', record: TracedRecord) => void;
}

/** The protocols `nsgi request` speaks, by flag name. */
export const requestProtocols: Record<string, (address: string, options: GatewayClientOptions) => GatewayClient> = {
  fastcgi: (address, options) => new FastCGIClient(address, { keepConn: options.keepConn, trace: options.trace }),
  scgi: (address) => new SCGIClient(address),
};

const ROLES: Record<string, number> = { responder: FCGI_RESPONDER, authorizer: FCGI_AUTHORIZER, filter: FCGI_FILTER };

/** Where the command writes (replaceable for tests). */
export interface RequestIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream;
}

/** Runs `nsgi request`; resolves to the exit code. */
export async function requestCommand(argv: string[], io: RequestIO = process): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      fastcgi: { type: 'string' },
      scgi: { type: 'string' },
      method: { type: 'string', short: 'X' },
      header: { type: 'string', short: 'H', multiple: true },
      data: { type: 'string', short: 'd' },
      param: { type: 'string', short: 'p', multiple: true },
      'script-name': { type: 'string' },
      role: { type: 'string' },
      'keep-conn': { type: 'boolean' },
      trace: { type: 'boolean' },
      'get-values': { type: 'boolean' },
      include: { type: 'boolean', short: 'i' },
      timeout: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    io.stdout.write(REQUEST_HELP);
    return 0;
  }
  const named = Object.keys(requestProtocols).filter((p) => typeof (values as Record<string, unknown>)[p] === 'string');
  if (named.length !== 1) throw new ConfigError('NSGI_ERR_USAGE', `request: give exactly one of ${Object.keys(requestProtocols).map((p) => `--${p} ADDR`).join(', ')} (see nsgi request --help)`);
  const protocol = named[0]!;
  const address = (values as Record<string, unknown>)[protocol] as string;
  if (positionals.length > 1) throw new ConfigError('NSGI_ERR_USAGE', `request: give one PATH, not ${positionals.length}`);
  const path = positionals[0] ?? '/';
  if (!path.startsWith('/')) throw new ConfigError('NSGI_ERR_USAGE', `request: PATH must start with /, got ${JSON.stringify(path)}`);
  if (protocol !== 'fastcgi') {
    for (const flag of ['trace', 'keep-conn', 'get-values', 'role'] as const) {
      if (values[flag] !== undefined) throw new ConfigError('NSGI_ERR_USAGE', `request: --${flag} is a FastCGI option; it has no meaning over ${protocol}`);
    }
  }
  let role: number | undefined;
  if (values.role !== undefined) {
    role = ROLES[values.role.toLowerCase()];
    if (role === undefined) throw new ConfigError('NSGI_ERR_USAGE', `request: --role ${values.role} is not responder, authorizer or filter`);
  }
  const headers = (values.header ?? []).map(parseHeader);
  const params: Record<string, string> = {};
  for (const p of values.param ?? []) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new ConfigError('NSGI_ERR_USAGE', `request: --param ${JSON.stringify(p)} is not NAME=VALUE`);
    params[p.slice(0, eq)] = p.slice(eq + 1);
  }
  let timeoutMs: number | undefined;
  if (values.timeout !== undefined) {
    timeoutMs = Number(values.timeout) * 1000;
    if (!(timeoutMs > 0)) throw new ConfigError('NSGI_ERR_USAGE', `request: --timeout ${values.timeout} is not a positive number of seconds`);
  }

  const tracer = values.trace ? new RecordTracer() : undefined;
  const client = requestProtocols[protocol]!(address, {
    keepConn: values['keep-conn'] ?? false,
    trace: tracer && ((direction, record) => io.stderr.write(tracer.format(direction, record))),
  });
  try {
    if (values['get-values']) {
      if (client.getValues === undefined) throw new ConfigError('NSGI_ERR_USAGE', `request: --get-values is not available over ${protocol}`);
      const result = await client.getValues(['FCGI_MAX_CONNS', 'FCGI_MAX_REQS', 'FCGI_MPXS_CONNS']);
      for (const [name, value] of Object.entries(result)) io.stdout.write(`${name}=${value}\n`);
      return 0;
    }
    const body = values.data !== undefined ? await requestBody(values.data, io, params, headers) : undefined;
    const res = await client.request({
      method: values.method ?? (body !== undefined ? 'POST' : 'GET'),
      path,
      scriptName: values['script-name'] ?? '',
      params,
      headers,
      body,
      role,
      signal: timeoutMs !== undefined ? AbortSignal.timeout(timeoutMs) : undefined,
    });
    if (res.stderr) io.stderr.write(res.stderr);
    if (res.protocolStatus !== undefined && res.protocolStatus !== 0) {
      io.stderr.write(`nsgi: request: the application ended the request with ${protocolStatusName(res.protocolStatus)} (no response)\n`);
      return 1;
    }
    if (values.include) {
      let head = `Status: ${res.status} ${res.statusText}\r\n`;
      for (const [name, value] of res.headers) head += `${name}: ${value}\r\n`;
      io.stdout.write(`${head}\r\n`);
    }
    await new Promise<void>((resolve) => io.stdout.write(res.body, () => resolve()));
    return res.status < 400 ? 0 : 1;
  } catch (err) {
    // A request that failed is a runtime failure (exit 1), not a usage error.
    if (err instanceof ConfigError && err.code === 'NSGI_ERR_USAGE') throw err;
    const code = (err as { code?: string }).code;
    const cause = (err as { cause?: { message?: string } }).cause;
    io.stderr.write(`nsgi: request: ${(err as Error).message}${code && !(err as Error).message.includes(code) ? ` [${code}]` : ''}${cause?.message ? ` (${cause.message})` : ''}\n`);
    return 1;
  } finally {
    await client.close?.();
  }
}

function parseHeader(text: string): [string, string] {
  const colon = text.indexOf(':');
  if (colon <= 0) throw new ConfigError('NSGI_ERR_USAGE', `request: -H ${JSON.stringify(text)} is not 'Name: value'`);
  return [text.slice(0, colon).trim(), text.slice(colon + 1).trim()];
}

// -d DATA, -d @FILE (streamed, its size sent as CONTENT_LENGTH), -d @- (stdin, read whole).
async function requestBody(data: string, io: RequestIO, params: Record<string, string>, headers: HeaderList): Promise<Uint8Array | AsyncIterable<Uint8Array>> {
  const hasLength = 'CONTENT_LENGTH' in params || headers.some(([n]) => n.toLowerCase() === 'content-length');
  if (!data.startsWith('@')) return Buffer.from(data, 'utf8');
  const file = data.slice(1);
  if (file === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of io.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
    return Buffer.concat(chunks);
  }
  let size: number;
  try {
    size = statSync(file).size;
  } catch (err) {
    throw new ConfigError('NSGI_ERR_USAGE', `request: cannot read -d @${file}: ${(err as Error).message}`);
  }
  if (!hasLength) params.CONTENT_LENGTH = String(size);
  return createReadStream(file);
}
