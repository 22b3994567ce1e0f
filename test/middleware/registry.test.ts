// builtinMiddlewares: every middleware usable by name from a PasteDeploy-style config section,
// with options as strings (snake_case, kebab-case or camelCase names; Paste's asbool values).
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { builtinMiddlewares } from '../../src/middleware/index.js';
import { resolve } from 'node:path';
import { run, seen } from './helpers.js';

const make = (name: string, options: Record<string, string> = {}) => builtinMiddlewares[name]!(options);

describe('builtinMiddlewares', () => {
  it('registers every middleware under its config name', () => {
    expect(Object.keys(builtinMiddlewares).sort()).toEqual(['fastcgi-fix', 'lighttpd-root-fix', 'path-info-from-request-uri', 'prefix', 'proxy-fix', 'static', 'validate']);
  });

  it.each<[string, Record<string, string>, Record<string, unknown>, Record<string, unknown>]>([
    ['prefix', { prefix: '/james', translate_forwarded_server: 'false', force_port: '8080' }, { path: '/james/x', headers: { Host: 'h', 'X-Forwarded-Host': 'p' } }, { SCRIPT_NAME: '/james', PATH_INFO: '/x', HTTP_HOST: 'h:8080', SERVER_PORT: '8080' }],
    ['prefix', { scheme: 'https', 'translate-forwarded-server': 'yes' }, { headers: { 'X-Forwarded-Host': 'p' } }, { HTTP_HOST: 'p', 'wsgi.url_scheme': 'https' }],
    ['fastcgi-fix', { script_name: '/index.fcgi' }, { extra: { SCRIPT_NAME: '/b/index.fcgi' } }, { SCRIPT_NAME: '/b' }],
    ['lighttpd-root-fix', { app_root: '/app' }, { extra: { SCRIPT_NAME: '/users', PATH_INFO: '/7' } }, { SCRIPT_NAME: '/app', PATH_INFO: '/users/7' }],
    ['path-info-from-request-uri', { mount: '/app' }, { extra: { SCRIPT_NAME: '/app/x', PATH_INFO: '', REQUEST_URI: '/app/x' } }, { SCRIPT_NAME: '/app', PATH_INFO: '/x' }],
    ['proxy-fix', { x_for: '2', xHost: '1' }, { headers: { 'X-Forwarded-For': 'a, b', 'X-Forwarded-Host': 'example.com' } }, { REMOTE_ADDR: 'a', HTTP_HOST: 'example.com' }],
    ['proxy-fix', { forwarded: 'on' }, { headers: { Forwarded: 'for=192.0.2.1' } }, { REMOTE_ADDR: '192.0.2.1' }],
  ])('%s with %j', async (name, options, request, want) => {
    const got = await seen(make(name, options), request);
    expect(got).toMatchObject(want);
  });

  it('static takes aliases as options starting with "/"', async () => {
    const mw = make('static', { '/s': resolve('test/fixtures/static'), max_age: '60', index: 'page.html', fallthrough: 'true', dotfiles: 'deny' });
    const file = await run(mw, { path: '/s/hello.txt' });
    expect([file.status, file.header('cache-control')]).toEqual([200, 'public, max-age=60']);
    expect((await run(mw, { path: '/s/sub/' })).text).toBe('<p>page</p>\n');
    expect((await run(mw, { path: '/s/.hidden' })).status).toBe(403);
    expect((await run(mw, { path: '/s/missing' })).status).toBe(200);
  });

  it.each<[string, Record<string, string>]>([
    ['prefix', { prefx: '/x' }],
    ['prefix', { translate_forwarded_server: 'maybe' }],
    ['proxy-fix', { x_for: 'two' }],
    ['static', { max_age: '-1' }],
    ['lighttpd-root-fix', { root: '/' }],
  ])('%s refuses %j with NSGI_ERR_MIDDLEWARE_OPTION', (name, options) => {
    expect(() => make(name, options)).toThrow(ConfigError);
    expect(() => make(name, options)).toThrow(expect.objectContaining({ code: 'NSGI_ERR_MIDDLEWARE_OPTION' }));
  });
});
