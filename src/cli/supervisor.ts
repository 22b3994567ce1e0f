/**
 * The master process of `nsgi serve`: binds the socket, keeps N workers
 * serving on it, and never serves a request itself.
 *
 * - A worker that dies is restarted (at once the first time, then with a
 *   back-off doubling from 200 ms to 10 s while it keeps dying young), and the
 *   death is logged with its exit code or signal.
 * - A worker that served `maxRequests` requests asks to retire: a replacement
 *   is started first, and the old one stops accepting and finishes what it
 *   has only once the replacement listens, so no request is refused.
 * - SIGHUP (and `--reload` on a file change) replaces the workers one by one
 *   the same way: new processes load the new code (ES modules are cached per
 *   process, so a new process is the only sure reload). If a replacement fails
 *   to start, the old worker stays and the reload stops there.
 * - SIGTERM and SIGINT stop every worker gracefully (`gracefulMs`, then
 *   SIGKILL), close the socket (removing a unix socket file), remove the pid
 *   file, and resolve to exit code 0. SIGUSR1 reopens the access logs.
 * @module
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync, unlinkSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.js';
import type { Logger } from '../types.js';
import { bindSocket, type BoundSocket } from './socket.js';
import type { MasterMessage, WorkerMessage, WorkerSpec } from './worker.js';

/** Options of {@link supervise}. */
export interface SupervisorOptions {
  /** What each worker serves (its `id` and `maxRequests` are set per worker). */
  worker: Omit<WorkerSpec, 'id' | 'maxRequests'>;
  /** The address to bind: `unix:/path`, `HOST:PORT`, `:PORT` or `fd:N`. */
  address: string;
  /** Number of worker processes (default: `1`). */
  workers?: number;
  /** Requests after which a worker is replaced; `0` for never (default: `0`). */
  maxRequests?: number;
  /** A random 0..jitter added to `maxRequests` per worker, so they do not all retire at once (default: `0`). */
  maxRequestsJitter?: number;
  /** Mode of a unix socket file (default: `0o660`). */
  socketMode?: number;
  /** Write the master's pid here, and remove it on exit (default: none). */
  pidFile?: string;
  /** Folders to watch; a change reloads the workers (default: none). */
  watch?: string[];
  /**
   * Milliseconds a new worker has to load the app and listen; past it, it is
   * killed and counts as failed to start (default: `60000`).
   */
  bootTimeoutMs?: number;
  /** Where start, stop, reload and worker deaths are logged. */
  logger: Logger;
}

interface Worker {
  slot: number;
  child: ChildProcess;
  pid: number;
  startedAt: number;
  ready: boolean;
  stopping: boolean;
  /** Settles true once listening, false if it exits (or fails) first. */
  whenReady: Promise<{ ok: boolean; message?: string; usage?: boolean }>;
  exited: Promise<void>;
}

const DEBOUNCE_MS = 250;
const YOUNG_MS = 10_000;

/** The worker entry next to this file: `.ts` when run from source through tsx, `.js` when built. */
function workerEntry(): string {
  const here = fileURLToPath(import.meta.url);
  return fileURLToPath(new URL(`./worker-entry${extname(here)}`, import.meta.url));
}

function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal !== null ? `signal ${signal}` : `exit code ${code}`;
}

/** Runs the master until SIGTERM/SIGINT; resolves to the process exit code. */
export async function supervise(options: SupervisorOptions): Promise<number> {
  const master = new Master(options);
  return master.run();
}

class Master {
  private readonly log: Logger;
  private readonly count: number;
  private readonly slots = new Map<number, Worker>();
  private readonly candidates = new Map<number, Worker>();
  private readonly live = new Set<Worker>();
  private readonly failures = new Map<number, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly watchers: FSWatcher[] = [];
  private readonly pending = new Map<number, Promise<boolean>>();
  private queue: Promise<unknown> = Promise.resolve();
  private state: 'starting' | 'running' | 'stopping' = 'starting';
  private socket: BoundSocket | undefined;
  private finish: (code: number) => void = () => {};
  private reloading: Promise<void> | undefined;
  private reloadAgain = false;

  constructor(private readonly options: SupervisorOptions) {
    this.log = options.logger;
    this.count = options.workers ?? 1;
  }

  private info(message: string): void {
    this.log.info?.(message);
  }

  async run(): Promise<number> {
    const done = new Promise<number>((resolve) => (this.finish = resolve));
    const onStop = (signal: NodeJS.Signals): void => void this.shutdown(signal);
    const onHup = (): void => void this.reload('SIGHUP');
    const onUsr1 = (): void => this.broadcast({ t: 'reopen' });
    process.on('SIGTERM', onStop);
    process.on('SIGINT', onStop);
    process.on('SIGHUP', onHup);
    process.on('SIGUSR1', onUsr1);
    try {
      this.socket = await bindSocket(this.options.address, { socketMode: this.options.socketMode });
      this.writePidFile();
      const { label, transport } = this.options.worker;
      process.title = `nsgi: master ${label} ${transport} ${this.socket.address}`;
      for (let slot = 1; slot <= this.count; slot++) this.slots.set(slot, this.spawn(slot));
      const results = await Promise.all([...this.slots.values()].map((w) => w.whenReady));
      const failed = results.find((r) => !r.ok);
      if (this.state === 'stopping') return await done;
      if (failed) {
        this.state = 'stopping';
        await this.stopAll();
        this.cleanup();
        this.log.error(failed.message ?? 'a worker failed to start');
        return failed.usage ? 2 : 1;
      }
      this.state = 'running';
      const shown = transport === 'http' && !/^(unix|fd):/.test(this.socket.address) ? `http://${this.socket.address}/` : this.socket.address;
      this.info(`serving ${label} over ${transport} on ${shown} (master pid ${process.pid}, ${this.count} worker${this.count === 1 ? '' : 's'})`);
      this.startWatching();
      return await done;
    } catch (err) {
      this.state = 'stopping';
      await this.stopAll();
      this.cleanup();
      throw err;
    } finally {
      process.off('SIGTERM', onStop);
      process.off('SIGINT', onStop);
      process.off('SIGHUP', onHup);
      process.off('SIGUSR1', onUsr1);
    }
  }

  private spawn(slot: number): Worker {
    const { maxRequests = 0, maxRequestsJitter = 0 } = this.options;
    const spec: WorkerSpec = {
      ...this.options.worker,
      id: slot,
      maxRequests: maxRequests > 0 ? maxRequests + Math.floor(Math.random() * (maxRequestsJitter + 1)) : 0,
    };
    // The arguments only reserve room in the process's argv for its title (Linux
    // cannot make a title longer than the command line it started with).
    const child = fork(workerEntry(), ['worker', String(slot), spec.label], {
      cwd: spec.cwd,
      env: { ...process.env, NSGI_WORKER: JSON.stringify(spec) },
      stdio: ['ignore', 'inherit', 'inherit', this.socket!.fd, 'ipc'],
    });
    let settle!: (r: { ok: boolean; message?: string; usage?: boolean }) => void;
    const whenReady = new Promise<{ ok: boolean; message?: string; usage?: boolean }>((resolve) => (settle = resolve));
    let fatal: { message: string; usage: boolean } | undefined;
    const worker: Worker = {
      slot,
      child,
      pid: child.pid ?? 0,
      startedAt: Date.now(),
      ready: false,
      stopping: false,
      whenReady,
      exited: new Promise<void>((resolve) => child.once('exit', () => resolve())),
    };
    this.live.add(worker);
    child.on('message', (message: WorkerMessage) => {
      if (message?.t === 'ready') {
        worker.ready = true;
        this.info(`worker ${slot} (pid ${worker.pid}) started`);
        settle({ ok: true });
      } else if (message?.t === 'fatal') {
        fatal = { message: message.message, usage: message.usage };
      } else if (message?.t === 'retire') {
        if (this.slots.get(slot) === worker && !worker.stopping) {
          this.info(`worker ${slot} (pid ${worker.pid}) served ${message.served} requests; replacing it`);
          void this.replace(slot);
        }
      }
    });
    child.on('error', (err) => this.log.error(`worker ${slot}: cannot start`, err));
    const bootMs = this.options.bootTimeoutMs ?? 60_000;
    const boot = setTimeout(() => {
      if (worker.ready || !this.live.has(worker)) return;
      fatal = { message: `worker ${slot} (pid ${worker.pid}) did not listen within ${bootMs / 1000}s (--boot-timeout); killed it`, usage: false };
      child.kill('SIGKILL');
    }, bootMs);
    void whenReady.then(() => clearTimeout(boot));
    child.once('exit', (code, signal) => this.onExit(worker, code, signal, fatal, settle));
    return worker;
  }

  private onExit(worker: Worker, code: number | null, signal: NodeJS.Signals | null, fatal: { message: string; usage: boolean } | undefined, settle: (r: { ok: boolean; message?: string; usage?: boolean }) => void): void {
    this.live.delete(worker);
    const { slot, pid } = worker;
    if (!worker.ready) settle({ ok: false, message: fatal?.message ?? `worker ${slot} (pid ${pid}) exited before it was ready (${describeExit(code, signal)})`, usage: fatal?.usage ?? false });
    if (worker.stopping) {
      this.info(`worker ${slot} (pid ${pid}) stopped`);
      return;
    }
    if (this.state !== 'running') return;
    if (this.slots.get(slot) !== worker) {
      // A replacement that failed to start: replace() reports it.
      if (this.candidates.get(slot) !== worker) this.log.error(`worker ${slot} (pid ${pid}) died (${describeExit(code, signal)})`);
      return;
    }
    const young = Date.now() - worker.startedAt < YOUNG_MS || !worker.ready;
    const fails = young ? (this.failures.get(slot) ?? 0) + 1 : 1;
    this.failures.set(slot, fails);
    const delay = fails <= 1 ? 0 : Math.min(100 * 2 ** (fails - 1), 10_000);
    const why = fatal ? `: ${fatal.message}` : '';
    if (this.candidates.has(slot)) {
      // Its replacement is starting already: it takes the slot when ready.
      this.log.error(`worker ${slot} (pid ${pid}) died (${describeExit(code, signal)})${why}; its replacement is starting`);
      return;
    }
    this.log.error(`worker ${slot} (pid ${pid}) died (${describeExit(code, signal)})${why}; restarting${delay ? ` in ${delay} ms` : ''}`);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.state !== 'running' || this.slots.get(slot) !== worker) return;
      this.slots.set(slot, this.spawn(slot));
    }, delay);
    this.timers.add(timer);
  }

  /** Starts a new worker for `slot`, then stops the old one once the new listens. */
  private replace(slot: number): Promise<boolean> {
    const queued = this.pending.get(slot);
    if (queued) return queued;
    const run = this.queue.then(async () => {
      this.pending.delete(slot);
      if (this.state !== 'running') return false;
      const old = this.slots.get(slot);
      const fresh = this.spawn(slot);
      this.candidates.set(slot, fresh);
      const result = await fresh.whenReady;
      this.candidates.delete(slot);
      if (!result.ok) {
        if (old !== undefined && this.live.has(old)) {
          this.log.error(`worker ${slot}: the replacement failed to start, keeping pid ${old.pid}: ${result.message}`);
        } else if (this.state === 'running') {
          // The old one died meanwhile: restart the slot the usual way (with back-off).
          this.log.error(`worker ${slot}: the replacement failed to start: ${result.message}`);
          this.slots.set(slot, this.spawn(slot));
        }
        return false;
      }
      if (this.state !== 'running') {
        this.stop(fresh);
        return false;
      }
      this.slots.set(slot, fresh);
      if (old !== undefined && this.live.has(old)) this.stop(old);
      else if (old !== undefined) this.info(`worker ${slot}: replaced pid ${old.pid}, which had died`);
      return true;
    });
    this.pending.set(slot, run);
    this.queue = run;
    return run;
  }

  /** Replaces every worker, one at a time. A reload asked during one runs once it is done. */
  private reload(why: string): Promise<void> {
    if (this.state !== 'running') return Promise.resolve();
    if (this.reloading) {
      this.reloadAgain = true;
      return this.reloading;
    }
    this.info(`${why}: reloading ${this.count} worker${this.count === 1 ? '' : 's'}`);
    this.reloading = (async () => {
      let ok = true;
      for (const slot of [...this.slots.keys()]) {
        if (!(await this.replace(slot))) {
          ok = false;
          break;
        }
      }
      this.reloading = undefined;
      if (this.state !== 'running') return;
      this.info(ok ? 'reload: done' : 'reload: stopped; the workers not replaced keep the old code');
      if (this.reloadAgain) {
        this.reloadAgain = false;
        await this.reload('changed again');
      }
    })();
    return this.reloading;
  }

  private stop(worker: Worker): void {
    if (worker.stopping) return;
    worker.stopping = true;
    const message: MasterMessage = { t: 'stop' };
    if (worker.child.connected) worker.child.send(message, (err) => err && worker.child.kill('SIGTERM'));
    else worker.child.kill('SIGTERM');
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.live.has(worker)) {
        this.log.error(`worker ${worker.slot} (pid ${worker.pid}) did not stop in time; killing it`);
        worker.child.kill('SIGKILL');
      }
    }, this.options.worker.gracefulMs + 5_000);
    this.timers.add(timer);
    void worker.exited.then(() => {
      clearTimeout(timer);
      this.timers.delete(timer);
    });
  }

  private async stopAll(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const workers = [...this.live];
    for (const worker of workers) this.stop(worker);
    await Promise.all(workers.map((w) => w.exited));
  }

  private broadcast(message: MasterMessage): void {
    for (const worker of this.live) if (worker.child.connected) worker.child.send(message);
  }

  private async shutdown(signal: NodeJS.Signals): Promise<void> {
    if (this.state === 'stopping') return;
    this.state = 'stopping';
    this.info(`${signal}: stopping ${this.live.size} worker${this.live.size === 1 ? '' : 's'}; requests in flight get up to ${this.options.worker.gracefulMs / 1000}s`);
    for (const w of this.watchers) w.close();
    const stopped = this.stopAll();
    // Close our copy of the socket at once: once the workers close theirs, new
    // connections are refused instead of waiting in a queue nobody reads.
    this.cleanup();
    await stopped;
    this.info('stopped');
    this.finish(0);
  }

  private cleanup(): void {
    this.socket?.close();
    this.socket = undefined;
    const file = this.options.pidFile;
    if (file !== undefined) {
      try {
        if (readFileSync(file, 'utf8').trim() === String(process.pid)) unlinkSync(file);
      } catch {
        // already gone
      }
    }
  }

  private writePidFile(): void {
    const file = this.options.pidFile;
    if (file === undefined) return;
    let previous: number | undefined;
    try {
      previous = Number(readFileSync(file, 'utf8').trim());
    } catch {
      // no file yet
    }
    if (previous !== undefined && previous > 0 && previous !== process.pid && alive(previous)) {
      throw new ConfigError('NSGI_ERR_PID_FILE', `serve: pid file ${file} names process ${previous}, which is running; is nsgi already serving?`);
    }
    try {
      writeFileSync(file, `${process.pid}\n`);
    } catch (err) {
      throw new ConfigError('NSGI_ERR_PID_FILE', `serve: cannot write pid file ${file}: ${(err as Error).message}`, { cause: err });
    }
  }

  private startWatching(): void {
    let timer: NodeJS.Timeout | undefined;
    const changed: Set<string> = new Set();
    for (const dir of this.options.watch ?? []) {
      try {
        const watcher = watch(dir, (_event, filename) => {
          const name = filename?.toString() ?? '';
          if (name === '' || name.startsWith('.') || name.endsWith('~') || name === 'node_modules' || /\.sw.$/.test(name)) return;
          changed.add(name);
          clearTimeout(timer);
          timer = setTimeout(() => {
            const names = [...changed].join(', ');
            changed.clear();
            void this.reload(`${names} changed`);
          }, DEBOUNCE_MS);
        });
        watcher.on('error', (err) => this.log.error(`reload: watching ${dir} failed`, err));
        this.watchers.push(watcher);
      } catch (err) {
        this.log.error(`reload: cannot watch ${dir}`, err);
      }
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
