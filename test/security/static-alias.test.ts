// StaticAlias against path traversal, as an attacker would try it. The basic refusals (raw "..",
// %2e%2e, "..%2f", ".", NUL, "..%5c", dotfiles, symlinks out of the root, followSymlinks) are in
// test/middleware/static-alias.test.ts; this matrix adds the encodings other servers have been
// caught by (double encoding, overlong UTF-8, full-width dots, "..;"), absolute paths and "//",
// .env/.git, a symlinked directory, and the same attacks through real nginx and lighttpd in front.
// Every case also checks that no byte of a secret is in the answer.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compose } from '../../src/compose.js';
import { createFastCGIServer } from '../../src/fastcgi/server.js';
import { PathInfoFromRequestURI } from '../../src/middleware/path-info-from-request-uri.js';
import { StaticAlias } from '../../src/middleware/static-alias.js';
import { validate } from '../../src/middleware/validate.js';
import type { NsgiServer } from '../../src/server.js';
import { TestClient } from '../../src/testing/client.js';
import type { App } from '../../src/types.js';
import { freePort, removeTempDir, startLighttpd, startNginx, type Peer } from '../helpers/peers.js';
import { rawTCP } from './helpers.js';

const SECRETS = ['TOPSECRET', 'DB_PASSWORD', '[core]', 'LINKED-OUT'];

let tmp: string;
let root: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'nsgi-sec-static-'));
  root = join(tmp, 'public');
  mkdirSync(join(root, 'sub'), { recursive: true });
  mkdirSync(join(root, '.git'));
  mkdirSync(join(tmp, 'outside'));
  writeFileSync(join(tmp, 'secret.txt'), 'TOPSECRET\n');
  writeFileSync(join(tmp, 'outside', 'file.txt'), 'LINKED-OUT\n');
  writeFileSync(join(root, 'hello.txt'), 'hello\n');
  writeFileSync(join(root, 'sub', 'page.txt'), 'page\n');
  writeFileSync(join(root, '.env'), 'DB_PASSWORD=hunter2\n');
  writeFileSync(join(root, '.git', 'config'), '[core]\n\tbare = false\n');
  symlinkSync(join(tmp, 'outside'), join(root, 'out-dir')); // a symlinked directory leading out
  symlinkSync(join(root, 'sub'), join(root, 'in-dir')); // one that stays inside
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const app: App = (_environ, startResponse) => {
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  return ['the app'];
};
const chain = (): App => compose(validate(), StaticAlias({ '/r': root }), validate())(app);

// [what, request path as sent (percent-encoded), status]
const MATRIX: Array<[string, string, number]> = [
  // Decoded once into PATH_INFO: these are real dot segments, refused.
  ['raw ..', '/r/../secret.txt', 403],
  ['%2e%2e', '/r/%2e%2e/secret.txt', 403],
  ['%2E%2E upper-case hex', '/r/%2E%2E/secret.txt', 403],
  ['.%2e mixed', '/r/.%2e/secret.txt', 403],
  ['%2e%2e%2f hiding the slash', '/r/%2e%2e%2fsecret.txt', 403],
  ['.. as the last segment', '/r/sub/..', 403],
  ['.. after a file', '/r/hello.txt/../../secret.txt', 403],
  // Decoded once only: what is left is a literal name with "%" in it, which does not exist.
  ['double-encoded %252e%252e', '/r/%252e%252e/secret.txt', 404],
  ['double-encoded %252e%252e%252f', '/r/%252e%252e%252fsecret.txt', 404],
  ['double-encoded %25%32%65', '/r/%25%32%65%25%32%65/secret.txt', 404],
  // Invalid UTF-8 becomes U+FFFD, never ".": overlong forms of "." and "/" are names that do not exist.
  ['overlong 2-byte %c0%ae', '/r/%c0%ae%c0%ae/secret.txt', 404],
  ['overlong 3-byte %e0%80%ae', '/r/%e0%80%ae%e0%80%ae/secret.txt', 404],
  ['overlong slash %c0%af', '/r/..%c0%afsecret.txt', 404],
  ['full-width dots U+FF0E', '/r/%ef%bc%8e%ef%bc%8e/secret.txt', 404],
  ['Tomcat-style ..;', '/r/..;/secret.txt', 404],
  // NUL and backslashes are refused outright, wherever they are.
  ['NUL after a name', '/r/hello.txt%00.png', 403],
  ['NUL before ..', '/r/%00../secret.txt', 403],
  ['raw backslash ..\\', '/r/..\\secret.txt', 403],
  ['%5c backslash', '/r/..%5csecret.txt', 403],
  ['%5C upper-case', '/r/..%5Csecret.txt', 403],
  // Absolute paths and "//" stay under the root: the path is joined, never resolved from "/".
  ['an absolute path after the alias', '/r//etc/passwd', 404],
  ['an encoded absolute path', '/r/%2fetc%2fpasswd', 404],
  ['the temp dir as an absolute path', '/r/TMP/secret.txt', 404],
  ['// inside the path', '/r//hello.txt', 200],
  // Dotfiles under the default policy (ignore: 404 as if absent).
  ['.env', '/r/.env', 404],
  ['%2eenv', '/r/%2eenv', 404],
  ['.git/config', '/r/.git/config', 404],
  ['.git/ listing', '/r/.git/', 404],
  // Symlinks: a directory linked out of the root is refused, one inside is served.
  ['a file under a symlinked dir leading out', '/r/out-dir/file.txt', 403],
  ['a symlinked dir leading out, as a directory', '/r/out-dir/', 403],
  ['a file under a symlinked dir inside', '/r/in-dir/page.txt', 200],
];

describe('StaticAlias traversal matrix (in memory)', () => {
  it.each(MATRIX)('%s: %s is %i', async (_what, path, status) => {
    const res = await new TestClient(chain()).get(path.replace('/TMP', tmp));
    expect(res.status).toBe(status);
    for (const secret of SECRETS) expect(res.text).not.toContain(secret);
    if (status !== 200) expect(res.text).not.toContain('the app');
  });
});

// Through real web servers, raw request lines (fetch would normalise the dots before sending).
// Each server may refuse a request itself (400) or normalise it into another path (then the app
// answers, not StaticAlias); the only outcome that matters is that no file outside is ever served.
describe.each([
  {
    name: 'nginx',
    start: (backend: number, port: number) =>
      startNginx(() => `server { listen 127.0.0.1:${port}; location / { include /etc/nginx/fastcgi_params; fastcgi_pass 127.0.0.1:${backend}; } }`, () => ({ port })),
  },
  {
    name: 'lighttpd',
    start: (backend: number, port: number) =>
      startLighttpd(port, () => `server.modules += ( "mod_fastcgi" )\nfastcgi.server = ( "/" => (( "host" => "127.0.0.1", "port" => ${backend}, "check-local" => "disable", "fix-root-scriptname" => "enable" )) )\n`),
  },
])('StaticAlias behind $name (FastCGI)', ({ start }) => {
  let backend: NsgiServer;
  let peer: Peer;
  let port: number;
  beforeAll(async () => {
    backend = createFastCGIServer(compose(PathInfoFromRequestURI({ mount: '' }))(chain()), { logger: { error() {} } });
    const backendPort = Number((await backend.listen('127.0.0.1:0')).split(':').pop());
    port = await freePort();
    peer = await start(backendPort, port);
  });
  afterAll(async () => {
    await peer?.stop();
    await backend?.close(1000);
    if (peer) removeTempDir(peer.dir);
  });

  it('serves a plain file (the setup works)', async () => {
    const raw = (await rawTCP(port, 'GET /r/hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).toString('latin1');
    expect(raw).toMatch(/^HTTP\/1\.1 200 /);
    expect(raw).toContain('hello\n');
  });

  it.each(MATRIX.filter(([, , status]) => status !== 200))('%s: %s serves no secret', async (_what, path) => {
    const target = path.replace('/TMP', tmp).replace('\\', '%5c');
    const raw = (await rawTCP(port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)).toString('latin1');
    expect(raw).toMatch(/^HTTP\/1\.1 [1-5]\d\d /);
    for (const secret of SECRETS) expect(raw).not.toContain(secret);
    // A 200 is only ever the app: the dots were resolved (by the server or PathInfoFromRequestURI)
    // into a path outside the alias, never into a file.
    if (/^HTTP\/1\.1 2/.test(raw)) expect(raw.slice(raw.indexOf('\r\n\r\n'))).toContain('the app');
  });
});
