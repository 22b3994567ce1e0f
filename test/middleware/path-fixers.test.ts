// The three path fixers: FastCGIFixMiddleware (Apache mod_rewrite + dispatch.fcgi),
// LighttpdRootFix (werkzeug's LighttpdCGIRootFix) and PathInfoFromRequestURI
// (werkzeug's PathInfoFromRequestUriFix, grown up). Each row is what a server sends
// (SCRIPT_NAME, PATH_INFO, REQUEST_URI) and what the app must see.
import { describe, expect, it } from 'vitest';
import { compose } from '../../src/compose.js';
import { ConfigError } from '../../src/errors.js';
import { FastCGIFixMiddleware } from '../../src/middleware/fastcgi-fix.js';
import { LighttpdRootFix } from '../../src/middleware/lighttpd-root-fix.js';
import { PathInfoFromRequestURI } from '../../src/middleware/path-info-from-request-uri.js';
import type { Middleware } from '../../src/types.js';
import { seen } from './helpers.js';

interface Row {
  name: string;
  sent: { script: string; path: string; uri?: string };
  want: { script: string; path: string };
}

// Sends exactly the given split (createEnviron would derive REQUEST_URI from it otherwise).
async function check(mw: Middleware, row: Row): Promise<void> {
  const extra: Record<string, unknown> = { SCRIPT_NAME: row.sent.script, PATH_INFO: row.sent.path };
  if (row.sent.uri !== undefined) extra.REQUEST_URI = row.sent.uri;
  // SCRIPT_NAME "/" breaks the contract (as lighttpd sends it): only the inner validate() applies.
  const got = await seen(mw, { extra }, row.sent.script !== '/');
  expect({ script: got.SCRIPT_NAME, path: got.PATH_INFO }).toEqual(row.want);
  const orig = (got['nsgi.orig'] ?? {}) as Record<string, string>;
  // What the server sent stays readable under nsgi.orig.
  expect(orig.SCRIPT_NAME ?? got.SCRIPT_NAME).toBe(row.sent.script);
  expect(orig.PATH_INFO ?? got.PATH_INFO).toBe(row.sent.path);
}

describe('FastCGIFixMiddleware', () => {
  const rows: Row[] = [
    { name: 'removes /dispatch.fcgi at the root', sent: { script: '/dispatch.fcgi', path: '/users/7' }, want: { script: '', path: '/users/7' } },
    { name: 'removes it under a subfolder .htaccess', sent: { script: '/blog/dispatch.fcgi', path: '/posts' }, want: { script: '/blog', path: '/posts' } },
    { name: 'removes it in the middle of SCRIPT_NAME', sent: { script: '/a/dispatch.fcgi/b', path: '/x' }, want: { script: '/a/b', path: '/x' } },
    { name: 'leaves a longer segment that starts with the name', sent: { script: '/dispatch.fcgi.old', path: '/x' }, want: { script: '/dispatch.fcgi.old', path: '/x' } },
    { name: 'leaves a segment that ends with the name', sent: { script: '/my-dispatch.fcgi', path: '/x' }, want: { script: '/my-dispatch.fcgi', path: '/x' } },
    { name: 'leaves PATH_INFO alone even when it holds the name', sent: { script: '', path: '/dispatch.fcgi/x' }, want: { script: '', path: '/dispatch.fcgi/x' } },
    { name: 'does nothing without the script', sent: { script: '/app', path: '/x' }, want: { script: '/app', path: '/x' } },
  ];
  it.each(rows)('$name', (row) => check(FastCGIFixMiddleware(), row));

  it.each([
    ['dispatch.cgi', '/dispatch.cgi', ''],
    ['/index.fcgi', '/site/index.fcgi', '/site'],
    ['/index.fcgi/', '/index.fcgi', ''],
  ])('takes scriptName %j: %j becomes %j', (scriptName, script, want) =>
    check(FastCGIFixMiddleware({ scriptName }), { name: '', sent: { script, path: '/p' }, want: { script: want, path: '/p' } }),
  );

  it.each(['', '/', '/a/b.fcgi'])('refuses scriptName %j', (scriptName) => {
    expect(() => FastCGIFixMiddleware({ scriptName })).toThrow(ConfigError);
  });
});

describe('LighttpdRootFix', () => {
  // lighttpd at the root: key "" puts the whole path in SCRIPT_NAME; key "/" splits after the first segment.
  const rows: Row[] = [
    { name: 'moves a whole-path SCRIPT_NAME (mount "") into PATH_INFO', sent: { script: '/users/7', path: '' }, want: { script: '', path: '/users/7' } },
    { name: 'glues a first-segment split (mount "/") back together', sent: { script: '/users', path: '/7' }, want: { script: '', path: '/users/7' } },
    { name: 'keeps a trailing slash', sent: { script: '/users', path: '/' }, want: { script: '', path: '/users/' } },
    { name: 'is idempotent on a correct root split', sent: { script: '', path: '/users/7' }, want: { script: '', path: '/users/7' } },
    { name: 'handles the bare root', sent: { script: '/', path: '' }, want: { script: '', path: '/' } },
  ];
  it.each(rows)('$name', (row) => check(LighttpdRootFix(), row));

  it.each([
    ['/app', '/app'],
    ['app', '/app'],
    ['/app/', '/app'],
    ['/', ''],
    ['', ''],
  ])('appRoot %j gives SCRIPT_NAME %j (leading slash kept, unlike werkzeug 0.9+)', (appRoot, script) =>
    check(LighttpdRootFix({ appRoot }), { name: '', sent: { script: '/users', path: '/7' }, want: { script, path: '/users/7' } }),
  );
});

describe('PathInfoFromRequestURI', () => {
  const at = (mount: string): Middleware => PathInfoFromRequestURI({ mount });
  const rows: Array<Row & { mount: string }> = [
    // Apache ProxyPass "/app" "fcgi://..." sends the whole path as SCRIPT_NAME.
    { name: 'Apache ProxyPass fcgi:// at /app', mount: '/app', sent: { script: '/app/users/7', path: '', uri: '/app/users/7?x=1' }, want: { script: '/app', path: '/users/7' } },
    { name: 'Apache ProxyPass fcgi:// at the root', mount: '', sent: { script: '/users/7', path: '', uri: '/users/7' }, want: { script: '', path: '/users/7' } },
    { name: 'lighttpd mounted at ""', mount: '', sent: { script: '/users/7', path: '', uri: '/users/7' }, want: { script: '', path: '/users/7' } },
    { name: 'lighttpd mounted at "/"', mount: '/', sent: { script: '/users', path: '/7', uri: '/users/7' }, want: { script: '', path: '/users/7' } },
    { name: 'lighttpd mounted at "/app" (already right: unchanged)', mount: '/app', sent: { script: '/app', path: '/users/7', uri: '/app/users/7' }, want: { script: '/app', path: '/users/7' } },
    { name: 'mod_rewrite + dispatch.fcgi', mount: '/blog', sent: { script: '/blog/dispatch.fcgi', path: '/posts/1', uri: '/blog/posts/1' }, want: { script: '/blog', path: '/posts/1' } },
    { name: 'the mount itself gives an empty PATH_INFO', mount: '/app', sent: { script: '/app', path: '', uri: '/app' }, want: { script: '/app', path: '' } },
    { name: 'percent-decodes like CGI', mount: '/app', sent: { script: '/app', path: '/x', uri: '/app/snow%20%E2%98%83' }, want: { script: '/app', path: '/snow ☃' } },
    { name: 'removes dot segments before splitting', mount: '/app', sent: { script: '/app', path: '/b', uri: '/app/a/../b' }, want: { script: '/app', path: '/b' } },
    { name: 'accepts the absolute form', mount: '/app', sent: { script: '', path: '', uri: 'http://example.com/app/x' }, want: { script: '/app', path: '/x' } },
    { name: 'leaves the split alone when REQUEST_URI is not under the mount (segment boundary)', mount: '/app', sent: { script: '/app', path: '/x', uri: '/application/x' }, want: { script: '/app', path: '/x' } },
    { name: 'leaves the split alone for OPTIONS *', mount: '', sent: { script: '', path: '', uri: '*' }, want: { script: '', path: '' } },
  ];
  it.each(rows)('$name', (row) => check(at(row.mount), row));

  it('leaves the split alone without REQUEST_URI', async () => {
    const inner = PathInfoFromRequestURI({ mount: '/app' });
    const strip: Middleware = (app) => (environ, sr) => {
      delete environ.REQUEST_URI;
      return app(environ, sr);
    };
    const got = await seen(compose(strip, inner), { extra: { SCRIPT_NAME: '/x', PATH_INFO: '/y' } });
    expect([got.SCRIPT_NAME, got.PATH_INFO]).toEqual(['/x', '/y']);
  });

  it('falls back to IIS UNENCODED_URL', async () => {
    const strip: Middleware = (app) => (environ, sr) => {
      delete environ.REQUEST_URI;
      return app(environ, sr);
    };
    const got = await seen(compose(strip, at('/app')), { extra: { SCRIPT_NAME: '/app/x', PATH_INFO: '', UNENCODED_URL: '/app/x' } });
    expect([got.SCRIPT_NAME, got.PATH_INFO]).toEqual(['/app', '/x']);
  });
});
