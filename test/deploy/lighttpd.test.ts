// docs/deployment/lighttpd.md: every lighttpd recipe in examples/deploy, run by a real lighttpd
// (1.4.69 here), with the standard checks of checks.ts and what each recipe adds.
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { LighttpdRootFix } from '../../src/middleware/lighttpd-root-fix.js';
import { PrefixMiddleware } from '../../src/middleware/prefix.js';
import type { Environ, Middleware } from '../../src/types.js';
import { ROOT } from '../helpers/cli.js';
import { describeRecipe, observe, type Observed } from './checks.js';

/** The parent pids of `pid`, nearest first, read from /proc. */
function ancestors(pid: number): number[] {
  const out: number[] = [];
  for (let p = pid; p > 1; ) {
    const status = readFileSync(`/proc/${p}/status`, 'utf8');
    p = Number(/^PPid:\s+(\d+)/m.exec(status)![1]);
    out.push(p);
  }
  return out;
}

/** Whether process `pid` still runs (a zombie counts as gone). */
function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** The SCRIPT_NAME and PATH_INFO an app behind `fixer` sees for what the server sent in `o`. */
function seen(fixer: Middleware, o: Observed): [string, string] {
  let got: [string, string] = ['?', '?'];
  const environ = { SCRIPT_NAME: o.sentScriptName, PATH_INFO: o.sentPathInfo, 'wsgi.url_scheme': 'http', HTTP_HOST: '127.0.0.1' } as unknown as Environ;
  void fixer((e) => {
    got = [e.SCRIPT_NAME, e.PATH_INFO];
    return [];
  })(environ, () => () => {});
  return got;
}

describeRecipe('lighttpd-bin-path', 'lighttpd', (r) => {
  it('max-procs 2: two nsgi processes that lighttpd spawned answer', async () => {
    const pids = new Set<number>();
    // lighttpd gives a request to the least busy process: only concurrent requests reach both.
    for (let round = 0; round < 20 && pids.size < 2; round++) {
      const answers = await Promise.all(Array.from({ length: 8 }, () => fetch(`${r().url}/app/env`)));
      for (const res of answers) {
        expect(res.status, r().logs()).toBe(200);
        await res.arrayBuffer();
        expect(res.headers.get('x-worker-pid'), r().logs()).toMatch(/^\d+$/);
        pids.add(Number(res.headers.get('x-worker-pid')));
      }
    }
    expect(pids.size, r().logs()).toBe(2);
    for (const pid of pids) expect(ancestors(pid), `pid ${pid}\n${r().logs()}`).toContain(r().server!.child.pid);
  });

  it('starts a process again when it dies; once it serves, both answer', async () => {
    // Concurrent bursts until `done` holds for the pids that answered; every answer must be a 200.
    const burstsUntil = async (done: (pids: Set<number>) => boolean): Promise<Set<number>> => {
      const pids = new Set<number>();
      const deadline = Date.now() + 20_000;
      while (!done(pids)) {
        if (Date.now() > deadline) throw new Error(`only pids ${[...pids].join(', ')} answered\n${r().logs()}`);
        for (const res of await Promise.all(Array.from({ length: 8 }, () => fetch(`${r().url}/app/env`)))) {
          expect(res.status, r().logs()).toBe(200);
          await res.arrayBuffer();
          pids.add(Number(res.headers.get('x-worker-pid')));
        }
      }
      return pids;
    };
    const serving = (): string[] => [...r().server!.output().matchAll(/nsgi: serving .* \(master pid (\d+),/g)].map((m) => m[1]!);
    const before = await burstsUntil((pids) => pids.size === 2);
    // The process lighttpd started is the nsgi master (app.fcgi execs it): stop one, with no
    // request under way (stopped under load, some requests get a 500: see the page).
    const victim = [...before][0]!;
    const master = ancestors(victim).find((pid) => ancestors(pid)[0] === r().server!.child.pid)!;
    expect(serving()).toContain(String(master));
    process.kill(master, 'SIGTERM');
    // lighttpd notices (its error log says "child exited") and starts app.fcgi again; nsgi
    // prints its "serving" line (on lighttpd's stderr) with the new master's pid.
    const deadline = Date.now() + 20_000;
    while (alive(master) || serving().length < 3) {
      if (Date.now() > deadline) throw new Error(`no new nsgi process after ${master} stopped\n${r().logs()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(r().logs()).toMatch(/child exited: 0 unix:.*app\.sock-\d/);
    const after = await burstsUntil((pids) => pids.size === 2);
    expect(after.has(victim)).toBe(false);
  });

  it('bin-environment reaches the app (the process environment, copied into the environ)', async () => {
    const env = (await (await fetch(`${r().url}/app/env`)).json()) as Record<string, unknown>;
    expect(env.GREETING).toBe('hello from bin-environment');
  });

  it('the condition keeps the "/app" key from catching /apple', async () => {
    const apple = await fetch(`${r().url}/apple`);
    expect(apple.status).toBe(404);
    expect(apple.headers.get('x-nsgi-script-name')).toBeNull();
    const bare = await fetch(`${r().url}/app`);
    expect(bare.status).toBe(200);
    expect(bare.headers.get('x-nsgi-script-name')).toBe('%2Fapp');
  });
});

describeRecipe('lighttpd-root', 'lighttpd', (r) => {
  it('LighttpdRootFix, not PrefixMiddleware({ prefix: "/" }): only it keeps the first segment', async () => {
    // What lighttpd really sent for a root-mounted request, fed to both fixers.
    const sent = await observe(r(), '/env/a%20b');
    expect([sent.sentScriptName, sent.sentPathInfo]).toEqual(['/env', '/a b']);
    expect(seen(LighttpdRootFix(), sent)).toEqual(['', '/env/a b']);
    // PrefixMiddleware sets SCRIPT_NAME "" and drops what lighttpd moved into SCRIPT_NAME.
    expect(seen(PrefixMiddleware({ prefix: '/', translateForwardedServer: false }), sent)).toEqual(['', '/a b']);
  });

  it('the site root itself: lighttpd sends SCRIPT_NAME "/", the app sees "" and "/"', async () => {
    const o = await observe(r(), '/');
    expect(o).toMatchObject({ sentScriptName: '/', sentPathInfo: '', scriptName: '', pathInfo: '/' });
  });
});

describeRecipe('lighttpd-rewrite', 'lighttpd', (r) => {
  it('PrefixMiddleware({ prefix: "/" }), not LighttpdRootFix: lighttpd sent /app.fcgi, which is no part of the URL', async () => {
    const o = await observe(r(), '/env/a%20b');
    expect([o.sentScriptName, o.sentPathInfo]).toEqual(['/app.fcgi', '/env/a b']);
    expect(seen(LighttpdRootFix(), o)).toEqual(['', '/app.fcgi/env/a b']);
    expect(seen(PrefixMiddleware({ prefix: '/', translateForwardedServer: false }), o)).toEqual(['', '/env/a b']);
  });

  it('no visitor sees /app.fcgi: REQUEST_URI is the URL as requested', async () => {
    const env = (await (await fetch(`${r().url}/env/x?y=1`)).json()) as Record<string, unknown>;
    expect(env.REQUEST_URI).toBe('/env/x?y=1');
  });
});

describeRecipe('lighttpd-alias', 'lighttpd', (r) => {
  it('lighttpd serves /static/ itself; the app never sees it', async () => {
    const res = await fetch(`${r().url}/static/hello.txt`);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-nsgi-script-name')).toBeNull();
    expect(res.headers.get('server')).toMatch(/^lighttpd\//);
    // A file lighttpd does not have under the alias is lighttpd's 404, not the app's.
    const missing = await fetch(`${r().url}/static/nothing.txt`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('x-nsgi-script-name')).toBeNull();
    // With the slash on both sides the alias ends at a segment boundary: /statichello.txt is the app's.
    const glued = await fetch(`${r().url}/statichello.txt`);
    expect(glued.status).toBe(404);
    expect(glued.headers.get('x-nsgi-path-info')).toBe('%2Fstatichello.txt');
  });
});

describeRecipe('lighttpd-static-alias', 'lighttpd', (r) => {
  it('nsgi serves /static/ (StaticAlias), with its caching headers and ranges', async () => {
    const res = await fetch(`${r().url}/static/hello.txt`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('public, max-age=86400');
    expect(res.headers.get('etag')).toBeTruthy();
    const etag = res.headers.get('etag')!;
    await res.arrayBuffer();
    const again = await fetch(`${r().url}/static/hello.txt`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    const part = await fetch(`${r().url}/static/hello.txt`, { headers: { range: 'bytes=0-7' } });
    expect(part.status).toBe(206);
    expect(await part.text()).toBe('A static');
    // A file missing under the alias is StaticAlias's 404 (fallthrough is off), not the app's.
    const missing = await fetch(`${r().url}/static/nothing.txt`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('x-nsgi-path-info')).toBeNull();
    // The alias ends at a segment boundary: /statichello.txt reaches the app.
    const glued = await fetch(`${r().url}/statichello.txt`);
    expect(glued.status).toBe(404);
    expect(glued.headers.get('x-nsgi-path-info')).toBe('%2Fstatichello.txt');
  });
});

describeRecipe('lighttpd-scgi', 'lighttpd');

describeRecipe('lighttpd-proxy', 'lighttpd', (r) => {
  it('the app sees the client address lighttpd saw, not one the client wrote in X-Forwarded-For', async () => {
    const env = (await (await fetch(`${r().url}/app/env`, { headers: { 'x-forwarded-for': '203.0.113.9' } })).json()) as Record<string, unknown>;
    expect(env.REMOTE_ADDR).toBe('127.0.0.1');
    expect(env['wsgi.url_scheme']).toBe('http');
    expect(env.HTTP_HOST).toBe(r().url.slice('http://'.length));
  });
});

describeRecipe('lighttpd-authorizer', 'lighttpd', (r) => {
  const report = readFileSync(`${ROOT}examples/deploy/lighttpd-authorizer/guarded/private/report.txt`, 'utf8');
  const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

  it('refuses without credentials: the authorizer\'s 401 reaches the client', async () => {
    const res = await fetch(`${r().url}/private/report.txt`);
    expect(res.status, r().logs()).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Basic realm="private", charset="UTF-8"');
    expect(await res.text()).toBe('Log in to see /private/.\n');
  });

  it('refuses wrong credentials with 403', async () => {
    const res = await fetch(`${r().url}/private/report.txt`, { headers: { authorization: basic('ada', 'babbage') } });
    expect(res.status).toBe(403);
    expect(await res.text()).toBe('Wrong user name or password.\n');
  });

  it('lets the right credentials through, and lighttpd serves the file from docroot', async () => {
    const res = await fetch(`${r().url}/private/report.txt`, { headers: { authorization: basic('ada', 'lovelace') } });
    expect(res.status, r().logs()).toBe(200);
    expect(await res.text()).toBe(report);
    // Served by lighttpd's static file handler: its ETag, none of the app's headers.
    expect(res.headers.get('etag')).toBeTruthy();
    expect(res.headers.get('x-nsgi-script-name')).toBeNull();
  });
});
