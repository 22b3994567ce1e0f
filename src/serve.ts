/**
 * `serve(app, { http | fastcgi | scgi: ADDR })`: start the transport that is
 * named, listen, and return the running server. The transport table is the
 * one place a new transport is added; the CLI and config files go through it.
 *
 * @example
 * ```ts
 * import { serve } from 'nsgi';
 * const { address } = await serve(app, { fastcgi: 'unix:/run/app.sock' });
 * ```
 * @module
 */
import { ConfigError } from './errors.js';
import { createFastCGIServer } from './fastcgi/server.js';
import { createHTTPServer, type HTTPServerOptions } from './http/server.js';
import { createSCGIServer } from './scgi/server.js';
import { runCGI } from './cgi/run.js';
import type { NsgiServer } from './server.js';
import type { App } from './types.js';

/** A transport: builds a server for an app from options. */
export type TransportFactory = (app: App, options: Record<string, unknown>) => NsgiServer;

/** The network transports by name. */
export const transports: Record<string, TransportFactory> = {
  http: createHTTPServer as TransportFactory,
  fastcgi: createFastCGIServer as TransportFactory,
  scgi: createSCGIServer as TransportFactory,
};

/**
 * One-shot transports by name: they run a single request from the process
 * itself (CGI: environment and stdin) and resolve to an exit code.
 */
export const oneShotTransports: Record<string, (app: App, env?: Record<string, string | undefined>) => Promise<number>> = {
  cgi: (app, env) => runCGI(app, env === undefined ? {} : { env }),
};

/** Options of {@link serve}: one transport address, plus that transport's options. */
export interface ServeOptions extends HTTPServerOptions {
  /** Serve HTTP on this address. */
  http?: string;
  /** Serve FastCGI on this address. */
  fastcgi?: string;
  /** Serve SCGI on this address. */
  scgi?: string;
  [option: string]: unknown;
}

/** A started server and the address it is bound to. */
export interface Serving {
  server: NsgiServer;
  address: string;
}

/**
 * Starts one transport. Exactly one of `http`, `fastcgi`, `scgi` names the
 * address; with none, HTTP on `127.0.0.1:8000`.
 */
export async function serve(app: App, options: ServeOptions = {}): Promise<Serving> {
  if (typeof app !== 'function') throw new TypeError('serve: app must be a function (environ, startResponse) => body');
  const named = Object.keys(transports).filter((name) => typeof options[name] === 'string');
  if (named.length > 1) throw new ConfigError('NSGI_ERR_CONFIG', `serve: give one transport, not ${named.join(' and ')}`);
  const name = named[0] ?? 'http';
  const address = (options[name] as string | undefined) ?? '127.0.0.1:8000';
  const server = transports[name]!(app, options);
  return { server, address: await server.listen(address) };
}
