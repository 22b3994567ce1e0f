/**
 * `toNodeHandler(app)`: an nsgi app as a `(req, res)` handler, to serve it
 * from `http.createServer`, Express, or any server that speaks Node's API.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { toNodeHandler } from 'nsgi';
 * createServer(toNodeHandler(app)).listen(8000);
 * ```
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { buildEnviron } from '../environ.js';
import type { Status } from '../headers.js';
import { drained } from '../net/drain.js';
import { runApp, type Outcome, type ResponseSink } from '../response.js';
import type { App, HeaderList } from '../types.js';
import { httpRequestVars } from './environ.js';

/** Options for {@link toNodeHandler}. */
export interface NodeHandlerOptions {
  /** The mount point given to the app as `SCRIPT_NAME` (default: `''`). */
  scriptName?: string;
  /** The `wsgi.errors` stream (default: `process.stderr`). */
  errors?: NodeJS.WritableStream;
  /** `wsgi.multiprocess` (default: `false`). */
  multiprocess?: boolean;
  /** Called when a request ends, with how it ended (for counters and access logs). */
  onDone?: (req: IncomingMessage, res: ServerResponse, outcome: Outcome) => void;
}

/** Runs `app` for each Node HTTP request. */
export function toNodeHandler(app: App, options: NodeHandlerOptions = {}): (req: IncomingMessage, res: ServerResponse) => void {
  const errors = (options.errors ?? process.stderr) as unknown as import('node:stream').Writable;
  return (req, res) => {
    const controller = new AbortController();
    const onClose = (): void => {
      if (!res.writableFinished) controller.abort();
    };
    res.once('close', onClose);
    const environ = buildEnviron(httpRequestVars(req, { scriptName: options.scriptName }), {
      input: req,
      errors,
      signal: controller.signal,
      multiprocess: options.multiprocess,
    });
    runApp(app, environ, new NodeResponseSink(req, res)).then(
      (outcome) => options.onDone?.(req, res, outcome),
      /* c8 ignore next */ (err) => res.destroy(err),
    );
  };
}

// Status codes whose responses never carry a body (RFC 9110 §6.4.1).
function bodiless(code: number): boolean {
  return code < 200 || code === 204 || code === 304;
}

/** Writes a driver's response to a `ServerResponse`, waiting on 'drain' when the socket is behind. */
export class NodeResponseSink implements ResponseSink {
  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {}

  head(status: Status, headers: HeaderList, knownLength: number | undefined): void {
    const flat: string[] = [];
    for (let i = 0; i < headers.length; i++) flat.push(headers[i]![0], headers[i]![1]);
    // A known length lets keep-alive work without chunked encoding.
    if (knownLength !== undefined && !bodiless(status.code) && !hasHeader(headers, 'content-length') && !hasHeader(headers, 'transfer-encoding')) {
      flat.push('Content-Length', String(knownLength));
    }
    this.res.writeHead(status.code, status.reason, flat);
  }

  body(chunk: Uint8Array): void | Promise<void> {
    if (this.res.destroyed) return;
    if (this.res.write(chunk)) return;
    return drained(this.res);
  }

  end(): void {
    if (!this.res.destroyed) this.res.end();
  }

  fail(): void {
    // Destroying the socket makes the truncation visible: no final chunk, or fewer bytes than Content-Length.
    this.res.destroy();
    this.req.destroy();
  }
}

function hasHeader(headers: HeaderList, lower: string): boolean {
  for (let i = 0; i < headers.length; i++) if (headers[i]![0].toLowerCase() === lower) return true;
  return false;
}
