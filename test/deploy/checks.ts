// The checks every deployment recipe must pass through its real web server (issue 7's list):
// a GET with a UTF-8 query, a checksummed 5 MiB POST, a static file the server serves itself,
// links built from SCRIPT_NAME that work at the mount point, and a 404 with two Set-Cookie
// headers. It also records what the server sent as SCRIPT_NAME/PATH_INFO and what the app saw
// after its fixer middleware, and holds the recipe's table in docs/deployment/<page>.md to it
// (NSGI_UPDATE_DOCS=1 rewrites the table from what was observed).
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRecipe, type RunningRecipe, type StartOptions } from '../../examples/deploy/lib/recipes.mjs';
import { nsgiShellCommand, ROOT } from '../helpers/cli.js';

/** The nsgi command the tests give recipes: from the TypeScript sources, so never a stale dist/. */
export const NSGI_FROM_SOURCE = nsgiShellCommand([]);

const STATIC_TEXT = readFileSync(`${ROOT}examples/deploy/static/hello.txt`, 'utf8');

/** The requests a recipe's table shows, relative to its mount point. */
export const TABLE_REQUESTS = ['/', '/env/a%20b', '/hello?name=Zo%C3%AB'];

/** One row of a recipe's table. */
export interface Observed {
  request: string;
  sentScriptName: string;
  sentPathInfo: string;
  scriptName: string;
  pathInfo: string;
}

/**
 * Defines a describe() block for `name`: starts the recipe before its tests, stops it after, runs
 * the standard checks, and returns a getter for the running recipe (for a recipe's extra tests,
 * written inside `extra`).
 */
export function describeRecipe(name: string, page: string, extra?: (running: () => RunningRecipe) => void, options: StartOptions = {}): void {
  describe(`recipe ${name} (docs/deployment/${page}.md)`, () => {
    let running: RunningRecipe | undefined;
    const r = (): RunningRecipe => {
      if (running === undefined) throw new Error(`recipe ${name} did not start`);
      return running;
    };
    beforeAll(async () => {
      running = await startRecipe(name, { nsgi: NSGI_FROM_SOURCE, ...options });
    });
    afterAll(async () => {
      await running?.stop();
    });
    const at = (path: string): string => `${r().url}${r().mount}${path}`;
    const fail = (what: string): string => `${what}\n${r().logs()}`;

    it('answers a GET with a UTF-8 query string', async () => {
      const res = await fetch(at(`/hello?name=${encodeURIComponent('Zoë ☃ 漢字')}`));
      expect(res.status, fail('status')).toBe(200);
      expect(await res.text()).toBe('Hello, Zoë ☃ 漢字!\n');
      const env = (await (await fetch(at(`/env?q=${encodeURIComponent('grüße & co')}&n=1`))).json()) as { query: Record<string, string> };
      expect(env.query).toEqual({ q: 'grüße & co', n: '1' });
    });

    it('streams a 5 MiB POST to the app intact (SHA-256)', async () => {
      const body = randomBytes(5 * 1024 * 1024);
      const res = await fetch(at('/upload'), { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } });
      expect(res.status, fail('status')).toBe(200);
      expect(await res.json()).toEqual({ bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') });
    });

    it('serves the static file beside the app', async () => {
      const res = await fetch(`${r().url}${r().recipe.static}`);
      expect(res.status, fail(`GET ${r().recipe.static}`)).toBe(200);
      expect(await res.text()).toBe(STATIC_TEXT);
    });

    it('builds links from SCRIPT_NAME that work at the mount point', async () => {
      const res = await fetch(at('/links'));
      expect(res.status, fail('status')).toBe(200);
      const links = (await res.json()) as { home: string; hello: string; env: string };
      expect(links.home).toBe(`${r().mount}/`);
      const hello = await fetch(`${r().url}${links.hello}`);
      expect(await hello.text()).toBe('Hello, Zoë!\n');
      const env = (await (await fetch(`${r().url}${links.env}`)).json()) as { SCRIPT_NAME: string; PATH_INFO: string };
      expect({ script: env.SCRIPT_NAME, path: env.PATH_INFO }).toEqual({ script: r().mount, path: '/env/deep/path' });
      const home = await fetch(`${r().url}${links.home}`);
      expect(home.status).toBe(200);
      expect(await home.text()).toContain(`href="${links.hello.replace(/&/g, '&#38;')}"`);
    });

    it('answers 404 with both Set-Cookie headers', async () => {
      const res = await fetch(at('/no/such/page'));
      expect(res.status, fail('status')).toBe(404);
      expect(res.headers.getSetCookie()).toEqual(['first=1; Path=/', 'second=2; Path=/; HttpOnly']);
      expect(await res.text()).toBe(`Not found: ${r().mount}/no/such/page\n`);
    });

    it(`matches its SCRIPT_NAME/PATH_INFO table in docs/deployment/${page}.md`, async () => {
      const rows: Observed[] = [];
      for (const request of TABLE_REQUESTS) rows.push(await observe(r(), `${r().mount}${request}`));
      expectTable(page, name, rows);
    });

    extra?.(r);
  });
}

/** What the server sent and what the app saw for one request (read off the X-Nsgi-* headers). */
export async function observe(running: RunningRecipe, request: string): Promise<Observed> {
  const res = await fetch(`${running.url}${request}`);
  await res.arrayBuffer();
  // lighttpd drops response headers whose value is empty (an empty SCRIPT_NAME arrives as no
  // X-Nsgi-Script-Name at all): once one X-Nsgi-* header shows the app answered, a missing one is "".
  const names = ['x-nsgi-sent-script-name', 'x-nsgi-sent-path-info', 'x-nsgi-script-name', 'x-nsgi-path-info'];
  if (names.every((name) => res.headers.get(name) === null)) throw new Error(`${request}: no X-Nsgi-* header (status ${res.status}); was it answered by the app?\n${running.logs()}`);
  const h = (name: string): string => decodeURIComponent(res.headers.get(name) ?? '');
  return { request, sentScriptName: h('x-nsgi-sent-script-name'), sentPathInfo: h('x-nsgi-sent-path-info'), scriptName: h('x-nsgi-script-name'), pathInfo: h('x-nsgi-path-info') };
}

/** The markdown table for a recipe's observations. */
export function renderTable(rows: Observed[]): string {
  const code = (s: string): string => (s === '' ? '`""`' : `\`${s}\``);
  return [
    '| request | server sends `SCRIPT_NAME` | server sends `PATH_INFO` | app sees `SCRIPT_NAME` | app sees `PATH_INFO` |',
    '| --- | --- | --- | --- | --- |',
    ...rows.map((o) => `| \`${o.request}\` | ${code(o.sentScriptName)} | ${code(o.sentPathInfo)} | ${code(o.scriptName)} | ${code(o.pathInfo)} |`),
  ].join('\n');
}

/**
 * Holds the table after `<!-- observed: NAME -->` in docs/deployment/PAGE.md to what was
 * observed; with NSGI_UPDATE_DOCS=1, writes the observed table there instead.
 */
export function expectTable(page: string, name: string, rows: Observed[]): void {
  const file = `${ROOT}docs/deployment/${page}.md`;
  const doc = readFileSync(file, 'utf8');
  const marker = `<!-- observed: ${name} -->\n`;
  const start = doc.indexOf(marker);
  const table = renderTable(rows);
  if (process.env.NSGI_UPDATE_DOCS === '1') {
    if (start === -1) throw new Error(`${file}: add a line "${marker.trim()}" where the table goes`);
    const from = start + marker.length;
    const end = tableEnd(doc, from);
    writeFileSync(file, `${doc.slice(0, from)}${table}\n${doc.slice(end)}`);
    return;
  }
  expect(start, `${file} has no "${marker.trim()}" line; run with NSGI_UPDATE_DOCS=1 after adding it`).not.toBe(-1);
  const from = start + marker.length;
  expect(doc.slice(from, tableEnd(doc, from)).trimEnd(), `the table for ${name} in ${file} (NSGI_UPDATE_DOCS=1 rewrites it)`).toBe(table);
}

// The table runs to the first line that does not start with "|".
function tableEnd(doc: string, from: number): number {
  let i = from;
  while (doc.startsWith('|', i)) {
    const nl = doc.indexOf('\n', i);
    i = nl === -1 ? doc.length : nl + 1;
  }
  return i;
}
