// `nsgi serve` as a production process manager: real masters with real workers over HTTP on
// 127.0.0.1, driven by signals while a bounded load loop checks that no request fails.
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SCGIClient } from '../../src/scgi/client.js';
import { freePort, makeTempDir, removeTempDir } from '../helpers/peers.js';
import { get, killAll, load, startedPids, startNsgi, waitFor, waitServing } from './serve-helpers.js';

let dir: string;

// Answers "<pid> <version>"; /slow answers after 1.5 s, telling stderr when it starts.
const pidApp = (version: string): string => `
export default async function app(environ, startResponse) {
  if (environ.PATH_INFO === '/slow') {
    process.stderr.write('slow: started\\n');
    await new Promise((r) => setTimeout(r, 1500));
  }
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  return [\`\${process.pid} ${version}\`];
}
`;

beforeAll(() => {
  dir = makeTempDir('nsgi-workers-');
});
afterEach(() => killAll());
afterAll(() => removeTempDir(dir));

function writeApp(name: string, version: string): string {
  const path = join(dir, name);
  writeFileSync(path, pidApp(version));
  return path;
}

const pidOf = (body: string): number => Number(body.split(' ')[0]);

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return '';
  }
}

describe('nsgi serve --workers', () => {
  it('runs 2 workers that both answer, under process titles that say what they are', async () => {
    const app = writeApp('both.mjs', 'v1');
    const port = await freePort();
    const master = startNsgi(['serve', app, '--http', `127.0.0.1:${port}`, '--workers', '2']);
    await waitServing(master);
    const workers = startedPids(master);
    expect(workers).toHaveLength(2);

    const seen = new Set<number>();
    const result = await load(port, { concurrency: 6, maxRequests: 400, maxMs: 15_000, stop: () => seen.size === 2, path: '/' });
    for (const body of result.bodies) seen.add(pidOf(body));
    expect(result.failures).toEqual([]);
    expect([...seen].sort()).toEqual([...workers].sort());
    expect(seen.has(master.pid!)).toBe(false); // the master never serves

    expect(cmdline(master.pid!)).toBe(`nsgi: master ${app} http 127.0.0.1:${port}`);
    expect(workers.map(cmdline).sort()).toEqual([`nsgi: worker 1 ${app}`, `nsgi: worker 2 ${app}`]);
  });

  it('restarts a worker killed with SIGKILL, and logs the death', async () => {
    const app = writeApp('kill.mjs', 'v1');
    const port = await freePort();
    const master = startNsgi(['serve', app, '--http', `127.0.0.1:${port}`, '--workers', '2']);
    await waitServing(master);
    const [victim] = startedPids(master);
    process.kill(victim!, 'SIGKILL');
    await waitFor(() => startedPids(master).length === 3, 'a replacement worker', master);
    expect(master.output()).toMatch(new RegExp(`worker \\d \\(pid ${victim}\\) died \\(signal SIGKILL\\); restarting`));
    const fresh = startedPids(master)[2]!;
    expect(fresh).not.toBe(victim);
    const result = await load(port, { maxRequests: 20, maxMs: 10_000 });
    expect(result.failures).toEqual([]);
    expect(result.bodies.map(pidOf)).not.toContain(victim);
  });

  it('workers stop on their own when the master is killed with SIGKILL (no orphans)', async () => {
    const app = writeApp('orphan.mjs', 'v1');
    const port = await freePort();
    const master = startNsgi(['serve', app, '--http', `127.0.0.1:${port}`, '--workers', '2']);
    await waitServing(master);
    const workers = startedPids(master);
    master.kill('SIGKILL'); // the master only, not its process group
    const gone = (pid: number): boolean => {
      try {
        process.kill(pid, 0);
        return cmdline(pid) === ''; // a zombie has no command line
      } catch {
        return true;
      }
    };
    await waitFor(() => workers.every(gone), 'the workers to exit');
  });

  it('restarts a worker that keeps dying young with a growing back-off', async () => {
    const app = join(dir, 'crash.mjs');
    writeFileSync(app, `export default (environ, startResponse) => { setImmediate(() => process.exit(3)); startResponse('200 OK', []); return ['bye']; };\n`);
    const port = await freePort();
    const master = startNsgi(['serve', app, '--http', `127.0.0.1:${port}`]);
    await waitServing(master);
    for (let i = 1; i <= 3; i++) {
      await waitFor(() => startedPids(master).length === i, `worker #${i}`, master);
      expect((await get(port, '/')).body).toBe('bye');
      await waitFor(() => (master.output().match(/died \(exit code 3\)/g) ?? []).length === i, `death #${i}`, master);
    }
    const deaths = master.output().match(/died \(exit code 3\); restarting.*/g)!;
    expect(deaths).toEqual([expect.stringMatching(/restarting$/), expect.stringMatching(/restarting in 200 ms$/), expect.stringMatching(/restarting in 400 ms$/)]);
  });

  it('--max-requests recycles workers under load with zero failed requests', async () => {
    const app = writeApp('recycle.mjs', 'v1');
    const port = await freePort();
    const master = startNsgi(['serve', app, '--http', `127.0.0.1:${port}`, '--workers', '2', '--max-requests', '25', '--max-requests-jitter', '5']);
    await waitServing(master);
    const pids = new Set<number>();
    // Until at least two recycles happened (4 workers seen) or the bounds are reached.
    const result = await load(port, {
      concurrency: 4,
      maxRequests: 4000,
      maxMs: 30_000,
      pauseMs: 5,
      stop: (r) => {
        for (let i = pids.size === 0 ? 0 : r.bodies.length - 8; i < r.bodies.length; i++) if (i >= 0) pids.add(pidOf(r.bodies[i]!));
        return pids.size >= 4;
      },
    });
    for (const body of result.bodies) pids.add(pidOf(body));
    expect(result.failures).toEqual([]);
    expect(pids.size).toBeGreaterThanOrEqual(4);
    expect(master.output()).toMatch(/served \d+ requests; replacing it/);
    // A worker is replaced only after its limit: each of the first two served at least 25 requests
    // (and keeps serving while its replacement starts, which is how none is refused).
    const perPid = new Map<number, number>();
    for (const body of result.bodies) perPid.set(pidOf(body), (perPid.get(pidOf(body)) ?? 0) + 1);
    for (const first of startedPids(master).slice(0, 2)) expect(perPid.get(first)).toBeGreaterThanOrEqual(25);
  });

  it('SIGHUP under a steady load loads the new code with zero failed requests', async () => {
    const app = writeApp('hup.mjs', 'v1');
    const port = await freePort();
    const master = startNsgi(['serve', app, '--http', `127.0.0.1:${port}`, '--workers', '2']);
    await waitServing(master);
    let hupped = false;
    const result = await load(port, {
      concurrency: 4,
      maxRequests: 6000,
      maxMs: 30_000,
      pauseMs: 5,
      stop: (r) => {
        if (!hupped && r.ok >= 20) {
          hupped = true;
          writeApp('hup.mjs', 'v2');
          process.kill(master.pid!, 'SIGHUP');
        }
        // Stop once the reload finished and 20 more answers came after it.
        const done = master.output().indexOf('reload: done');
        if (done === -1) return false;
        const after = (r as { afterDone?: number }).afterDone ?? ((r as { afterDone?: number }).afterDone = r.ok);
        return r.ok >= after + 20;
      },
    });
    expect(result.failures).toEqual([]);
    expect(master.output()).toContain('SIGHUP: reloading 2 workers');
    expect(master.output()).toContain('reload: done');
    const versions = result.bodies.map((b) => b.split(' ')[1]);
    expect(versions[0]).toBe('v1');
    expect(versions.slice(-8)).toEqual(Array(8).fill('v2'));
    // Old and new pids never overlap: the answers are v1 from the first two workers, v2 from the new ones.
    const started = startedPids(master);
    expect(started).toHaveLength(4);
    for (const body of result.bodies) expect(started.indexOf(pidOf(body)) < 2).toBe(body.endsWith('v1'));
  });

  it('SIGTERM lets a slow request in flight finish, then exits 0 and refuses new connections', async () => {
    const app = writeApp('term.mjs', 'v1');
    const port = await freePort();
    const master = startNsgi(['serve', app, '--http', `127.0.0.1:${port}`, '--workers', '2', '--graceful-timeout', '10']);
    await waitServing(master);
    const slow = get(port, '/slow');
    await waitFor(() => master.output().includes('slow: started'), 'the slow request to start', master);
    master.kill('SIGTERM');
    const [reply, [code]] = await Promise.all([slow, once(master, 'exit')]);
    expect(reply.status).toBe(200);
    expect(reply.body).toMatch(/^\d+ v1$/);
    expect(code).toBe(0);
    expect(master.output()).toContain('SIGTERM: stopping 2 workers');
    await expect(get(port, '/')).rejects.toThrow(/ECONNREFUSED/);
  });

  it('serves an inherited listening socket (fd:0, as spawn-fcgi gives it) with 2 workers', async () => {
    const app = writeApp('fd.mjs', 'v1');
    const listener = createServer();
    listener.listen(0, '127.0.0.1');
    await once(listener, 'listening');
    const port = (listener.address() as { port: number }).port;
    // The descriptor itself: spawn() takes a net.Server in stdio only as a stream it can pause.
    const fd = (listener as unknown as { _handle: { fd: number } })._handle.fd;
    const master = startNsgi(['serve', app, '--http', 'fd:0', '--workers', '2'], { stdio: [fd, 'pipe', 'pipe'] });
    listener.close(); // our copy: from now on only nsgi's workers accept
    await waitServing(master);
    expect(master.output()).toContain('over http on fd:0');
    const seen = new Set<number>();
    const result = await load(port, { concurrency: 6, maxRequests: 400, maxMs: 15_000, stop: (r) => (r.bodies.forEach((b) => seen.add(pidOf(b))), seen.size === 2) });
    expect(result.failures).toEqual([]);
    expect([...seen].sort()).toEqual(startedPids(master).sort());
  });

  it('serves SCGI on a unix socket with 2 workers', async () => {
    const app = writeApp('scgi.mjs', 'v1');
    const socket = join(dir, 'scgi.sock');
    const master = startNsgi(['serve', app, '--scgi', `unix:${socket}`, '--workers', '2']);
    await waitServing(master);
    expect(master.output()).toContain(`over scgi on unix:${socket}`);
    const client = new SCGIClient(`unix:${socket}`);
    const seen = new Set<number>();
    const deadline = Date.now() + 15_000;
    while (seen.size < 2 && Date.now() < deadline) {
      const replies = await Promise.all(Array.from({ length: 4 }, () => client.request({ path: '/' })));
      for (const r of replies) if (r.status === 200) seen.add(pidOf(r.body.toString()));
    }
    expect([...seen].sort()).toEqual(startedPids(master).sort());
  });

  it('--max-concurrency answers 503 with Retry-After beyond the limit', async () => {
    const app = writeApp('limit.mjs', 'v1');
    const port = await freePort();
    const master = startNsgi(['serve', app, '--http', `127.0.0.1:${port}`, '--max-concurrency', '1']);
    await waitServing(master);
    const slow = get(port, '/slow');
    await waitFor(() => master.output().includes('slow: started'), 'the slow request to start', master);
    const refused = await get(port, '/');
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('1');
    expect((await slow).status).toBe(200);
    expect((await get(port, '/')).status).toBe(200);
  });

  it('writes a pid file and a Common Log Format access log, and removes the pid file on exit', async () => {
    const app = writeApp('log.mjs', 'v1');
    const port = await freePort();
    const pidFile = join(dir, 'nsgi.pid');
    const accessLog = join(dir, 'access.log');
    const master = startNsgi(['serve', app, '--http', `127.0.0.1:${port}`, '--pid-file', pidFile, '--access-log', accessLog]);
    await waitServing(master);
    expect(readFileSync(pidFile, 'utf8')).toBe(`${master.pid}\n`);
    const reply = await get(port, '/a%20b?x=1');
    master.kill('SIGTERM');
    const [code] = await once(master, 'exit');
    expect(code).toBe(0);
    expect(existsSync(pidFile)).toBe(false);
    expect(readFileSync(accessLog, 'utf8')).toMatch(
      new RegExp(`^127\\.0\\.0\\.1 - - \\[\\d\\d/[A-Z][a-z]{2}/\\d{4}:\\d\\d:\\d\\d:\\d\\d \\+0000\\] "GET /a%20b\\?x=1 HTTP/1\\.1" 200 ${Buffer.byteLength(reply.body)}\\n$`),
    );
  });

  it('--reload replaces the workers when the app file changes', async () => {
    const app = writeApp('dev.mjs', 'v1');
    const port = await freePort();
    const master = startNsgi(['serve', app, '--http', `127.0.0.1:${port}`, '--reload']);
    await waitServing(master);
    expect((await get(port, '/')).body).toMatch(/ v1$/);
    writeApp('dev.mjs', 'v2');
    await waitFor(() => master.output().includes('reload: done'), 'the reload', master);
    expect(master.output()).toContain('dev.mjs changed: reloading 1 worker');
    expect((await get(port, '/')).body).toMatch(/ v2$/);
  });

  it('--boot-timeout kills a worker whose app never finishes loading, and the master exits 1', async () => {
    const app = join(dir, 'hang.mjs');
    writeFileSync(app, 'await new Promise(() => setInterval(() => {}, 1000));\nexport default () => [];\n');
    const master = startNsgi(['serve', app, '--http', `127.0.0.1:${await freePort()}`, '--boot-timeout', '1']);
    const [code] = await once(master, 'exit');
    expect(code).toBe(1);
    expect(master.output()).toMatch(/worker 1 \(pid \d+\) did not listen within 1s \(--boot-timeout\); killed it/);
  });

  it('keeps the old workers when the new code fails to load on SIGHUP', async () => {
    const app = writeApp('broken.mjs', 'v1');
    const port = await freePort();
    const master = startNsgi(['serve', app, '--http', `127.0.0.1:${port}`]);
    await waitServing(master);
    writeFileSync(app, 'export default 42;\n');
    process.kill(master.pid!, 'SIGHUP');
    await waitFor(() => master.output().includes('reload: stopped'), 'the failed reload', master);
    expect(master.output()).toMatch(/the replacement failed to start, keeping pid \d+: .*must be an app/);
    expect((await get(port, '/')).body).toMatch(/ v1$/);
  });
});
