// The same Express 5 and Hono cases over a real FastCGI connection: nsgi's FastCGI server on a
// unix socket, reached by nsgi's FastCGIClient directly, and by a real nginx (fastcgi_pass with
// the stock fastcgi_params, app mounted at /app/ so it runs below SCRIPT_NAME = /app).
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe } from 'vitest';
import { fromFetchHandler } from '../../src/bridges/fetch.js';
import { fromNodeHandler } from '../../src/bridges/node.js';
import type { App } from '../../src/types.js';
import { makeTempDir } from '../helpers/peers.js';
import { expressApp, honoApp, makeFixtureFile, Probe } from './apps.js';
import { expressCases, honoCases } from './cases.js';
import { behindNginx, overFastCGI, type Target } from './targets.js';

const dir = makeTempDir('nsgi-bridge-fastcgi-');
const file = makeFixtureFile(dir);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const expressProbe = new Probe();
const honoProbe = new Probe();
const express: App = fromNodeHandler(expressApp(expressProbe, file));
// Under nginx's /app/ the Hono app routes below the mount point, as a WSGI app would.
const hono: App = fromFetchHandler(honoApp(honoProbe).fetch, { url: 'path-info' });

const targets: Array<[string, (app: App) => Promise<Target>]> = [
  ['FastCGIClient -> nsgi FastCGI', overFastCGI],
  ['nginx -> nsgi FastCGI (SCRIPT_NAME /app)', behindNginx],
];

describe.each(targets)('Express 5 through fromNodeHandler, %s', (_name, make) => {
  let t: Target;
  beforeAll(async () => {
    t = await make(express);
  });
  afterAll(() => t?.close());
  expressCases(() => t, expressProbe);
});

describe.each(targets)('Hono through fromFetchHandler, %s', (_name, make) => {
  let t: Target;
  beforeAll(async () => {
    t = await make(hono);
  });
  afterAll(() => t?.close());
  honoCases(() => t, honoProbe);
});
