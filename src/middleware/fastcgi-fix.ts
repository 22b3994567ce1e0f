/**
 * `FastCGIFixMiddleware`: removes the dispatch script from `SCRIPT_NAME`.
 *
 * The problem: the classic shared-hosting setup (Apache, `mod_rewrite` and an
 * `.htaccess` with `RewriteRule ^(.*)$ dispatch.fcgi/$1 [L]`, or the CGI
 * fallback `dispatch.cgi`) hides the script from the visitor's URL, but
 * Apache still reports it in `SCRIPT_NAME` (`/dispatch.fcgi`, or
 * `/blog/dispatch.fcgi` when the `.htaccess` lives in a subfolder). Every
 * URL the app builds then carries `dispatch.fcgi`. This middleware removes
 * that path segment wherever it stands in `SCRIPT_NAME`, so `/blog` stays the
 * mount point; a segment that merely starts with the name
 * (`/dispatch.fcgi.old`) is left alone.
 *
 * Production caveat: apply it only where the rewrite really hides the script;
 * if users also reach the app at `/dispatch.fcgi/...` explicitly, both URL
 * forms work but the app always generates the short one.
 *
 * Reads and writes `SCRIPT_NAME` (the replaced value goes to `nsgi.orig`).
 * @module
 */
import { ConfigError } from '../errors.js';
import type { App, Middleware } from '../types.js';
import { setEnv } from './orig.js';

/** Options of {@link FastCGIFixMiddleware}. */
export interface FastCGIFixOptions {
  /**
   * The dispatch script's name as it appears in `SCRIPT_NAME`, with or
   * without the leading slash, e.g. `/index.fcgi` or `dispatch.cgi`
   * (default: `/dispatch.fcgi`).
   */
  scriptName?: string;
}

/**
 * Removes the dispatch script (`/dispatch.fcgi`) from `SCRIPT_NAME`.
 *
 * @example
 * ```ts
 * import { FastCGIFixMiddleware } from 'nsgi';
 * // SCRIPT_NAME "/blog/dispatch.fcgi" becomes "/blog"
 * const app = FastCGIFixMiddleware()(myApp);
 * const cgiApp = FastCGIFixMiddleware({ scriptName: 'dispatch.cgi' })(myApp);
 * ```
 */
export function FastCGIFixMiddleware(options: FastCGIFixOptions = {}): Middleware {
  const raw = options.scriptName ?? '/dispatch.fcgi';
  const name = (typeof raw === 'string' ? raw.trim() : '').replace(/^\/+/, '').replace(/\/+$/, '');
  if (name === '' || name.includes('/')) {
    throw new ConfigError('NSGI_ERR_MIDDLEWARE_OPTION', `fastcgi-fix: scriptName must be one path segment like "/dispatch.fcgi", got ${JSON.stringify(raw)}`);
  }
  const segment = '/' + name;
  return (app: App): App => (environ, startResponse) => {
    const script = environ.SCRIPT_NAME;
    if (script.includes(segment)) setEnv(environ, 'SCRIPT_NAME', removeSegment(script, segment));
    return app(environ, startResponse);
  };
}

// Removes every whole-segment occurrence of `segment` ("/dispatch.fcgi") from `path`.
function removeSegment(path: string, segment: string): string {
  let out = '';
  let from = 0;
  for (let at = path.indexOf(segment); at !== -1; at = path.indexOf(segment, at + 1)) {
    const end = at + segment.length;
    if (at < from || (end !== path.length && path.charCodeAt(end) !== 0x2f)) continue;
    out += path.slice(from, at);
    from = end;
  }
  return out + path.slice(from);
}
