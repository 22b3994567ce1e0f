// PrefixMiddleware: PasteDeploy's prefix filter semantics (paste/deploy/config.py PrefixMiddleware),
// plus the segment-boundary fix (/james must not eat /jamesbond).
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { PrefixMiddleware, type PrefixOptions } from '../../src/middleware/prefix.js';
import type { EnvironOptions } from '../../src/testing/environ.js';
import { seen, type Echo } from './helpers.js';

interface Case {
  name: string;
  options: PrefixOptions;
  request: EnvironOptions;
  expect: Echo;
}

const cases: Case[] = [
  { name: 'strips a forwarded prefix from PATH_INFO and sets SCRIPT_NAME to it', options: { prefix: '/james' }, request: { path: '/james/purchase_orders/1' }, expect: { SCRIPT_NAME: '/james', PATH_INFO: '/purchase_orders/1' } },
  { name: 'sets SCRIPT_NAME when the proxy already stripped the prefix', options: { prefix: '/james' }, request: { path: '/purchase_orders/1' }, expect: { SCRIPT_NAME: '/james', PATH_INFO: '/purchase_orders/1' } },
  { name: 'turns an empty rest into "/"', options: { prefix: '/james' }, request: { path: '/james' }, expect: { SCRIPT_NAME: '/james', PATH_INFO: '/' } },
  { name: 'keeps the slash after the prefix', options: { prefix: '/james' }, request: { path: '/james/' }, expect: { SCRIPT_NAME: '/james', PATH_INFO: '/' } },
  { name: 'does not eat /jamesbond with prefix /james (segment boundary, unlike Paste)', options: { prefix: '/james' }, request: { path: '/jamesbond' }, expect: { SCRIPT_NAME: '/james', PATH_INFO: '/jamesbond' } },
  { name: 'does not eat /james.html either', options: { prefix: '/james' }, request: { path: '/james.html' }, expect: { SCRIPT_NAME: '/james', PATH_INFO: '/james.html' } },
  { name: 'drops a trailing slash from the prefix', options: { prefix: '/james/' }, request: { path: '/james/x' }, expect: { SCRIPT_NAME: '/james', PATH_INFO: '/x' } },
  { name: 'adds the missing leading slash to the prefix', options: { prefix: 'james' }, request: { path: '/james/x' }, expect: { SCRIPT_NAME: '/james', PATH_INFO: '/x' } },
  { name: 'defaults to "/" which makes SCRIPT_NAME empty, never "/"', options: {}, request: { path: '/x', scriptName: '/old' }, expect: { SCRIPT_NAME: '', PATH_INFO: '/x' } },
  { name: 'turns an empty PATH_INFO into "/" at the root', options: {}, request: { path: '' }, expect: { SCRIPT_NAME: '', PATH_INFO: '/' } },
  { name: 'replaces the SCRIPT_NAME the server sent, as Paste does', options: { prefix: '/james' }, request: { path: '/x', scriptName: '/app' }, expect: { SCRIPT_NAME: '/james', PATH_INFO: '/x' } },
  {
    name: 'translates X-Forwarded-Server into SERVER_NAME and HTTP_HOST (first item)',
    options: { translateForwardedServer: true },
    request: { headers: { Host: 'backend:8000', 'X-Forwarded-Server': 'example.com, proxy2.internal' } },
    expect: { SERVER_NAME: 'example.com', HTTP_HOST: 'example.com', forwarded: [] },
  },
  { name: 'translates X-Forwarded-Host into HTTP_HOST (first item)', options: { translateForwardedServer: true }, request: { headers: { Host: 'backend', 'X-Forwarded-Host': 'www.example.com:8443, b' } }, expect: { HTTP_HOST: 'www.example.com:8443', SERVER_NAME: 'backend' } },
  { name: 'translates X-Forwarded-For into REMOTE_ADDR (first item)', options: { translateForwardedServer: true }, request: { headers: { 'X-Forwarded-For': '203.0.113.7, 10.0.0.1' } }, expect: { REMOTE_ADDR: '203.0.113.7' } },
  { name: 'translates X-Forwarded-Proto into the scheme and HTTPS', options: { translateForwardedServer: true }, request: { headers: { 'X-Forwarded-Proto': 'https' } }, expect: { 'wsgi.url_scheme': 'https', HTTPS: 'on' } },
  { name: 'prefers X-Forwarded-Scheme over X-Forwarded-Proto', options: { translateForwardedServer: true }, request: { headers: { 'X-Forwarded-Scheme': 'https', 'X-Forwarded-Proto': 'http' } }, expect: { 'wsgi.url_scheme': 'https', forwarded: [] } },
  { name: 'ignores a scheme that is neither http nor https', options: { translateForwardedServer: true }, request: { headers: { 'X-Forwarded-Proto': 'gopher' } }, expect: { 'wsgi.url_scheme': 'http' } },
  { name: 'ignores a forwarded host with a slash (no header injection into URLs)', options: { translateForwardedServer: true }, request: { headers: { Host: 'backend', 'X-Forwarded-Host': 'evil.example/path' } }, expect: { HTTP_HOST: 'backend' } },
  {
    name: 'leaves the X-Forwarded-* headers alone by default (translateForwardedServer: false)',
    options: {},
    request: { headers: { Host: 'backend', 'X-Forwarded-Host': 'example.com', 'X-Forwarded-For': '203.0.113.7' } },
    expect: { HTTP_HOST: 'backend', REMOTE_ADDR: '127.0.0.1', forwarded: ['HTTP_X_FORWARDED_FOR', 'HTTP_X_FORWARDED_HOST'] },
  },
  { name: 'forcePort rewrites SERVER_PORT and the port of HTTP_HOST', options: { forcePort: 8080 }, request: { headers: { Host: 'example.com:80' } }, expect: { HTTP_HOST: 'example.com:8080', SERVER_PORT: '8080' } },
  { name: 'forcePort as a string works the same', options: { forcePort: '8443' }, request: { headers: { Host: 'example.com' } }, expect: { HTTP_HOST: 'example.com:8443', SERVER_PORT: '8443' } },
  { name: 'forcePort "" drops the port and uses the http default', options: { forcePort: '' }, request: { headers: { Host: 'example.com:8000' } }, expect: { HTTP_HOST: 'example.com', SERVER_PORT: '80' } },
  { name: 'forcePort "" uses 443 once X-Forwarded-Proto made it https', options: { forcePort: '', translateForwardedServer: true }, request: { headers: { Host: 'example.com:8000', 'X-Forwarded-Proto': 'https' } }, expect: { HTTP_HOST: 'example.com', SERVER_PORT: '443' } },
  { name: 'forcePort "" uses 443 with scheme https (the final scheme)', options: { forcePort: '', scheme: 'https' }, request: { headers: { Host: 'example.com:8000' } }, expect: { HTTP_HOST: 'example.com', SERVER_PORT: '443', 'wsgi.url_scheme': 'https' } },
  { name: 'forcePort keeps an IPv6 host intact', options: { forcePort: 8080 }, request: { headers: { Host: '[::1]:8000' } }, expect: { HTTP_HOST: '[::1]:8080' } },
  { name: 'scheme is applied last, over X-Forwarded-Proto', options: { scheme: 'https' }, request: { headers: { 'X-Forwarded-Proto': 'http' } }, expect: { 'wsgi.url_scheme': 'https', HTTPS: 'on' } },
  { name: 'scheme http removes HTTPS', options: { scheme: 'http' }, request: { scheme: 'https' }, expect: { 'wsgi.url_scheme': 'http', HTTPS: undefined } },
];

describe('PrefixMiddleware', () => {
  it.each(cases)('$name', async ({ options, request, expect: expected }) => {
    const got = await seen(PrefixMiddleware(options), request);
    for (const [key, value] of Object.entries(expected)) expect(got[key as keyof Echo], key).toEqual(value);
  });

  it('records what it replaced under nsgi.orig, including the removed forwarded headers', async () => {
    const got = await seen(PrefixMiddleware({ prefix: '/james', translateForwardedServer: true }), { path: '/james/x', scriptName: '/app', headers: { 'X-Forwarded-For': '203.0.113.7' } });
    expect(got['nsgi.orig']).toEqual({ PATH_INFO: '/james/x', SCRIPT_NAME: '/app', HTTP_X_FORWARDED_FOR: '203.0.113.7', REMOTE_ADDR: '127.0.0.1' });
  });

  it('keeps the outermost original when two fixers rewrite the same key', async () => {
    const { compose } = await import('../../src/compose.js');
    const got = await seen(compose(PrefixMiddleware({ prefix: '/a' }), PrefixMiddleware({ prefix: '/b' })), { path: '/a/b/c' });
    expect(got.SCRIPT_NAME).toBe('/b');
    expect((got['nsgi.orig'] as Record<string, string>).PATH_INFO).toBe('/a/b/c');
  });

  it.each([
    [{ forcePort: 'eighty' }],
    [{ scheme: 'ftp' as 'http' }],
    [{ prefix: '/a?b' }],
  ])('refuses bad options %j with NSGI_ERR_MIDDLEWARE_OPTION', (options) => {
    expect(() => PrefixMiddleware(options)).toThrow(ConfigError);
    expect(() => PrefixMiddleware(options)).toThrow(expect.objectContaining({ code: 'NSGI_ERR_MIDDLEWARE_OPTION' }));
  });
});
