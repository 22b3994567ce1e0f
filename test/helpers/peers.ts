// Starting real web servers (nginx, lighttpd, Apache) from tests, each from a config the test
// generates into a fresh temp dir, in the foreground as a child process, on loopback only.
// Every test that talks to a real peer goes through here, so the launch details live in one place.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
// The main configs around a test's snippet are the ones the deployment recipes run (one copy).
import { allowSearchTo, apacheMainConfig, lighttpdMainConfig, nginxMainConfig } from '../../examples/deploy/lib/servers.mjs';

/** A running peer. */
export interface Peer {
  /** The temp dir holding its config, logs and sockets. */
  dir: string;
  /** The child process. */
  child: ChildProcess;
  /** What it printed on stdout/stderr so far (for failure messages). */
  output(): string;
  /** Reads a file from its dir ('' when absent), e.g. peer.read('error.log'). */
  read(name: string): string;
  /** Stops it and waits for exit (SIGTERM, then SIGKILL after 5 s). Idempotent. */
  stop(): Promise<void>;
}

/** A fresh temp dir, readable by the unprivileged users web servers drop to. */
export function makeTempDir(prefix = 'nsgi-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  return dir;
}

/** A free TCP port on 127.0.0.1 (bound then released: good enough for a test's lifetime). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts connections on host:port or a unix path, or rejects after timeoutMs. */
export async function waitForListen(target: { host?: string; port: number } | { path: string }, timeoutMs = 10_000, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child && child.exitCode !== null) throw new Error(`peer exited with code ${child.exitCode} before listening`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = 'path' in target ? connect({ path: target.path }) : connect({ host: target.host ?? '127.0.0.1', port: target.port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listening on ${JSON.stringify(target)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Peers run in their own process group, so a test runner that dies would orphan them: kill what is left on exit.
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) {
    try {
      process.kill(-child.pid!, 'SIGKILL'); // the whole group: nginx's workers, Apache's children
    } catch {
      child.kill('SIGKILL');
    }
  }
});

function launch(command: string, args: string[], dir: string, ready: { host?: string; port: number } | { path: string }): Promise<Peer> {
  // detached: its own process group. Apache's prefork MPM signals its whole group on shutdown,
  // which would otherwise kill the test runner along with it.
  const child = spawn(command, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  live.add(child);
  child.once('exit', () => live.delete(child));
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  let stopped: Promise<void> | undefined;
  const peer: Peer = {
    dir,
    child,
    output: () => out,
    read: (name) => (existsSync(join(dir, name)) ? readFileSync(join(dir, name), 'utf8') : ''),
    stop: () =>
      (stopped ??= new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        child.kill('SIGTERM');
      })),
  };
  return waitForListen(ready, 15_000, child).then(
    () => peer,
    async (err: Error) => {
      await peer.stop();
      throw new Error(`${command} did not start: ${err.message}\n--- output ---\n${out}\n--- error log ---\n${peer.read('error.log')}`);
    },
  );
}

/**
 * Starts nginx with `http` as the body of its `http {}` block (server blocks,
 * upstreams). Logs go to dir/error.log (level info) and dir/access.log.
 * `ready` is what to wait for (the port a server block listens on).
 */
export function startNginx(http: (dir: string) => string, ready: (dir: string) => { port: number } | { path: string }, dir = makeTempDir('nsgi-nginx-')): Promise<Peer> {
  writeFileSync(join(dir, 'nginx.conf'), nginxMainConfig(dir, http(dir)));
  return launch('/usr/sbin/nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')], dir, ready(dir));
}

/**
 * Starts lighttpd in the foreground with `body` appended to a base config
 * (document root dir/htdocs, error log dir/error.log, `server.port` from `port`).
 * Put `server.modules += (...)` and `fastcgi.server`/`scgi.server` in `body`.
 */
export function startLighttpd(port: number, body: (dir: string) => string, dir = makeTempDir('nsgi-lighttpd-')): Promise<Peer> {
  if (!existsSync(join(dir, 'htdocs'))) spawnSyncMkdir(join(dir, 'htdocs'));
  writeFileSync(join(dir, 'lighttpd.conf'), lighttpdMainConfig(dir, port, body(dir)));
  return launch('/usr/sbin/lighttpd', ['-D', '-f', join(dir, 'lighttpd.conf')], dir, { port });
}

/**
 * Starts Apache (prefork, one server config) listening on 127.0.0.1:port with
 * `body` appended. Loads the modules named in `modules` (e.g. 'proxy',
 * 'proxy_fcgi', 'rewrite', 'cgi', 'fcgid') besides the few every config needs.
 * Apache's children run as nobody/nogroup: sockets and files they touch must
 * be reachable by that user (the temp dir is 0755; give unix sockets 0666).
 */
export function startApache(port: number, modules: string[], body: (dir: string) => string, dir = makeTempDir('nsgi-apache-')): Promise<Peer> {
  // Apache's children (nobody) run CGI scripts that start nsgi from this checkout.
  allowSearchTo(fileURLToPath(new URL('../..', import.meta.url)));
  if (!existsSync(join(dir, 'htdocs'))) spawnSyncMkdir(join(dir, 'htdocs'));
  writeFileSync(join(dir, 'apache2.conf'), apacheMainConfig(dir, port, modules, body(dir)));
  return launch('/usr/sbin/apache2', ['-f', join(dir, 'apache2.conf'), '-DFOREGROUND'], dir, { port });
}

// Mode 0755 so that the unprivileged users web servers drop to can read it.
function spawnSyncMkdir(path: string): void {
  mkdirSync(path, { recursive: true, mode: 0o755 });
}

/** Removes a temp dir made by {@link makeTempDir} (after the peer stopped). */
export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
