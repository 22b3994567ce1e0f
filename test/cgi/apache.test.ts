// A real Apache running nsgi as a CGI script through mod_cgi, set up as examples/cgi/ documents:
// a dispatch.cgi that execs the nsgi CLI, and the example's .htaccess (Options +ExecCGI,
// AddHandler cgi-script .cgi, RewriteRule ^(.*)$ dispatch.cgi/$1) under AllowOverride All.
// Two mounts: /app runs `--cgi`, /auto runs with no flag (nsgi detects GATEWAY_INTERFACE).
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nsgiShellCommand, ROOT } from '../helpers/cli.js';
import { freePort, removeTempDir, startApache, type Peer } from '../helpers/peers.js';
import type { PeerEcho } from '../scgi/peer-app.js';

let peer: Peer;
let port: number;
const APP = join(ROOT, 'test/scgi/peer-app.ts');

// A dispatch.cgi like examples/cgi/dispatch.cgi, running nsgi from the sources. tsx resolves from the
// working directory, so the script changes to the repository first (as the example changes to the app).
function writeDispatch(dir: string, flags: string[]): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  writeFileSync(join(dir, 'dispatch.cgi'), `#!/bin/sh\ncd '${ROOT}' || exit 1\nexec ${nsgiShellCommand(['serve', APP, ...flags])}\n`, { mode: 0o755 });
  copyFileSync(join(ROOT, 'examples/cgi/.htaccess'), join(dir, '.htaccess'));
}

beforeAll(async () => {
  port = await freePort();
  peer = await startApache(port, ['cgi', 'rewrite', 'alias', 'env'], (dir) => {
    writeDispatch(join(dir, 'htdocs/app'), ['--cgi']);
    writeDispatch(join(dir, 'htdocs/auto'), []);
    return `
<Directory "${dir}/htdocs">
  AllowOverride All
  Require all granted
</Directory>
`;
  });
}, 30_000);

afterAll(async () => {
  await peer?.stop();
  if (peer) removeTempDir(peer.dir);
});

async function get(path: string, init?: RequestInit): Promise<{ res: Response; echo: PeerEcho }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, init);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${res.status}: ${text}\n${peer.read('error.log')}`);
  return { res, echo: JSON.parse(text) as PeerEcho };
}

describe('Apache mod_cgi -> dispatch.cgi -> nsgi serve --cgi', () => {
  it.each(['app', 'auto'])('GET /%s with a UTF-8 path and query: the script in SCRIPT_NAME, the rest in PATH_INFO', async (mount) => {
    const { res, echo } = await get(`/${mount}/snow%20%E2%98%83/x?q=%E2%98%83&n=1`);
    expect(echo.vars).toMatchObject({
      GATEWAY_INTERFACE: 'CGI/1.1',
      REQUEST_METHOD: 'GET',
      SCRIPT_NAME: `/${mount}/dispatch.cgi`,
      PATH_INFO: '/snow ☃/x',
      QUERY_STRING: 'q=%E2%98%83&n=1',
      REQUEST_URI: `/${mount}/snow%20%E2%98%83/x?q=%E2%98%83&n=1`,
    });
    expect(echo.runOnce).toBe(true);
    expect(res.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
  });

  it('POST with a 2 MiB body reaches the app through stdin byte for byte', async () => {
    const body = randomBytes(2 * 1024 * 1024);
    const { echo } = await get('/app/upload', { method: 'POST', body, headers: { 'Content-Type': 'application/octet-stream' } });
    expect(echo.vars).toMatchObject({ REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(body.length), CONTENT_TYPE: 'application/octet-stream', PATH_INFO: '/upload' });
    expect([echo.length, echo.sha256]).toEqual([body.length, createHash('sha256').update(body).digest('hex')]);
  });

  it('the mount itself (/app/) reaches the app as SCRIPT_NAME=/app/dispatch.cgi, PATH_INFO=/', async () => {
    const { echo } = await get('/app/');
    expect(echo.vars).toMatchObject({ SCRIPT_NAME: '/app/dispatch.cgi', PATH_INFO: '/', REQUEST_URI: '/app/' });
  });
});
