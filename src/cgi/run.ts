/**
 * The CGI transport (RFC 3875): one request per process. The web server
 * (Apache `mod_cgi`, lighttpd `mod_cgi`, any CGI host) puts the request's
 * meta-variables in the environment and the body on stdin, and reads the
 * response from stdout: a `Status:` line, headers, a blank line, the body.
 *
 * It is the debugging fallback of the FastCGI setups nsgi's users come from
 * ("rename dispatch.fcgi to dispatch.cgi: slower, but reloaded on every
 * request"), and the simplest way to run an app on a host that offers nothing
 * else. The environ is built by the shared `buildEnviron` with
 * `wsgi.run_once` true, `wsgi.multithread` false and `wsgi.multiprocess` true
 * (as wsgiref's `CGIHandler`); the response by the shared `runApp`.
 *
 * httpoxy (CVE-2016-5385 and kin): a CGI server turns every request header
 * into an `HTTP_*` variable of the script's environment, so a request with a
 * `Proxy:` header puts `HTTP_PROXY` in `process.env`, where HTTP client
 * libraries (axios, got, request, `proxy-from-env`, curl run as a child) take
 * it for the outgoing proxy: the client would choose where the app's own
 * requests go. When it reads `process.env`, `runCGI` keeps the header in the
 * environ (`environ.HTTP_PROXY`, as every other header) and deletes
 * `HTTP_PROXY` from `process.env` before the app runs. Under CGI that variable
 * can only be the request's; configure a proxy with lower-case `http_proxy`,
 * which no header can produce. {@link removeRequestProxyVariable} does the same
 * for a loader that must scrub before the app module is imported.
 *
 * @example
 * ```ts
 * #!/usr/bin/env node
 * // dispatch.cgi: chmod 0755, and in .htaccess: Options +ExecCGI / AddHandler cgi-script .cgi
 * import { runCGI } from 'nsgi';
 * import app from './app.mjs';
 * process.exitCode = await runCGI(app);
 * ```
 * @module
 */
import { Readable, type Writable } from 'node:stream';
import { buildEnviron } from '../environ.js';
import { AbortedError, ProtocolError } from '../errors.js';
import { cgiHead, type Status } from '../headers.js';
import { runApp, type ResponseSink } from '../response.js';
import { drained } from '../net/drain.js';
import type { App, HeaderList } from '../types.js';

/** Where {@link runCGI} reads the request and writes the response. */
export interface CGIOptions {
  /** The meta-variables (default: `process.env`). Copied: the environ never aliases the process environment. */
  env?: Record<string, string | undefined>;
  /** The request body, `CONTENT_LENGTH` bytes of it are read (default: `process.stdin`). */
  stdin?: NodeJS.ReadableStream;
  /** Where the response goes (default: `process.stdout`). */
  stdout?: NodeJS.WritableStream;
  /** `wsgi.errors`: the web server's error log (default: `process.stderr`). */
  stderr?: NodeJS.WritableStream;
}

/**
 * Runs `app` once for the CGI request described by the environment and
 * resolves to an exit code: `0` when the response was complete, `1` when the
 * app failed (after a `500` or a cut-short body) or stdout went away.
 * Never rejects.
 */
export async function runCGI(app: App, options: CGIOptions = {}): Promise<number> {
  const env = options.env ?? process.env;
  const stdout = (options.stdout ?? process.stdout) as unknown as Writable;
  const stderr = (options.stderr ?? process.stderr) as unknown as Writable;
  const vars: Record<string, string> = {};
  for (const name of Object.keys(env)) {
    const value = env[name];
    if (typeof value === 'string') vars[name] = value;
  }
  // httpoxy: the request's Proxy header stays in the environ, never in the process environment.
  if (env === process.env) removeRequestProxyVariable();
  const controller = new AbortController();
  // The web server closed our stdout (its client went away): stop the app.
  const onGone = (): void => {
    if (!controller.signal.aborted) controller.abort(new AbortedError());
  };
  stdout.on('error', onGone);
  stdout.once('close', onGone);
  const length = contentLength(vars.CONTENT_LENGTH);
  const input = length > 0 ? limitedInput(options.stdin ?? process.stdin, length) : Readable.from([], { objectMode: false });
  const environ = buildEnviron(vars, {
    input,
    errors: stderr,
    signal: controller.signal,
    multithread: false,
    multiprocess: true,
    runOnce: true,
  });
  const sink = new StreamSink(stdout);
  let outcome: string;
  try {
    outcome = await runApp(app, environ, sink);
    await sink.flushed();
  } finally {
    stdout.off('error', onGone);
    stdout.off('close', onGone);
    // Leave stdin alone if the app never read it: destroying process.stdin is not ours to do.
    if (!input.destroyed && length > 0) input.destroy();
  }
  return outcome === 'complete' && !controller.signal.aborted ? 0 : 1;
}

/**
 * Deletes `HTTP_PROXY` from `process.env` and returns what it held. Under CGI
 * the variable is the request's `Proxy:` header (RFC 3875 §4.1.18), never
 * configuration, and left there it would steer the outgoing requests of any
 * HTTP client that honours it (httpoxy). `runCGI` calls it when it reads
 * `process.env`; call it yourself before importing an app whose modules read
 * the proxy settings when they load.
 *
 * @example
 * ```ts
 * import { removeRequestProxyVariable, runCGI } from 'nsgi';
 * removeRequestProxyVariable();
 * const { default: app } = await import('./app.mjs');
 * process.exitCode = await runCGI(app);
 * ```
 */
export function removeRequestProxyVariable(): string | undefined {
  const value = process.env.HTTP_PROXY;
  delete process.env.HTTP_PROXY;
  return value;
}

// RFC 3875 §4.1.2: CONTENT_LENGTH absent means no body. A malformed one is treated as none, not guessed at.
function contentLength(value: string | undefined): number {
  if (value === undefined || !/^[0-9]{1,15}$/.test(value)) return 0;
  return Number(value);
}

/**
 * `wsgi.input` under CGI: the first `length` bytes of stdin (RFC 3875 §4.2:
 * the script must not read more), with backpressure: stdin is paused while
 * the app is behind. A stdin that ends early makes the stream fail.
 */
function limitedInput(stdin: NodeJS.ReadableStream, length: number): Readable {
  let remaining = length;
  const source = stdin as unknown as Readable;
  const cleanup = (): void => {
    source.off('data', onData);
    source.off('end', onEnd);
    source.off('error', onError);
    source.pause();
  };
  const input = new Readable({
    read() {
      source.resume();
    },
    destroy(err, cb) {
      cleanup();
      cb(err);
    },
  });
  const onData = (chunk: Buffer | string): void => {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
    const part = buf.length <= remaining ? buf : buf.subarray(0, remaining);
    remaining -= part.length;
    const more = input.push(part);
    if (remaining === 0) {
      cleanup();
      input.push(null);
    } else if (!more) source.pause();
  };
  const onEnd = (): void => {
    cleanup();
    input.destroy(new ProtocolError('NSGI_ERR_CGI_TRUNCATED', `cgi: stdin ended with ${remaining} of CONTENT_LENGTH=${length} bytes still expected`));
  };
  const onError = (err: Error): void => {
    cleanup();
    input.destroy(err);
  };
  source.on('data', onData);
  source.on('end', onEnd);
  source.on('error', onError);
  source.pause();
  return input;
}

/** Writes the CGI response to a stream, waiting on 'drain' when it is behind (the driver already drops HEAD bodies). */
class StreamSink implements ResponseSink {
  constructor(private readonly out: Writable) {}

  head(status: Status, headers: HeaderList): void {
    this.out.write(cgiHead(status, headers));
  }

  body(chunk: Uint8Array): void | Promise<void> {
    const out = this.out;
    if (out.destroyed || !out.writable) return;
    if (out.write(chunk)) return;
    return drained(out);
  }

  end(): void {}

  fail(): void {
    // A CGI response has no way to say "cut short" but to stop writing; the driver already put the
    // error on wsgi.errors (the web server's error log), and the exit code is 1.
  }

  /** Resolves once every byte written has been handed to the OS (so exiting then loses nothing). */
  flushed(): Promise<void> {
    const out = this.out;
    if (out.destroyed || !out.writable) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        out.off('error', done);
        resolve();
      };
      out.once('error', done);
      out.write('', () => done());
    });
  }
}
