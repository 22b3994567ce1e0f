// A real Apache with mod_proxy + mod_proxy_scgi in front of nsgi's SCGI server over TCP:
// `ProxyPass /app scgi://127.0.0.1:PORT/`. Apache sends the whole decoded path as SCRIPT_NAME and no
// PATH_INFO; PathInfoFromRequestURI({ mount }) restores the split (see docs/scgi.md).
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PathInfoFromRequestURI } from '../../src/middleware/path-info-from-request-uri.js';
import { createSCGIServer } from '../../src/scgi/server.js';
import type { NsgiServer } from '../../src/server.js';
import { freePort, removeTempDir, startApache, type Peer } from '../helpers/peers.js';
import app, { type PeerEcho } from './peer-app.js';

let nsgi: NsgiServer;
let fixed: NsgiServer;
let peer: Peer;
let port: number;

beforeAll(async () => {
  nsgi = createSCGIServer(app);
  const backend = Number((await nsgi.listen('127.0.0.1:0')).split(':').pop());
  fixed = createSCGIServer(PathInfoFromRequestURI({ mount: '/fixed' })(app));
  const fixedBackend = Number((await fixed.listen('127.0.0.1:0')).split(':').pop());
  port = await freePort();
  peer = await startApache(
    port,
    ['proxy', 'proxy_scgi'],
    () => `
ProxyPass /app scgi://127.0.0.1:${backend}/
ProxyPass /fixed scgi://127.0.0.1:${fixedBackend}/
`,
  );
});

afterAll(async () => {
  await peer?.stop();
  await nsgi?.close(1000);
  await fixed?.close(1000);
  if (peer) removeTempDir(peer.dir);
});

async function get(path: string, init?: RequestInit): Promise<{ res: Response; echo: PeerEcho }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, init);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${res.status}: ${text}\n${peer.read('error.log')}`);
  return { res, echo: JSON.parse(text) as PeerEcho };
}

describe('Apache mod_proxy_scgi -> nsgi SCGI', () => {
  it('GET with a UTF-8 query: by default the whole path is SCRIPT_NAME and PATH_INFO is unset', async () => {
    const { res, echo } = await get('/app/snow%20%E2%98%83/x?q=%E2%98%83&n=1');
    expect(echo.vars).toMatchObject({ SCGI: '1', REQUEST_METHOD: 'GET', QUERY_STRING: 'q=%E2%98%83&n=1', REQUEST_URI: '/app/snow%20%E2%98%83/x?q=%E2%98%83&n=1', CONTENT_LENGTH: '0' });
    expect(echo.vars.SCRIPT_NAME).toBe('/app/snow ☃/x');
    expect(echo.vars.PATH_INFO ?? '').toBe('');
    expect(res.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
  });

  it('behind PathInfoFromRequestURI({ mount }): SCRIPT_NAME is the mount and PATH_INFO the rest', async () => {
    const { echo } = await get('/fixed/snow%20%E2%98%83/x?q=1');
    expect(echo.vars).toMatchObject({ SCRIPT_NAME: '/fixed', PATH_INFO: '/snow ☃/x', QUERY_STRING: 'q=1' });
  });

  it('POST with a 5 MiB body arrives byte for byte', async () => {
    const body = randomBytes(5 * 1024 * 1024);
    const { echo } = await get('/app/upload', { method: 'POST', body, headers: { 'Content-Type': 'application/octet-stream' } });
    expect(echo.vars).toMatchObject({ REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(body.length), CONTENT_TYPE: 'application/octet-stream' });
    expect([echo.length, echo.sha256]).toEqual([body.length, createHash('sha256').update(body).digest('hex')]);
  });
});
