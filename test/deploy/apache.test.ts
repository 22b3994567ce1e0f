// docs/deployment/apache.md: every Apache recipe in examples/deploy, run by a real Apache 2.4
// (Debian's apache2, prefork MPM, children running as nobody).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { expect, it } from 'vitest';
import { freePort, removeTempDir, startApache } from '../helpers/peers.js';
import { describeRecipe, observe } from './checks.js';

describeRecipe('apache-proxy-fcgi-tcp', 'apache', (r) => {
  it('redirects the mount point without its slash to /app/', async () => {
    const res = await fetch(`${r().url}/app`, { redirect: 'manual' });
    expect(res.status).toBe(301);
    expect(res.headers.get('location')).toBe(`${r().url}/app/`);
  });

  it('keeps connections to nsgi open between requests (enablereuse=on)', async () => {
    for (let i = 0; i < 5; i++) await (await fetch(`${r().url}/app/hello`)).text();
    // Without reuse each request's connection is closed when it ends, and none is left open.
    expect(establishedOn(Number(r().vars.BACKEND_PORT))).toBeGreaterThan(0);
  });

  // The other ways to point mod_proxy_fcgi at nsgi, each in a second Apache in front of this
  // recipe's nsgi (which has no fixer, so the app sees what Apache sent): why apache.conf reads as
  // it does. BACKEND stands for fcgi://127.0.0.1:BACKEND_PORT.
  it.each([
    { how: 'ProxyPass alone', config: 'ProxyPass "/app/" "BACKEND/"', request: '/app/env/a%20b', sent: ['/app/env/a b', ''] },
    { how: 'proxy-fcgi-pathinfo=1', config: 'SetEnvIf Request_URI . proxy-fcgi-pathinfo=1\nProxyPass "/app/" "BACKEND/"', request: '/app/env/a%20b', sent: ['/app/env/a b', '/env/a%20b'] },
    { how: 'proxy-fcgi-pathinfo=full', config: 'SetEnvIf Request_URI . proxy-fcgi-pathinfo=full\nProxyPass "/app/" "BACKEND/"', request: '/app/env/a%20b', sent: ['/app/env/a b', ''] },
    { how: 'SetEnv (too late) instead of SetEnvIf', config: 'SetEnv proxy-fcgi-pathinfo unescape\nProxyPass "/app/" "BACKEND/"', request: '/app/env/a%20b', sent: ['/app/env/a b', ''] },
    { how: 'ProxyFCGIBackendType GENERIC', config: 'ProxyFCGIBackendType GENERIC\nProxyPass "/app/" "BACKEND/"', request: '/app/env/a%20b', sent: ['/app/env/a b', ''] },
    { how: 'SetHandler at a two-segment mount', config: '<Location "/my/app/">\n  SetHandler "proxy:BACKEND"\n</Location>', request: '/my/app/env/x', sent: ['/my', '/app/env/x'] },
  ])('with $how, Apache sends $sent for $request', async ({ config, request, sent }) => {
    const port = await freePort();
    const backend = `fcgi://127.0.0.1:${r().vars.BACKEND_PORT}`;
    const peer = await startApache(port, ['proxy', 'proxy_fcgi', 'setenvif', 'env'], () => `${config.replaceAll('BACKEND', backend)}\n`);
    try {
      const seen = await observe({ ...r(), url: `http://127.0.0.1:${port}` }, request);
      expect([seen.sentScriptName, seen.sentPathInfo], peer.read('error.log')).toEqual(sent);
    } finally {
      await peer.stop();
      removeTempDir(peer.dir);
    }
  });
});

describeRecipe('apache-proxy-fcgi-unix', 'apache', (r) => {
  it('leaves the socket open to Apache children that share no group with nsgi (mode 666)', () => {
    expect(statSync(`${r().run}/app.sock`).mode & 0o777).toBe(0o666);
  });
});

describeRecipe('apache-fcgid', 'apache', (r) => {
  it('runs dispatch.fcgi as the user Apache children run as (nobody), not as the one who started Apache', async () => {
    await fetch(`${r().url}/hello`);
    const uids = processesOf(r().server!.child.pid!, 'production.ini').map((pid) => uidOf(pid));
    expect(uids.length, r().logs()).toBeGreaterThan(0);
    expect(new Set(uids)).toEqual(new Set([NOBODY_UID]));
  });

  it('still answers a URL that names /dispatch.fcgi, and links from it leave the script out', async () => {
    const res = await fetch(`${r().url}/dispatch.fcgi/links`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { home: string }).home).toBe('/');
  });
});

describeRecipe('apache-proxy-scgi', 'apache', (r) => {
  // Apache's own way to split, proxy-scgi-pathinfo, sends PATH_INFO still percent-encoded and then
  // cannot remove it from SCRIPT_NAME; REQUEST_URI is right, so the recipe splits in nsgi instead.
  it('would get an encoded PATH_INFO from proxy-scgi-pathinfo, which the recipe\'s fixer overrides', async () => {
    const port = await freePort();
    const peer = await startApache(port, ['proxy', 'proxy_scgi', 'setenvif'], () => `SetEnvIf Request_URI . proxy-scgi-pathinfo\nProxyPass "/app/" "scgi://${r().backends[0]!.listen}/"\n`);
    try {
      expect(await observe({ ...r(), url: `http://127.0.0.1:${port}` }, '/app/env/a%20b')).toEqual({
        request: '/app/env/a%20b',
        sentScriptName: '/app/env/a b',
        sentPathInfo: '/env/a%20b',
        scriptName: '/app',
        pathInfo: '/env/a b',
      });
    } finally {
      await peer.stop();
      removeTempDir(peer.dir);
    }
  });
});

describeRecipe('apache-cgi', 'apache', (r) => {
  it('redirects the folder without its slash to /app/ (mod_dir, a real folder on disk)', async () => {
    const res = await fetch(`${r().url}/app`, { redirect: 'manual' });
    expect(res.status).toBe(301);
    expect(res.headers.get('location')).toBe(`${r().url}/app/`);
  });
});

describeRecipe('apache-proxy-http', 'apache', (r) => {
  it("gives the app the visitor's host, not nsgi's own address", async () => {
    const env = (await (await fetch(`${r().url}/app/env`)).json()) as Record<string, string>;
    expect({ host: env.HTTP_HOST, scheme: env['wsgi.url_scheme'], remote: env.REMOTE_ADDR }).toEqual({ host: new URL(r().url).host, scheme: 'http', remote: '127.0.0.1' });
  });

  it('ignores an X-Forwarded-Prefix the client sends (Apache replaces it)', async () => {
    const res = await fetch(`${r().url}/app/links`, { headers: { 'X-Forwarded-Prefix': '/evil' } });
    expect(((await res.json()) as { home: string }).home).toBe('/app/');
  });
});

// The uid Debian's Apache runs its children as here (User nobody in servers.mjs).
const NOBODY_UID = Number(/^nobody:[^:]*:(\d+):/m.exec(readFileSync('/etc/passwd', 'utf8'))?.[1]);

// Processes in process group `pgid` whose command line contains `needle` (Linux /proc).
function processesOf(pgid: number, needle: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command name (in parentheses): state ppid pgrp ...
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) !== pgid) continue;
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(needle)) out.push(Number(entry));
    } catch {
      // The process exited while we looked.
    }
  }
  return out;
}

function uidOf(pid: number): number {
  return Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

// How many TCP connections on 127.0.0.1:port are established, from nsgi's side (Linux /proc/net/tcp).
function establishedOn(port: number): number {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f[1] === local && f[3] === '01').length;
}
