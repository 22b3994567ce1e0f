// A 256 MiB FCGI_STDIN stream through nsgi's RecordParser, in 64 KiB socket-sized chunks, each
// record's content handed on as a view (as the server hands it to wsgi.input), beside Buffer.copy of
// the same bytes in the same run. The parser never copies payload, so it should beat the copy; the
// aim is at least 50% of Buffer.copy bandwidth.
//
//   npm run build && node bench/fastcgi-stdin.mjs [--mib N]
//
// Two parses are measured: records as nginx sends them (65535-byte maximum content, 1 byte of
// padding to 8-byte alignment) and small 8 KiB records (more headers per byte, each cut across chunks
// more often). Figures: docs/performance.md.
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { fastcgi } from '../dist/index.js';

const { RecordParser, writeHeader, paddingFor, FCGI_STDIN } = fastcgi;

const argMiB = process.argv.indexOf('--mib');
const MIB = argMiB > 0 ? Number(process.argv[argMiB + 1]) : 256;
const PAYLOAD = MIB * 1024 * 1024;
const CHUNK = 65536;

// The stream on the wire: STDIN records of `recordSize` content bytes, then the empty STDIN record.
function wire(recordSize) {
  const records = Math.ceil(PAYLOAD / recordSize);
  const out = Buffer.allocUnsafe(PAYLOAD + records * (8 + 7) + 8);
  let at = 0;
  let left = PAYLOAD;
  let fill = 0;
  while (left > 0) {
    const n = Math.min(recordSize, left);
    const pad = paddingFor(n);
    writeHeader(out, at, FCGI_STDIN, 1, n, pad);
    at += 8;
    out.fill(fill++ & 0xff, at, at + n);
    at += n;
    out.fill(0, at, at + pad);
    at += pad;
    left -= n;
  }
  writeHeader(out, at, FCGI_STDIN, 1, 0, 0);
  at += 8;
  return out.subarray(0, at);
}

function chunksOf(buf) {
  const list = [];
  for (let at = 0; at < buf.length; at += CHUNK) list.push(buf.subarray(at, at + CHUNK));
  return list;
}

function cpuMs(fn) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  fn();
  const c = process.cpuUsage(c0);
  // CPU time of this process: on a shared machine wall time also counts other processes' turns.
  return { cpu: (c.user + c.system) / 1000, wall: performance.now() - t0 };
}

let delivered = 0;
let views = 0;
const handler = {
  record() {},
  content(chunk, start, end) {
    const view = chunk.subarray(start, end); // what wsgi.input receives
    delivered += view.length;
    views++;
  },
  recordEnd() {},
};

function parse(chunks) {
  const parser = new RecordParser(handler);
  delivered = 0;
  for (let i = 0; i < chunks.length; i++) parser.push(chunks[i]);
  if (delivered !== PAYLOAD) throw new Error(`delivered ${delivered} bytes, expected ${PAYLOAD}`);
}

// Baseline: copy every byte once (what a parser that copies payload out of socket chunks must at least do).
const target = Buffer.allocUnsafe(PAYLOAD + 2 * 1024 * 1024);
function copy(chunks) {
  let at = 0;
  for (let i = 0; i < chunks.length; i++) at += chunks[i].copy(target, at);
}

// And the parse feeding a real Readable (wsgi.input is one) read by a consumer, driven synchronously.
function parseIntoReadable(chunks) {
  const input = new Readable({ read() {}, highWaterMark: 1 << 30 });
  let read = 0;
  const toInput = {
    record() {},
    content(chunk, start, end) {
      input.push(chunk.subarray(start, end));
      let c;
      while ((c = input.read()) !== null) read += c.length;
    },
    recordEnd() {},
  };
  const parser = new RecordParser(toInput);
  for (let i = 0; i < chunks.length; i++) parser.push(chunks[i]);
  if (read !== PAYLOAD) throw new Error(`read ${read} bytes`);
}

const gb = (ms) => (PAYLOAD / 1e9 / (ms / 1000)).toFixed(2);
const best = (fn, arg) => {
  fn(arg); // warm up
  const runs = [0, 1, 2, 3, 4].map(() => cpuMs(() => fn(arg)));
  runs.sort((a, b) => a.cpu - b.cpu);
  return runs[0];
};

const big = chunksOf(wire(65535));
const small = chunksOf(wire(8192));
const copied = best(copy, big);
const parsedBig = best(parse, big);
const parsedSmall = best(parse, small);
const viaReadable = best(parseIntoReadable, big);

console.log(`${MIB} MiB of STDIN in ${CHUNK / 1024} KiB chunks, best of 5 (CPU time)`);
console.log(`Buffer.copy of the same bytes:           ${gb(copied.cpu)} GB/s (${copied.cpu.toFixed(1)} ms)`);
console.log(`parse, 65535-byte records (nginx):       ${gb(parsedBig.cpu)} GB/s (${parsedBig.cpu.toFixed(1)} ms) = ${((copied.cpu / parsedBig.cpu) * 100).toFixed(0)}% of Buffer.copy`);
console.log(`parse, 8 KiB records:                    ${gb(parsedSmall.cpu)} GB/s (${parsedSmall.cpu.toFixed(1)} ms) = ${((copied.cpu / parsedSmall.cpu) * 100).toFixed(0)}% of Buffer.copy`);
console.log(`parse into a Readable, read as it comes: ${gb(viaReadable.cpu)} GB/s (${viaReadable.cpu.toFixed(1)} ms) = ${((copied.cpu / viaReadable.cpu) * 100).toFixed(0)}% of Buffer.copy`);
