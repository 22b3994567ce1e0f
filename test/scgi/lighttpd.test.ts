// A real lighttpd with mod_scgi in front of nsgi's SCGI server over TCP, configured as the seed
// deployment guide does ("check-local" => "disable"), once mounted at /app and once at "/".
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSCGIServer } from '../../src/scgi/server.js';
import type { NsgiServer } from '../../src/server.js';
import { freePort, removeTempDir, startLighttpd, type Peer } from '../helpers/peers.js';
import app, { type PeerEcho } from './peer-app.js';

let nsgi: NsgiServer;
let peer: Peer;
let port: number;

beforeAll(async () => {
  nsgi = createSCGIServer(app);
  const backend = Number((await nsgi.listen('127.0.0.1:0')).split(':').pop());
  port = await freePort();
  peer = await startLighttpd(
    port,
    () => `
server.modules += ( "mod_scgi" )
$HTTP["url"] =~ "^/app" {
  scgi.server = ( "/app" => (( "host" => "127.0.0.1", "port" => ${backend}, "check-local" => "disable" )) )
} else $HTTP["url"] !~ "^/static/" {
  scgi.server = ( "/" => (( "host" => "127.0.0.1", "port" => ${backend}, "check-local" => "disable" )) )
}
`,
  );
});

afterAll(async () => {
  await peer?.stop();
  await nsgi?.close(1000);
  if (peer) removeTempDir(peer.dir);
});

async function get(path: string, init?: RequestInit): Promise<{ res: Response; echo: PeerEcho }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, init);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${res.status}: ${text}\n${peer.read('error.log')}`);
  return { res, echo: JSON.parse(text) as PeerEcho };
}

describe('lighttpd mod_scgi -> nsgi SCGI', () => {
  it('GET with a UTF-8 path and query under a /app mount: SCRIPT_NAME=/app, PATH_INFO decoded', async () => {
    const { res, echo } = await get('/app/snow%20%E2%98%83/x?q=%E2%98%83&n=1');
    expect(echo.vars).toMatchObject({ SCGI: '1', REQUEST_METHOD: 'GET', SCRIPT_NAME: '/app', PATH_INFO: '/snow ☃/x', QUERY_STRING: 'q=%E2%98%83&n=1', REQUEST_URI: '/app/snow%20%E2%98%83/x?q=%E2%98%83&n=1', CONTENT_LENGTH: '0' });
    expect(echo.runOnce).toBe(false);
    // Two Set-Cookie headers survive the trip through lighttpd.
    expect(res.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
  });

  it('mounted at "/": lighttpd 1.4 splits at the first segment (SCRIPT_NAME=/some, PATH_INFO=/where)', async () => {
    // Without "fix-root-scriptname" lighttpd treats the first path segment as the script; the path
    // keeps its meaning as SCRIPT_NAME + PATH_INFO. LighttpdRootFix moves it all into PATH_INFO.
    const { echo } = await get('/some/where?x=1');
    expect(echo.vars).toMatchObject({ SCRIPT_NAME: '/some', PATH_INFO: '/where', QUERY_STRING: 'x=1', REQUEST_URI: '/some/where?x=1' });
  });

  it('POST with a 5 MiB body arrives byte for byte', async () => {
    const body = randomBytes(5 * 1024 * 1024);
    const { echo } = await get('/app/upload', { method: 'POST', body, headers: { 'Content-Type': 'application/octet-stream' } });
    expect(echo.vars).toMatchObject({ REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(body.length), CONTENT_TYPE: 'application/octet-stream' });
    expect([echo.length, echo.sha256]).toEqual([body.length, createHash('sha256').update(body).digest('hex')]);
  });

  it('HEAD gets the headers and no body', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/app/head`, { method: 'HEAD' });
    expect([res.status, res.headers.get('content-type'), (await res.arrayBuffer()).byteLength]).toEqual([200, 'application/json', 0]);
  });
});
