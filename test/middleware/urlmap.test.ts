// URLMap: Paste's urlmap / werkzeug's DispatcherMiddleware: longest prefix at segment
// boundaries, host-specific mounts first, path-to-regexp patterns with nsgi.params,
// a replaceable not-found app, and an outer environ left as it was.
import { describe, expect, it } from 'vitest';
import { compose } from '../../src/compose.js';
import { ConfigError } from '../../src/errors.js';
import { validate } from '../../src/middleware/validate.js';
import { URLMap } from '../../src/middleware/urlmap.js';
import { TestClient } from '../../src/testing/client.js';
import type { EnvironOptions } from '../../src/testing/environ.js';
import type { App, Environ } from '../../src/types.js';

// Each mounted app answers with its name and the split it saw.
const named =
  (name: string): App =>
  (environ, startResponse) => {
    startResponse('200 OK', [['Content-Type', 'application/json']]);
    return [JSON.stringify({ app: name, script: environ.SCRIPT_NAME, path: environ.PATH_INFO, params: environ['nsgi.params'] ?? null })];
  };

const map = URLMap({
  '/': named('root'),
  '/api': named('api'),
  '/api/v2': named('api-v2'),
  '/james': named('james'),
  '/users/:id': named('user'),
  '/users/new': named('users-new'),
  '/files/*rest': named('files'),
  'http://admin.example.com/': named('admin'),
  'http://admin.example.com/api': named('admin-api'),
  'https://secure.example.com:8443/': named('secure'),
});

const client = new TestClient(compose(validate(), (app) => app, validate())(map));

interface Row {
  request: EnvironOptions;
  want: { app: string; script: string; path: string; params?: Record<string, unknown> | null };
}

const rows: Array<[string, Row]> = [
  ['the root mount takes unmatched paths unchanged', { request: { path: '/about' }, want: { app: 'root', script: '', path: '/about' } }],
  ['a prefix moves to SCRIPT_NAME', { request: { path: '/api/items' }, want: { app: 'api', script: '/api', path: '/items' } }],
  ['the prefix alone leaves PATH_INFO empty', { request: { path: '/api' }, want: { app: 'api', script: '/api', path: '' } }],
  ['a trailing slash stays in PATH_INFO', { request: { path: '/api/' }, want: { app: 'api', script: '/api', path: '/' } }],
  ['the longest prefix wins', { request: { path: '/api/v2/items' }, want: { app: 'api-v2', script: '/api/v2', path: '/items' } }],
  ['/james does not take /jamesbond (segment boundary)', { request: { path: '/jamesbond' }, want: { app: 'root', script: '', path: '/jamesbond' } }],
  ['/api does not take /apiary', { request: { path: '/apiary' }, want: { app: 'root', script: '', path: '/apiary' } }],
  ['SCRIPT_NAME is appended to the outer mount', { request: { path: '/api/x', scriptName: '/site' }, want: { app: 'api', script: '/site/api', path: '/x' } }],
  ['a pattern puts its parameters in nsgi.params', { request: { path: '/users/7/posts' }, want: { app: 'user', script: '/users/7', path: '/posts', params: { id: '7' } } }],
  ['a literal beats a pattern of the same depth', { request: { path: '/users/new' }, want: { app: 'users-new', script: '/users/new', path: '' } }],
  ['a pattern matches only at segment boundaries', { request: { path: '/users' }, want: { app: 'root', script: '', path: '/users' } }],
  ['pattern parameters are not decoded twice', { request: { path: '/users/a%2525b' }, want: { app: 'user', script: '/users/a%25b', path: '', params: { id: 'a%25b' } } }],
  ['a wildcard takes the rest', { request: { path: '/files/a/b.txt' }, want: { app: 'files', script: '/files/a/b.txt', path: '', params: { rest: 'a/b.txt' } } }],
  ['a host mount wins over the root for that host', { request: { path: '/x', headers: { Host: 'admin.example.com' } }, want: { app: 'admin', script: '', path: '/x' } }],
  ['a host mount is matched case-insensitively, with any port when the key has none', { request: { path: '/x', headers: { Host: 'ADMIN.example.com:8080' } }, want: { app: 'admin', script: '', path: '/x' } }],
  ['host mounts come before path mounts', { request: { path: '/api/x', headers: { Host: 'admin.example.com' } }, want: { app: 'admin-api', script: '/api', path: '/x' } }],
  ['other hosts use the path mounts', { request: { path: '/api/x', headers: { Host: 'www.example.com' } }, want: { app: 'api', script: '/api', path: '/x' } }],
  ['a host mount with a port and scheme needs both', { request: { path: '/x', scheme: 'https', headers: { Host: 'secure.example.com:8443' } }, want: { app: 'secure', script: '', path: '/x' } }],
  ['... and is skipped on another port', { request: { path: '/x', scheme: 'https', headers: { Host: 'secure.example.com' } }, want: { app: 'root', script: '', path: '/x' } }],
  ['... or another scheme', { request: { path: '/x', headers: { Host: 'secure.example.com:8443' } }, want: { app: 'root', script: '', path: '/x' } }],
  ['without Host, SERVER_NAME and SERVER_PORT are used', { request: { path: '/x', serverName: 'admin.example.com' }, want: { app: 'admin', script: '', path: '/x' } }],
];

describe('URLMap', () => {
  it.each(rows)('%s', async (_name, { request, want }) => {
    const res = await client.request(request);
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ params: null, ...want });
  });

  it('answers 404 from the default not-found app when nothing matches', async () => {
    const res = await new TestClient(compose(validate())(URLMap({ '/api': named('api') }))).get('/other');
    expect(res.status).toBe(404);
    expect(res.text).toBe('Not Found\n');
  });

  it('uses a replacement not-found app, with the environ unchanged', async () => {
    const res = await new TestClient(URLMap({ '/api': named('api') }, { notFound: named('fallback') })).get('/other/x');
    expect(res.json()).toEqual({ app: 'fallback', script: '', path: '/other/x', params: null });
  });

  it('leaves the outer environ as it was and records the originals in the copy', async () => {
    let inner: Environ | undefined;
    const capture: App = (environ, sr) => {
      inner = environ;
      sr('204 No Content', []);
      return [];
    };
    let outerAfter: [string, string, unknown] | undefined;
    const outer = (app: App): App => async (environ, sr) => {
      const body = await app(environ, sr);
      outerAfter = [environ.SCRIPT_NAME, environ.PATH_INFO, environ['nsgi.orig']];
      return body;
    };
    await new TestClient(compose(outer)(URLMap({ '/api/:v': capture }))).get('/api/2/x');
    expect(outerAfter).toEqual(['', '/api/2/x', undefined]);
    expect([inner!.SCRIPT_NAME, inner!.PATH_INFO, inner!['nsgi.params']]).toEqual(['/api/2', '/x', { v: '2' }]);
    expect(inner!['nsgi.orig']).toEqual({ SCRIPT_NAME: '', PATH_INFO: '/api/2/x' });
  });

  it('merges parameters of nested maps', async () => {
    const nested = URLMap({ '/orgs/:org': URLMap({ '/repos/:repo': named('repo') }) });
    const res = await new TestClient(nested).get('/orgs/acme/repos/nsgi/issues');
    expect(res.json()).toEqual({ app: 'repo', script: '/orgs/acme/repos/nsgi', path: '/issues', params: { org: 'acme', repo: 'nsgi' } });
  });

  it.each<[string, Record<string, unknown>]>([
    ['a non-function app', { '/a': 'not an app' }],
    ['a bad pattern', { '/a/:': named('x') }],
  ])('refuses %s', (_n, mounts) => {
    expect(() => URLMap(mounts as Record<string, App>)).toThrow(ConfigError);
  });
});
