/**
 * `nsgi serve MODULE[:EXPORT] | config:FILE[#NAME] [--http ADDR | --fastcgi ADDR | --scgi ADDR | --cgi] [options]`.
 *
 * With no transport flag (and no `[server:main]` in a config file): FastCGI on
 * fd 0 when fd 0 is a listening socket (lighttpd `bin-path`, mod_fcgid,
 * spawn-fcgi), CGI once when `GATEWAY_INTERFACE` is set, else HTTP on
 * 127.0.0.1:8000.
 *
 * Network transports run under a master process ({@link supervise}) with
 * `--workers` worker processes; CGI runs once in this process.
 * @module
 */
import { closeSync, existsSync, openSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildApp, camelKey, readConfig, readServerSection, splitConfigUri, type DeployConfig, type ServerSection } from '../config/deploy.js';
import { removeRequestProxyVariable } from '../cgi/run.js';
import { ConfigError } from '../errors.js';
import { parseAddress } from '../net/address.js';
import { oneShotTransports, transports } from '../serve.js';
import { stderrLogger } from '../server.js';
import type { App } from '../types.js';
import { loadAppModule, resolveModule, splitSpec } from './load.js';
import { isListeningSocket } from './socket.js';
import { supervise } from './supervisor.js';

export const SERVE_HELP = `Usage: nsgi serve MODULE[:EXPORT] [transport] [options]
       nsgi serve config:FILE.ini[#NAME] [transport] [options]

Serves the app exported by MODULE (a path to an ES module, or a package name):
its default export, or the named EXPORT. With config:FILE.ini, builds the app
from a PasteDeploy-style file ([app:main], [pipeline:main], [filter:...]) and
reads [server:main] for the transport, address and the options below
(flags given here win). See docs/serve.md.

Transport (one; default: see below):
  --http ADDR              HTTP on ADDR
  --fastcgi ADDR           FastCGI on ADDR
  --scgi ADDR              SCGI on ADDR
  --cgi                    run one request as a CGI script (RFC 3875)

  ADDR is unix:/path/to.sock, HOST:PORT, :PORT (loopback) or fd:N (an
  inherited listening socket). With no transport: FastCGI on fd 0 when fd 0
  is a listening socket (lighttpd bin-path, mod_fcgid, spawn-fcgi); CGI when
  GATEWAY_INTERFACE is set; otherwise HTTP on 127.0.0.1:8000.

Processes (a master binds the socket and runs the workers; it serves nothing):
  --workers N|auto         worker processes sharing the socket; auto is one
                           per CPU (default: 1)
  --max-requests N         replace a worker after N requests, starting the
                           new one first; 0 for never (default: 0)
  --max-requests-jitter N  add a random 0..N to --max-requests per worker, so
                           that workers do not retire together (default: 0)
  --max-concurrency N      requests in flight per worker; more are answered
                           503 with Retry-After: 1 (FastCGI: FCGI_OVERLOADED);
                           0 for no limit (default: 0)
  --graceful-timeout S     seconds in-flight requests get on SIGTERM/SIGINT,
                           reload or recycling (default: 30)
  --boot-timeout S         seconds a new worker has to load the app and
                           listen; then it is killed as failed (default: 60)
  --reload                 development: reload the workers when a file in
                           the app's folder changes (default: off)
  --reload-dir DIR         also watch DIR (repeatable; implies --reload)
  --pid-file FILE          write the master's pid to FILE (default: none)

Logging:
  --access-log FILE|-      one Common Log Format line per request, appended
                           to FILE, or - for stderr (default: none)

Other:
  --factory                MODULE's export is a function returning the app
                           (or a promise of it); each worker calls it once
  --socket-mode MODE       permissions of a unix socket, octal (default: 660)
  --server-name NAME       the [server:NAME] section of a config file
                           (default: main)
  -h, --help               this help

Signals (to the master): SIGTERM, SIGINT stop gracefully; SIGHUP reloads the
app code by replacing the workers one by one; SIGUSR1 reopens access logs.

Exit codes: 0 after a clean stop, 1 on a runtime failure, 2 on a usage or
configuration error (bad address, app or config file that fails to load).
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
  return isListeningSocket(0);
}

/** Settings `[server:NAME]` may hold besides transport options, with how to read each. */
const SERVER_SETTINGS = new Set(['use', 'bind', 'workers', 'maxRequests', 'maxRequestsJitter', 'maxConcurrency', 'gracefulTimeout', 'bootTimeout', 'accessLog', 'pidFile', 'socketMode']);

/** Transports whose own option bounds the requests in flight. */
const OWN_CONCURRENCY_OPTION: Record<string, string> = { fastcgi: 'maxRequests' };

/** Reads a whole number option; `what` names it in the error. */
function count(text: string, what: string, fail: (message: string) => never, min = 0): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) < min) fail(`${what} must be a whole number${min > 0 ? ` of at least ${min}` : ''}, got ${JSON.stringify(text)}`);
  return Number(text);
}

/** A transport option as written in a config file: numbers and true/false become values, the rest stays text. */
export function coerceOption(value: string): string | number | boolean {
  if (/^-?\d+(\.\d+)?$/.test(value)) return Number(value);
  if (value === 'true' || value === 'false') return value === 'true';
  return value;
}

const usage = (message: string): never => {
  throw new ConfigError('NSGI_ERR_USAGE', `serve: ${message}`);
};

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
      workers: { type: 'string' },
      'max-requests': { type: 'string' },
      'max-requests-jitter': { type: 'string' },
      'max-concurrency': { type: 'string' },
      'graceful-timeout': { type: 'string' },
      'boot-timeout': { type: 'string' },
      reload: { type: 'boolean' },
      'reload-dir': { type: 'string', multiple: true },
      'pid-file': { type: 'string' },
      'access-log': { type: 'string' },
      'socket-mode': { type: 'string' },
      'server-name': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(SERVE_HELP);
    return 0;
  }
  if (positionals.length !== 1) usage('give exactly one MODULE[:EXPORT] or config:FILE.ini (see nsgi serve --help)');
  const spec = positionals[0]!;
  const cwd = process.cwd();

  // A config file: read it now, so that its errors stop us before any process starts.
  let config: DeployConfig | undefined;
  let server: ServerSection | undefined;
  let appName = 'main';
  if (spec.startsWith('config:')) {
    if (values.factory) usage('--factory is for MODULE specs; in a config file write factory = true in [app:...]');
    const { path, name } = splitConfigUri(spec);
    appName = name;
    config = readConfig(resolve(cwd, path));
    server = readServerSection(config, values['server-name'] ?? 'main');
    if (values['server-name'] !== undefined && server === undefined) usage(`${config.file} has no [server:${values['server-name']}] section`);
  }
  const setting = (name: string): string | undefined => server?.settings.get(name)?.value;
  const failSetting = (name: string) => (message: string): never => server!.fail(name, message);

  // The transport: a flag, else the config file's [server], else the defaults of plan().
  const flagged = values.http !== undefined || values.fastcgi !== undefined || values.scgi !== undefined || values.cgi === true;
  let chosen: Plan;
  if (!flagged && server?.transport !== undefined) {
    const t = server.transport;
    if (t === 'cgi') chosen = { kind: 'cgi' };
    else {
      if (!(t in transports)) server.fail('use', `the ${t} transport is not available in this build (transports: ${Object.keys(transports).join(', ')}, cgi)`);
      const bind = setting('bind') ?? (t === 'http' ? '127.0.0.1:8000' : stdinIsSocket() ? 'fd:0' : server.fail('use', `needs bind = ADDR (unix:/path, HOST:PORT, :PORT or fd:N)`));
      try {
        parseAddress(bind);
      } catch (err) {
        server.fail('bind', (err as Error).message);
      }
      chosen = { kind: 'listen', transport: t, address: bind };
    }
  } else {
    chosen = plan(values);
  }

  if (chosen.kind === 'cgi') {
    const run = oneShotTransports.cgi;
    if (run === undefined) throw new ConfigError('NSGI_ERR_CONFIG', 'serve: the CGI transport is not available in this build');
    // httpoxy: the request's Proxy header arrives as HTTP_PROXY in our environment. The environ
    // keeps it (a copy taken here), but it leaves process.env before the app module loads, so
    // that nothing configures an HTTP client from it at import time.
    const requestEnv = { ...process.env };
    removeRequestProxyVariable();
    const app: App = config ? await buildApp(config, appName) : await loadAppModule(spec, { factory: values.factory, cwd });
    return run(app, requestEnv);
  }
  if (!(chosen.transport in transports)) throw new ConfigError('NSGI_ERR_CONFIG', `serve: the ${chosen.transport} transport is not available in this build`);
  parseAddress(chosen.address);

  // Options: a flag wins over [server:main], which wins over the default.
  const pick = (flag: string | undefined, name: string, read: (text: string, fail: (m: string) => never) => number, fallback: number): number => {
    if (flag !== undefined) return read(flag, (m) => usage(`--${name} ${m}`));
    const fromFile = setting(camelKey(name));
    if (fromFile !== undefined) return read(fromFile, failSetting(camelKey(name)));
    return fallback;
  };
  const workers = pick(values.workers, 'workers', (t, fail) => (t.trim() === 'auto' ? availableParallelism() : count(t, 'the number of workers', fail, 1)), 1);
  const maxRequests = pick(values['max-requests'], 'max-requests', (t, fail) => count(t, 'the number of requests', fail), 0);
  const maxRequestsJitter = pick(values['max-requests-jitter'], 'max-requests-jitter', (t, fail) => count(t, 'the jitter', fail), 0);
  const maxConcurrency = pick(values['max-concurrency'], 'max-concurrency', (t, fail) => count(t, 'the number of requests', fail), 0);
  const graceful = pick(values['graceful-timeout'], 'graceful-timeout', (t, fail) => (/^\d+(\.\d+)?$/.test(t.trim()) ? Number(t) : fail(`is not a number of seconds: ${JSON.stringify(t)}`)), 30);
  const boot = pick(values['boot-timeout'], 'boot-timeout', (t, fail) => (/^\d+(\.\d+)?$/.test(t.trim()) && Number(t) > 0 ? Number(t) : fail(`is not a positive number of seconds: ${JSON.stringify(t)}`)), 60);
  const socketMode = pick(values['socket-mode'], 'socket-mode', (t, fail) => (/^[0-7]{1,4}$/.test(t.trim()) && parseInt(t, 8) <= 0o777 ? parseInt(t, 8) : fail(`is not an octal mode like 660: ${JSON.stringify(t)}`)), 0o660);
  const accessLog = values['access-log'] ?? setting('accessLog');
  const pidFile = values['pid-file'] ?? setting('pidFile');
  if (accessLog !== undefined && accessLog !== '-') checkWritable(accessLog);

  // The transport's own options, from [server:...] keys that are not serve settings.
  const options: Record<string, unknown> = {};
  for (const [name, s] of server?.settings ?? []) if (!SERVER_SETTINGS.has(name)) options[name] = coerceOption(s.value);
  options.multiprocess = workers > 1;
  // A transport with its own in-flight limit enforces --max-concurrency itself, in its
  // protocol's words (FastCGI: END_REQUEST with FCGI_OVERLOADED, spec section 5.5).
  let wrapperLimit = maxConcurrency;
  const own = OWN_CONCURRENCY_OPTION[chosen.transport];
  if (maxConcurrency > 0 && own !== undefined) {
    options[own] = maxConcurrency;
    wrapperLimit = 0;
  }

  // Fail before any process starts when the module does not even exist (importing it is the workers' job).
  if (config === undefined) resolveModule(splitSpec(spec).module, cwd);

  const reloadDirs = values['reload-dir'] ?? [];
  const watchDirs = values.reload || reloadDirs.length > 0 ? [...new Set([...appDirs(spec, config, cwd), ...reloadDirs.map((d) => resolve(cwd, d))])] : [];

  return supervise({
    worker: {
      app: spec,
      factory: values.factory ?? false,
      cwd,
      label: spec,
      transport: chosen.transport,
      options,
      maxConcurrency: wrapperLimit,
      accessLog: accessLog === undefined ? undefined : accessLog === '-' ? '-' : resolve(cwd, accessLog),
      gracefulMs: graceful * 1000,
    },
    address: chosen.address,
    workers,
    maxRequests,
    maxRequestsJitter,
    socketMode,
    pidFile: pidFile === undefined ? undefined : resolve(cwd, pidFile),
    watch: watchDirs,
    bootTimeoutMs: boot * 1000,
    logger: stderrLogger,
  });
}

function checkWritable(file: string): void {
  try {
    closeSync(openSync(file, 'a'));
  } catch (err) {
    throw new ConfigError('NSGI_ERR_USAGE', `serve: cannot open the access log ${file}: ${(err as Error).message}`);
  }
}

/** The folders `--reload` watches: the app module's, or the config file's and those of its `file:` modules. */
function appDirs(spec: string, config: DeployConfig | undefined, cwd: string): string[] {
  if (config === undefined) {
    try {
      const file = fileURLToPath(resolveModule(splitSpec(spec).module, cwd));
      return [dirname(file)];
    } catch {
      return [cwd];
    }
  }
  const dirs = [config.here];
  for (const section of config.ini.sections.values()) {
    const use = section.entries.get('use')?.value.trim();
    const m = use ? /^file:([^#]+)/.exec(use) : null;
    if (m) {
      const path = resolve(config.here, m[1]!);
      if (existsSync(path)) dirs.push(statSync(path).isDirectory() ? path : dirname(path));
    }
  }
  return dirs;
}
