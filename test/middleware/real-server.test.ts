// A chain of middlewares behind real web servers: lighttpd mounted at "", "/", "/" with
// fix-root-scriptname, and "/app"; nginx at /app with and without a path split; Apache
// ProxyPass to the backend at /app. Each test
// records the SCRIPT_NAME/PATH_INFO the server really sends (the table in docs/middleware.md
// asserts the same values) and checks that the fixers turn them into the right URLs.
//
// Run over both FastCGI and SCGI: lighttpd's mod_fastcgi and mod_scgi share the code that computes
// SCRIPT_NAME/PATH_INFO (gw_backend.c) and send the same split; nginx's stock fastcgi_params sets
// SCRIPT_NAME to the whole path where scgi_params sets none, and Apache's mod_proxy_fcgi and
// mod_proxy_scgi both send the whole path as SCRIPT_NAME.
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compose } from '../../src/compose.js';
import { LighttpdRootFix } from '../../src/middleware/lighttpd-root-fix.js';
import { originalValue } from '../../src/middleware/orig.js';
import { PathInfoFromRequestURI } from '../../src/middleware/path-info-from-request-uri.js';
import { StaticAlias } from '../../src/middleware/static-alias.js';
import { URLMap } from '../../src/middleware/urlmap.js';
import { validate } from '../../src/middleware/validate.js';
import { createFastCGIServer } from '../../src/fastcgi/server.js';
import { createSCGIServer } from '../../src/scgi/server.js';
import type { NsgiServer } from '../../src/server.js';
import type { App, Middleware } from '../../src/types.js';
import { freePort, removeTempDir, startApache, startLighttpd, startNginx, type Peer } from '../helpers/peers.js';

interface Transport {
  name: 'fastcgi' | 'scgi';
  create: (app: App, options: { logger: { error(): void } }) => NsgiServer;
  lighttpdModule: string;
  lighttpdKey: string;
  nginxPass: string;
  nginxParams: string;
  nginxParam: string;
  apacheModule: string;
  apacheScheme: string;
}

const TRANSPORTS: Transport[] = [
  { name: 'fastcgi', create: createFastCGIServer, lighttpdModule: 'mod_fastcgi', lighttpdKey: 'fastcgi.server', nginxPass: 'fastcgi_pass', nginxParams: '/etc/nginx/fastcgi_params', nginxParam: 'fastcgi_param', apacheModule: 'proxy_fcgi', apacheScheme: 'fcgi' },
  { name: 'scgi', create: createSCGIServer, lighttpdModule: 'mod_scgi', lighttpdKey: 'scgi.server', nginxPass: 'scgi_pass', nginxParams: '/etc/nginx/scgi_params', nginxParam: 'scgi_param', apacheModule: 'proxy_scgi', apacheScheme: 'scgi' },
];
const FIXTURES = resolve('test/fixtures/static');

// What the app reports: the split the server sent, and the split it ended with.
const report: App = (environ, startResponse) => {
  const body = JSON.stringify({
    sent: [originalValue(environ, 'SCRIPT_NAME'), originalValue(environ, 'PATH_INFO')],
    got: [environ.SCRIPT_NAME, environ.PATH_INFO],
    params: environ['nsgi.params'] ?? null,
  });
  startResponse('200 OK', [['Content-Type', 'application/json']]);
  return [body];
};

// The chain under test: fixer, static files, then a URLMap with a pattern; lint inside.
const chain = (fixer: Middleware): App =>
  compose(fixer, StaticAlias({ '/static': FIXTURES }), validate())(URLMap({ '/users/:id': report, '/': report }));

interface Setup {
  name: string;
  mount: string;
  peer: (t: Transport, backend: number, port: number) => Promise<Peer>;
  // The split observed for /users/7 and for the mount's root "/" ([SCRIPT_NAME, PATH_INFO]; an absent key reads as '').
  sentUsers: [string, string];
  sentRoot: [string, string];
  // Where FastCGI differs from SCGI (nginx's stock params files).
  fastcgi?: { sentUsers: [string, string]; sentRoot: [string, string] };
  // The narrowest fixer for this server and mount (identity when none is needed).
  narrow: Middleware;
}

const lighttpd = (key: string, extra = '') => (t: Transport, backend: number, port: number) =>
  startLighttpd(port, () => `
server.modules += ( "${t.lighttpdModule}" )
${t.lighttpdKey} = ( "${key}" => (( "host" => "127.0.0.1", "port" => ${backend}, "check-local" => "disable"${extra} )) )
`);

const nginx = (location: string) => (t: Transport, backend: number, port: number) =>
  startNginx(() => `
  server {
    listen 127.0.0.1:${port};
    ${location.replace('PASS', `include ${t.nginxParams}; ${t.nginxPass} 127.0.0.1:${backend};`).replace(/PARAM/g, t.nginxParam)}
  }
`, () => ({ port }));

const apache = (line: string) => (t: Transport, backend: number, port: number) =>
  startApache(port, ['proxy', t.apacheModule], () => line.replace('BACKEND', `${t.apacheScheme}://127.0.0.1:${backend}`));

const setups: Setup[] = [
  { name: 'lighttpd mounted at ""', mount: '', peer: lighttpd(''), sentUsers: ['/users/7', ''], sentRoot: ['/', ''], narrow: LighttpdRootFix() },
  { name: 'lighttpd mounted at "/"', mount: '', peer: lighttpd('/'), sentUsers: ['/users', '/7'], sentRoot: ['/', ''], narrow: LighttpdRootFix() },
  { name: 'lighttpd at "/" with fix-root-scriptname', mount: '', peer: lighttpd('/', ', "fix-root-scriptname" => "enable"'), sentUsers: ['', '/users/7'], sentRoot: ['', '/'], narrow: (app) => app },
  { name: 'lighttpd mounted at "/app"', mount: '/app', peer: lighttpd('/app'), sentUsers: ['/app', '/users/7'], sentRoot: ['/app', '/'], narrow: (app) => app },
  {
    name: 'nginx location /app/ with the stock params file only',
    mount: '/app',
    peer: nginx('location /app/ { PASS }'),
    sentUsers: ['', ''],
    sentRoot: ['', ''],
    fastcgi: { sentUsers: ['/app/users/7', ''], sentRoot: ['/app/', ''] },
    narrow: PathInfoFromRequestURI({ mount: '/app' }),
  },
  {
    name: 'nginx location /app/ with a regex split',
    mount: '/app',
    peer: nginx(`location ~ ^(?<script>/app)(?<rest>/.*)$ { PASS PARAM SCRIPT_NAME $script; PARAM PATH_INFO $rest; }`),
    sentUsers: ['/app', '/users/7'],
    sentRoot: ['/app', '/'],
    narrow: (app) => app,
  },
  { name: 'Apache ProxyPass /app/', mount: '/app', peer: apache('ProxyPass "/app/" "BACKEND/app/"'), sentUsers: ['/app/users/7', ''], sentRoot: ['/app/', ''], narrow: PathInfoFromRequestURI({ mount: '/app' }) },
];

const matrix = TRANSPORTS.flatMap((t) => setups.map((setup) => ({ ...setup, t, label: `${t.name}: ${setup.name}`, ...(t.name === 'fastcgi' ? setup.fastcgi : {}) })));

describe.each(matrix)('$label', (setup) => {
  let backend: NsgiServer;
  let peer: Peer;
  let base: string;

  beforeAll(async () => {
    const general = chain(PathInfoFromRequestURI({ mount: setup.mount }));
    const narrow = chain(setup.narrow);
    // One backend, two chains: the X-Chain header picks the narrow fixer for this server.
    const app: App = (environ, sr) => (environ.HTTP_X_CHAIN === 'narrow' ? narrow : general)(environ, sr);
    backend = setup.t.create(app, { logger: { error() {} } });
    const backendPort = Number((await backend.listen('127.0.0.1:0')).split(':').pop());
    const port = await freePort();
    peer = await setup.peer(setup.t, backendPort, port);
    base = `http://127.0.0.1:${port}`;
  });

  afterAll(async () => {
    await peer?.stop();
    await backend?.close(2000);
    if (peer) removeTempDir(peer.dir);
  });

  const get = async (path: string, chainName = 'general') => {
    const res = await fetch(base + path, { headers: { 'X-Chain': chainName } });
    const text = await res.text();
    return { status: res.status, text, json: () => JSON.parse(text) as { sent: [string, string | '']; got: [string, string]; params: unknown } };
  };

  it('sends the documented split for /users/7, and the general chain fixes it', async () => {
    const res = await get(`${setup.mount}/users/7?x=1`);
    expect(res.status, res.text).toBe(200);
    const body = res.json();
    expect(body.sent).toEqual(setup.sentUsers);
    // URLMap moved the pattern match to SCRIPT_NAME: the URL rebuilt from the environ is the one requested.
    expect(body.got).toEqual([`${setup.mount}/users/7`, '']);
    expect(body.params).toEqual({ id: '7' });
  });

  it('sends the documented split for the mount root, and the chain fixes it', async () => {
    const res = await get(`${setup.mount}/`);
    expect(res.status, res.text).toBe(200);
    const body = res.json();
    expect(body.sent).toEqual(setup.sentRoot);
    expect(body.got).toEqual([setup.mount, '/']);
  });

  it('serves a static file under the mount through the chain', async () => {
    const res = await get(`${setup.mount}/static/hello.txt`);
    expect([res.status, res.text]).toEqual([200, 'hello\n']);
  });

  it('the narrowest fixer for this server gives the same split', async () => {
    const body = (await get(`${setup.mount}/users/7`, 'narrow')).json();
    expect(body.got).toEqual([`${setup.mount}/users/7`, '']);
  });
});
