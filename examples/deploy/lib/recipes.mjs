// A recipe is a folder examples/deploy/<name>/ holding a web server config snippet, the app entry
// (production.ini, a pipeline of fixer middleware around ../app.mjs), any dispatch script, and a
// recipe.mjs that says how the pieces start. startRecipe() fills the templates into a run folder,
// starts the nsgi backends, then the web server, and waits until both listen. run.mjs (for people)
// and the tests (for CI) both start recipes through here, so what a page shows is what ran.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareServer, startProcess, waitForAddress } from './servers.mjs';
import { renderTemplate } from './template.mjs';

/** examples/deploy, absolute, without a trailing slash. */
export const DEPLOY_DIR = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');

/** The nsgi command a user has after `npm ci` in this checkout: node + bin/nsgi.mjs (runs dist/). */
export const DEFAULT_NSGI = `${quote(process.execPath)} ${quote(join(DEPLOY_DIR, '..', '..', 'bin', 'nsgi.mjs'))}`;

/** The names of every recipe (folders of examples/deploy with a recipe.mjs), sorted. */
export function recipeNames() {
  return readdirSync(DEPLOY_DIR)
    .filter((name) => existsSync(join(DEPLOY_DIR, name, 'recipe.mjs')))
    .sort();
}

/** Loads examples/deploy/<name>/recipe.mjs. */
export async function loadRecipe(name) {
  const file = join(DEPLOY_DIR, name, 'recipe.mjs');
  if (!existsSync(file)) throw new Error(`no recipe "${name}" (recipes: ${recipeNames().join(', ')})`);
  const recipe = (await import(file)).default;
  return { name, here: join(DEPLOY_DIR, name), templates: [], backends: [], ports: [], modules: [], env: {}, ...recipe };
}

/**
 * Starts a recipe on loopback.
 *
 * Options: `nsgi` (the shell command that runs nsgi; default {@link DEFAULT_NSGI}), `port` (the web
 * server's; default: a free one), `run` (the folder for rendered files, sockets and logs; default: a
 * fresh temp folder, removed by stop()), `vars` (more template values), `echo(who, text)` (called with
 * what the backends and the web server print, as they print it).
 *
 * Resolves to { recipe, url, mount, run, vars, server, backends, logs(), stop() } once everything
 * listens; on failure everything started is stopped and the error carries the logs.
 */
export async function startRecipe(name, options = {}) {
  const recipe = typeof name === 'string' ? await loadRecipe(name) : name;
  const ownRun = options.run === undefined;
  const run = options.run ?? mkdtempSync(join(tmpdir(), `nsgi-${recipe.name}-`));
  chmodSync(run, 0o755);
  const vars = {
    RUN: run,
    HERE: recipe.here,
    DEPLOY: DEPLOY_DIR,
    NODE: process.execPath,
    NSGI: options.nsgi ?? DEFAULT_NSGI,
    PORT: options.port === undefined ? await freePort() : await portMustBeFree(options.port),
    ...options.vars,
  };
  for (const extra of recipe.ports) vars[extra] ??= await freePort();

  // Render the templates into the run folder (same relative path, same mode: a dispatch script stays executable).
  for (const rel of [recipe.config, ...recipe.templates].filter(Boolean)) {
    const src = join(recipe.here, rel);
    const dest = join(run, rel);
    mkdirSync(dirname(dest), { recursive: true, mode: 0o755 });
    writeFileSync(dest, renderTemplate(readFileSync(src, 'utf8'), vars, `${recipe.name}/${rel}`));
    chmodSync(dest, statSync(src).mode & 0o777);
  }

  const started = [];
  const logs = () =>
    [
      ...started.map((p) => `--- ${p.what} ---\n${p.output()}`),
      ...['error.log', 'access.log'].filter((f) => existsSync(join(run, f))).map((f) => `--- ${f} ---\n${readFileSync(join(run, f), 'utf8')}`),
    ].join('\n');
  const stop = async () => {
    // The web server first (it stops sending requests), then the backends.
    for (const p of [...started].reverse()) await p.stop();
    if (ownRun && !options.keep) rmSync(run, { recursive: true, force: true });
  };

  try {
    const env = { ...process.env, ...recipe.env };
    const backends = [];
    for (const [i, b] of recipe.backends.entries()) {
      const command = renderTemplate(b.command, vars, `${recipe.name}/recipe.mjs backends[${i}]`);
      const p = startProcess(command, [], { cwd: run, env, shell: true, echo: options.echo && ((text) => options.echo(`backend ${i + 1}`, text)) });
      p.what = `backend ${i + 1}: ${command}`;
      p.command = command;
      started.push(p);
      backends.push(p);
      if (b.listen) {
        p.listen = renderTemplate(b.listen, vars);
        await waitForAddress(p.listen, { child: p.child, what: p.what });
      }
    }
    let server;
    if (recipe.server) {
      const snippet = readFileSync(join(run, recipe.config), 'utf8');
      const [command, args] = prepareServer(recipe.server, { run, port: vars.PORT, modules: recipe.modules, snippet });
      server = startProcess(command, args, { cwd: run, env, echo: options.echo && ((text) => options.echo(recipe.server, text)) });
      server.what = recipe.server;
      started.push(server);
      await waitForAddress(`127.0.0.1:${vars.PORT}`, { child: server.child, what: recipe.server });
    }
    return { recipe, url: `http://127.0.0.1:${vars.PORT}`, mount: recipe.mount ?? '', run, vars, server, backends, logs, stop };
  } catch (err) {
    const text = logs();
    await stop();
    err.message += `\n${text}`;
    throw err;
  }
}

/** A free TCP port on 127.0.0.1 (bound, then released). */
export function freePort(host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// A taken port would let the wait below succeed against whatever else listens there, while the
// web server itself failed to bind: refuse it up front.
function portMustBeFree(port) {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', (err) => reject(new Error(`port ${port} on 127.0.0.1 is not free (${err.code}); pick another with --port`)));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(port)));
  });
}

function quote(arg) {
  return /^[\w./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
