/**
 * `PrefixMiddleware`: PasteDeploy's `prefix` filter
 * (`[filter:proxy-prefix] use = egg:PasteDeploy#prefix`).
 *
 * The problem: behind a reverse proxy that publishes the app under `/james`
 * but forwards to it at `/`, the gateway has no way to tell the app its mount
 * point, so every URL the app builds misses `/james`. This middleware sets
 * `SCRIPT_NAME` to the prefix (and strips the prefix from `PATH_INFO` when
 * the proxy forwarded it), and, when asked (`translateForwardedServer: true`,
 * PasteDeploy's default), translates the `X-Forwarded-*` headers the proxy
 * adds into the CGI keys they stand for.
 *
 * A deliberate change from PasteDeploy: the `X-Forwarded-*` translation is
 * off unless asked for. Behind a web server speaking FastCGI, SCGI or CGI
 * (which passes every request header through as `HTTP_*`, and sets no
 * `X-Forwarded-*` of its own) these headers can only come from the client,
 * and with Paste's default a bare `PrefixMiddleware({ prefix: '/' })` let any
 * client choose `REMOTE_ADDR` and `HTTP_HOST` (password-reset links to the
 * attacker's host). Another: the prefix is stripped only at a
 * path-segment boundary, so prefix `/james` leaves `/jamesbond` alone (Paste's
 * regular expression turned it into `bond`). And a small one: `forcePort: ''`
 * picks the default port of the final scheme, so `scheme: 'https'` gives 443.
 *
 * Production caveat: with `translateForwardedServer: true` the
 * `X-Forwarded-*` headers are trusted as sent, and the first (leftmost) item
 * of each list is taken: the one a client writes when a proxy appends. Turn
 * it on only behind a proxy that overwrites them; otherwise any client can
 * choose its `REMOTE_ADDR` and host. {@link ProxyFix} trusts a counted number
 * of hops from the right instead.
 *
 * Reads `PATH_INFO` and, when translating, `HTTP_X_FORWARDED_SERVER`, `HTTP_X_FORWARDED_HOST`,
 * `HTTP_X_FORWARDED_FOR`, `HTTP_X_FORWARDED_SCHEME`, `HTTP_X_FORWARDED_PROTO`,
 * `HTTP_HOST`, `wsgi.url_scheme`. Writes `SCRIPT_NAME`, `PATH_INFO`, and when
 * translating `SERVER_NAME`, `HTTP_HOST`, `REMOTE_ADDR`, `wsgi.url_scheme`,
 * `HTTPS`, `SERVER_PORT`; removes the translated `HTTP_X_FORWARDED_*` keys, as
 * Paste does, so no inner layer applies them twice. Replaced values go to
 * `nsgi.orig`.
 * @module
 */
import { ConfigError } from '../errors.js';
import { describe } from '../headers.js';
import type { App, Environ, Middleware } from '../types.js';
import { deleteEnv, firstItem, hasPathPrefix, isValidHost, normalizeMount, parseScheme, setEnv, setScheme, stripPort } from './orig.js';

/** Options of {@link PrefixMiddleware}. */
export interface PrefixOptions {
  /** The URL prefix the app is published under; `/` means the root (default: `/`). */
  prefix?: string;
  /**
   * Translate `X-Forwarded-Server`, `-Host`, `-For`, `-Scheme` and `-Proto`, trusted as sent
   * (default: `false`; PasteDeploy's default is `true`, see the module notes).
   */
  translateForwardedServer?: boolean;
  /**
   * Rewrite `SERVER_PORT` and the port in `HTTP_HOST`: a port number, or the
   * empty string for the scheme's default port (default: `undefined`, no change).
   */
  forcePort?: number | string;
  /** Set `wsgi.url_scheme` to this, after everything else (default: `undefined`, no change). */
  scheme?: 'http' | 'https';
}

/**
 * Publishes an app under a URL prefix set by a reverse proxy.
 *
 * @example
 * ```ts
 * import { compose, PrefixMiddleware } from 'nsgi';
 * // nginx: location /james/ { proxy_pass http://127.0.0.1:8000/; }
 * const app = compose(PrefixMiddleware({ prefix: '/james' }))(myApp);
 * ```
 */
export function PrefixMiddleware(options: PrefixOptions = {}): Middleware {
  const prefix = normalizeMount(options.prefix ?? '/', 'prefix: prefix');
  const translate = options.translateForwardedServer ?? false;
  const forcePort = options.forcePort === undefined || options.forcePort === null ? undefined : String(options.forcePort).trim();
  if (forcePort !== undefined && forcePort !== '' && !/^\d{1,5}$/.test(forcePort)) {
    throw new ConfigError('NSGI_ERR_MIDDLEWARE_OPTION', `prefix: forcePort must be a port number or "", got ${describe(options.forcePort)}`);
  }
  const scheme = options.scheme === undefined ? undefined : parseScheme(options.scheme);
  if (options.scheme !== undefined && scheme === undefined) {
    throw new ConfigError('NSGI_ERR_MIDDLEWARE_OPTION', `prefix: scheme must be "http" or "https", got ${describe(options.scheme)}`);
  }

  return (app: App): App => (environ, startResponse) => {
    const path = environ.PATH_INFO;
    let rest = hasPathPrefix(path, prefix) ? path.slice(prefix.length) : path;
    if (rest === '') rest = '/';
    setEnv(environ, 'PATH_INFO', rest);
    setEnv(environ, 'SCRIPT_NAME', prefix);
    if (translate) translateForwarded(environ);
    if (forcePort !== undefined) applyPort(environ, forcePort, scheme ?? (environ['wsgi.url_scheme'] as string));
    if (scheme !== undefined) setScheme(environ, scheme);
    return app(environ, startResponse);
  };
}

function header(environ: Environ, key: string): string | undefined {
  const value = environ[key];
  if (typeof value !== 'string') return undefined;
  deleteEnv(environ, key);
  const first = firstItem(value);
  return first === '' ? undefined : first;
}

function translateForwarded(environ: Environ): void {
  const server = header(environ, 'HTTP_X_FORWARDED_SERVER');
  if (server !== undefined && isValidHost(server)) {
    setEnv(environ, 'SERVER_NAME', stripPort(server));
    setEnv(environ, 'HTTP_HOST', server);
  }
  const host = header(environ, 'HTTP_X_FORWARDED_HOST');
  if (host !== undefined && isValidHost(host)) setEnv(environ, 'HTTP_HOST', host);
  const forwardedFor = header(environ, 'HTTP_X_FORWARDED_FOR');
  if (forwardedFor !== undefined) setEnv(environ, 'REMOTE_ADDR', forwardedFor);
  // Paste: X-Forwarded-Scheme wins over X-Forwarded-Proto; both are consumed.
  const fwdScheme = header(environ, 'HTTP_X_FORWARDED_SCHEME');
  const proto = header(environ, 'HTTP_X_FORWARDED_PROTO');
  const chosen = parseScheme(fwdScheme ?? proto);
  if (chosen !== undefined) setScheme(environ, chosen);
}

function applyPort(environ: Environ, port: string, finalScheme: string): void {
  const host = stripPort(typeof environ.HTTP_HOST === 'string' ? environ.HTTP_HOST : environ.SERVER_NAME);
  if (port !== '') {
    setEnv(environ, 'HTTP_HOST', `${host}:${port}`);
    setEnv(environ, 'SERVER_PORT', port);
  } else {
    setEnv(environ, 'HTTP_HOST', host);
    // The default port of the scheme the request ends with (Paste used the scheme before `scheme` applied: 80 for https).
    setEnv(environ, 'SERVER_PORT', finalScheme === 'https' ? '443' : '80');
  }
}
