/**
 * `nsgi serve MODULE[:EXPORT] [--http ADDR | --fastcgi ADDR | --scgi ADDR | --cgi]`.
 *
 * With no transport flag: FastCGI on fd 0 when fd 0 is a listening socket
 * (lighttpd `bin-path`, mod_fcgid, spawn-fcgi), CGI once when
 * `GATEWAY_INTERFACE` is set, else HTTP on 127.0.0.1:8000.
 * @module
 */
import { fstatSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError } from '../errors.js';
import { serve } from '../serve.js';
import { stderrLogger } from '../server.js';
import { oneShotTransports, transports } from '../serve.js';
import type { App } from '../types.js';
import { loadAppModule } from './load.js';

export const SERVE_HELP = `Usage: nsgi serve MODULE[:EXPORT] [transport] [options]

Serves the app exported by MODULE (a path to an ES module, or a package name):
its default export, or the named EXPORT.

Transport (one; default: see below):
  --http ADDR          HTTP on ADDR
  --fastcgi ADDR       FastCGI on ADDR
  --scgi ADDR          SCGI on ADDR
  --cgi                run one request as a CGI script (RFC 3875)

  ADDR is unix:/path/to.sock, HOST:PORT, :PORT (loopback) or fd:N.
  With no transport: FastCGI on fd 0 when fd 0 is a listening socket
  (lighttpd bin-path, mod_fcgid, spawn-fcgi); CGI when GATEWAY_INTERFACE
  is set; otherwise HTTP on 127.0.0.1:8000.

Options:
  --factory            MODULE's export is a function returning the app
                       (or a promise of it); call it once at start
  --socket-mode MODE   permissions of a unix socket, octal (default: 660)
  --graceful-timeout S seconds in-flight requests get on SIGTERM/SIGINT
                       (default: 30)
  -h, --help           this help

Exit codes: 0 after a clean stop, 1 on a runtime failure, 2 on a usage or
configuration error (bad address, app that fails to load).
`;

/** How the CLI decided to serve. */
export type Plan = { kind: 'cgi' } | { kind: 'listen'; transport: string; address: string };

/** Chooses the transport from flags and the process state (see the module doc). */
export function plan(flags: { http?: string; fastcgi?: string; scgi?: string; cgi?: boolean }, env: NodeJS.ProcessEnv = process.env): Plan {
  const chosen = (['http', 'fastcgi', 'scgi'] as const).filter((t) => flags[t] !== undefined);
  if (chosen.length + (flags.cgi ? 1 : 0) > 1) throw new ConfigError('NSGI_ERR_CONFIG', 'serve: give at most one of --http, --fastcgi, --scgi, --cgi');
  if (flags.cgi) return { kind: 'cgi' };
  if (chosen.length === 1) return { kind: 'listen', transport: chosen[0]!, address: flags[chosen[0]!]! };
  if (transports.fastcgi !== undefined && stdinIsSocket()) return { kind: 'listen', transport: 'fastcgi', address: 'fd:0' };
  if (env.GATEWAY_INTERFACE) return { kind: 'cgi' };
  return { kind: 'listen', transport: 'http', address: '127.0.0.1:8000' };
}

function stdinIsSocket(): boolean {
  try {
    return fstatSync(0).isSocket();
  } catch {
    return false;
  }
}

/** Runs `nsgi serve`; resolves to the process exit code once serving ends. */
export async function serveCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      http: { type: 'string' },
      fastcgi: { type: 'string' },
      scgi: { type: 'string' },
      cgi: { type: 'boolean' },
      factory: { type: 'boolean' },
      'socket-mode': { type: 'string' },
      'graceful-timeout': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(SERVE_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new ConfigError('NSGI_ERR_USAGE', 'serve: give exactly one MODULE[:EXPORT] (see nsgi serve --help)');
  const spec = positionals[0]!;
  const chosen = plan(values);
  const app: App = await loadAppModule(spec, { factory: values.factory });
  if (chosen.kind === 'cgi') {
    const run = oneShotTransports.cgi;
    if (run === undefined) throw new ConfigError('NSGI_ERR_CONFIG', 'serve: the CGI transport is not available in this build');
    return run(app);
  }
  if (!(chosen.transport in transports)) throw new ConfigError('NSGI_ERR_CONFIG', `serve: the ${chosen.transport} transport is not available in this build`);
  const socketMode = values['socket-mode'] !== undefined ? parseInt(values['socket-mode'], 8) : undefined;
  if (socketMode !== undefined && !(socketMode >= 0 && socketMode <= 0o777)) throw new ConfigError('NSGI_ERR_USAGE', `serve: --socket-mode ${values['socket-mode']} is not an octal mode like 660`);
  const graceful = values['graceful-timeout'] !== undefined ? Number(values['graceful-timeout']) : 30;
  if (!(graceful >= 0)) throw new ConfigError('NSGI_ERR_USAGE', `serve: --graceful-timeout ${values['graceful-timeout']} is not a number of seconds`);
  const { server, address } = await serve(app, { [chosen.transport]: chosen.address, socketMode, logger: stderrLogger });
  const shown = chosen.transport === 'http' && !address.startsWith('unix:') && !address.startsWith('fd:') ? `http://${address}/` : address;
  stderrLogger.info?.(`serving ${spec} over ${chosen.transport} on ${shown} (pid ${process.pid})`);
  return new Promise<number>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      stderrLogger.info?.(`${signal}: stopping; waiting up to ${graceful}s for ${server.activeRequests} request(s) in flight`);
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      server.close(graceful * 1000).then(() => {
        stderrLogger.info?.('stopped');
        resolve(0);
      });
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}
