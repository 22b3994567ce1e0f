/**
 * One worker process of `nsgi serve`: it loads the app (its own copy, so a
 * new worker runs new code), serves it with the chosen transport on the
 * socket the master passed as fd 3, and talks to the master over the IPC
 * channel:
 *
 * - worker -> master: `ready` once listening; `retire` after `maxRequests`
 *   requests (the master starts a replacement, then stops this one);
 *   `fatal` when the app cannot be loaded or the socket cannot be listened on.
 * - master -> worker: `stop` (stop accepting, finish requests in flight
 *   within the graceful timeout, exit 0); `reopen` (the access log, after
 *   rotation).
 *
 * A worker ignores SIGINT and SIGHUP (a terminal sends them to the whole
 * process group; the master decides), stops gracefully on SIGTERM (the master
 * then starts another), and stops when the master goes away.
 * @module
 */
import { NsgiError } from '../errors.js';
import { stderrLogger, type NsgiServer } from '../server.js';
import { transports } from '../serve.js';
import type { App } from '../types.js';
import { loadApp } from '../config/deploy.js';
import { openAccessLog, withAccessLog, type AccessLog } from './access-log.js';
import { loadAppModule } from './load.js';

/** What the master tells a worker to serve (JSON in `NSGI_WORKER`). */
export interface WorkerSpec {
  /** The worker's slot, 1..N (stable across replacements). */
  id: number;
  /** `MODULE[:EXPORT]`, or `config:FILE[#NAME]`. */
  app: string;
  /** The export is a factory (`--factory`, module specs only). */
  factory: boolean;
  /** The folder the command ran in. */
  cwd: string;
  /** What `ps` shows after `nsgi: worker N`. */
  label: string;
  /** A name in the `transports` registry. */
  transport: string;
  /** The transport's options (JSON values). */
  options: Record<string, unknown>;
  /** Requests before asking to be replaced; 0 for never. */
  maxRequests: number;
  /** Requests in flight beyond which a request is answered 503; 0 for no limit. */
  maxConcurrency: number;
  /** Access log file, `-` for stderr, or undefined for none. */
  accessLog?: string;
  /** Milliseconds in-flight requests get when stopping. */
  gracefulMs: number;
}

/** The messages of the IPC protocol. */
export type WorkerMessage = { t: 'ready'; address: string } | { t: 'retire'; served: number } | { t: 'fatal'; message: string; usage: boolean };
export type MasterMessage = { t: 'stop' } | { t: 'reopen' };

const OVERLOADED_BODY = 'Service Unavailable: too many requests in flight\n';

/**
 * Wraps the app with the per-worker bookkeeping: a request counter for
 * `maxRequests`, and the `maxConcurrency` limit, read from the transport's
 * own `activeRequests` (which counts the request being started), so that a
 * request beyond the limit is answered `503` with `Retry-After: 1` at once
 * instead of queueing without bound (flup closed the connection instead).
 */
export function withLimits(app: App, limits: { maxRequests: number; maxConcurrency: number; server: () => NsgiServer | undefined; onLimit: (served: number) => void }): App {
  let served = 0;
  const { maxRequests, maxConcurrency } = limits;
  return (environ, startResponse) => {
    served++;
    // Asked again every maxRequests: if a replacement could not start (broken code on disk), retry later.
    if (maxRequests > 0 && served % maxRequests === 0) limits.onLimit(served);
    if (maxConcurrency > 0 && (limits.server()?.activeRequests ?? 0) > maxConcurrency) {
      startResponse('503 Service Unavailable', [
        ['Content-Type', 'text/plain; charset=utf-8'],
        ['Retry-After', '1'],
        ['Content-Length', String(OVERLOADED_BODY.length)],
      ]);
      return [OVERLOADED_BODY];
    }
    return app(environ, startResponse);
  };
}

function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });
}

/** Runs a worker process until it is told to stop; never resolves (the process exits). */
export async function runWorker(spec: WorkerSpec): Promise<void> {
  process.title = `nsgi: worker ${spec.id} ${spec.label}`;
  const logger = stderrLogger;
  let server: NsgiServer | undefined;
  let accessLog: AccessLog | undefined;
  let stopping = false;

  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    try {
      await server?.close(spec.gracefulMs);
      await accessLog?.close();
    } finally {
      process.exit(0);
    }
  };
  process.on('SIGINT', () => {});
  process.on('SIGHUP', () => {});
  process.on('SIGTERM', () => void stop());
  process.on('disconnect', () => void stop());
  process.on('message', (message: MasterMessage) => {
    if (message?.t === 'stop') void stop();
    else if (message?.t === 'reopen') accessLog?.reopen();
  });

  try {
    let app: App = spec.app.startsWith('config:')
      ? await loadApp(spec.app, { cwd: spec.cwd })
      : await loadAppModule(spec.app, { factory: spec.factory, cwd: spec.cwd });
    if (spec.maxRequests > 0 || spec.maxConcurrency > 0) {
      app = withLimits(app, {
        maxRequests: spec.maxRequests,
        maxConcurrency: spec.maxConcurrency,
        server: () => server,
        onLimit: (served) => void send({ t: 'retire', served }),
      });
    }
    if (spec.accessLog !== undefined) {
      accessLog = openAccessLog(spec.accessLog);
      app = withAccessLog(app, accessLog);
    }
    const factory = transports[spec.transport];
    if (factory === undefined) throw new NsgiError('NSGI_ERR_CONFIG', `serve: the ${spec.transport} transport is not available in this build`);
    server = factory(app, { ...spec.options, logger });
    const address = await server.listen('fd:3');
    if (stopping) return;
    await send({ t: 'ready', address });
  } catch (err) {
    await send({ t: 'fatal', message: (err as Error)?.message ?? String(err), usage: err instanceof NsgiError });
    process.exit(err instanceof NsgiError ? 2 : 1);
  }
}
