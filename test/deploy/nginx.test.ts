// docs/deployment/nginx.md: every nginx recipe in examples/deploy, run by a real nginx.
// Besides the checks every recipe passes, each recipe's own claim is tested here: the /app split
// (and what the stock fastcgi_params would send instead), uploads that nginx does not spool to
// disk, the proxy headers only nginx can set, and a pool that loses no GET when a backend stops.
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { freePort, startRecipe, type RunningProcess, type RunningRecipe } from '../../examples/deploy/lib/recipes.mjs';
import { prepareServer, startProcess, waitForAddress } from '../../examples/deploy/lib/servers.mjs';
import { renderTemplate } from '../../examples/deploy/lib/template.mjs';
import { describeRecipe, expectTable, NSGI_FROM_SOURCE, observe, TABLE_REQUESTS, type Observed } from './checks.js';

// nginx writes this (at level warn) each time it spools a request body to client_body_temp_path.
const SPOOLED = 'a client request body is buffered to a temporary file';

describeRecipe('nginx-unix', 'nginx', (r) => {
  it('keeps its connection to nsgi open between requests (keepalive + fastcgi_keep_conn)', async () => {
    for (let i = 0; i < 10; i++) await (await fetch(`${r().url}/hello?name=${i}`)).text();
    // /proc/net/unix lists each end of a connection accepted on the socket with its path; state
    // 03 is connected (01, with the listening flag, is the socket nsgi listens on). Without
    // fastcgi_keep_conn nsgi closes each connection after its response and none is left.
    const sock = `${r().run}/app.sock`;
    const connected = readFileSync('/proc/net/unix', 'utf8')
      .split('\n')
      .filter((line) => line.endsWith(` ${sock}`) && line.split(/\s+/)[5] === '03');
    expect(connected.length, 'connections to app.sock still open after 10 requests').toBeGreaterThan(0);
    expect(connected.length).toBeLessThanOrEqual(8);
  });
});

describeRecipe('nginx-tcp-app', 'nginx', (r) => {
  it('answers /app (no slash) with a redirect to /app/, from nginx itself', async () => {
    const res = await fetch(`${r().url}/app`, { redirect: 'manual' });
    expect(res.status).toBe(301);
    expect(new URL(res.headers.get('location')!).pathname).toBe('/app/');
  });

  it('splits a path holding an encoded newline too ((?s) in fastcgi_split_path_info)', async () => {
    const env = (await (await fetch(`${r().url}/app/env/a%0Ab`)).json()) as { SCRIPT_NAME: string; PATH_INFO: string };
    expect({ script: env.SCRIPT_NAME, path: env.PATH_INFO }).toEqual({ script: '/app', path: '/env/a\nb' });
  });

  it('records what the stock fastcgi_params send at /app, without the split', async () => {
    // The same snippet without the lines that fix SCRIPT_NAME/PATH_INFO, in front of the same backend.
    const stock = await startVariant(r(), (snippet) => {
      const out = snippet.replace(/^\s*(fastcgi_split_path_info|fastcgi_param PATH_INFO) .*\n/gm, '');
      expect(snippet.split('\n').length - out.split('\n').length, 'lines removed').toBe(2);
      return out;
    });
    try {
      const rows: Observed[] = [];
      for (const req of TABLE_REQUESTS) rows.push(await observe(stock.running, `/app${req}`));
      expectTable('nginx', 'nginx-tcp-app stock fastcgi_params', rows);
    } finally {
      await stock.stop();
    }
  });

  it('streams a 5 MiB upload to the app without spooling it to a temp file', async () => {
    const up = await uploadWatchingSpool(r().url, '/app/upload', r().run);
    expect(up.status, r().logs()).toBe(200);
    expect(up.bytes).toBe(5 * 1024 * 1024);
    expect(up.spooledMidway, 'files nginx held open in client_body_temp_path while the upload was paused').toEqual([]);
    expect(readFileSync(join(r().run, 'error.log'), 'utf8')).not.toContain(SPOOLED);
  });

  it('sees the spooling when fastcgi_request_buffering is on (the check above can fail)', async () => {
    const buffered = await startVariant(r(), (snippet) => {
      const out = snippet.replace('fastcgi_request_buffering off;', 'fastcgi_request_buffering on;');
      expect(out).not.toBe(snippet);
      return out;
    });
    try {
      const up = await uploadWatchingSpool(buffered.running.url, '/app/upload', buffered.running.run, 10_000);
      expect(up.status).toBe(200);
      expect(up.bytes).toBe(5 * 1024 * 1024);
      expect(up.spooledMidway.length, 'a temp file nginx held open while the upload was paused').toBeGreaterThan(0);
      expect(readFileSync(join(buffered.running.run, 'error.log'), 'utf8')).toContain(SPOOLED);
    } finally {
      await buffered.stop();
    }
  });
});

describeRecipe('nginx-scgi', 'nginx', (r) => {
  it('gets the split from nginx instead with two scgi_param lines (the other fix)', async () => {
    const fixed = await startVariant(r(), (snippet) => {
      const out = snippet.replace('include /etc/nginx/scgi_params;', 'include /etc/nginx/scgi_params;\n        scgi_param SCRIPT_NAME "";\n        scgi_param PATH_INFO $uri;');
      expect(out).not.toBe(snippet);
      return out;
    });
    try {
      const env = (await (await fetch(`${fixed.running.url}/env/a%20b`)).json()) as { sent: { SCRIPT_NAME: string; PATH_INFO: string } };
      expect(env.sent).toEqual({ SCRIPT_NAME: '', PATH_INFO: '/env/a b' });
    } finally {
      await fixed.stop();
    }
  });

  it('gets no SCRIPT_NAME or PATH_INFO from scgi_params (the reason for the middleware)', async () => {
    const env = (await (await fetch(`${r().url}/env/x?y=1`)).json()) as { REQUEST_URI: string; sent: { SCRIPT_NAME: string; PATH_INFO: string } };
    expect(env.REQUEST_URI).toBe('/env/x?y=1');
    expect(env.sent).toEqual({ SCRIPT_NAME: '', PATH_INFO: '' });
  });
});

describeRecipe('nginx-proxy', 'nginx', (r) => {
  it('believes the forwarded headers nginx sets and no more', async () => {
    // A client's own X-Forwarded-For is kept (nginx appends to it) but not believed: x_for = 1
    // takes the address nginx appended. Its X-Forwarded-Prefix and -Host are replaced by nginx.
    const port = String(r().vars.PORT);
    const res = await fetch(`${r().url}/app/env`, { headers: { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-prefix': '/evil', 'x-forwarded-host': 'evil.example' } });
    const env = (await res.json()) as Record<string, string>;
    expect({ remote: env.REMOTE_ADDR, host: env.HTTP_HOST, script: env.SCRIPT_NAME, scheme: env['wsgi.url_scheme'] }).toEqual({
      remote: '127.0.0.1',
      host: `127.0.0.1:${port}`,
      script: '/app',
      scheme: 'http',
    });
  });
});

describeRecipe('nginx-failover', 'nginx', (r) => {
  it('sends GETs to both backends while both run', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) {
      const res = await fetch(`${r().url}/hello?name=${i}`);
      await res.text();
      seen.add(res.headers.get('x-upstream') ?? '');
    }
    expect([...seen].sort()).toEqual([`127.0.0.2:${r().vars.BACKEND_PORT}`, `127.0.0.3:${r().vars.BACKEND_PORT}`]);
  });

  it('retries a GET that a backend dropped mid-request, but not a POST', async () => {
    // The first server is replaced by one that accepts, reads the request, and drops the
    // connection (as a crash mid-request would); max_fails=0 keeps nginx sending it its share.
    const crasher = createServer((socket) => socket.once('data', () => socket.destroy())).listen(0, '127.0.0.2');
    await once(crasher, 'listening');
    const crashAt = `127.0.0.2:${(crasher.address() as AddressInfo).port}`;
    const variant = await startVariant(r(), (snippet) => {
      const out = snippet.replace(/server 127\.0\.0\.2:\d+ [^;]*;/, `server ${crashAt} max_fails=0;`);
      expect(out).not.toBe(snippet);
      return out;
    });
    try {
      const good = `127.0.0.3:${r().vars.BACKEND_PORT}`;
      const tried = { get: [] as string[], post: [] as string[] };
      for (let i = 0; i < 4; i++) {
        const get = await fetch(`${variant.running.url}/hello?name=${i}`);
        expect(get.status).toBe(200);
        expect(await get.text()).toBe(`Hello, ${i}!\n`);
        tried.get.push(get.headers.get('x-upstream')!);
      }
      for (let i = 0; i < 4; i++) {
        const body = Buffer.alloc(1000, i);
        const post = await fetch(`${variant.running.url}/upload`, { method: 'POST', body });
        await post.arrayBuffer();
        tried.post.push(`${post.status} ${post.headers.get('x-upstream')}`);
      }
      // Round robin sends about half of each to the crashing server: those GETs were retried on
      // the good one ("A, B"), those POSTs answered 502 from it alone.
      expect(tried.get, JSON.stringify(tried)).toContain(`${crashAt}, ${good}`);
      expect(tried.post, JSON.stringify(tried)).toContain(`502 ${crashAt}`);
      for (const p of tried.post) expect([`200 ${good}`, `502 ${crashAt}`]).toContain(p);
    } finally {
      await variant.stop();
      crasher.close();
    }
  });

  it('loses no GET when one backend stops gracefully (SIGTERM) under load', async () => {
    await expectNoLostGets(r(), (b) => b.stop('SIGTERM'));
  });

  it('loses no GET when one backend is killed (SIGKILL) under load', async () => {
    // A fresh pool: the one above has a backend down (and nginx resting it for fail_timeout).
    const fresh = await startRecipe('nginx-failover', { nsgi: NSGI_FROM_SOURCE });
    try {
      await expectNoLostGets(fresh, (b) => b.stop('SIGKILL'));
    } finally {
      await fresh.stop();
    }
  });
});

/**
 * Runs GETs from 8 concurrent clients; once 80 have been answered, stops the first backend with
 * `stop`, then keeps going until 80 more have been answered. Every GET must be a 200 with the
 * right body; both backends must have answered before the stop, only the other one after it.
 */
async function expectNoLostGets(running: RunningRecipe, stop: (backend: RunningProcess) => Promise<void>): Promise<void> {
  const [first, second] = [`127.0.0.2:${running.vars.BACKEND_PORT}`, `127.0.0.3:${running.vars.BACKEND_PORT}`];
  type Result = { phase: 'before' | 'during' | 'after'; ok: boolean; upstream: string; error?: string };
  const results: Result[] = [];
  let phase: Result['phase'] = 'before';
  let done = false;
  let n = 0;
  const client = async (): Promise<void> => {
    while (!done) {
      const i = n++;
      const at = phase;
      try {
        const res = await fetch(`${running.url}/hello?name=${i}`);
        const text = await res.text();
        results.push({ phase: at, ok: res.status === 200 && text === `Hello, ${i}!\n`, upstream: res.headers.get('x-upstream') ?? '', error: res.status === 200 ? undefined : `${res.status} ${text.slice(0, 200)}` });
      } catch (err) {
        results.push({ phase: at, ok: false, upstream: '', error: String(err) });
      }
    }
  };
  const until = async (count: number): Promise<void> => {
    while (results.length < count) await new Promise((resolve) => setTimeout(resolve, 10));
  };
  const clients = Array.from({ length: 8 }, client);
  await until(80);
  phase = 'during';
  await stop(running.backends[0]!);
  phase = 'after';
  const afterStop = results.length;
  await until(afterStop + 80);
  done = true;
  await Promise.all(clients);

  const failed = results.filter((x) => !x.ok);
  expect(failed, `failed GETs\n${running.logs()}`).toEqual([]);
  // The server that answered is the last of X-Upstream ("A, B" when A failed: a GET that was in
  // flight on the backend when it was killed).
  const answeredBy = (x: Result): string => x.upstream.split(', ').at(-1)!;
  const servedBefore = new Set(results.filter((x) => x.phase === 'before').map(answeredBy));
  expect([...servedBefore].sort(), 'backends that answered before the stop').toEqual([first, second]);
  // After the stop every answer came from the second backend, possibly after trying the first.
  const after = results.filter((x) => x.phase === 'after');
  expect(after.length).toBeGreaterThanOrEqual(80);
  for (const x of after) expect(answeredBy(x)).toBe(second);
}

/** The recipe's snippet, edited, run by a second nginx on its own port and run folder, in front of the same backends. */
async function startVariant(base: RunningRecipe, edit: (snippet: string) => string): Promise<{ running: RunningRecipe; stop(): Promise<void> }> {
  const run = mkdtempSync(join(tmpdir(), `nsgi-${base.recipe.name}-variant-`));
  const port = await freePort();
  const vars = { ...base.vars, RUN: run, PORT: port };
  let snippet: string;
  try {
    snippet = edit(renderTemplate(readFileSync(join(base.recipe.here, base.recipe.config!), 'utf8'), vars));
  } catch (err) {
    rmSync(run, { recursive: true, force: true });
    throw err;
  }
  const [command, args] = prepareServer('nginx', { run, port, snippet });
  const server = startProcess(command, args, { cwd: run });
  const logs = (): string => [server.output(), ...['error.log'].filter((f) => existsSync(join(run, f))).map((f) => readFileSync(join(run, f), 'utf8'))].join('\n');
  const stop = async (): Promise<void> => {
    await server.stop();
    rmSync(run, { recursive: true, force: true });
  };
  try {
    await waitForAddress(`127.0.0.1:${port}`, { child: server.child, what: 'nginx (variant)' });
  } catch (err) {
    const text = logs();
    await stop();
    throw new Error(`${String(err)}\n${text}`);
  }
  return { running: { ...base, url: `http://127.0.0.1:${port}`, run, vars, server, logs }, stop };
}

/**
 * POSTs 5 MiB with a Content-Length, pausing after 3 MiB to list the files nginx holds open in its
 * client_body_temp_path (RUN/client_body): with request buffering on, nginx reads the body into a
 * temp file there before it contacts the app; with it off, the bytes go straight on to the app.
 * nginx unlinks such a file as soon as it creates it, so it is found through /proc/PID/fd, not
 * in the folder.
 */
function uploadWatchingSpool(url: string, path: string, run: string, waitMs = 1500): Promise<{ status: number; bytes: number; spooledMidway: string[] }> {
  const total = 5 * 1024 * 1024;
  const chunk = Buffer.alloc(64 * 1024, 'nsgi');
  const spoolDir = join(run, 'client_body');
  return new Promise((resolve, reject) => {
    let spooledMidway: string[] = [];
    const req = request(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'content-length': total } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, bytes: res.statusCode === 200 ? (JSON.parse(body) as { bytes: number }).bytes : -1, spooledMidway });
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on('error', reject);
    const write = async (): Promise<void> => {
      let sent = 0;
      const send = async (upTo: number): Promise<void> => {
        while (sent < upTo) {
          if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
          sent += chunk.length;
        }
      };
      await send(3 * 1024 * 1024);
      // Give nginx time to read what was sent: a spooled body shows up as an open file within it.
      // The control case waits longer: on a busy machine nginx may take a while to read the 3 MiB.
      const deadline = Date.now() + waitMs;
      while ((spooledMidway = openFilesUnder(run, spoolDir)).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      await send(total);
      req.end();
    };
    write().catch(reject);
  });
}

/** The files under `dir` that the nginx of `run` (master and workers) holds open, deleted or not. */
function openFilesUnder(run: string, dir: string): string[] {
  const master = readFileSync(join(run, 'nginx.pid'), 'utf8').trim();
  const children = readFileSync(`/proc/${master}/task/${master}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  const open: string[] = [];
  for (const pid of [master, ...children]) {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        if (target.startsWith(`${dir}/`)) open.push(target);
      } catch {
        // closed between readdir and readlink
      }
    }
  }
  return open;
}
