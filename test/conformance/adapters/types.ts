// The adapter interface of the conformance suite: how to serve the suite's app over one transport
// and send it a request as a client (or web server) would. One file per transport implements it,
// and one line in adapters/index.ts enrols it; every case then runs against it.
import type { App } from '../../../src/types.js';

/** The app under test, both as a function and as a `MODULE:EXPORT` the CLI can load (for CGI). */
export interface SuiteApp {
  app: App;
  /** `MODULE[:EXPORT]` relative to the repository root, e.g. `test/conformance/app.ts`. */
  module: string;
}

/** A request, as an HTTP client would send it. */
export interface SuiteRequest {
  method: string;
  /** The request target as sent on the wire: percent-encoded path, optional `?query`. */
  path: string;
  headers?: Array<[string, string]>;
  body?: Buffer;
  /** Aborting it must close the connection (only used on adapters with `liveConnection`). */
  signal?: AbortSignal;
}

/** A response, as the client saw it. */
export interface SuiteResponse {
  status: number;
  statusText: string;
  /** In order, repeats kept. Transports may add their own (Date, Connection...). */
  headers: Array<[string, string]>;
  body: Buffer;
}

/** A running server plus its client. */
export interface Running {
  request(req: SuiteRequest): Promise<SuiteResponse>;
  /** Everything the app wrote to `wsgi.errors` so far (for the error cases). */
  errors(): string;
  close(): Promise<void>;
}

/** One transport. */
export interface Adapter {
  name: string;
  /**
   * The app runs in the test's process while a connection is open, so a client abort can be
   * observed through `nsgi.signal` (false for CGI: one process per request, nothing to abort).
   */
  liveConnection: boolean;
  start(app: SuiteApp): Promise<Running>;
}

/** The value of the first header named `name` (case-insensitive). */
export function header(res: SuiteResponse, name: string): string | undefined {
  const lower = name.toLowerCase();
  return res.headers.find(([k]) => k.toLowerCase() === lower)?.[1];
}

/** A `Writable`-like sink that keeps what was written, for `wsgi.errors`. */
export function errorSink(): { stream: NodeJS.WritableStream; text(): string } {
  let text = '';
  const stream = {
    write(chunk: string | Uint8Array): boolean {
      text += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
      return true;
    },
  } as unknown as NodeJS.WritableStream;
  return { stream, text: () => text };
}
