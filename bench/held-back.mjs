// A peer that stops reading a 1 GiB response: does the server's memory stay bounded? For each
// transport, the server runs in a child process serving 1 GiB in 64 KiB chunks (one reused buffer,
// so the app itself holds 64 KiB); the parent sends one request, reads nothing for HOLD_MS while it
// samples the child's memory, then reads the whole response, sampling on. Printed: the child's
// memory before the request, its peak while the response is held back and while it drains, and how
// many chunks the app had been asked for while held (what the server pulled ahead).
//
//   npm run build && node bench/held-back.mjs [MiB] [fastcgi|scgi|http ...]
//
// The fault tests (test/faults/*) run the same check at 256 MiB on every test run; figures: docs/limits.md.
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const DIST = new URL('../dist/', import.meta.url).href;
const CHUNK = Buffer.alloc(64 * 1024, 0x62);
const HOLD_MS = 3000;

if (process.argv[2] === '--child') {
  const [, , , transport, address, mib] = process.argv;
  const chunks = (Number(mib) * 1024 * 1024) / CHUNK.length;
  let pulls = 0;
  const app = (_environ, startResponse) => {
    startResponse('200 OK', [['Content-Type', 'application/octet-stream'], ['Content-Length', String(chunks * CHUNK.length)]]);
    return (function* () {
      for (let i = 0; i < chunks; i++) {
        pulls++;
        yield CHUNK;
      }
    })();
  };
  const m = await import(`${DIST}index.js`);
  const create = { fastcgi: m.createFastCGIServer, scgi: m.createSCGIServer, http: m.createHTTPServer }[transport];
  const server = create(app, { requestTimeout: 0 });
  await server.listen(address);
  process.on('message', (msg) => {
    if (msg === 'sample') {
      const u = process.memoryUsage();
      process.send({ rss: u.rss, arrayBuffers: u.arrayBuffers, heapUsed: u.heapUsed, pulls });
    } else if (msg === 'exit') {
      server.close(100).then(() => process.exit(0));
    }
  });
  process.send('ready');
} else {
  const mib = Number(process.argv[2] ?? 1024);
  const transports = process.argv.slice(3).length > 0 ? process.argv.slice(3) : ['fastcgi', 'scgi', 'http'];
  const proto = await import(`${DIST}fastcgi/protocol.js`);
  const { encodeParams } = await import(`${DIST}fastcgi/params.js`);
  const { encodeSCGIHeader } = await import(`${DIST}scgi/parser.js`);
  const vars = { REQUEST_METHOD: 'GET', SCRIPT_NAME: '', PATH_INFO: '/big', QUERY_STRING: '', SERVER_PROTOCOL: 'HTTP/1.1', SERVER_NAME: 'bench', SERVER_PORT: '80' };
  const requests = {
    fastcgi: Buffer.concat([
      proto.encodeRecord(proto.FCGI_BEGIN_REQUEST, 1, proto.beginRequestBody(proto.FCGI_RESPONDER, 0)),
      proto.encodeRecord(proto.FCGI_PARAMS, 1, encodeParams(vars)),
      proto.encodeRecord(proto.FCGI_PARAMS, 1),
      proto.encodeRecord(proto.FCGI_STDIN, 1),
    ]),
    scgi: encodeSCGIHeader(vars, 0),
    http: Buffer.from('GET /big HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n'),
  };
  const dir = mkdtempSync(join(tmpdir(), 'nsgi-held-'));
  const mb = (n) => `${(n / 1048576).toFixed(1)} MiB`;
  console.log(`node ${process.version}, a ${mib} MiB response held back for ${HOLD_MS} ms, then read; server memory (child process)\n`);
  try {
    for (const transport of transports) {
      const address = `unix:${join(dir, `${transport}.sock`)}`;
      const child = fork(fileURLToPath(import.meta.url), ['--child', transport, address, String(mib)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      await once(child, 'message');
      const sample = async () => {
        child.send('sample');
        const [s] = await once(child, 'message');
        return s;
      };
      const before = await sample();
      const socket = connect({ path: address.slice(5) });
      await once(socket, 'connect');
      socket.pause();
      socket.write(requests[transport]);
      let held = { rss: 0, arrayBuffers: 0, pulls: 0 };
      const holdUntil = Date.now() + HOLD_MS;
      while (Date.now() < holdUntil) {
        await new Promise((r) => setTimeout(r, 100));
        const s = await sample();
        held = { rss: Math.max(held.rss, s.rss), arrayBuffers: Math.max(held.arrayBuffers, s.arrayBuffers), pulls: s.pulls };
      }
      let received = 0;
      socket.on('data', (c) => (received += c.length));
      const closed = once(socket, 'close');
      const started = Date.now();
      socket.resume();
      let drain = { rss: 0, arrayBuffers: 0 };
      let done = false;
      closed.then(() => (done = true));
      while (!done) {
        await new Promise((r) => setTimeout(r, 100));
        const s = await sample();
        drain = { rss: Math.max(drain.rss, s.rss), arrayBuffers: Math.max(drain.arrayBuffers, s.arrayBuffers) };
      }
      const seconds = (Date.now() - started) / 1000;
      child.send('exit');
      await once(child, 'exit');
      console.log(
        `${transport.padEnd(8)} before: rss ${mb(before.rss)}, arrayBuffers ${mb(before.arrayBuffers)} | held: peak rss ${mb(held.rss)}, arrayBuffers ${mb(held.arrayBuffers)}, ` +
          `${held.pulls} chunks pulled (${mb(held.pulls * CHUNK.length)} of ${mib} MiB) | reading: peak rss ${mb(drain.rss)}, arrayBuffers ${mb(drain.arrayBuffers)}; ` +
          `${mb(received)} received in ${seconds.toFixed(1)} s`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
