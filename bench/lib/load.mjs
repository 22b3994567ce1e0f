// What the end-to-end benchmarks share: a lean HTTP/1.1 load client, starting the benchmark's
// own servers as child processes, and a free port. One copy, so that every benchmark measures
// with the same client.
import { spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { performance } from 'node:perf_hooks';

const EMPTY = Buffer.alloc(0);

/**
 * An HTTP/1.1 load client in the style of wrk and of the FastCGI client's load mode: the request
 * is encoded once and written as is, keep-alive, one request in flight per connection, responses
 * counted (status line and Content-Length read, body skipped), not parsed into objects. node's
 * own http.request() costs the client more than the server costs, and would measure node's HTTP
 * client rather than the server.
 *
 * `target` is `unix:/path`, `HOST:PORT`, or a bare socket path. With `body`, each request is a
 * POST of it. Resolves to { requests, errors (non-200 answers), seconds, requestsPerSecond }.
 */
export function httpLoad(target, { requests, concurrency, body }) {
  const head = Buffer.from(`${body ? 'POST' : 'GET'} / HTTP/1.1\r\nHost: localhost\r\n${body ? `Content-Type: application/octet-stream\r\nContent-Length: ${body.length}\r\n` : ''}\r\n`);
  const options = target.startsWith('unix:') ? { path: target.slice(5) } : target.startsWith('/') ? { path: target } : { host: target.slice(0, target.lastIndexOf(':')) || '127.0.0.1', port: Number(target.slice(target.lastIndexOf(':') + 1)) };
  let started = 0;
  let done = 0;
  let errors = 0;
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const sockets = [];
    const finish = () => {
      for (const s of sockets) s.destroy();
      const seconds = (performance.now() - t0) / 1000;
      resolve({ requests, errors, seconds, requestsPerSecond: requests / seconds });
    };
    for (let i = 0; i < Math.min(concurrency, requests); i++) {
      const socket = connect(options);
      sockets.push(socket);
      let pending = EMPTY;
      const send = () => {
        started++;
        if (body) {
          socket.cork();
          socket.write(head);
          socket.write(body);
          socket.uncork();
        } else socket.write(head);
      };
      socket.on('error', reject);
      socket.on('data', (chunk) => {
        pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
        for (;;) {
          const end = pending.indexOf('\r\n\r\n');
          if (end === -1) return;
          const text = pending.toString('latin1', 0, end);
          const m = /\r\ncontent-length:\s*(\d+)/i.exec(text);
          const total = end + 4 + (m ? Number(m[1]) : 0);
          if (pending.length < total) return;
          if (text.slice(9, 12) !== '200') errors++;
          pending = pending.length === total ? EMPTY : pending.subarray(total);
          if (++done === requests) return finish();
          if (started < requests) send();
        }
      });
      send();
    }
  });
}

/**
 * Runs `script --child KIND ADDRESS` (the benchmark file itself, in child mode) and resolves once
 * it prints the address it bound: { bound, stop() }.
 */
export async function startChild(script, kind, address) {
  const proc = spawn(process.execPath, [script, '--child', kind, address], { stdio: ['ignore', 'pipe', 'inherit'] });
  const bound = await new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(out.trim());
    });
    proc.once('exit', (code) => reject(new Error(`${kind} server exited with ${code}`)));
  });
  return { bound, stop: () => new Promise((resolve) => (proc.once('exit', resolve), proc.kill('SIGTERM'))) };
}

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * The entry point of a benchmark file that is also its own child server: with `--child KIND
 * ADDRESS` it runs `child(KIND, ADDRESS)`, otherwise `main()`; a failure prints its stack and
 * exits 1.
 */
export function runBenchmark(main, child) {
  const run = process.argv[2] === '--child' ? child(process.argv[3], process.argv[4]) : main();
  run.catch((err) => {
    process.stderr.write(`${err.stack}\n`);
    process.exit(1);
  });
}
