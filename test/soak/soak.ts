// The soak: a bounded mixed load through a real nginx (FastCGI keep-conn over a unix socket, upstream
// keepalive) in front of `nsgi serve --workers 2` (from source), with SIGHUP reloads in the middle and
// the RSS of every nsgi and nginx process sampled once a second. runSoak() does the run and returns
// what it saw; soak.test.ts turns that into assertions. Method and figures: docs/soak.md.
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startNsgi, waitFor, waitServing, type Served } from '../cli/serve-helpers.js';
import { freePort, makeTempDir, removeTempDir, startNginx, type Peer } from '../helpers/peers.js';
import { allowedNginxCounts, judgeMemory, unexpectedNginxLines, unexpectedNsgiLines, type MemoryVerdict, type Sample } from './criteria.js';

export const APP = fileURLToPath(new URL('./app.mjs', import.meta.url));

/** A fault to inject, to see the soak fail (docs/soak.md, "Can it fail?"). */
export type Fault = 'kill-workers' | 'corrupt' | 'leak';

export interface SoakOptions {
  /** Length of the load in seconds. */
  seconds: number;
  /** Client loops running at once (default: 16). */
  concurrency?: number;
  /** When to SIGHUP the master, as fractions of the run (default: `[0.5, 0.75]`). */
  reloadsAt?: number[];
  /** nsgi workers (default: 2). */
  workers?: number;
  fault?: Fault;
}

export type Kind = 'small' | 'download' | 'upload' | 'slow' | 'abort-download' | 'abort-upload' | 'abort-slow';
const KINDS: ReadonlyArray<[Kind, number]> = [
  ['small', 50],
  ['download', 14],
  ['upload', 14],
  ['slow', 10],
  ['abort-download', 5],
  ['abort-upload', 4],
  ['abort-slow', 3],
];
const WEIGHT = KINDS.reduce((a, [, w]) => a + w, 0);

export interface ProcessMemory {
  role: 'nsgi master' | 'nsgi worker' | 'nginx master' | 'nginx worker';
  pid: number;
  samples: Sample[];
  /** For a worker replaced during the run: when its replacement was ready (ms); it only drained after. */
  servedUntil: number | undefined;
  /** Judged on the samples up to servedUntil: a draining worker takes no new work, so it cannot grow. */
  verdict: MemoryVerdict;
}

/**
 * When a worker stopped taking new requests: the time of the next "started" line of its slot (the
 * master stops the old worker once its replacement listens). Infinity for a worker never replaced,
 * and for a process that is not a worker.
 */
export function servingEnd(starts: ReadonlyArray<{ slot: number; pid: number; t: number }>, pid: number): number {
  const i = starts.findIndex((x) => x.pid === pid);
  if (i === -1) return Infinity;
  const next = starts.slice(i + 1).find((x) => x.slot === starts[i]!.slot);
  return next === undefined ? Infinity : next.t;
}

export interface SoakReport {
  seconds: number;
  concurrency: number;
  /** Completed and checked, by kind. */
  ok: Record<Kind, number>;
  /** Aborted by the client on purpose (only the abort-* kinds). */
  aborted: number;
  /** Every request that failed and was not aborted on purpose: kind and reason. */
  failures: string[];
  /** Bytes the client received in complete downloads and sent in complete uploads. */
  downloadedBytes: number;
  uploadedBytes: number;
  /** Pids of the workers alive at the first and at the last sample. */
  workersAtStart: number[];
  workersAtEnd: number[];
  /** SIGHUPs sent, each with the ms it was sent at and the ms its "reload: done" was seen at (-1: never). */
  reloads: Array<{ at: number; done: number }>;
  processes: ProcessMemory[];
  /** The GET after the load: 200 and its body. */
  after: { status: number; body: string };
  /** Exit code of the master after SIGTERM. */
  exitCode: number | null;
  unexpectedNginx: string[];
  /** nginx error-log lines each allow rule accepted. */
  allowedNginx: Record<string, number>;
  unexpectedNsgi: string[];
  nsgiOutput: string;
}

// --- /proc -----------------------------------------------------------------------------------

/** VmRSS of a process in bytes, or undefined once it is gone. */
export function readRss(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** The children of a process, from /proc/<pid>/task/<tid>/children of each of its threads. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        for (const c of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/)) if (c !== '') out.push(Number(c));
      } catch {
        // the thread ended between readdir and read
      }
    }
  } catch {
    // the process is gone
  }
  return out;
}

/** Whether a process is an nsgi worker: its title is `nsgi: worker N ...`, or before it set one, it runs worker-entry. */
function isWorker(pid: number): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.startsWith('nsgi: worker ') || /worker-entry\.[jt]s\0/.test(cmdline);
  } catch {
    return false;
  }
}

// --- one request ---------------------------------------------------------------------------------

interface Done {
  outcome: 'done';
  status: number;
  headers: IncomingHttpHeaders;
  bytes: number;
  sha256: string;
  text: string;
}
type Result = Done | { outcome: 'aborted' } | { outcome: 'error'; message: string };

const REQUEST_TIMEOUT_MS = 60_000;

/**
 * One request through nginx. The response body is hashed as it arrives (never held whole); its first
 * 4 KiB are kept as text. `abortIn`/`abortOut`: abort once that many bytes were received/sent; what
 * goes wrong before that moment is a failure, what follows it is the abort we asked for.
 */
function exchange(agent: Agent, port: number, method: string, path: string, options: { body?: Buffer; abortIn?: number; abortOut?: number } = {}): Promise<Result> {
  return new Promise((resolve) => {
    const controller = new AbortController();
    let settled = false;
    let onPurpose = false;
    // The client side's port of the connection used, in failure messages: it ties a failure to an
    // earlier one on the same keep-alive connection.
    let via = '';
    const settle = (r: Result): void => {
      if (settled) return;
      settled = true;
      if (r.outcome === 'error') r.message += ` [client port ${via}]`;
      clearTimeout(timer);
      // A failed exchange's connection is not handed to the next request (an upload answered early
      // never finished its body: the socket is unusable, and reusing it would fail an innocent request).
      if (r.outcome === 'error') req.destroy();
      resolve(r);
    };
    const abortNow = (): void => {
      onPurpose = true;
      controller.abort();
      settle({ outcome: 'aborted' });
    };
    const timer = setTimeout(() => {
      controller.abort();
      settle({ outcome: 'error', message: `no answer within ${REQUEST_TIMEOUT_MS} ms` });
    }, REQUEST_TIMEOUT_MS);
    const body = options.body;
    const headers: Record<string, string> = body ? { 'content-type': 'application/octet-stream', 'content-length': String(body.length) } : {};
    const req = request({ agent, host: '127.0.0.1', port, method, path, headers, signal: controller.signal }, (res) => {
      const hash = createHash('sha256');
      let bytes = 0;
      let text = '';
      // Never hand the connection of an error answer to the next request: after a 502 on an upload
      // nginx closes the client connection, and reusing it fails an innocent request with "socket
      // hang up" (seen, matched by client port, in a 40 s run). One loss is counted once.
      if (res.statusCode !== 200) {
        const socket = res.socket;
        res.once('end', () => socket?.destroy());
      }
      // An answer before an upload we meant to abort was sent in full can only be an error page.
      if (options.abortOut !== undefined) {
        res.resume();
        settle({ outcome: 'error', message: `status ${res.statusCode} before the upload was aborted` });
        return;
      }
      res.on('data', (d: Buffer) => {
        bytes += d.length;
        hash.update(d);
        if (text.length < 4096) text += d.toString('latin1');
        if (options.abortIn !== undefined && bytes >= options.abortIn && !settled) {
          if (res.statusCode !== 200) settle({ outcome: 'error', message: `status ${res.statusCode}: ${text.slice(0, 200)}` });
          else abortNow();
        }
      });
      res.on('end', () => {
        if (!res.complete) settle({ outcome: 'error', message: `response cut after ${bytes} bytes` });
        else settle({ outcome: 'done', status: res.statusCode!, headers: res.headers, bytes, sha256: hash.digest('hex'), text: res.statusCode === 200 ? text : `${text} [client port ${via}]` });
      });
      res.on('error', (err) => settle(onPurpose ? { outcome: 'aborted' } : { outcome: 'error', message: `response: ${err.message}` }));
      res.on('close', () => settle(onPurpose ? { outcome: 'aborted' } : { outcome: 'error', message: `response closed after ${bytes} bytes (complete: ${res.complete})` }));
    });
    req.on('socket', (socket) => {
      const name = (): void => void (via = String(socket.localPort));
      if (socket.localPort !== undefined) name();
      else socket.once('connect', name);
    });
    req.on('error', (err) => settle(onPurpose ? { outcome: 'aborted' } : { outcome: 'error', message: `request: ${err.message}` }));
    if (!body) {
      req.end();
      return;
    }
    void (async () => {
      const step = 64 * 1024;
      for (let off = 0; off < body.length && !settled; off += step) {
        if (options.abortOut !== undefined && off >= options.abortOut) return abortNow();
        if (!req.write(body.subarray(off, off + step))) {
          await new Promise<void>((r) => {
            const go = (): void => {
              req.off('drain', go);
              req.off('close', go);
              r();
            };
            req.on('drain', go);
            req.on('close', go);
          });
        }
      }
      if (!settled) req.end();
    })();
  });
}

// --- the mix ------------------------------------------------------------------------------------

const MiB = 1024 * 1024;
const pick = <T>(n: readonly T[]): T => n[Math.floor(Math.random() * n.length)]!;
const between = (a: number, b: number): number => a + Math.floor(Math.random() * (b - a + 1));
// 1 MiB .. 8 MiB in 256 KiB steps, plus 13 so the last chunk is never whole.
const DOWNLOAD_SIZES = Array.from({ length: 29 }, (_, k) => MiB + k * 256 * 1024 + 13);

function pickKind(): Kind {
  let r = Math.random() * WEIGHT;
  for (const [kind, w] of KINDS) if ((r -= w) < 0) return kind;
  return 'small';
}

/** One request of `kind`, checked end to end: undefined when right, else why not; 'aborted' for an abort on purpose. */
async function one(kind: Kind, agent: Agent, port: number, pool: Buffer, counts: { down: number; up: number }): Promise<string | undefined | 'aborted'> {
  switch (kind) {
    case 'small': {
      const n = between(0, 1e9);
      const r = await exchange(agent, port, 'GET', `/app/small?n=${n}`);
      if (r.outcome !== 'done') return r.outcome === 'error' ? r.message : 'aborted without being asked to';
      if (r.status !== 200 || r.text !== `ok ${n}`) return `status ${r.status}, body ${JSON.stringify(r.text.slice(0, 200))} for n=${n}`;
      return undefined;
    }
    case 'download': {
      const size = pick(DOWNLOAD_SIZES);
      const r = await exchange(agent, port, 'GET', `/app/download?size=${size}&seed=${between(0, 7)}`);
      if (r.outcome !== 'done') return r.outcome === 'error' ? r.message : 'aborted without being asked to';
      if (r.status !== 200) return `status ${r.status}: ${r.text.slice(0, 200)}`;
      if (r.bytes !== size) return `${r.bytes} bytes, expected ${size}`;
      if (r.sha256 !== r.headers['x-soak-sha256']) return `checksum mismatch on ${size} bytes: got ${r.sha256}, the app sent ${String(r.headers['x-soak-sha256'])}`;
      counts.down += size;
      return undefined;
    }
    case 'upload': {
      const length = between(MiB, 5 * MiB);
      const offset = between(0, pool.length - length);
      const body = pool.subarray(offset, offset + length);
      const expected = createHash('sha256').update(body).digest('hex');
      const r = await exchange(agent, port, 'POST', '/app/upload', { body });
      if (r.outcome !== 'done') return r.outcome === 'error' ? r.message : 'aborted without being asked to';
      if (r.status !== 200) return `status ${r.status}: ${r.text.slice(0, 200)}`;
      let reply: { bytes?: number; sha256?: string };
      try {
        reply = JSON.parse(r.text) as typeof reply;
      } catch {
        return `upload reply is not JSON: ${r.text.slice(0, 200)}`;
      }
      if (reply.bytes !== length || reply.sha256 !== expected) return `upload of ${length} bytes: the app saw ${reply.bytes} bytes, sha256 ${reply.sha256}, expected ${expected}`;
      counts.up += length;
      return undefined;
    }
    case 'slow': {
      const chunks = between(3, 8);
      const ms = between(50, 250);
      const r = await exchange(agent, port, 'GET', `/app/slow?chunks=${chunks}&ms=${ms}`);
      if (r.outcome !== 'done') return r.outcome === 'error' ? r.message : 'aborted without being asked to';
      const expected = Array.from({ length: chunks }, (_, i) => `line ${i}\n`).join('');
      if (r.status !== 200 || r.text !== expected) return `status ${r.status}, slow body ${JSON.stringify(r.text.slice(0, 200))}`;
      return undefined;
    }
    case 'abort-download': {
      const r = await exchange(agent, port, 'GET', `/app/download?size=${8 * MiB + 13}&seed=${between(0, 7)}`, { abortIn: between(64 * 1024, 4 * MiB) });
      return r.outcome === 'aborted' ? 'aborted' : r.outcome === 'error' ? r.message : `a download meant to be aborted completed (${r.bytes} bytes)`;
    }
    case 'abort-upload': {
      const length = 4 * MiB;
      const r = await exchange(agent, port, 'POST', '/app/upload', { body: pool.subarray(0, length), abortOut: between(64 * 1024, 3 * MiB) });
      return r.outcome === 'aborted' ? 'aborted' : r.outcome === 'error' ? r.message : 'an upload meant to be aborted completed';
    }
    case 'abort-slow': {
      const r = await exchange(agent, port, 'GET', '/app/slow?chunks=20&ms=200', { abortIn: 1 });
      return r.outcome === 'aborted' ? 'aborted' : r.outcome === 'error' ? r.message : 'a slow response meant to be aborted completed';
    }
  }
}

// --- the run ------------------------------------------------------------------------------------

function nginxHttp(port: number, socket: string): string {
  return `
  upstream nsgi {
    server unix:${socket};
    keepalive 32;
  }
  server {
    listen 127.0.0.1:${port};
    client_max_body_size 16m;
    location /app/ {
      fastcgi_split_path_info ^(/app)(/.*)$;
      include /etc/nginx/fastcgi_params;
      fastcgi_param PATH_INFO $fastcgi_path_info;
      fastcgi_pass nsgi;
      fastcgi_keep_conn on;
      # Stream uploads to the app as they arrive, and hold at most the buffers of a download in
      # nginx (no temp file): a client that aborts or reads slowly is felt by nsgi, not absorbed.
      fastcgi_request_buffering off;
      fastcgi_max_temp_file_size 0;
    }
  }`;
}

/** Runs one soak and returns what it saw; stops everything it started, also on error. */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const seconds = options.seconds;
  const concurrency = options.concurrency ?? 16;
  const reloadsAt = options.reloadsAt ?? [0.5, 0.75];
  const dir = makeTempDir('nsgi-soak-');
  const socket = join(dir, 'fcgi.sock');
  const env = { ...process.env, SOAK_CORRUPT: options.fault === 'corrupt' ? '1' : '0', SOAK_LEAK: options.fault === 'leak' ? '1' : '0' };
  let master: Served | undefined;
  let nginx: Peer | undefined;
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  try {
    master = startNsgi(['serve', APP, '--fastcgi', `unix:${socket}`, '--workers', String(options.workers ?? 2), '--socket-mode', '666'], { env });
    await waitServing(master);
    const port = await freePort();
    nginx = await startNginx(() => nginxHttp(port, socket), () => ({ port }));
    const masterPid = master.pid!;
    const nginxPid = nginx.child.pid!;

    // Memory: every second, every live process of both servers.
    const series = new Map<number, { role: ProcessMemory['role']; samples: Sample[] }>();
    const start = Date.now();
    const sample = (): void => {
      const t = Date.now() - start;
      const take = (pid: number, role: ProcessMemory['role']): void => {
        const rss = readRss(pid);
        if (rss === undefined) return;
        let s = series.get(pid);
        if (s === undefined) series.set(pid, (s = { role, samples: [] }));
        s.samples.push({ t, rss });
      };
      take(masterPid, 'nsgi master');
      // Only the workers: tsx (nsgi runs from source here) also gives the master an esbuild child.
      for (const pid of childPids(masterPid)) if (isWorker(pid)) take(pid, 'nsgi worker');
      take(nginxPid, 'nginx master');
      for (const pid of childPids(nginxPid)) take(pid, 'nginx worker');
    };
    sample();
    const workersAtStart = childPids(masterPid).filter(isWorker);
    const sampler = setInterval(sample, 1000);

    // Reloads (and the kill fault) on a timer. A SIGHUP waits for the previous reload to finish
    // ("reload: done"), so that each one replaces every worker rather than folding into the last.
    const reloads: SoakReport['reloads'] = [];
    const reloadsDone = (): number => master!.output().match(/reload: done/g)?.length ?? 0;
    const timers: NodeJS.Timeout[] = [];
    let loadOver = false;
    const reloading = (async () => {
      for (const f of reloadsAt) {
        const wait = start + f * seconds * 1000 - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        await waitFor(() => reloadsDone() >= reloads.length || loadOver, 'the previous reload', master, seconds * 1000).catch(() => undefined);
        if (loadOver) return;
        reloads.push({ at: Date.now() - start, done: -1 });
        process.kill(masterPid, 'SIGHUP');
      }
    })();
    if (options.fault === 'kill-workers') {
      timers.push(setTimeout(() => childPids(masterPid).filter(isWorker).forEach((pid) => process.kill(pid, 'SIGKILL')), 0.3 * seconds * 1000));
    }
    // Each "worker N (pid P) started" line, timed as it arrives: a worker serves from its own start
    // line to the next one of its slot (its replacement is ready, so it stops accepting and drains).
    const starts: Array<{ slot: number; pid: number; t: number }> = [];
    let seen = 0;
    const watchReloads = setInterval(() => {
      const out = master!.output();
      const fresh = out.slice(seen, out.lastIndexOf('\n') + 1);
      seen += fresh.length;
      for (const m of fresh.matchAll(/worker (\d+) \(pid (\d+)\) started/g)) starts.push({ slot: Number(m[1]), pid: Number(m[2]), t: Date.now() - start });
      const done = reloadsDone();
      reloads.forEach((r, i) => {
        if (i < done && r.done === -1) r.done = Date.now() - start;
      });
    }, 50);

    const ok = Object.fromEntries(KINDS.map(([k]) => [k, 0])) as Record<Kind, number>;
    const failures: string[] = [];
    let aborted = 0;
    const counts = { down: 0, up: 0 };
    const pool = randomBytes(6 * MiB);
    const deadline = start + seconds * 1000;
    const loop = async (): Promise<void> => {
      while (Date.now() < deadline) {
        const kind = pickKind();
        const why = await one(kind, agent, port, pool, counts);
        if (why === undefined) ok[kind]++;
        else if (why === 'aborted') aborted++;
        else failures.push(`${kind} at ${((Date.now() - start) / 1000).toFixed(1)} s: ${why}`);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, loop));
    loadOver = true;
    for (const t of timers) clearTimeout(t);
    await reloading;
    // Let the last reload finish before judging (it is part of the run).
    await waitFor(() => reloadsDone() >= reloads.length, 'the last reload', master, 30_000).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 60));
    clearInterval(watchReloads);
    sample();
    clearInterval(sampler);
    const workersAtEnd = childPids(masterPid).filter(isWorker);

    const afterReply = await exchange(agent, port, 'GET', '/app/small?n=42');
    const after = afterReply.outcome === 'done' ? { status: afterReply.status, body: afterReply.text } : { status: 0, body: afterReply.outcome === 'error' ? afterReply.message : 'aborted' };
    agent.destroy();

    master.kill('SIGTERM');
    const [exitCode] = (await once(master, 'exit')) as [number | null];
    await nginx.stop();

    const processes: ProcessMemory[] = [...series.entries()].map(([pid, s]) => {
      const servedUntil = servingEnd(starts, pid);
      const serving = s.samples.filter((x) => x.t <= servedUntil);
      return { pid, role: s.role, samples: s.samples, servedUntil: Number.isFinite(servedUntil) ? servedUntil : undefined, verdict: judgeMemory(serving) };
    });
    return {
      seconds,
      concurrency,
      ok,
      aborted,
      failures,
      downloadedBytes: counts.down,
      uploadedBytes: counts.up,
      reloads,
      workersAtStart,
      workersAtEnd,
      processes,
      after,
      exitCode,
      unexpectedNginx: unexpectedNginxLines(nginx.read('error.log')),
      allowedNginx: allowedNginxCounts(nginx.read('error.log')),
      unexpectedNsgi: unexpectedNsgiLines(master.output()),
      nsgiOutput: master.output(),
    };
  } finally {
    agent.destroy();
    if (master && master.exitCode === null && master.signalCode === null) {
      try {
        process.kill(-master.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await nginx?.stop();
    if (nginx && existsSync(nginx.dir)) removeTempDir(nginx.dir);
    removeTempDir(dir);
  }
}

const mib = (b: number): string => (b / MiB).toFixed(0);

/** The figures of a run on one line (and the per-process memory after it), for CI logs and docs/soak.md. */
export function summarize(r: SoakReport): string {
  const total = Object.values(r.ok).reduce((a, b) => a + b, 0);
  const kinds = Object.entries(r.ok)
    .filter(([k]) => !k.startsWith('abort-'))
    .map(([k, n]) => `${k}=${n}`)
    .join(' ');
  const reloads = r.reloads.map((x) => `at ${(x.at / 1000).toFixed(1)} s took ${x.done < 0 ? 'never finished' : `${((x.done - x.at) / 1000).toFixed(1)} s`}`).join(', ');
  const mem = r.processes
    .map((p) => {
      const rss = p.samples.map((s) => s.rss);
      const life = `${(p.samples[0]!.t / 1000).toFixed(0)}-${(p.samples.at(-1)!.t / 1000).toFixed(0)} s${p.servedUntil === undefined ? '' : `, served until ${(p.servedUntil / 1000).toFixed(0)} s`}`;
      const v = p.verdict.judged ? (p.verdict.ok ? 'flat' : `GREW: last-third peak ${mib(p.verdict.lastPeak)} > limit ${mib(p.verdict.limit)}`) : 'too short to judge';
      return `${p.role} ${p.pid} (${life}) start/peak/end ${mib(rss[0]!)}/${mib(Math.max(...rss))}/${mib(rss.at(-1)!)} MiB ${v}`;
    })
    .join('; ');
  return (
    `soak: ${r.seconds} s, ${r.concurrency} loops: ${total} requests checked (${kinds}, ${mib(r.downloadedBytes)} MiB down, ${mib(r.uploadedBytes)} MiB up), ` +
    `${r.aborted} aborted on purpose, ${r.failures.length} failed; reloads: ${r.reloads.length} (${reloads}); after: ${r.after.status}; exit ${r.exitCode}; ` +
    `unexpected log lines: nginx ${r.unexpectedNginx.length}, nsgi ${r.unexpectedNsgi.length}; ` +
    `allowed nginx lines: ${Object.entries(r.allowedNginx).map(([why, n]) => `${n} ${why}`).join(', ') || 'none'}\n` +
    `soak: rss: ${mem}`
  );
}
