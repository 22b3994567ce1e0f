// An unmodified Express 5 app under fromNodeHandler, in memory and over the HTTP transport:
// routing, express.json(), 20 MiB streamed both ways, redirects, cookies, sendFile with Range,
// client abort reaching req/res, and mounting below SCRIPT_NAME.
import { rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fromNodeHandler } from '../../src/bridges/node.js';
import { compose } from '../../src/compose.js';
import { toNodeHandler } from '../../src/http/node-handler.js';
import { PrefixMiddleware } from '../../src/middleware/prefix.js';
import type { App } from '../../src/types.js';
import { makeTempDir } from '../helpers/peers.js';
import { expressApp, makeFixtureFile, Probe } from './apps.js';
import { expressCases } from './cases.js';
import { header, inMemory, overHTTP, type Target } from './targets.js';

const dir = makeTempDir('nsgi-bridge-express-');
const file = makeFixtureFile(dir);
const probe = new Probe();
const app: App = fromNodeHandler(expressApp(probe, file));
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

  expressCases(() => t, probe);
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

describe('the other way round: an nsgi app inside Express', () => {
  test('toNodeHandler(app, { scriptName }) under app.use(prefix) sees SCRIPT_NAME and PATH_INFO split there', async () => {
    const nsgiApp: App = (environ, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'application/json']]);
      return [JSON.stringify({ script: environ.SCRIPT_NAME, path: environ.PATH_INFO, query: environ.QUERY_STRING })];
    };
    const web = express();
    web.use('/legacy', toNodeHandler(nsgiApp, { scriptName: '/legacy' }));
    const server = createServer(web);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/legacy/a/b?c=1`);
      expect(await res.json()).toEqual({ script: '/legacy', path: '/a/b', query: 'c=1' });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
