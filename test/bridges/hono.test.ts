// An unmodified Hono app under fromFetchHandler, in memory and over the HTTP transport: routing,
// JSON bodies, 20 MiB streamed both ways, redirects, two cookies, client abort reaching
// request.signal, and the two ways to mount below SCRIPT_NAME.
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fromFetchHandler } from '../../src/bridges/fetch.js';
import type { App } from '../../src/types.js';
import { honoApp, Probe } from './apps.js';
import { honoCases } from './cases.js';
import { header, inMemory, overHTTP, type Target } from './targets.js';

const probe = new Probe();
const hono = honoApp(probe);
const app: App = fromFetchHandler(hono.fetch);

const targets: Array<[string, () => Promise<Target>]> = [
  ['in memory', async () => inMemory(app)],
  ['over HTTP', () => overHTTP(app)],
];

describe.each(targets)('Hono through fromFetchHandler, %s', (_name, make) => {
  let t: Target;
  beforeAll(async () => {
    t = await make();
  });
  afterAll(() => t.close());

  honoCases(() => t, probe);
});

describe('Hono mounted below SCRIPT_NAME', () => {
  const sub = new Hono().basePath('/app');
  sub.get('/where', (c) => c.json({ url: c.req.url }));
  sub.get('/back', (c) => c.redirect(new URL('/app/where', c.req.url).pathname));

  test("url: 'full' (default): the Request URL is the public one, the app routes with its basePath", async () => {
    const t = inMemory(fromFetchHandler(sub.fetch), '/app');
    const r = await t.request({ path: '/where?q=1' });
    expect(JSON.parse(r.body.toString())).toEqual({ url: 'http://bridge.test/app/where?q=1' });
    const back = await t.request({ path: '/back' });
    expect(header(back, 'location')).toBe('/app/where');
  });

  test("url: 'path-info': the Request URL leaves SCRIPT_NAME out, the app routes below the mount point", async () => {
    const plain = new Hono();
    plain.get('/where', (c) => c.json({ url: c.req.url }));
    const t = inMemory(fromFetchHandler(plain.fetch, { url: 'path-info' }), '/app');
    const r = await t.request({ path: '/where' });
    expect(JSON.parse(r.body.toString())).toEqual({ url: 'http://bridge.test/where' });
  });
});
