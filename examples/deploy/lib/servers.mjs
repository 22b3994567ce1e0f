// Starting nginx, lighttpd and Apache in the foreground from a recipe's config snippet, on
// loopback, with everything they write (pid, logs, temp files) kept in one run folder. The
// snippet is what a user puts in their own server config; the lines around it here are only what
// a web server needs to run unprivileged from a scratch folder.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The full nginx.conf around `snippet` (the contents of an `http {}` block). */
export function nginxMainConfig(run, snippet) {
  return `user ${process.getuid?.() === 0 ? 'root' : 'nobody'};
daemon off;
master_process on;
worker_processes 1;
pid ${run}/nginx.pid;
error_log ${run}/error.log info;
events { worker_connections 1024; }
http {
  access_log ${run}/access.log;
  client_body_temp_path ${run}/client_body;
  fastcgi_temp_path ${run}/fastcgi_temp;
  proxy_temp_path ${run}/proxy_temp;
  scgi_temp_path ${run}/scgi_temp;
  uwsgi_temp_path ${run}/uwsgi_temp;
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
${snippet}
}
`;
}

/** The full lighttpd.conf around `snippet` (module list, fastcgi.server, aliases...). */
export function lighttpdMainConfig(run, port, snippet) {
  return `server.document-root = "${run}/htdocs"
server.bind = "127.0.0.1"
server.port = ${port}
server.errorlog = "${run}/error.log"
server.pid-file = "${run}/lighttpd.pid"
server.upload-dirs = ( "${run}" )
mimetype.assign = ( ".txt" => "text/plain; charset=utf-8", ".html" => "text/html; charset=utf-8", ".css" => "text/css", ".js" => "text/javascript", ".png" => "image/png" )
${snippet}
`;
}

/** The full apache2.conf around `snippet`, loading `modules` (e.g. 'proxy_fcgi'). */
export function apacheMainConfig(run, port, modules, snippet) {
  const base = ['mpm_prefork', 'authz_core', 'mime', 'dir', 'alias'];
  const load = [...new Set([...base, ...modules])].map((m) => `LoadModule ${m}_module /usr/lib/apache2/modules/mod_${m}.so`).join('\n');
  return `ServerRoot "${run}"
ServerName 127.0.0.1
Listen 127.0.0.1:${port}
${load}
User nobody
Group nogroup
PidFile "${run}/httpd.pid"
DefaultRuntimeDir "${run}"
Mutex file:${run}
ErrorLog "${run}/error.log"
LogLevel info
LogFormat "%h %l %u %t \\"%r\\" %>s %b" common
CustomLog "${run}/access.log" common
TypesConfig /etc/mime.types
StartServers 1
MinSpareServers 1
MaxSpareServers 2
DocumentRoot "${run}/htdocs"
<Directory />
  AllowOverride None
  Require all granted
</Directory>
${snippet}
`;
}

/** Writes the main config for `server` around `snippet` into `run` and returns [command, args]. */
export function prepareServer(server, { run, port, modules = [], snippet }) {
  mkdirSync(join(run, 'htdocs'), { recursive: true, mode: 0o755 });
  if (server === 'nginx') {
    writeFileSync(join(run, 'nginx.conf'), nginxMainConfig(run, snippet));
    return ['/usr/sbin/nginx', ['-p', run, '-c', join(run, 'nginx.conf')]];
  }
  if (server === 'lighttpd') {
    writeFileSync(join(run, 'lighttpd.conf'), lighttpdMainConfig(run, port, snippet));
    return ['/usr/sbin/lighttpd', ['-D', '-f', join(run, 'lighttpd.conf')]];
  }
  if (server === 'apache') {
    // Apache's children (nobody) run dispatch scripts and the nsgi checkout they point at.
    allowSearchTo(run);
    allowSearchTo(fileURLToPath(new URL('../../..', import.meta.url)));
    writeFileSync(join(run, 'apache2.conf'), apacheMainConfig(run, port, modules, snippet));
    return ['/usr/sbin/apache2', ['-f', join(run, 'apache2.conf'), '-DFOREGROUND']];
  }
  throw new Error(`unknown web server "${server}" (nginx, lighttpd, apache)`);
}

/**
 * Starts `command` in its own process group (Apache's prefork MPM signals its whole group on
 * shutdown, which would take the caller with it), collecting its output.
 * `echo`, when given, also receives each piece of output as it comes.
 * Returns { child, output(), stop() }; stop() signals the whole group and waits for the exit.
 */
export function startProcess(command, args, { cwd, env, shell = false, echo } = {}) {
  const child = spawn(command, args, { cwd, env, shell, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  live.add(child);
  child.once('exit', () => live.delete(child));
  let out = '';
  const collect = (d) => {
    out += d;
    echo?.(String(d));
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  let stopped;
  return {
    child,
    output: () => out,
    // The whole group gets the signal, and stop() waits until every live member has exited:
    // the leader may be a shell that dies at once while the program it started (nsgi, finishing
    // its requests) is still stopping. What is left after 5 s is SIGKILLed.
    stop: (signal = 'SIGTERM') =>
      (stopped ??= (async () => {
        const pgid = child.pid;
        signalGroup(child, signal);
        const deadline = Date.now() + 5000;
        while (groupAlive(pgid) || (child.exitCode === null && child.signalCode === null)) {
          if (Date.now() > deadline) {
            signalGroup(child, 'SIGKILL');
            await new Promise((r) => setTimeout(r, 100));
            break;
          }
          await new Promise((r) => setTimeout(r, 50));
        }
        if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once('exit', r));
      })()),
  };
}

// Whether a process of group `pgid` is still running (zombies do not count: an orphan may wait
// a while for a busy init to reap it). Reads /proc; elsewhere asks the kernel with signal 0.
function groupAlive(pgid) {
  let entries;
  try {
    entries = readdirSync('/proc');
  } catch {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z') return true;
  }
  return false;
}

function signalGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {}
  }
}

// Detached groups outlive a caller that dies: kill what is left when this process exits.
const live = new Set();
process.once('exit', () => {
  for (const child of live) signalGroup(child, 'SIGKILL');
});

/**
 * Resolves once `address` accepts connections: `unix:/path`, `HOST:PORT` or `:PORT`.
 * Rejects after `timeoutMs`, or as soon as `child` (when given) exits.
 */
export async function waitForAddress(address, { timeoutMs = 15_000, child, what = address } = {}) {
  const target = address.startsWith('unix:') ? { path: address.slice(5) } : hostPort(address);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child && (child.exitCode !== null || child.signalCode !== null)) throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}) before listening on ${address}`);
    const ok = await new Promise((resolve) => {
      const s = connect(target);
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what}: nothing listening on ${address} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function hostPort(address) {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i) || '127.0.0.1', port: Number(address.slice(i + 1)) };
}

// Apache's children run as nobody; when started by root they must be able to pass through every
// folder above the run folder and the checkout (search permission, o+x, never read). A folder
// made by mkdtemp is 0700, so grant what is missing.
export function allowSearchTo(path) {
  if (process.getuid?.() !== 0) return;
  for (let p = path; ; p = dirname(p)) {
    if (existsSync(p)) {
      const mode = statSync(p).mode;
      if ((mode & 0o001) === 0) chmodSync(p, (mode & 0o7777) | 0o001);
    }
    if (dirname(p) === p) return;
  }
}
