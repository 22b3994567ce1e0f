// httpoxy (CVE-2016-5385 and kin, https://httpoxy.org): a CGI server turns the request header
// `Proxy: http://evil:3128` into the variable HTTP_PROXY of the script's environment (RFC 3875
// §4.1.18), where HTTP client libraries read the outgoing proxy from. Under CGI nsgi keeps it in
// the environ (it is a request header like any other) and deletes it from process.env before the
// app runs, so neither the app's HTTP clients nor the processes it spawns ever see it; an
// operator's lower-case http_proxy, which no header can produce, is left alone.
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CGIResponseParser } from '../../src/cgi-response.js';
import { removeRequestProxyVariable, runCGI } from '../../src/cgi/run.js';
import { nsgiArgv, nsgiShellCommand, ROOT } from '../helpers/cli.js';
import { freePort, removeTempDir, startLighttpd, type Peer } from '../helpers/peers.js';

const EVIL = 'http://127.0.0.66:3128';
const CGI_ENV = { GATEWAY_INTERFACE: 'CGI/1.1', REQUEST_METHOD: 'GET', SCRIPT_NAME: '/app.cgi', PATH_INFO: '/env', QUERY_STRING: '', SERVER_NAME: 'h', SERVER_PORT: '80', SERVER_PROTOCOL: 'HTTP/1.1', REMOTE_ADDR: '192.0.2.1' };

interface Env {
  request: string | null;
  processUpper: string | null;
  processAtImport: string | null;
  processLower: string | null;
  child: string;
}

// One CGI request through `nsgi serve MODULE --cgi`, the way a web server runs the script.
function cgiProcess(env: Record<string, string>): Promise<{ code: number | null; body: Env; stderr: string }> {
  const [node, argv] = nsgiArgv(['serve', 'test/security/apps/hostile.ts', '--cgi']);
  return new Promise((resolve, reject) => {
    const child = spawn(node, argv, { cwd: ROOT, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      const head = new CGIResponseParser().push(Buffer.concat(out));
      if (head === undefined || head.status !== 200) return reject(new Error(`no 200 from the CGI process; stderr: ${stderr}`));
      resolve({ code, body: JSON.parse(head.rest.toString()) as Env, stderr });
    });
  });
}

describe('httpoxy under CGI', () => {
  it('keeps the Proxy header in the environ but removes HTTP_PROXY from the process and its children', async () => {
    const { code, body } = await cgiProcess({ ...CGI_ENV, HTTP_PROXY: EVIL });
    expect(code).toBe(0);
    expect(body.request).toBe(EVIL);
    expect(body.processUpper).toBeNull();
    expect(body.child).toBe('unset');
  });

  it('removes HTTP_PROXY before the app module is even imported (nsgi serve --cgi)', async () => {
    const { body } = await cgiProcess({ ...CGI_ENV, HTTP_PROXY: EVIL });
    expect(body.processAtImport).toBeNull();
    expect(body.request).toBe(EVIL);
  });

  it('leaves an operator-set lower-case http_proxy alone', async () => {
    const { body } = await cgiProcess({ ...CGI_ENV, HTTP_PROXY: EVIL, http_proxy: 'http://proxy.internal:3128' });
    expect(body.processLower).toBe('http://proxy.internal:3128');
    expect(body.processUpper).toBeNull();
  });

  it('does not touch process.env when runCGI is given its own env', async () => {
    const saved = process.env.HTTP_PROXY;
    process.env.HTTP_PROXY = 'http://configured.example:3128';
    try {
      let seen: unknown;
      const code = await runCGI(
        (environ, startResponse) => {
          seen = [environ.HTTP_PROXY, process.env.HTTP_PROXY];
          startResponse('204 No Content', []);
          return [];
        },
        { env: { ...CGI_ENV, HTTP_PROXY: EVIL }, stdin: Readable.from([]), stdout: new PassThrough().resume(), stderr: new PassThrough().resume() },
      );
      expect(code).toBe(0);
      expect(seen).toEqual([EVIL, 'http://configured.example:3128']);
    } finally {
      if (saved === undefined) delete process.env.HTTP_PROXY;
      else process.env.HTTP_PROXY = saved;
    }
  });

  it('removeRequestProxyVariable deletes HTTP_PROXY and returns it', () => {
    const saved = process.env.HTTP_PROXY;
    process.env.HTTP_PROXY = EVIL;
    try {
      expect(removeRequestProxyVariable()).toBe(EVIL);
      expect(process.env.HTTP_PROXY).toBeUndefined();
    } finally {
      if (saved !== undefined) process.env.HTTP_PROXY = saved;
    }
  });
});

// Defence in depth, through a real CGI server: lighttpd (>= 1.4.41) already refuses to turn a Proxy
// header into HTTP_PROXY; with or without that, the app's process never holds it.
describe('httpoxy through lighttpd mod_cgi', () => {
  let peer: Peer;
  let port: number;
  beforeAll(async () => {
    port = await freePort();
    peer = await startLighttpd(port, (dir) => {
      mkdirSync(join(dir, 'htdocs'), { recursive: true });
      const script = join(dir, 'htdocs', 'app.cgi');
      writeFileSync(script, `#!/bin/sh\nexec ${nsgiShellCommand(['serve', `${ROOT}test/security/apps/hostile.ts`, '--cgi'])}\n`);
      chmodSync(script, 0o755);
      return `server.modules += ( "mod_cgi" )\ncgi.assign = ( ".cgi" => "" )\n`;
    });
  });
  afterAll(async () => {
    await peer?.stop();
    if (peer) removeTempDir(peer.dir);
  });

  it('a Proxy request header never reaches the process environment', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/app.cgi/env`, { headers: { Proxy: EVIL } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Env;
    expect(body.request).toBeNull(); // lighttpd dropped the header itself
    expect(body.processUpper).toBeNull();
    expect(body.child).toBe('unset');
  });
});
