// The Express 5 and Hono cases every bridge target runs (in memory, HTTP, FastCGI, nginx):
// routing, JSON bodies, 20 MiB streamed both ways (sha256), redirects, two cookies, sendFile with
// Range (Express), and a client abort reaching the handler. `t()` is the target, mounted at
// `t().prefix`; expectations that show the mount point use it.
import { createHash } from 'node:crypto';
import { expect, test } from 'vitest';
import { BIG, pattern, patternSha, type Probe } from './apps.js';
import { header, headerAll, type Target } from './targets.js';

const BIG_SHA = patternSha(BIG);

/** The Express app's cases (serve `fromNodeHandler(expressApp(probe, file))`). */
export function expressCases(t: () => Target, probe: Probe): void {
  test('routes with params and a query, and sees the path below the mount point', async () => {
    const r = await t().request({ path: '/hello/ada?x=1&y=%C3%A9' });
    expect(r.status).toBe(200);
    expect(header(r, 'content-type')).toBe('application/json; charset=utf-8');
    const p = t().prefix;
    expect(JSON.parse(r.body.toString())).toEqual({ hello: 'ada', url: '/hello/ada?x=1&y=%C3%A9', originalUrl: `${p}/hello/ada?x=1&y=%C3%A9`, baseUrl: p, query: { x: '1', y: 'é' } });
  });

  test('an unknown route gets Express’s own 404 page', async () => {
    const r = await t().request({ path: '/nope' });
    expect(r.status).toBe(404);
    expect(r.body.toString()).toContain(`Cannot GET ${t().prefix}/nope`);
  });

  test('express.json() parses a JSON body', async () => {
    const r = await t().request({ method: 'POST', path: '/json', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ a: [1, 2], b: 'ü' }) });
    expect(r.status).toBe(201);
    expect(JSON.parse(r.body.toString())).toEqual({ received: { a: [1, 2], b: 'ü' }, type: 'application/json' });
  });

  test('a streamed 20 MiB upload arrives whole (sha256)', async () => {
    const r = await t().request({ method: 'POST', path: '/upload', headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(BIG) }, body: pattern(BIG, 100_000) });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body.toString())).toEqual({ bytes: BIG, sha256: BIG_SHA });
  });

  test('a streamed 20 MiB download arrives whole (sha256)', async () => {
    const r = await t().request({ path: '/download' });
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(BIG);
    expect(createHash('sha256').update(r.body).digest('hex')).toBe(BIG_SHA);
  });

  test('res.redirect sends 302 with Location', async () => {
    const r = await t().request({ path: '/redirect' });
    expect(r.status).toBe(302);
    expect(header(r, 'location')).toBe(`${t().prefix}/hello/redirected`);
  });

  test('res.cookie twice gives two Set-Cookie headers', async () => {
    const r = await t().request({ path: '/cookies' });
    expect(r.status).toBe(200);
    expect(headerAll(r, 'set-cookie')).toEqual(['first=one; Path=/', 'second=two; Path=/; HttpOnly']);
    expect(r.body.toString()).toBe('two cookies');
  });

  test('res.sendFile answers a Range request with 206 and the slice', async () => {
    const r = await t().request({ path: '/file', headers: { Range: 'bytes=10-19' } });
    expect(r.status).toBe(206);
    expect(header(r, 'content-range')).toBe('bytes 10-19/256');
    expect(header(r, 'content-length')).toBe('10');
    expect([...r.body]).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
  });

  test('res.sendFile sends the whole file, and 416 for a range past its end', async () => {
    const whole = await t().request({ path: '/file' });
    expect(whole.status).toBe(200);
    expect(header(whole, 'accept-ranges')).toBe('bytes');
    expect(whole.body.length).toBe(256);
    const past = await t().request({ path: '/file', headers: { Range: 'bytes=300-400' } });
    expect(past.status).toBe(416);
    expect(header(past, 'content-range')).toBe('bytes */256');
  });

  test('a client abort reaches the handler: req "close" with req.aborted, res "close" unfinished', async () => {
    probe.reset();
    const ac = new AbortController();
    const pending = t().request({ path: '/wait', signal: ac.signal }).catch((e: unknown) => e);
    await probe.get('started');
    ac.abort();
    expect(await probe.get('req-close')).toEqual({ aborted: true, destroyed: true });
    expect(await probe.get('res-close')).toEqual({ writableFinished: false });
    await pending;
  });
}

/** The Hono app's cases (serve `fromFetchHandler(honoApp(probe).fetch)`, with `url: 'path-info'` under a prefix). */
export function honoCases(t: () => Target, probe: Probe): void {
  test('routes with params and a query', async () => {
    const r = await t().request({ path: '/hello/ada?x=1&y=%C3%A9' });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body.toString())).toEqual({ hello: 'ada', path: '/hello/ada', query: { x: '1', y: 'é' } });
  });

  test('an unknown route gets Hono’s 404', async () => {
    const r = await t().request({ path: '/nope' });
    expect(r.status).toBe(404);
    expect(r.body.toString()).toBe('404 Not Found');
  });

  test('c.req.json() reads a JSON body', async () => {
    const r = await t().request({ method: 'POST', path: '/json', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ a: [1, 2], b: 'ü' }) });
    expect(r.status).toBe(201);
    expect(JSON.parse(r.body.toString())).toEqual({ received: { a: [1, 2], b: 'ü' }, type: 'application/json' });
  });

  test('a streamed 20 MiB upload arrives whole (sha256)', async () => {
    const r = await t().request({ method: 'POST', path: '/upload', headers: { 'Content-Length': String(BIG) }, body: pattern(BIG, 100_000) });
    expect(JSON.parse(r.body.toString())).toEqual({ bytes: BIG, sha256: BIG_SHA });
  });

  test('a streamed 20 MiB download arrives whole (sha256)', async () => {
    const r = await t().request({ path: '/download' });
    expect(r.status).toBe(200);
    expect(header(r, 'content-type')).toBe('application/octet-stream');
    expect(r.body.length).toBe(BIG);
    expect(createHash('sha256').update(r.body).digest('hex')).toBe(BIG_SHA);
  });

  test('c.redirect sends 302 with Location', async () => {
    const r = await t().request({ path: '/redirect' });
    expect(r.status).toBe(302);
    expect(header(r, 'location')).toBe('/hello/redirected');
  });

  test('two setCookie calls give two Set-Cookie headers', async () => {
    const r = await t().request({ path: '/cookies' });
    expect(headerAll(r, 'set-cookie')).toEqual(['first=one; Path=/', 'second=two; Path=/; HttpOnly']);
    expect(r.body.toString()).toBe('two cookies');
  });

  test('a client abort fires request.signal in the handler', async () => {
    probe.reset();
    const ac = new AbortController();
    const pending = t().request({ path: '/wait', signal: ac.signal }).catch((e: unknown) => e);
    await probe.get('started');
    ac.abort();
    expect(await probe.get('signal')).toEqual({ aborted: true });
    await pending;
  });
}
