/**
 * The convention every rewriting middleware follows: before changing an
 * environ key for the first time, it records the value it replaces in
 * `environ['nsgi.orig']`, a plain object from key to original value
 * (`undefined` when the key was absent). A key is recorded only once, so
 * when several fixers are stacked the outermost original, the value the web
 * server sent, survives; logs and outer layers read it with
 * {@link originalValue}. werkzeug's ProxyFix keeps a similar
 * `werkzeug.proxy_fix.orig` dict; here one key serves every middleware.
 *
 * Also home of the small path helpers the fixers share: mount points
 * normalised so that `SCRIPT_NAME` is empty or starts with `/` and is never
 * `/` alone, and prefix tests that respect path-segment boundaries.
 * @module
 */
import { ConfigError } from '../errors.js';
import type { Environ } from '../types.js';

/** The environ key holding the values middlewares replaced. */
export const ORIG_KEY = 'nsgi.orig';

/** The values replaced by middleware, by environ key (`undefined`: the key was absent). */
export type OriginalValues = Record<string, unknown>;

function origOf(environ: Environ): OriginalValues {
  let orig = environ[ORIG_KEY] as OriginalValues | undefined;
  if (orig === undefined) {
    orig = {};
    environ[ORIG_KEY] = orig;
  }
  return orig;
}

/** Sets `environ[key]`, recording the old value under `nsgi.orig` on the first change. No-op when unchanged. */
export function setEnv(environ: Environ, key: string, value: unknown): void {
  const old = environ[key];
  if (old === value) return;
  const orig = origOf(environ);
  if (!Object.prototype.hasOwnProperty.call(orig, key)) orig[key] = old;
  environ[key] = value;
}

/** Deletes `environ[key]`, recording the old value under `nsgi.orig` on the first change. */
export function deleteEnv(environ: Environ, key: string): void {
  if (!(key in environ)) return;
  const orig = origOf(environ);
  if (!Object.prototype.hasOwnProperty.call(orig, key)) orig[key] = environ[key];
  delete environ[key];
}

/**
 * What the web server sent for `key`, before any middleware rewrote it: the
 * value recorded under `nsgi.orig`, or the current value when no middleware
 * changed it.
 *
 * @example
 * ```ts
 * const sentPath = String(originalValue(environ, 'SCRIPT_NAME')) + String(originalValue(environ, 'PATH_INFO'));
 * ```
 */
export function originalValue(environ: Environ, key: string): unknown {
  const orig = environ[ORIG_KEY] as OriginalValues | undefined;
  if (orig !== undefined && Object.prototype.hasOwnProperty.call(orig, key)) return orig[key];
  return environ[key];
}

/**
 * A mount point as `SCRIPT_NAME` wants it: `''` for the root (`''` or `'/'`),
 * else a leading `/` and no trailing one (`'app/'` → `'/app'`).
 */
export function normalizeMount(mount: string, what: string): string {
  if (typeof mount !== 'string') throw new ConfigError('NSGI_ERR_MIDDLEWARE_OPTION', `${what} must be a string path like "/app", got ${typeof mount}`);
  let m = mount.trim();
  if (/[?#\0]/.test(m)) throw new ConfigError('NSGI_ERR_MIDDLEWARE_OPTION', `${what} ${JSON.stringify(mount)} must be a path without query, fragment or NUL`);
  while (m.endsWith('/')) m = m.slice(0, -1);
  if (m !== '' && !m.startsWith('/')) m = '/' + m;
  return m;
}

/**
 * True when `path` is `prefix` itself or continues it at a segment boundary:
 * `/james` matches `/james` and `/james/x`, never `/jamesbond`. An empty
 * prefix matches every path.
 */
export function hasPathPrefix(path: string, prefix: string): boolean {
  if (prefix === '') return true;
  if (!path.startsWith(prefix)) return false;
  return path.length === prefix.length || path.charCodeAt(prefix.length) === 0x2f;
}

/**
 * Sets the request scheme: `wsgi.url_scheme`, and `HTTPS` to match (`on`, or
 * removed for `http`) so that code reading either key agrees.
 */
export function setScheme(environ: Environ, scheme: 'http' | 'https'): void {
  setEnv(environ, 'wsgi.url_scheme', scheme);
  if (scheme === 'https') setEnv(environ, 'HTTPS', 'on');
  else deleteEnv(environ, 'HTTPS');
}

/** `http`/`https` from a forwarded value (any case), or `undefined` when it is neither. */
export function parseScheme(value: string | undefined): 'http' | 'https' | undefined {
  const v = value?.trim().toLowerCase();
  return v === 'http' || v === 'https' ? v : undefined;
}

// RFC 3986 §3.2.2 host (reg-name, IPv4 or [IPv6]) with an optional port: refuses spaces, slashes, CR/LF.
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::\d{1,5})?$/;

/** True for a syntactically valid `Host` header value (`name`, `name:port`, `[v6]:port`). */
export function isValidHost(value: string): boolean {
  return HOST.test(value);
}

/** The host without its port: `example.com:8080` → `example.com`, `[::1]:80` → `[::1]`. */
export function stripPort(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end === -1 ? host : host.slice(0, end + 1);
  }
  const colon = host.lastIndexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

/** The first item of a comma-separated header value, trimmed (`''` when there is none). */
export function firstItem(value: string): string {
  const comma = value.indexOf(',');
  return (comma === -1 ? value : value.slice(0, comma)).trim();
}
