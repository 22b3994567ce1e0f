// Who may set REMOTE_ADDR, the scheme and the host. A web server speaking FastCGI, SCGI or CGI
// passes every client header through as HTTP_*, and sets no X-Forwarded-* of its own: there, those
// headers are the client's word. A reverse proxy appends its own value to the right of whatever
// the client sent. So PrefixMiddleware translates nothing unless told, and ProxyFix takes the n-th
// value from the right for n trusted proxies; the n-th from the right is the first value a proxy
// we run wrote, and everything to its left is the client's.
// Real peers: nginx in front of FastCGI (the headers reach the app as the client sent them), and
// two chained nginx reverse proxies (front on 127.0.0.1 connecting from 127.0.0.2) in front of the
// HTTP transport, so every hop count can be checked against a request with a spoofed leftmost value.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFastCGIServer } from '../../src/fastcgi/server.js';
import { createHTTPServer } from '../../src/http/server.js';
import { PrefixMiddleware } from '../../src/middleware/prefix.js';
import { ProxyFix, type ProxyFixOptions } from '../../src/middleware/proxy-fix.js';
import type { NsgiServer } from '../../src/server.js';
import { TestClient } from '../../src/testing/client.js';
import type { App } from '../../src/types.js';
import { freePort, removeTempDir, startNginx, type Peer } from '../helpers/peers.js';

interface Seen {
  REMOTE_ADDR: string;
  HTTP_HOST: string | null;
  scheme: string;
  xff: string | null;
}

const report: App = (environ, startResponse) => {
  const seen: Seen = { REMOTE_ADDR: environ.REMOTE_ADDR as string, HTTP_HOST: (environ.HTTP_HOST as string | undefined) ?? null, scheme: environ['wsgi.url_scheme'], xff: (environ.HTTP_X_FORWARDED_FOR as string | undefined) ?? null };
  startResponse('200 OK', [['Content-Type', 'application/json']]);
  return [JSON.stringify(seen)];
};

const SPOOF = { 'X-Forwarded-For': '6.6.6.6', 'X-Forwarded-Host': 'evil.example', 'X-Forwarded-Proto': 'https', 'X-Forwarded-Server': 'evil.example', Forwarded: 'for=6.6.6.6;proto=https;host=evil.example' };

describe('PrefixMiddleware trusts no X-Forwarded-* unless told', () => {
  it('ignores spoofed forwarded headers by default (the design example PrefixMiddleware({ prefix: "/" }))', async () => {
    const res = await new TestClient(PrefixMiddleware({ prefix: '/' })(report)).get('/', { headers: { Host: 'site.example', ...SPOOF }, remoteAddr: '192.0.2.9' });
    expect(res.json<Seen>()).toMatchObject({ REMOTE_ADDR: '192.0.2.9', HTTP_HOST: 'site.example', scheme: 'http', xff: '6.6.6.6' });
  });

  it('translates them only with translateForwardedServer: true', async () => {
    const res = await new TestClient(PrefixMiddleware({ prefix: '/', translateForwardedServer: true })(report)).get('/', { headers: { Host: 'site.example', ...SPOOF }, remoteAddr: '192.0.2.9' });
    expect(res.json<Seen>()).toMatchObject({ REMOTE_ADDR: '6.6.6.6', HTTP_HOST: 'evil.example', scheme: 'https' });
  });
});

describe('ProxyFix hop counting (in memory)', () => {
  // X-Forwarded-For as two proxies leave it: the client's own value(s), then what each proxy appended.
  const XFF = '6.6.6.6, 7.7.7.7, 203.0.113.5, 10.0.0.2';
  it.each<[string, ProxyFixOptions, Record<string, string>, string]>([
    ['two trusted hops take the second value from the right', { xFor: 2 }, { 'X-Forwarded-For': XFF }, '203.0.113.5'],
    ['spoofed leftmost values never count, however many', { xFor: 2 }, { 'X-Forwarded-For': `1.1.1.1, 2.2.2.2, ${XFF}` }, '203.0.113.5'],
    ['fewer values than hops: ignored, REMOTE_ADDR stays the peer', { xFor: 3 }, { 'X-Forwarded-For': '203.0.113.5, 10.0.0.2' }, '192.0.2.9'],
    ['repeated header lines join in order, the proxy line last', { xFor: 1 }, { 'X-Forwarded-For': '6.6.6.6' }, '10.0.0.2'],
    ['empty list items do not shift the count', { xFor: 2 }, { 'X-Forwarded-For': '6.6.6.6, , 203.0.113.5, 10.0.0.2' }, '203.0.113.5'],
    ['Forwarded: a quoted comma in a spoofed element is one element', { forwarded: true, xFor: 1 }, { Forwarded: 'for="6.6.6.6, for=7.7.7.7", for=203.0.113.5' }, '203.0.113.5'],
    ['Forwarded: a spoof that breaks the grammar makes the whole header ignored', { forwarded: true, xFor: 1 }, { Forwarded: 'for="6.6.6.6, for=203.0.113.5' }, '192.0.2.9'],
    ['Forwarded: X-Forwarded-For is ignored in Forwarded mode', { forwarded: true, xFor: 1 }, { 'X-Forwarded-For': '6.6.6.6' }, '192.0.2.9'],
  ])('%s', async (_what, options, headers, expected) => {
    const list: Array<[string, string]> = Object.entries(headers);
    if (_what.startsWith('repeated')) list.push(['X-Forwarded-For', '10.0.0.2']);
    const res = await new TestClient(ProxyFix(options)(report)).get('/', { headers: list, remoteAddr: '192.0.2.9' });
    expect(res.json<Seen>().REMOTE_ADDR).toBe(expected);
  });
});

describe('behind real nginx', () => {
  let nginx: Peer;
  const backends: NsgiServer[] = [];
  let fcgiPort: number;
  let front: number;
  const hop: Record<string, number> = {};

  beforeAll(async () => {
    const fcgi = createFastCGIServer(PrefixMiddleware({ prefix: '/' })(report), { logger: { error() {} } });
    backends.push(fcgi);
    const fcgiBackend = Number((await fcgi.listen('127.0.0.1:0')).split(':').pop());
    // One HTTP backend per hop count, chosen by path on the middle proxy.
    const routes: string[] = [];
    for (const n of [1, 2, 3]) {
      const http = createHTTPServer(ProxyFix({ xFor: n, xProto: n, xHost: n })(report), { logger: { error() {} } });
      backends.push(http);
      hop[n] = Number((await http.listen('127.0.0.1:0')).split(':').pop());
      routes.push(`location /x${n} { proxy_pass http://127.0.0.1:${hop[n]}; ${PROXY_HEADERS} }`);
    }
    fcgiPort = await freePort();
    front = await freePort();
    const middle = await freePort();
    nginx = await startNginx(
      () => `
  server { listen 127.0.0.1:${fcgiPort}; location / { include /etc/nginx/fastcgi_params; fastcgi_pass 127.0.0.1:${fcgiBackend}; } }
  server { listen 127.0.0.1:${front}; location / { proxy_bind 127.0.0.2; proxy_pass http://127.0.0.1:${middle}; ${PROXY_HEADERS} } }
  server { listen 127.0.0.1:${middle}; ${routes.join('\n    ')} }
`,
      () => ({ port: front }),
    );
  });
  afterAll(async () => {
    await nginx?.stop();
    await Promise.all(backends.map((b) => b.close(1000)));
    if (nginx) removeTempDir(nginx.dir);
  });

  const get = async (port: number, path: string, headers: Record<string, string> = {}): Promise<Seen> => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers });
    expect(res.status).toBe(200);
    return (await res.json()) as Seen;
  };

  it('FastCGI: the spoofed X-Forwarded-* arrive untouched, and the default PrefixMiddleware ignores them', async () => {
    const seen = await get(fcgiPort, '/', SPOOF);
    expect(seen.xff).toBe('6.6.6.6'); // nginx passed the client's header through as HTTP_X_FORWARDED_FOR
    expect(seen).toMatchObject({ REMOTE_ADDR: '127.0.0.1', scheme: 'http' });
    expect(seen.HTTP_HOST).toMatch(/^127\.0\.0\.1(:\d+)?$/);
  });

  // The chain: client (127.0.0.1) → front nginx → (from 127.0.0.2) middle nginx → nsgi HTTP.
  // X-Forwarded-For at nsgi: "6.6.6.6, 127.0.0.1, 127.0.0.2"; only the last two were written by proxies.
  it.each([
    [2, '127.0.0.1', 'the client as the front proxy saw it: the right count'],
    [1, '127.0.0.2', 'the front proxy: one hop too few is wrong but safe'],
    [3, '6.6.6.6', 'the spoof: one hop too many lets the client choose (never configure more hops than proxies)'],
  ])('xFor %i gives REMOTE_ADDR %s (%s)', async (n, expected) => {
    const seen = await get(front, `/x${n}`, SPOOF);
    expect(seen.xff).toBe('6.6.6.6, 127.0.0.1, 127.0.0.2');
    expect(seen.REMOTE_ADDR).toBe(expected);
  });

  it('without a spoof, a count above the chain length ignores the header', async () => {
    const seen = await get(front, '/x3');
    expect(seen.REMOTE_ADDR).toBe('127.0.0.1'); // the middle proxy's address, the socket peer
    expect(seen.xff).toBe('127.0.0.1, 127.0.0.2');
  });

  it('with the right count, a spoofed scheme is the proxies\' value, not the client\'s', async () => {
    const seen = await get(front, '/x2', SPOOF);
    expect(seen.scheme).toBe('http');
    // nginx overwrites X-Forwarded-Host at each hop (one value, not a list): xHost 2 finds too few
    // values and ignores it, so the client's evil.example is never taken either way.
    expect(seen.HTTP_HOST).toMatch(/^127\.0\.0\.1:\d+$/);
  });
});

// What each nginx proxy appends: the standard recipe.
const PROXY_HEADERS = 'proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; proxy_set_header X-Forwarded-Proto $scheme; proxy_set_header X-Forwarded-Host $http_host;';
