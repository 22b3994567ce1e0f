/**
 * `StaticAlias`: lighttpd's `alias.url`, in the app.
 *
 * The problem: the deployment guides serve `/images` and `/css` from the
 * web server (`alias.url`) and everything else from the app. In development,
 * under `nsgi serve --http`, or on a host where the web server config is out
 * of reach, the app has to serve them itself, and do it as well as the web
 * server would. `StaticAlias({ '/images': './public/images' })` serves the
 * files under each URL prefix (matched at a path-segment boundary, longest
 * prefix first) with `send`: `Content-Type` from `mime-types`, ETag and
 * Last-Modified, `304`, `Range`/`206`, `HEAD`, `Cache-Control: max-age`.
 * Requests outside the aliases reach the app untouched. A miss under an
 * alias is a 404, as in lighttpd, unless `fallthrough` hands it to the app.
 *
 * Refused with 403: `.` or `..` segments (whether sent raw, as `%2e%2e` or
 * hidden behind `%2f`, since `PATH_INFO` is decoded), NUL, backslashes, and a
 * file whose real path (symlinks resolved) leaves the alias root unless
 * `followSymlinks`. Dotfiles are a 404 by default (`dotfiles: 'ignore'`).
 * Only `GET` and `HEAD` are served; other methods get a 405.
 *
 * Production caveat: a web server serves static files faster, with
 * `sendfile(2)`; prefer its `alias.url`/`location` in production. The
 * symlink check and the open are two steps, so a symlink swapped in between
 * by someone who can write to the root is not caught.
 *
 * Reads `PATH_INFO` (relative to the mount: put path fixers outside),
 * `SCRIPT_NAME` and `QUERY_STRING` (for redirects), `REQUEST_METHOD`,
 * `HTTP_RANGE`, `HTTP_IF_*`, `nsgi.signal`. Writes nothing.
 * @module
 */
import { promises as fs } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import { basename, dirname, resolve as resolvePath, sep } from 'node:path';
import { ConfigError } from '../errors.js';
import { describe } from '../headers.js';
import type { App, Environ, HeaderList, Middleware, StartResponse } from '../types.js';
import { hasPathPrefix, normalizeMount } from './orig.js';
import { sendFile, type SendBridgeOptions } from './send-bridge.js';

/** Options of {@link StaticAlias}. */
export interface StaticAliasOptions {
  /** `Cache-Control: public, max-age=N`, in seconds (default: `0`). */
  maxAge?: number;
  /** Add `immutable` to `Cache-Control` (default: `false`). */
  immutable?: boolean;
  /** Send an `ETag` and honour `If-None-Match`/`If-Match` (default: `true`). */
  etag?: boolean;
  /** Send `Last-Modified` and honour `If-Modified-Since` (default: `true`). */
  lastModified?: boolean;
  /** Files served for a URL ending in `/`; `false` for none (default: `['index.html']`). */
  index?: string | string[] | false;
  /** Redirect a directory requested without its trailing slash to `.../` (301); `false` makes it a 404 (default: `true`). */
  redirect?: boolean;
  /** Files and folders whose name starts with `.`: `'ignore'` (404), `'deny'` (403) or `'allow'` (default: `'ignore'`). */
  dotfiles?: 'allow' | 'deny' | 'ignore';
  /** Pass misses (404) and other methods (405) under an alias to the app instead of answering (default: `false`). */
  fallthrough?: boolean;
  /** Serve files whose real path lies outside the alias root through a symlink (default: `false`). */
  followSymlinks?: boolean;
}

interface Alias {
  prefix: string;
  target: string;
  realTarget: Promise<string> | undefined;
}

type Result = { found: string; root: string } | { status: number; headers?: HeaderList };

const MISS = { status: 404 } as const;
const REFUSED = { status: 403 } as const;

/**
 * Serves files under URL prefixes from directories (or single files).
 *
 * @example
 * ```ts
 * import { compose, StaticAlias } from 'nsgi';
 * const app = compose(
 *   StaticAlias({ '/images': './public/images', '/favicon.ico': './public/favicon.ico' }, { maxAge: 3600 }),
 * )(myApp);
 * ```
 */
export function StaticAlias(aliases: Record<string, string>, options: StaticAliasOptions = {}): Middleware {
  if (aliases === null || typeof aliases !== 'object') throw optionError(`aliases must be an object of URL prefix → directory, got ${describe(aliases)}`);
  const table: Alias[] = Object.entries(aliases).map(([prefix, target]) => {
    if (typeof target !== 'string' || target === '') throw optionError(`the alias ${JSON.stringify(prefix)} must map to a directory or file path, got ${describe(target)}`);
    return { prefix: normalizeMount(prefix, `static: alias ${JSON.stringify(prefix)}`), target: resolvePath(target), realTarget: undefined };
  });
  table.sort((a, b) => b.prefix.length - a.prefix.length);
  const maxAge = options.maxAge ?? 0;
  if (typeof maxAge !== 'number' || !(maxAge >= 0)) throw optionError(`maxAge must be a number of seconds, got ${describe(options.maxAge)}`);
  const dotfiles = options.dotfiles ?? 'ignore';
  if (dotfiles !== 'allow' && dotfiles !== 'deny' && dotfiles !== 'ignore') throw optionError(`dotfiles must be "allow", "deny" or "ignore", got ${describe(dotfiles)}`);
  const index = options.index === false ? [] : typeof options.index === 'string' ? [options.index] : (options.index ?? ['index.html']);
  const redirect = options.redirect ?? true;
  const fallthrough = options.fallthrough ?? false;
  const followSymlinks = options.followSymlinks ?? false;
  const sendOptions: Omit<SendBridgeOptions, 'root'> = {
    maxAgeMs: maxAge * 1000,
    immutable: options.immutable ?? false,
    etag: options.etag ?? true,
    lastModified: options.lastModified ?? true,
  };

  return (app: App): App =>
    async (environ, startResponse) => {
      const path = environ.PATH_INFO;
      const alias = table.find((a) => hasPathPrefix(path, a.prefix));
      if (alias === undefined) return app(environ, startResponse);
      const method = environ.REQUEST_METHOD;
      if (method !== 'GET' && method !== 'HEAD') {
        if (fallthrough) return app(environ, startResponse);
        return respond(environ, startResponse, 405, [['Allow', 'GET, HEAD']]);
      }
      const result = await locate(environ, alias, path.slice(alias.prefix.length));
      if ('found' in result) {
        const decision = await sendFile(environ, encodeSegments(result.found), { root: result.root, ...sendOptions });
        switch (decision.kind) {
          case 'response':
            startResponse(`${decision.status} ${STATUS_CODES[decision.status] ?? 'Unknown'}`, decision.headers);
            return decision.body;
          case 'aborted':
            return [];
          case 'directory':
            return respond(environ, startResponse, 404);
          case 'error':
            if (decision.status === 404 && fallthrough) return app(environ, startResponse);
            return respond(environ, startResponse, decision.status, decision.headers);
        }
      }
      if (result.status === 404 && fallthrough) return app(environ, startResponse);
      return respond(environ, startResponse, result.status, result.headers);
    };

  // Maps the part of PATH_INFO under the alias to a file, applying every refusal rule.
  async function locate(environ: Environ, alias: Alias, rest: string): Promise<Result> {
    if (rest.includes('\0') || rest.includes('\\')) return REFUSED;
    const segments = rest.split('/').slice(1);
    const wantsDirectory = rest === '' || rest.endsWith('/');
    if (rest.endsWith('/')) segments.pop();
    for (const segment of segments) {
      if (segment === '.' || segment === '..') return REFUSED;
      if (segment.startsWith('.') && dotfiles !== 'allow') return dotfiles === 'deny' ? REFUSED : MISS;
    }
    const root = alias.target;
    const file = segments.length === 0 ? root : root + sep + segments.join(sep);
    const stat = await fs.stat(file).catch(() => undefined);
    if (stat === undefined) return MISS;
    if (!followSymlinks && !(await inside(alias, file))) return REFUSED;
    if (!stat.isDirectory()) {
      // "/file.txt/" names a directory that is not there; a file alias has no children.
      if (rest.endsWith('/')) return MISS;
      return segments.length === 0 ? { found: basename(file), root: dirname(file) } : { found: segments.join('/'), root };
    }
    if (!wantsDirectory || rest === '') {
      if (!redirect) return MISS;
      return { status: 301, headers: [['Location', directoryLocation(environ)]] };
    }
    for (const name of index) {
      const candidate = file + sep + name;
      const s = await fs.stat(candidate).catch(() => undefined);
      if (s === undefined || s.isDirectory()) continue;
      if (!followSymlinks && !(await inside(alias, candidate))) return REFUSED;
      return { found: [...segments, name].join('/'), root };
    }
    return MISS;
  }

  async function inside(alias: Alias, file: string): Promise<boolean> {
    alias.realTarget ??= fs.realpath(alias.target);
    let realRoot: string;
    let real: string;
    try {
      [realRoot, real] = await Promise.all([alias.realTarget, fs.realpath(file)]);
    } catch {
      alias.realTarget = undefined;
      return false;
    }
    return real === realRoot || real.startsWith(realRoot.endsWith(sep) ? realRoot : realRoot + sep);
  }
}

function optionError(message: string): ConfigError {
  return new ConfigError('NSGI_ERR_MIDDLEWARE_OPTION', `static: ${message}`);
}

// send decodes the path it gets; hand it the decoded PATH_INFO segments re-encoded.
function encodeSegments(path: string): string {
  return '/' + path.split('/').map(encodeURIComponent).join('/');
}

// SCRIPT_NAME + PATH_INFO + "/", percent-encoded, leading slashes collapsed (no "//host" open redirect).
function directoryLocation(environ: Environ): string {
  const path = (environ.SCRIPT_NAME + environ.PATH_INFO).replace(/^\/+/, '/');
  const query = environ.QUERY_STRING;
  return path.split('/').map(encodeURIComponent).join('/') + '/' + (query ? `?${query}` : '');
}

function respond(environ: Environ, startResponse: StartResponse, status: number, extra: HeaderList = []): Uint8Array[] {
  const reason = STATUS_CODES[status] ?? 'Error';
  const body = Buffer.from(`${status} ${reason}\n`);
  const headers: HeaderList = [...extra.filter(([k]) => !/^content-(type|length)$/i.test(k)), ['Content-Type', 'text/plain; charset=utf-8'], ['Content-Length', String(body.length)]];
  startResponse(`${status} ${reason}`, headers);
  return environ.REQUEST_METHOD === 'HEAD' ? [] : [body];
}
