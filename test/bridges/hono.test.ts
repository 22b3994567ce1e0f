// An unmodified Hono app under fromFetchHandler, in memory and over the HTTP transport: routing,
// JSON bodies, 20 MiB streamed both ways, redirects, two cookies, client abort reaching
// request.signal, and the two ways to mount below SCRIPT_NAME.
import { createHash } from 'node:crypto';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fromFetchHandler } from '../../src/bridges/fetch.js';
import type { App } from '../../src/types.js';
import { BIG, honoApp, pattern, patternSha, Probe } from './apps.js';
import { header, headerAll, inMemory, overHTTP, type Target } from './targets.js';

const probe = new Probe();
const hono = honoApp(probe);
const app: App = fromFetchHandler(hono.fetch);
const BIG_SHA = patternSha(BIG);

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

  test('routes with params and a query', async () => {
    const r = await t.request({ path: '/hello/ada?x=1&y=%C3%A9' });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body.toString())).toEqual({ hello: 'ada', path: '/hello/ada', query: { x: '1', y: 'é' } });
  });

  test('an unknown route gets Hono’s 404', async () => {
    const r = await t.request({ path: '/nope' });
    expect(r.status).toBe(404);
    expect(r.body.toString()).toBe('404 Not Found');
  });

  test('c.req.json() reads a JSON body', async () => {
    const r = await t.request({ method: 'POST', path: '/json', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ a: [1, 2], b: 'ü' }) });
    expect(r.status).toBe(201);
    expect(JSON.parse(r.body.toString())).toEqual({ received: { a: [1, 2], b: 'ü' }, type: 'application/json' });
  });

  test('a streamed 20 MiB upload arrives whole (sha256)', async () => {
    const r = await t.request({ method: 'POST', path: '/upload', headers: { 'Content-Length': String(BIG) }, body: pattern(BIG, 100_000) });
    expect(JSON.parse(r.body.toString())).toEqual({ bytes: BIG, sha256: BIG_SHA });
  });

  test('a streamed 20 MiB download arrives whole (sha256)', async () => {
    const r = await t.request({ path: '/download' });
    expect(r.status).toBe(200);
    expect(header(r, 'content-type')).toBe('application/octet-stream');
    expect(r.body.length).toBe(BIG);
    expect(createHash('sha256').update(r.body).digest('hex')).toBe(BIG_SHA);
  });

  test('c.redirect sends 302 with Location', async () => {
    const r = await t.request({ path: '/redirect' });
    expect(r.status).toBe(302);
    expect(header(r, 'location')).toBe('/hello/redirected');
  });

  test('two setCookie calls give two Set-Cookie headers', async () => {
    const r = await t.request({ path: '/cookies' });
    expect(headerAll(r, 'set-cookie')).toEqual(['first=one; Path=/', 'second=two; Path=/; HttpOnly']);
    expect(r.body.toString()).toBe('two cookies');
  });

  test('a client abort fires request.signal in the handler', async () => {
    probe.reset();
    const ac = new AbortController();
    const pending = t.request({ path: '/wait', signal: ac.signal }).catch((e: unknown) => e);
    await probe.get('started');
    ac.abort();
    expect(await probe.get('signal')).toEqual({ aborted: true });
    await pending;
  });
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
