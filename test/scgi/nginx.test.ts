// A real nginx with scgi_pass in front of nsgi's SCGI server on a unix socket. nginx's scgi_params
// sends neither SCRIPT_NAME nor PATH_INFO; the documented location sets both (docs/scgi.md).
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSCGIServer } from '../../src/scgi/server.js';
import type { NsgiServer } from '../../src/server.js';
import { freePort, makeTempDir, removeTempDir, startNginx, type Peer } from '../helpers/peers.js';
import app, { type PeerEcho } from './peer-app.js';

let nsgi: NsgiServer;
let peer: Peer;
let port: number;
const dir = makeTempDir('nsgi-nginx-scgi-');

beforeAll(async () => {
  // nginx workers run as root here (user root), but keep the socket reachable for any user anyway.
  nsgi = createSCGIServer(app, { socketMode: 0o666 });
  const sock = join(dir, 'scgi.sock');
  await nsgi.listen(`unix:${sock}`);
  port = await freePort();
  peer = await startNginx(
    () => `
server {
  listen 127.0.0.1:${port};
  client_max_body_size 64m;
  location ~ ^/app(?<path_info>/.*)?$ {
    include /etc/nginx/scgi_params;
    scgi_param SCRIPT_NAME /app;
    scgi_param PATH_INFO $path_info;
    scgi_pass unix:${sock};
  }
}
`,
    () => ({ port }),
    dir,
  );
});

afterAll(async () => {
  await peer?.stop();
  await nsgi?.close(1000);
  removeTempDir(dir);
});

async function get(path: string, init?: RequestInit): Promise<{ res: Response; echo: PeerEcho }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, init);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${res.status}: ${text}\n${peer.read('error.log')}`);
  return { res, echo: JSON.parse(text) as PeerEcho };
}

describe('nginx scgi_pass -> nsgi SCGI (unix socket)', () => {
  it('GET with a UTF-8 path and query: SCRIPT_NAME=/app, PATH_INFO decoded from the location capture', async () => {
    const { res, echo } = await get('/app/snow%20%E2%98%83/x?q=%E2%98%83&n=1');
    expect(echo.vars).toMatchObject({ SCGI: '1', REQUEST_METHOD: 'GET', SCRIPT_NAME: '/app', PATH_INFO: '/snow ☃/x', QUERY_STRING: 'q=%E2%98%83&n=1', REQUEST_URI: '/app/snow%20%E2%98%83/x?q=%E2%98%83&n=1', CONTENT_LENGTH: '0' });
    expect(res.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
  });

  it('POST with a 5 MiB body arrives byte for byte', async () => {
    const body = randomBytes(5 * 1024 * 1024);
    const { echo } = await get('/app/upload', { method: 'POST', body, headers: { 'Content-Type': 'application/octet-stream' } });
    expect(echo.vars).toMatchObject({ REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(body.length), CONTENT_TYPE: 'application/octet-stream' });
    expect([echo.length, echo.sha256]).toEqual([body.length, createHash('sha256').update(body).digest('hex')]);
  });
});
