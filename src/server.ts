/**
 * What every network transport returns: a server that listens on an address
 * string and closes gracefully. HTTP, FastCGI and SCGI all implement it, so
 * the CLI, the worker supervisor and tests drive them the same way.
 * @module
 */
import type { Server } from 'node:net';
import type { Logger } from './types.js';

/** A transport server. */
export interface NsgiServer {
  /** The transport's name: `http`, `fastcgi`, `scgi`. */
  readonly transport: string;
  /** The underlying Node server (for `maxConnections`, `ref()`, cluster). */
  readonly server: Server;
  /**
   * Starts listening. `address` is `unix:/path`, `HOST:PORT`, `:PORT` or
   * `fd:N`; resolves to the bound address (the real port when 0 was asked).
   */
  listen(address: string): Promise<string>;
  /**
   * Stops accepting, lets requests in flight finish for up to `timeoutMs`
   * (default: `30000`), then cuts what is left and resolves.
   */
  close(timeoutMs?: number): Promise<void>;
  /** Requests running now. */
  readonly activeRequests: number;
}

/** Options every transport takes. */
export interface CommonServerOptions {
  /** Where protocol errors and app failures with no `wsgi.errors` go (default: lines on `process.stderr`). */
  logger?: Logger;
  /** The stream given to apps as `wsgi.errors` where the transport has none of its own (default: `process.stderr`). */
  errors?: NodeJS.WritableStream;
  /** `wsgi.multiprocess` (default: `false`; the worker supervisor sets it). */
  multiprocess?: boolean;
}

/** The default logger: one line per event on stderr, prefixed `nsgi:`. */
export const stderrLogger: Logger = {
  error(message, error) {
    const detail = error instanceof Error ? ` (${(error as { code?: string }).code ?? error.name}: ${error.message})` : error !== undefined ? ` (${String(error)})` : '';
    process.stderr.write(`nsgi: ${message}${detail}\n`);
  },
  info(message) {
    process.stderr.write(`nsgi: ${message}\n`);
  },
};
