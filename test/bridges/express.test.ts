// An unmodified Express 5 app under fromNodeHandler, in memory and over the HTTP transport:
// routing, express.json(), 20 MiB streamed both ways, redirects, cookies, sendFile with Range,
// client abort reaching req/res, and mounting below SCRIPT_NAME.
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fromNodeHandler } from '../../src/bridges/node.js';
import { compose } from '../../src/compose.js';
import { PrefixMiddleware } from '../../src/middleware/prefix.js';
import type { App } from '../../src/types.js';
import { makeTempDir } from '../helpers/peers.js';
import { BIG, expressApp, makeFixtureFile, pattern, patternSha, Probe } from './apps.js';
import { header, headerAll, inMemory, overHTTP, type Target } from './targets.js';

const dir = makeTempDir('nsgi-bridge-express-');
const file = makeFixtureFile(dir);
const probe = new Probe();
const app: App = fromNodeHandler(expressApp(probe, file));
const BIG_SHA = patternSha(BIG);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const targets: Array<[string, () => Promise<Target>]> = [
  ['in memory', async () => inMemory(app)],
  ['over HTTP', () => overHTTP(app)],
];

describe.each(targets)('Express 5 through fromNodeHandler, %s', (_name, make) => {
  let t: Target;
  beforeAll(async () => {
    t = await make();
  });
  afterAll(() => t.close());

  test('routes with params and a query, and sees the path below the mount point', async () => {
    const r = await t.request({ path: '/hello/ada?x=1&y=%C3%A9' });
    expect(r.status).toBe(200);
    expect(header(r, 'content-type')).toBe('application/json; charset=utf-8');
    expect(JSON.parse(r.body.toString())).toEqual({ hello: 'ada', url: '/hello/ada?x=1&y=%C3%A9', originalUrl: '/hello/ada?x=1&y=%C3%A9', baseUrl: '', query: { x: '1', y: 'é' } });
  });

  test('an unknown route gets Express’s own 404 page', async () => {
    const r = await t.request({ path: '/nope' });
    expect(r.status).toBe(404);
    expect(r.body.toString()).toContain('Cannot GET /nope');
  });

  test('express.json() parses a JSON body', async () => {
    const r = await t.request({ method: 'POST', path: '/json', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ a: [1, 2], b: 'ü' }) });
    expect(r.status).toBe(201);
    expect(JSON.parse(r.body.toString())).toEqual({ received: { a: [1, 2], b: 'ü' }, type: 'application/json' });
  });

  test('a streamed 20 MiB upload arrives whole (sha256)', async () => {
    const r = await t.request({ method: 'POST', path: '/upload', headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(BIG) }, body: pattern(BIG, 100_000) });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body.toString())).toEqual({ bytes: BIG, sha256: BIG_SHA });
  });

  test('a streamed 20 MiB download arrives whole (sha256)', async () => {
    const r = await t.request({ path: '/download' });
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(BIG);
    expect(createHash('sha256').update(r.body).digest('hex')).toBe(BIG_SHA);
  });

  test('res.redirect sends 302 with Location', async () => {
    const r = await t.request({ path: '/redirect' });
    expect(r.status).toBe(302);
    expect(header(r, 'location')).toBe('/hello/redirected');
  });

  test('res.cookie twice gives two Set-Cookie headers', async () => {
    const r = await t.request({ path: '/cookies' });
    expect(r.status).toBe(200);
    expect(headerAll(r, 'set-cookie')).toEqual(['first=one; Path=/', 'second=two; Path=/; HttpOnly']);
    expect(r.body.toString()).toBe('two cookies');
  });

  test('res.sendFile answers a Range request with 206 and the slice', async () => {
    const r = await t.request({ path: '/file', headers: { Range: 'bytes=10-19' } });
    expect(r.status).toBe(206);
    expect(header(r, 'content-range')).toBe('bytes 10-19/256');
    expect(header(r, 'content-length')).toBe('10');
    expect([...r.body]).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
  });

  test('res.sendFile sends the whole file, and 416 for a range past its end', async () => {
    const whole = await t.request({ path: '/file' });
    expect(whole.status).toBe(200);
    expect(header(whole, 'accept-ranges')).toBe('bytes');
    expect(whole.body.length).toBe(256);
    const past = await t.request({ path: '/file', headers: { Range: 'bytes=300-400' } });
    expect(past.status).toBe(416);
    expect(header(past, 'content-range')).toBe('bytes */256');
  });

  test('a client abort reaches the handler: req "close" with req.aborted, res "close" unfinished', async () => {
    probe.reset();
    const ac = new AbortController();
    const pending = t.request({ path: '/wait', signal: ac.signal }).catch((e: unknown) => e);
    await probe.get('started');
    ac.abort();
    expect(await probe.get('req-close')).toEqual({ aborted: true, destroyed: true });
    expect(await probe.get('res-close')).toEqual({ writableFinished: false });
    await pending;
  });
});

describe('Express mounted below SCRIPT_NAME', () => {
  test('in memory: req.baseUrl and req.originalUrl carry SCRIPT_NAME, routing does not', async () => {
    const t = inMemory(app, '/app');
    const r = await t.request({ path: '/sub/where?q=1' });
    expect(JSON.parse(r.body.toString())).toEqual({ url: '/where?q=1', originalUrl: '/app/sub/where?q=1', baseUrl: '/app/sub' });
    const back = await t.request({ path: '/sub/back' });
    expect(back.status).toBe(302);
    expect(header(back, 'location')).toBe('/app/sub/where');
    const top = await t.request({ path: '/redirect' });
    expect(header(top, 'location')).toBe('/app/hello/redirected');
  });

  test('over HTTP behind PrefixMiddleware: links come out with the prefix', async () => {
    const t = await overHTTP(compose(PrefixMiddleware({ prefix: '/app' }))(app));
    try {
      const r = await t.request({ path: '/app/sub/where' });
      expect(JSON.parse(r.body.toString())).toEqual({ url: '/where', originalUrl: '/app/sub/where', baseUrl: '/app/sub' });
      const hello = await t.request({ path: '/app/hello/a%2Fb' });
      // The raw path from REQUEST_URI: %2F stays one segment.
      expect(JSON.parse(hello.body.toString())).toMatchObject({ hello: 'a/b', url: '/hello/a%2Fb', originalUrl: '/app/hello/a%2Fb', baseUrl: '/app' });
    } finally {
      await t.close();
    }
  });
});

describe('what Express reads from the socket and headers', () => {
  test('req.ip, req.protocol, req.hostname and headers come from the environ', async () => {
    const t = inMemory(app);
    const r = await t.request({ path: '/whoami', headers: { 'User-Agent': 'bridge-test/1' } });
    expect(JSON.parse(r.body.toString())).toEqual({ ip: '127.0.0.1', protocol: 'http', secure: false, hostname: 'bridge.test', httpVersion: '1.1', ua: 'bridge-test/1' });
  });
});
