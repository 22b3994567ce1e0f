// The one command a newcomer runs, run as they run it: `node examples/deploy/run.mjs RECIPE`
// (which uses bin/nsgi.mjs, so dist/ from `npm ci` / `npm run build`), then Ctrl-C. And the
// overview docs/deployment/README.md, whose table of recipes must name every recipe folder and
// nothing else, with each row's server, transport, mount and middleware as the folder has them.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort, loadRecipe, recipeNames, type Recipe } from '../../examples/deploy/lib/recipes.mjs';
import { ROOT } from '../helpers/cli.js';

const RUN_MJS = `${ROOT}examples/deploy/run.mjs`;

/**
 * Every running process as pid → parent and start time (field 22 of /proc/PID/stat, so that a
 * reused pid is not mistaken for ours). Zombies are left out: they have exited, and wait only for
 * whoever adopted them (pid 1) to collect their exit status.
 */
function processTable(): Map<number, { ppid: number; start: string }> {
  const table = new Map<number, { ppid: number; start: string }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")".
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z') continue;
      table.set(Number(entry), { ppid: Number(fields[1]), start: fields[19]! });
    } catch {
      // gone while we looked
    }
  }
  return table;
}

/** The processes below `root` (children, grandchildren...), as "pid/start" keys. */
function descendants(root: number): string[] {
  const table = processTable();
  const found: string[] = [];
  const walk = (parent: number): void => {
    for (const [pid, p] of table) {
      if (p.ppid === parent) {
        found.push(`${pid}/${p.start}`);
        walk(pid);
      }
    }
  };
  walk(root);
  return found;
}

function stillAlive(keys: string[]): string[] {
  const table = processTable();
  return keys.filter((k) => {
    const [pid, start] = k.split('/');
    return table.get(Number(pid))?.start === start;
  });
}

/** Resolves with stdout once it matches `pattern`; rejects if the child exits first. */
function waitForStdout(child: ChildProcess, pattern: RegExp, output: () => string): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      const m = pattern.exec(output());
      if (m) {
        child.stdout!.off('data', check);
        child.off('exit', exited);
        resolve(m);
      }
    };
    const exited = (code: number | null): void => reject(new Error(`run.mjs exited (${code}) before printing ${pattern}\n${output()}`));
    child.stdout!.on('data', check);
    child.once('exit', exited);
    check();
  });
}

const refused = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });

describe('node examples/deploy/run.mjs', () => {
  it('needs dist/ (npm ci builds it), as a newcomer has it', () => {
    expect(existsSync(`${ROOT}dist/cli/run.js`), 'dist/ is missing: run `npm run build`').toBe(true);
  });

  it('runs nginx-unix until Ctrl-C, then exits 0 leaving no process and no run folder', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [RUN_MJS, 'nginx-unix', '--port', String(port)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const [, url] = await waitForStdout(child, /^\s+open\s+(\S+)$/m, () => out);
      const [, files] = /^\s+files\s+(\S+)/m.exec(out)!;
      expect(url).toBe(`http://127.0.0.1:${port}/`);
      expect(existsSync(`${files}/app.sock`), out).toBe(true);

      const res = await fetch(`${url}hello?name=${encodeURIComponent('Zoë')}`);
      expect(res.status, out).toBe(200);
      expect(await res.text()).toBe('Hello, Zoë!\n');

      // nginx's master and worker, nsgi's master and workers (two, from production.ini).
      const started = descendants(child.pid!);
      expect(started.length, out).toBeGreaterThanOrEqual(5);

      child.kill('SIGINT');
      expect(await exit, out).toBe(0);
      expect(stillAlive(started), `left running after Ctrl-C:\n${out}`).toEqual([]);
      expect(existsSync(files!), `${files} was not removed`).toBe(false);
      expect(await refused(port)).toBe(true);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('with no recipe, lists every recipe and exits 2', () => {
    const r = spawnSync(process.execPath, [RUN_MJS], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stdout).toContain('Usage: node examples/deploy/run.mjs RECIPE');
    const listed = [...r.stdout.matchAll(/^ {2}(\S+) {2,}/gm)].map((m) => m[1]);
    expect(listed).toEqual(recipeNames());
  });

  it('with an unknown recipe, says which exist and exits 1', () => {
    const r = spawnSync(process.execPath, [RUN_MJS, 'no-such-recipe'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('run: no recipe "no-such-recipe" (recipes: ');
    expect(r.stderr).toContain(recipeNames()[0]);
  });
});

// ---------------------------------------------------------------------------------------------
// The overview's table: the lines after `<!-- recipes -->` that start with "|".

interface Row {
  name: string;
  server: string;
  transport: string;
  mount: string;
  middleware: string;
  command: string;
}

function overviewRows(): Row[] {
  const doc = readFileSync(`${ROOT}docs/deployment/README.md`, 'utf8');
  const at = doc.indexOf('<!-- recipes -->\n');
  if (at === -1) throw new Error('docs/deployment/README.md has no "<!-- recipes -->" line before its table');
  const lines = doc.slice(at).split('\n').slice(1);
  const table = lines.slice(0, lines.findIndex((l) => !l.startsWith('|')));
  return table.slice(2).map((line) => {
    const cells = line.split('|').slice(1, -1).map((c) => c.trim());
    const name = /^\[`([\w-]+)`\]\([\w-]+\.md(#[\w-]+)?\)$/.exec(cells[0]!)?.[1];
    if (name === undefined || cells.length !== 7) throw new Error(`docs/deployment/README.md: a row is not "| [\`NAME\`](PAGE.md) | server | transport | mount | middleware | started by | command |": ${line}`);
    return { name, server: cells[1]!, transport: cells[2]!, mount: cells[3]!, middleware: cells[4]!, command: cells[6]! };
  });
}

/** The facts a row states, read off the recipe folder. */
function factsOf(recipe: Recipe): { server: string; transports: string[]; mount: string; middleware: string[] | undefined } {
  const ini = `${recipe.here}/production.ini`;
  const text = existsSync(ini) ? readFileSync(ini, 'utf8') : undefined;
  // Transport: the flag on each backend's command line, else the [server:main] section's use.
  const flags = new Set(recipe.backends.flatMap((b) => [...b.command.matchAll(/--(fastcgi|scgi|http|cgi)\b/g)].map((m) => m[1]!)));
  const serverUse = text && /^\[server:main\][^[]*?^use\s*=\s*nsgi#(\w+)/m.exec(text)?.[1];
  const transports = flags.size > 0 ? [...flags] : serverUse ? [serverUse] : [];
  // Middleware: the nsgi# filters of the pipeline (a file: filter is the recipe's own code).
  const middleware = text && [...text.matchAll(/^\[filter:[^\]]+\][^[]*?^use\s*=\s*nsgi#([\w-]+)/gm)].map((m) => m[1]!);
  return { server: recipe.server ?? 'none', transports, mount: recipe.mount === '' ? '/' : recipe.mount, middleware: middleware || undefined };
}

const TRANSPORT_WORDS: Record<string, string> = { fastcgi: 'FastCGI', scgi: 'SCGI', http: 'HTTP', cgi: 'CGI' };

describe('docs/deployment/README.md lists every recipe', () => {
  const rows = overviewRows();
  const named = rows.map((r) => r.name);

  it('names each recipe once', () => {
    expect(named.filter((n, i) => named.indexOf(n) !== i)).toEqual([]);
  });

  it.each(recipeNames())('has a row for the recipe folder %s', (name) => {
    expect(named, `examples/deploy/${name} has no row in the table of docs/deployment/README.md`).toContain(name);
  });

  it.each(rows.map((r) => [r.name, r] as const))('its row %s names a recipe folder and states what the folder has', async (name, row) => {
    expect(recipeNames(), `docs/deployment/README.md lists ${name}, but examples/deploy/${name}/recipe.mjs does not exist`).toContain(name);
    const facts = factsOf(await loadRecipe(name));
    expect(row.server.toLowerCase(), 'server').toBe(facts.server);
    expect(row.mount, 'mount').toBe(`\`${facts.mount}\``);
    for (const t of facts.transports) expect(row.transport, 'transport').toContain(TRANSPORT_WORDS[t]);
    if (facts.middleware !== undefined) expect(row.middleware, 'middleware (the nsgi# filters of production.ini)').toBe(facts.middleware.length === 0 ? 'none' : facts.middleware.map((m) => `\`${m}\``).join(', '));
    expect(row.command).toBe(`\`node examples/deploy/run.mjs ${name}\``);
  });
});
