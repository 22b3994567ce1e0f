// In-process parse of 100,000 requests shaped like nginx's: BEGIN_REQUEST (KEEP_CONN), one PARAMS
// record of ~25 realistic variables (nginx's stock fastcgi_params plus browser headers), the empty
// PARAMS record, the empty STDIN record. They go through nsgi's RecordParser and ParamsDecoder exactly
// as the server drives them, fed in 64 KiB socket-sized chunks cut anywhere, until each request's
// variables are an object ready for buildEnviron. Reported as requests/s and MB/s on one core.
//
//   npm run build && node bench/fastcgi-parse.mjs [--requests N]
//
// Figures: docs/performance.md.
import { performance } from 'node:perf_hooks';
import { fastcgi } from '../dist/index.js';

const { RecordParser, ParamsDecoder, encodeParams, encodeRecord, beginRequestBody } = fastcgi;
const { FCGI_BEGIN_REQUEST, FCGI_PARAMS, FCGI_STDIN, FCGI_KEEP_CONN, FCGI_RESPONDER } = fastcgi;

const argRequests = process.argv.indexOf('--requests');
const TOTAL = argRequests > 0 ? Number(process.argv[argRequests + 1]) : 100_000;
const DISTINCT = 1000; // distinct requests in the corpus (URIs, ports, cookies vary), replayed until TOTAL

function nginxParams(i) {
  const uri = `/app/items/${i}?page=${i % 7}&sort=name`;
  return {
    QUERY_STRING: `page=${i % 7}&sort=name`,
    REQUEST_METHOD: 'GET',
    CONTENT_TYPE: '',
    CONTENT_LENGTH: '',
    SCRIPT_NAME: '/app',
    REQUEST_URI: uri,
    DOCUMENT_URI: `/app/items/${i}`,
    DOCUMENT_ROOT: '/usr/share/nginx/html',
    SERVER_PROTOCOL: 'HTTP/1.1',
    REQUEST_SCHEME: 'https',
    HTTPS: 'on',
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_SOFTWARE: 'nginx/1.22.1',
    REMOTE_ADDR: `203.0.113.${i % 250}`,
    REMOTE_PORT: String(30000 + (i % 30000)),
    SERVER_ADDR: '10.0.0.5',
    SERVER_PORT: '443',
    SERVER_NAME: 'www.example.org',
    REDIRECT_STATUS: '200',
    PATH_INFO: `/items/${i}`,
    HTTP_HOST: 'www.example.org',
    HTTP_USER_AGENT: 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
    HTTP_ACCEPT: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
    HTTP_ACCEPT_LANGUAGE: 'en-US,en;q=0.5',
    HTTP_ACCEPT_ENCODING: 'gzip, deflate, br, zstd',
    HTTP_COOKIE: `session=${(i * 2654435761 >>> 0).toString(16).padStart(8, '0')}a1b2c3d4e5f6; theme=dark; _ga=GA1.2.${i}.1700000000`,
    HTTP_CONNECTION: 'keep-alive',
  };
}

// The corpus: DISTINCT requests back to back, as nginx would write them on one kept connection.
const parts = [];
for (let i = 0; i < DISTINCT; i++) {
  parts.push(encodeRecord(FCGI_BEGIN_REQUEST, 1, beginRequestBody(FCGI_RESPONDER, FCGI_KEEP_CONN)));
  parts.push(encodeRecord(FCGI_PARAMS, 1, encodeParams(nginxParams(i))));
  parts.push(encodeRecord(FCGI_PARAMS, 1));
  parts.push(encodeRecord(FCGI_STDIN, 1));
}
const corpus = Buffer.concat(parts);
const CHUNK = 65536;
const chunks = [];
for (let at = 0; at < corpus.length; at += CHUNK) chunks.push(corpus.subarray(at, at + CHUNK));
const pairs = Object.keys(nginxParams(0)).length;

// The handler the server's connection is, reduced to what parsing needs: PARAMS into a decoder,
// the environ object out at the empty PARAMS record.
let parsed = 0;
let checksum = 0;
let decoder;
let kind = 0;
let empty = false;
const handler = {
  record(type, _id, contentLength) {
    empty = contentLength === 0;
    if (type === FCGI_BEGIN_REQUEST) {
      kind = 1;
      decoder = new ParamsDecoder();
    } else kind = type === FCGI_PARAMS ? 2 : 0;
  },
  content(chunk, start, end) {
    if (kind === 2) decoder.push(chunk, start, end);
  },
  recordEnd() {
    if (kind === 2 && empty) {
      const vars = decoder.end();
      checksum += vars.REQUEST_URI.length; // keep the result alive
      parsed++;
    }
  },
};

function run(requests) {
  const parser = new RecordParser(handler);
  parsed = 0;
  const rounds = Math.ceil(requests / DISTINCT);
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (let r = 0; r < rounds; r++) for (let i = 0; i < chunks.length; i++) parser.push(chunks[i]);
  const c = process.cpuUsage(c0);
  const wall = performance.now() - t0;
  // CPU time of this process, not wall time: on a shared machine the wall clock also counts other
  // processes' turns. (On an idle machine the two agree.)
  return { ms: (c.user + c.system) / 1000, wall, requests: parsed, bytes: rounds * corpus.length };
}

run(20_000); // warm up the JIT
const runs = [];
for (let i = 0; i < 5; i++) runs.push(run(TOTAL));
runs.sort((a, b) => a.ms - b.ms);
const best = runs[0];
const median = runs[2];
const rate = (r) => Math.round((r.requests / r.ms) * 1000);
const mbps = (r) => (r.bytes / 1e6 / (r.ms / 1000)).toFixed(0);
console.log(`nginx-shaped requests: ${pairs} params, ${Math.round(corpus.length / DISTINCT)} bytes each on the wire; ${best.requests} parsed per run`);
console.log(`best of 5:   ${rate(best).toLocaleString('en-US')} requests/s, ${mbps(best)} MB/s (${best.ms.toFixed(1)} ms CPU, ${best.wall.toFixed(1)} ms wall)`);
console.log(`median of 5: ${rate(median).toLocaleString('en-US')} requests/s, ${mbps(median)} MB/s (${median.ms.toFixed(1)} ms CPU, ${median.wall.toFixed(1)} ms wall)`);
if (checksum === 0) console.log('(checksum 0?)');
