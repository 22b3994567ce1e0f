// The app the soak serves (test/soak/soak.ts runs it with `nsgi serve --workers 2` behind nginx).
// Every route answers something the client can check end to end:
//
//   GET  /small?n=N                   `ok N` (echo: a reply meant for another request shows)
//   GET  /download?size=B&seed=S      B deterministic bytes streamed in 64 KiB chunks; the sha256 of
//                                     what the app sends is in `X-Soak-Sha256`, computed up front
//   POST /upload                      reads the whole body; answers `{"bytes":B,"sha256":"..."}`
//   GET  /slow?chunks=C&ms=M          C lines, one every M ms (stops at once when nsgi.signal fires)
//
// Fault switches, for checking that the soak's assertions can fail (docs/soak.md), all off by default:
//   SOAK_CORRUPT=1   flip one byte of every 10th download after its checksum was computed
//   SOAK_LEAK=1      keep every upload's bytes forever (a leak the memory criterion must catch)
import { createHash } from 'node:crypto';

const CHUNK = 64 * 1024;
const corrupt = process.env.SOAK_CORRUPT === '1';
const leak = process.env.SOAK_LEAK === '1';
const leaked = [];
let downloads = 0;

/** The 64 KiB base block of a seed: each byte a function of its offset and the seed. */
function block(seed) {
  const b = Buffer.allocUnsafe(CHUNK);
  for (let i = 0; i < CHUNK; i++) b[i] = (i * 31 + seed * 131 + (i >>> 8) * 7) & 0xff;
  return b;
}

// One block per seed (the client picks seeds 0..7) and one checksum per (size, seed): a bounded
// cache filled during warm-up, not a leak.
const blocks = new Map();
const sums = new Map();

/** Chunk k of a download: the seed's block with its first 4 bytes replaced by k, so reordered or repeated chunks change the sum. */
function chunkOf(base, k, length) {
  const c = Buffer.from(base.subarray(0, length));
  if (length >= 4) c.writeUInt32BE(k, 0);
  return c;
}

function downloadSum(size, seed, base) {
  const key = `${size}/${seed}`;
  let sum = sums.get(key);
  if (sum === undefined) {
    const h = createHash('sha256');
    for (let k = 0, off = 0; off < size; k++, off += CHUNK) h.update(chunkOf(base, k, Math.min(CHUNK, size - off)));
    sum = h.digest('hex');
    sums.set(key, sum);
  }
  return sum;
}

function query(environ) {
  return new URLSearchParams(environ.QUERY_STRING ?? '');
}

function text(startResponse, status, body) {
  startResponse(status, [['Content-Type', 'text/plain']]);
  return [body];
}

async function* download(size, seed, base, signal, flip) {
  for (let k = 0, off = 0; off < size; k++, off += CHUNK) {
    if (signal.aborted) return;
    const c = chunkOf(base, k, Math.min(CHUNK, size - off));
    if (flip && k === 3) c[100] ^= 0xff;
    yield c;
  }
}

async function* slow(chunks, ms, signal) {
  for (let i = 0; i < chunks; i++) {
    if (i > 0) {
      await new Promise((resolve) => {
        const onAbort = () => (clearTimeout(t), resolve());
        const t = setTimeout(() => (signal.removeEventListener('abort', onAbort), resolve()), ms);
        signal.addEventListener('abort', onAbort, { once: true });
      });
    }
    if (signal.aborted) return;
    yield `line ${i}\n`;
  }
}

export default async function app(environ, startResponse) {
  const path = environ.PATH_INFO;
  const q = query(environ);
  const signal = environ['nsgi.signal'];
  if (path === '/small' && environ.REQUEST_METHOD === 'GET') return text(startResponse, '200 OK', `ok ${q.get('n')}`);
  if (path === '/download' && environ.REQUEST_METHOD === 'GET') {
    const size = Number(q.get('size'));
    const seed = Number(q.get('seed'));
    if (!(Number.isInteger(size) && size > 0 && size <= 64 * 1024 * 1024 && Number.isInteger(seed) && seed >= 0 && seed < 8)) return text(startResponse, '400 Bad Request', 'bad size or seed\n');
    let base = blocks.get(seed);
    if (base === undefined) blocks.set(seed, (base = block(seed)));
    const sum = downloadSum(size, seed, base);
    const flip = corrupt && ++downloads % 10 === 0;
    startResponse('200 OK', [
      ['Content-Type', 'application/octet-stream'],
      ['Content-Length', String(size)],
      ['X-Soak-Sha256', sum],
    ]);
    return download(size, seed, base, signal, flip);
  }
  if (path === '/upload' && environ.REQUEST_METHOD === 'POST') {
    const h = createHash('sha256');
    let bytes = 0;
    for await (const chunk of environ['wsgi.input']) {
      h.update(chunk);
      bytes += chunk.length;
      if (leak) leaked.push(Buffer.from(chunk));
    }
    startResponse('200 OK', [['Content-Type', 'application/json']]);
    return [JSON.stringify({ bytes, sha256: h.digest('hex') })];
  }
  if (path === '/slow' && environ.REQUEST_METHOD === 'GET') {
    const chunks = Math.min(Number(q.get('chunks')) || 1, 100);
    const ms = Math.min(Number(q.get('ms')) || 0, 5000);
    startResponse('200 OK', [['Content-Type', 'text/plain']]);
    return slow(chunks, ms, signal);
  }
  return text(startResponse, '404 Not Found', `no route ${environ.REQUEST_METHOD} ${path}\n`);
}
