/**
 * `URLMap`: Paste's urlmap and werkzeug's DispatcherMiddleware, one app made
 * of several, each mounted at a path (and optionally a host).
 *
 * The problem: one process serving a site, its API and its admin, each an
 * app written as if it owned the root. `URLMap` picks the app by the longest
 * mount that matches at a path-segment boundary (`/api` takes `/api` and
 * `/api/x`, never `/apix`), entries naming a host first, and moves the
 * matched part of `PATH_INFO` to the end of `SCRIPT_NAME`, so the app builds
 * its URLs under its mount. A mount may be a path-to-regexp 8 pattern
 * (`/users/:id`, `/files/*rest`): its parameters are added to
 * `environ['nsgi.params']`. A request no mount takes goes to the `notFound`
 * app (a plain 404 by default).
 *
 * Keys: `/` (or `''`) for the root, `/path`, a pattern, or
 * `http://host[:port]/path` / `https://...` for a host-specific mount,
 * matched against `HTTP_HOST` (or `SERVER_NAME`/`SERVER_PORT`) and the scheme;
 * without a port in the key any port matches.
 *
 * The outer environ is not changed: the chosen app gets a shallow copy (as
 * DispatcherMiddleware's callers get a fresh dict), with a copy of
 * `nsgi.orig`, so outer layers still see the path they dispatched on.
 *
 * Production caveat: host-specific mounts match the `Host` the client sent;
 * behind a proxy that rewrites it, put {@link ProxyFix} (`xHost`) outside.
 * Mounts are tried in order of specificity: host-specific first, then more
 * segments first, a literal before a pattern of the same depth. The
 * `notFound` app sees the environ unchanged.
 *
 * Reads `PATH_INFO`, `SCRIPT_NAME`, `HTTP_HOST`, `SERVER_NAME`,
 * `SERVER_PORT`, `wsgi.url_scheme`. Writes, in the copy given to the chosen
 * app, `SCRIPT_NAME`, `PATH_INFO`, `nsgi.params`, `nsgi.orig`.
 * @module
 */
import { match as compileMatch, type MatchFunction, type ParamData } from 'path-to-regexp';
import { ConfigError } from '../errors.js';
import { describe } from '../headers.js';
import type { App, Environ } from '../types.js';
import { normalizeMount, ORIG_KEY, stripPort, type OriginalValues } from './orig.js';

/** Options of {@link URLMap}. */
export interface URLMapOptions {
  /** The app for requests no mount takes (default: a `404 Not Found` in plain text). */
  notFound?: App;
}

/** Route parameters put in `environ['nsgi.params']` by pattern mounts. */
export type URLMapParams = Record<string, string | string[]>;

interface Mount {
  scheme: string | undefined;
  host: string | undefined;
  port: string | undefined;
  path: string;
  depth: number;
  pattern: MatchFunction<ParamData> | undefined;
  app: App;
}

const PATTERN = /[:*{}()]/;

/**
 * Dispatches to the app mounted at the longest matching prefix.
 *
 * @example
 * ```ts
 * import { URLMap } from 'nsgi';
 * const app = URLMap({
 *   '/': site,
 *   '/api': api,
 *   '/users/:id': user,           // environ['nsgi.params'].id
 *   'http://admin.example.com/': admin,
 * });
 * ```
 */
export function URLMap(mounts: Record<string, App>, options: URLMapOptions = {}): App {
  if (mounts === null || typeof mounts !== 'object') throw new ConfigError('NSGI_ERR_MIDDLEWARE_OPTION', `urlmap: mounts must be an object of path → app, got ${describe(mounts)}`);
  const table = Object.entries(mounts).map(([key, app]) => parseMount(key, app));
  table.sort((a, b) => Number(b.host !== undefined) - Number(a.host !== undefined) || b.depth - a.depth || Number(a.pattern !== undefined) - Number(b.pattern !== undefined) || b.path.length - a.path.length);
  const notFound = options.notFound ?? defaultNotFound;
  if (typeof notFound !== 'function') throw new ConfigError('NSGI_ERR_MIDDLEWARE_OPTION', `urlmap: notFound must be an app, got ${describe(notFound)}`);

  return (environ, startResponse) => {
    const path = environ.PATH_INFO;
    let host: string | undefined;
    let port: string | undefined;
    for (const m of table) {
      if (m.host !== undefined) {
        if (host === undefined) [host, port] = requestHost(environ);
        if (m.host !== host || (m.port !== undefined && m.port !== port) || (m.scheme !== undefined && m.scheme !== environ['wsgi.url_scheme'])) continue;
      }
      let matched: string;
      let params: ParamData | undefined;
      if (m.pattern !== undefined) {
        const result = m.pattern(path);
        if (result === false) continue;
        matched = result.path;
        params = result.params;
      } else {
        if (m.path !== '' && !(path.startsWith(m.path) && (path.length === m.path.length || path.charCodeAt(m.path.length) === 0x2f))) continue;
        matched = m.path;
      }
      return m.app(mounted(environ, matched, params), startResponse);
    }
    return notFound(environ, startResponse);
  };
}

// A shallow copy for the inner app: the outer environ (and its nsgi.orig) stays as it was.
function mounted(environ: Environ, matched: string, params: ParamData | undefined): Environ {
  if (matched === '' && params === undefined) return environ;
  const inner: Environ = { ...environ };
  const orig: OriginalValues = { ...(environ[ORIG_KEY] as OriginalValues | undefined) };
  if (matched !== '') {
    if (!('SCRIPT_NAME' in orig)) orig.SCRIPT_NAME = environ.SCRIPT_NAME;
    if (!('PATH_INFO' in orig)) orig.PATH_INFO = environ.PATH_INFO;
    inner.SCRIPT_NAME = environ.SCRIPT_NAME + matched;
    inner.PATH_INFO = environ.PATH_INFO.slice(matched.length);
  }
  if (params !== undefined) inner['nsgi.params'] = { ...(environ['nsgi.params'] as URLMapParams | undefined), ...(params as URLMapParams) };
  inner[ORIG_KEY] = orig;
  return inner;
}

function parseMount(key: string, app: App): Mount {
  if (typeof app !== 'function') throw new ConfigError('NSGI_ERR_MIDDLEWARE_OPTION', `urlmap: the app mounted at ${JSON.stringify(key)} must be a function, got ${describe(app)}`);
  let scheme: string | undefined;
  let host: string | undefined;
  let port: string | undefined;
  let path = key;
  const url = /^(https?):\/\/([^/]+)(.*)$/i.exec(key);
  if (url !== null) {
    scheme = url[1]!.toLowerCase();
    const authority = url[2]!.toLowerCase();
    host = stripPort(authority);
    port = authority.length > host.length ? authority.slice(host.length + 1) : undefined;
    path = url[3]!;
  }
  path = normalizeMount(path, `urlmap: mount ${JSON.stringify(key)}`);
  const depth = path === '' ? 0 : path.split('/').length - 1;
  let pattern: MatchFunction<ParamData> | undefined;
  if (PATTERN.test(path)) {
    try {
      // PATH_INFO is already decoded; trailing: false keeps a trailing "/" in PATH_INFO.
      pattern = compileMatch(path, { end: false, decode: false, trailing: false });
    } catch (error) {
      throw new ConfigError('NSGI_ERR_MIDDLEWARE_OPTION', `urlmap: mount ${JSON.stringify(key)} is not a valid path-to-regexp pattern: ${(error as Error).message}`);
    }
  }
  return { scheme, host, port, path, depth, pattern, app };
}

function requestHost(environ: Environ): [string, string] {
  const raw = typeof environ.HTTP_HOST === 'string' && environ.HTTP_HOST !== '' ? environ.HTTP_HOST.toLowerCase() : undefined;
  if (raw !== undefined) {
    const name = stripPort(raw);
    if (raw.length > name.length) return [name, raw.slice(name.length + 1)];
    return [name, environ['wsgi.url_scheme'] === 'https' ? '443' : '80'];
  }
  return [environ.SERVER_NAME.toLowerCase(), environ.SERVER_PORT];
}

const NOT_FOUND = Buffer.from('Not Found\n');

const defaultNotFound: App = (_environ, startResponse) => {
  startResponse('404 Not Found', [['Content-Type', 'text/plain; charset=utf-8'], ['Content-Length', String(NOT_FOUND.length)]]);
  return [NOT_FOUND];
};
