// Helpers for tests that run real `nsgi serve` masters: start one in its own process group (so
// afterEach can kill the master and every worker at once), send requests on fresh connections,
// and run a bounded load loop that counts failures.
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { request } from 'node:http';
import { spawnNsgi } from '../helpers/cli.js';

export type Served = ChildProcess & { output(): string };

const running = new Set<Served>();

/** Spawns `nsgi ...args` detached (its own process group); killAll() ends it and its workers. */
export function startNsgi(args: string[], options: SpawnOptions = {}): Served {
  const child = spawnNsgi(args, { detached: true, ...options });
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/** SIGKILLs every master started by startNsgi and its whole process group (workers included). */
export function killAll(): void {
  for (const child of running) {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  running.clear();
}

/** Resolves once `check` holds, polling; rejects after `timeoutMs` with the output for context. */
export async function waitFor(check: () => boolean, what: string, child?: Served, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${child ? `\n--- output ---\n${child.output()}` : ''}`);
    if (child && child.exitCode !== null) throw new Error(`nsgi exited (${child.exitCode}) while waiting for ${what}\n--- output ---\n${child.output()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Waits for the master's "serving" line. */
export function waitServing(child: Served): Promise<void> {
  return waitFor(() => child.output().includes('nsgi: serving'), 'the serving line', child);
}

/** The pids of workers the master reported as started, in order. */
export function startedPids(child: Served): number[] {
  return [...child.output().matchAll(/worker \d+ \(pid (\d+)\) started/g)].map((m) => Number(m[1]));
}

export interface Reply {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** One GET on a fresh connection (no keep-alive), so that every request is a new accept. */
export function get(port: number, path = '/', timeoutMs = 10_000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, headers: { Connection: 'close' }, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

export interface LoadResult {
  ok: number;
  failures: string[];
  bodies: string[];
}

/**
 * Sends requests from `concurrency` loops until `stop(result)` holds, `maxRequests` were sent or
 * `maxMs` passed (whichever first), each loop pausing `pauseMs` between requests. Every request
 * that errors or is not 200 is a failure.
 */
export async function load(port: number, options: { concurrency?: number; maxRequests: number; maxMs: number; stop?: (r: LoadResult) => boolean; path?: string; pauseMs?: number }): Promise<LoadResult> {
  const result: LoadResult = { ok: 0, failures: [], bodies: [] };
  const deadline = Date.now() + options.maxMs;
  let sent = 0;
  const more = (): boolean => sent < options.maxRequests && Date.now() < deadline && !(options.stop?.(result) ?? false);
  const loop = async (): Promise<void> => {
    while (more()) {
      sent++;
      try {
        const reply = await get(port, options.path ?? '/');
        if (reply.status === 200) {
          result.ok++;
          result.bodies.push(reply.body);
        } else result.failures.push(`status ${reply.status}: ${reply.body}`);
      } catch (err) {
        result.failures.push((err as Error).message);
      }
      // A steady load, not a flood: time-bounded tests must see process starts happen under it.
      if (options.pauseMs) await new Promise((r) => setTimeout(r, options.pauseMs));
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 4 }, loop));
  return result;
}
