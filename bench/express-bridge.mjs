// What the Node bridge costs: one Express 5 hello-world app, served
//   a. on plain node:http (the baseline),
//   b. through fromNodeHandler on nsgi's HTTP transport,
//   c. through fromNodeHandler on nsgi's FastCGI transport,
// each in a child process over a unix socket, loaded from this process by clients of the same
// style (request encoded once, keep-alive, 32 in flight, responses counted, not parsed into
// objects). With nginx installed, also the deployment comparison, both behind a real nginx:
//   d. nginx proxy_pass -> Express on node:http (upstream keepalive),
//   e. nginx fastcgi_pass -> Express through fromNodeHandler on nsgi FastCGI (fastcgi_keep_conn).
// Ratios are reported against the matching baseline (c / a, e / d).
//
//   npm run build && node bench/express-bridge.mjs [--quick]
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { freePort, httpLoad, runBenchmark, startChild as startChildOf } from './lib/load.mjs';

const DIST = fileURLToPath(new URL('../dist/', import.meta.url));
const NGINX = '/usr/sbin/nginx';

// ---------------------------------------------------------------------------------------------
// The servers (run in a child: `node bench/express-bridge.mjs --child KIND ADDR`)

function helloExpress() {
  const app = express();
  app.get('/', (_req, res) => res.send('Hello, world!\n'));
  return app;
}

async function child(kind, address) {
  const app = helloExpress();
  const nsgi = await import(join(DIST, 'index.js'));
  let bound;
  if (kind === 'node-http') {
    const server = createServer({ keepAliveTimeout: 60_000 }, app);
    bound = await new Promise((resolve) => {
      if (address.startsWith('unix:')) server.listen(address.slice(5), () => resolve(address));
      else server.listen(0, '127.0.0.1', () => resolve(`127.0.0.1:${server.address().port}`));
    });
  } else if (kind === 'nsgi-http') {
    bound = await nsgi.createHTTPServer(nsgi.fromNodeHandler(app), { keepAliveTimeout: 60_000 }).listen(address);
  } else if (kind === 'nsgi-fastcgi') {
    bound = await nsgi.createFastCGIServer(nsgi.fromNodeHandler(app), { socketMode: 0o666 }).listen(address);
  } else if (kind === 'native-fastcgi') {
    const hello = Buffer.from('Hello, world!\n');
    const native = (_environ, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/html; charset=utf-8'], ['Content-Length', String(hello.length)]]);
      return [hello];
    };
    bound = await nsgi.createFastCGIServer(native, { socketMode: 0o666 }).listen(address);
  } else {
    throw new Error(`unknown server kind ${kind}`);
  }
  process.stdout.write(`${bound}\n`);
}

// ---------------------------------------------------------------------------------------------
// The clients


async function fastcgiLoad(address, { requests, concurrency }) {
  const { FastCGIClient } = await import(join(DIST, 'index.js'));
  const client = new FastCGIClient(address, { keepConn: true });
  try {
    // One request at a time per connection, as nginx sends them.
    return await client.load({ requests, concurrency, connections: concurrency, request: { method: 'GET', path: '/' } });
  } finally {
    await client.close();
  }
}

// ---------------------------------------------------------------------------------------------
// nginx in front (optional)

async function startNginx(dir, port, upstream) {
  // As root, workers would drop to nobody, who cannot enter the private temp dir.
  const conf = `${process.getuid?.() === 0 ? 'user root;' : ''}
daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  fastcgi_temp_path ${dir}/fastcgi_temp;
  proxy_temp_path ${dir}/proxy_temp;
  scgi_temp_path ${dir}/scgi_temp;
  uwsgi_temp_path ${dir}/uwsgi_temp;
  upstream backend {
    server ${upstream.address};
    keepalive 32;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
${
  upstream.fastcgi
    ? `      include /etc/nginx/fastcgi_params;
      fastcgi_param PATH_INFO $uri;
      fastcgi_keep_conn on;
      fastcgi_pass backend;`
    : `      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_pass http://backend;`
}
    }
  }
}
`;
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const proc = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'inherit'] });
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((resolve) => {
      const s = connect({ host: '127.0.0.1', port });
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return { stop: () => new Promise((resolve) => (proc.once('exit', resolve), proc.kill('SIGTERM'))) };
}


// ---------------------------------------------------------------------------------------------
// The run

const startChild = (kind, address) => startChildOf(fileURLToPath(import.meta.url), kind, address);

// Runs each load in turn, `runs` rounds, and keeps each one's best: the machine is shared, noise
// only ever slows a run down, and interleaving spreads a busy spell over all of them alike.
async function bestInterleaved(runs, loads) {
  const top = loads.map(() => undefined);
  for (let i = 0; i < runs; i++) {
    for (let j = 0; j < loads.length; j++) {
      const r = await loads[j]();
      if (r.errors) throw new Error(`${r.errors} requests failed`);
      if (!top[j] || r.requestsPerSecond > top[j].requestsPerSecond) top[j] = r;
    }
  }
  return top;
}

async function main() {
  if (!existsSync(join(DIST, 'bridges/node.js')) || !existsSync(join(DIST, 'fastcgi/server.js'))) {
    process.stderr.write('bench: dist/ has no bridges or FastCGI server: run `npm run build` first\n');
    process.exit(2);
  }
  const quick = process.argv.includes('--quick');
  const requests = quick ? 5_000 : 20_000;
  const runs = quick ? 1 : 5;
  const concurrency = 32;
  const dir = mkdtempSync(join(tmpdir(), 'nsgi-bench-express-'));
  const row = (name, r) => process.stdout.write(`${name.padEnd(60)} ${Math.round(r.requestsPerSecond).toString().padStart(8)} req/s\n`);
  const ratio = (name, a, b) => process.stdout.write(`  ${name.padEnd(58)} ${(a.requestsPerSecond / b.requestsPerSecond).toFixed(2)}\n`);
  try {
    process.stdout.write(`node ${process.version}, express hello world, ${requests} GETs per run, best of ${runs} interleaved rounds, ${concurrency} in flight\n\n`);
    const plain = await startChild('node-http', `unix:${join(dir, 'plain.sock')}`);
    const viaHttp = await startChild('nsgi-http', `unix:${join(dir, 'nsgi-http.sock')}`);
    const viaFcgi = await startChild('nsgi-fastcgi', `unix:${join(dir, 'nsgi-fcgi.sock')}`);
    const native = await startChild('native-fastcgi', `unix:${join(dir, 'native-fcgi.sock')}`);
    let a, b, c, n;
    try {
      // Warm up (JIT, socket buffers) before measuring.
      await httpLoad(plain.bound, { requests: 3000, concurrency });
      await httpLoad(viaHttp.bound, { requests: 3000, concurrency });
      await fastcgiLoad(viaFcgi.bound, { requests: 3000, concurrency });
      await fastcgiLoad(native.bound, { requests: 3000, concurrency });
      [a, b, c, n] = await bestInterleaved(runs, [
        () => httpLoad(plain.bound, { requests, concurrency }),
        () => httpLoad(viaHttp.bound, { requests, concurrency }),
        () => fastcgiLoad(viaFcgi.bound, { requests, concurrency }),
        () => fastcgiLoad(native.bound, { requests, concurrency }),
      ]);
      row('a. Express on node:http', a);
      row('b. Express via fromNodeHandler, nsgi HTTP transport', b);
      row('c. Express via fromNodeHandler, nsgi FastCGI (32 kept conns)', c);
      row('   (for reference: a plain nsgi hello app, nsgi FastCGI)', n);
    } finally {
      await Promise.all([plain.stop(), viaHttp.stop(), viaFcgi.stop(), native.stop()]);
    }
    let d, e, f;
    if (existsSync(NGINX)) {
      const plainTcp = await startChild('node-http', 'tcp');
      const fcgi = await startChild('nsgi-fastcgi', `unix:${join(dir, 'nginx-fcgi.sock')}`);
      const nat = await startChild('native-fastcgi', `unix:${join(dir, 'nginx-native.sock')}`);
      const ports = [await freePort(), await freePort(), await freePort()];
      for (const n of ['n1', 'n2', 'n3']) mkdirSync(join(dir, n));
      const n1 = await startNginx(join(dir, 'n1'), ports[0], { address: plainTcp.bound, fastcgi: false });
      const n2 = await startNginx(join(dir, 'n2'), ports[1], { address: fcgi.bound, fastcgi: true });
      const n3 = await startNginx(join(dir, 'n3'), ports[2], { address: nat.bound, fastcgi: true });
      try {
        for (const p of ports) await httpLoad(`127.0.0.1:${p}`, { requests: 3000, concurrency });
        [d, e, f] = await bestInterleaved(
          runs,
          ports.map((p) => () => httpLoad(`127.0.0.1:${p}`, { requests, concurrency })),
        );
        row('d. nginx proxy_pass -> Express on node:http', d);
        row('e. nginx fastcgi_pass -> Express via nsgi FastCGI', e);
        row('   (for reference: nginx fastcgi_pass -> plain nsgi app)', f);
      } finally {
        await Promise.all([n1.stop(), n2.stop(), n3.stop(), plainTcp.stop(), fcgi.stop(), nat.stop()]);
      }
    }
    process.stdout.write('\nratios (higher is faster; 1.00 = as fast as Express on node:http):\n');
    ratio('b / a  bridge + nsgi HTTP vs node:http', b, a);
    ratio('c / a  bridge + nsgi FastCGI vs node:http', c, a);
    ratio('c / n  the bridge alone (Express via bridge vs plain nsgi app)', c, n);
    if (d && e) ratio('e / d  behind nginx: FastCGI + bridge vs proxy + node:http', e, d);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

runBenchmark(main, child);
