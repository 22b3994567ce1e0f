// What 2,000 FastCGI connections cost the server while they sit open: idle (connected, nothing
// sent), then kept after one hello request each (FCGI_KEEP_CONN, as nginx keeps upstream
// connections). Prints process.memoryUsage() deltas (after a forced GC) against the listening
// server with no connection. Server and clients share the process; the clients' sockets cost the
// same before and after a change to the server, so the deltas compare.
//
//   npm run build && node --expose-gc bench/fastcgi-idle-memory.mjs [connections]
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const { createFastCGIServer } = await import(new URL('../dist/index.js', import.meta.url).href);
const { encodeRecord, beginRequestBody, FCGI_BEGIN_REQUEST, FCGI_PARAMS, FCGI_STDIN, FCGI_RESPONDER, FCGI_KEEP_CONN } = await import(
  new URL('../dist/fastcgi/protocol.js', import.meta.url).href
);
const { encodeParams } = await import(new URL('../dist/fastcgi/params.js', import.meta.url).href);

const N = Number(process.argv[2] ?? 2000);
if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc');
const dir = mkdtempSync(join(tmpdir(), 'nsgi-idle-'));
const server = createFastCGIServer((_e, start) => (start('200 OK', [['Content-Type', 'text/plain']]), ['hello\n']), { maxConnections: N + 10 });
const address = await server.listen(`unix:${join(dir, 'fcgi.sock')}`);
const request = Buffer.concat([
  encodeRecord(FCGI_BEGIN_REQUEST, 1, beginRequestBody(FCGI_RESPONDER, FCGI_KEEP_CONN)),
  encodeRecord(FCGI_PARAMS, 1, encodeParams({ REQUEST_METHOD: 'GET', SCRIPT_NAME: '', PATH_INFO: '/', QUERY_STRING: '', SERVER_PROTOCOL: 'HTTP/1.1' })),
  encodeRecord(FCGI_PARAMS, 1),
  encodeRecord(FCGI_STDIN, 1),
]);

async function settle() {
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setTimeout(r, 50));
    globalThis.gc();
  }
  return process.memoryUsage();
}
const mib = (n) => `${(n / 1048576).toFixed(1)} MiB`;
function report(what, base, now) {
  console.log(`${what.padEnd(44)} arrayBuffers ${mib(now.arrayBuffers - base.arrayBuffers).padStart(10)}  external ${mib(now.external - base.external).padStart(10)}  heapUsed ${mib(now.heapUsed - base.heapUsed).padStart(9)}  rss ${mib(now.rss - base.rss).padStart(9)}`);
}

const base = await settle();
const sockets = [];
for (let i = 0; i < N; i++) {
  const s = connect({ path: address.slice(5) });
  await once(s, 'connect');
  sockets.push(s);
}
await new Promise((r) => setTimeout(r, 200));
report(`${N} idle connections`, base, await settle());

let answered = 0;
for (const s of sockets) {
  s.on('data', () => answered++);
  s.write(request);
}
while (answered < N) await new Promise((r) => setTimeout(r, 20));
report(`${N} kept connections, one request each`, base, await settle());

for (const s of sockets) s.destroy();
await server.close(1000);
rmSync(dir, { recursive: true, force: true });
