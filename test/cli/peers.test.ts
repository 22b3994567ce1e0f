// Workers and reloads behind real web servers: lighttpd spawning `nsgi serve --workers 2` through
// bin-path (the FastCGI listening socket on fd 0, detected without a flag), and nginx in front of
// a FastCGI unix socket while SIGHUP replaces the workers under load.
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { nsgiShellCommand, ROOT } from '../helpers/cli.js';
import { freePort, makeTempDir, removeTempDir, startLighttpd, startNginx, type Peer } from '../helpers/peers.js';
import { killAll, load, startedPids, startNsgi, waitFor, waitServing } from './serve-helpers.js';

const app = (version: string): string => `
export default function app(environ, startResponse) {
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  return [\`\${process.pid} ${version} \${environ.SCRIPT_NAME}|\${environ.PATH_INFO}\`];
}
`;

let dir: string;
const peers: Peer[] = [];
const peerDirs: string[] = [];
beforeAll(() => {
  dir = makeTempDir('nsgi-workers-peers-');
});
afterEach(async () => {
  killAll();
  for (const peer of peers.splice(0)) await peer.stop();
  for (const peerDir of peerDirs.splice(0)) removeTempDir(peerDir);
});
afterAll(() => removeTempDir(dir));

describe('workers behind real web servers', () => {
  it('lighttpd bin-path spawns a master whose 2 workers share fd 0, and stops it cleanly', async () => {
    const appFile = join(dir, 'lighttpd-app.mjs');
    writeFileSync(appFile, app('v1'));
    const script = join(dir, 'dispatch.sh');
    // No transport flag: fd 0 is a listening socket, so nsgi serves FastCGI on it.
    writeFileSync(script, `#!/bin/sh\ncd '${ROOT}' || exit 1\nexec ${nsgiShellCommand(['serve', appFile, '--workers', '2'])} 2>>${dir}/lighttpd-app.log\n`, { mode: 0o755 });
    const port = await freePort();
    const lighttpd = await startLighttpd(
      port,
      (d) => `
server.modules += ( "mod_fastcgi" )
fastcgi.server = ( "/app" => ((
  "socket" => "${d}/app.sock",
  "bin-path" => "${script}",
  "check-local" => "disable",
  "max-procs" => 1,
)))
`,
    );
    peers.push(lighttpd);
    peerDirs.push(lighttpd.dir);
    const pids = new Set<number>();
    const deadline = Date.now() + 20_000;
    let failures = 0;
    while (pids.size < 2 && Date.now() < deadline) {
      const replies = await Promise.all(Array.from({ length: 6 }, () => fetch(`http://127.0.0.1:${port}/app/x`, { headers: { Connection: 'close' } }).then(async (r) => [r.status, await r.text()] as const)));
      for (const [status, body] of replies) {
        if (status !== 200) failures++;
        else pids.add(Number(body.split(' ')[0]));
      }
    }
    const appLog = (): string => (existsSync(join(dir, 'lighttpd-app.log')) ? readFileSync(join(dir, 'lighttpd-app.log'), 'utf8') : '');
    expect(failures, lighttpd.read('error.log') + appLog()).toBe(0);
    expect(pids.size).toBe(2);
    await lighttpd.stop();
    peers.length = 0;
    // lighttpd sends SIGTERM to the master it spawned; the master stops both workers.
    await waitFor(() => /nsgi: stopped/.test(appLog()), 'the master to stop', undefined, 15_000);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  });

  it('nginx -> FastCGI unix socket: SIGHUP under load changes the answer with no 502', async () => {
    const appFile = join(dir, 'nginx-app.mjs');
    writeFileSync(appFile, app('v1'));
    const socket = join(dir, 'fcgi.sock');
    const master = startNsgi(['serve', appFile, '--fastcgi', `unix:${socket}`, '--workers', '2', '--socket-mode', '666']);
    await waitServing(master);
    const port = await freePort();
    const nginx = await startNginx(
      () => `
  server {
    listen 127.0.0.1:${port};
    location /blog/ {
      include /etc/nginx/fastcgi_params;
      fastcgi_split_path_info ^(/blog)(/.*)$;
      fastcgi_param SCRIPT_NAME $fastcgi_script_name;
      fastcgi_param PATH_INFO $fastcgi_path_info;
      fastcgi_pass unix:${socket};
    }
  }`,
      () => ({ port }),
    );
    peers.push(nginx);
    peerDirs.push(nginx.dir);
    let hupped = false;
    let doneAt = -1;
    const result = await load(port, {
      path: '/blog/post',
      concurrency: 4,
      maxRequests: 6000,
      maxMs: 30_000,
      pauseMs: 5,
      stop: (r) => {
        if (!hupped && r.ok >= 20) {
          hupped = true;
          writeFileSync(appFile, app('v2'));
          process.kill(master.pid!, 'SIGHUP');
        }
        if (doneAt === -1 && master.output().includes('reload: done')) doneAt = r.ok;
        return doneAt !== -1 && r.ok >= doneAt + 20;
      },
    });
    expect(result.failures, nginx.read('error.log')).toEqual([]);
    const versions = result.bodies.map((b) => b.split(' ')[1]);
    expect(versions[0]).toBe('v1');
    expect(versions.slice(-8)).toEqual(Array(8).fill('v2'));
    expect(result.bodies[0]).toMatch(/ \/blog\|\/post$/);
    expect(startedPids(master)).toHaveLength(4);
    master.kill('SIGTERM');
    const [code] = await once(master, 'exit');
    expect(code).toBe(0);
  });
});
