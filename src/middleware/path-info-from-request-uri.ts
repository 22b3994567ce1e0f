/**
 * `PathInfoFromRequestURI`: rebuilds `SCRIPT_NAME` and `PATH_INFO` from the
 * raw request line, given the mount point the app is deployed at. The grown-up
 * form of werkzeug's `PathInfoFromRequestUriFix`.
 *
 * The problem: every web server splits the path its own way. Apache's
 * `ProxyPass ... fcgi://` sends the whole path in `SCRIPT_NAME` and no
 * `PATH_INFO`; lighttpd does the same at the mount `""` and splits after the
 * first segment at `"/"`; nginx sends whatever `fastcgi_param` lines say;
 * `mod_rewrite` leaves the dispatch script in. But all of them pass the URI
 * the client asked for in `REQUEST_URI`. Told once where the app is mounted
 * (`''` or `'/app'`), this middleware derives the split from that: the query
 * is removed, the path percent-decoded as CGI requires (`decodePath`) and its
 * dot segments removed (RFC 3986 §5.2.4, as servers do before routing), then
 * `SCRIPT_NAME` = the mount and `PATH_INFO` = the rest. One setting gives the
 * right URLs behind every server.
 *
 * When `REQUEST_URI` is missing, or its path is not under the mount (an
 * internal rewrite sent the request elsewhere), the environ is left as the
 * server sent it.
 *
 * Production caveat: `REQUEST_URI` is what the client sent before the web
 * server's rewrites; if rewrites change the path the app should see (not
 * merely hide a dispatch script), fix the split with the server's own
 * settings instead. Like every CGI server it decodes `%2F` into `/`.
 *
 * Reads `REQUEST_URI` (or IIS's `UNENCODED_URL`), `SCRIPT_NAME`, `PATH_INFO`;
 * writes `SCRIPT_NAME` and `PATH_INFO` (replaced values go to `nsgi.orig`).
 * @module
 */
import { decodePath } from '../environ.js';
import type { App, Middleware } from '../types.js';
import { hasPathPrefix, normalizeMount, setEnv } from './orig.js';

/** Options of {@link PathInfoFromRequestURI}. */
export interface PathInfoFromRequestURIOptions {
  /** Where the app is mounted, `''` (or `'/'`) for the root, e.g. `'/app'` (default: `''`). */
  mount?: string;
}

/**
 * Derives `SCRIPT_NAME`/`PATH_INFO` from `REQUEST_URI` and the mount point.
 *
 * @example
 * ```ts
 * import { PathInfoFromRequestURI } from 'nsgi';
 * // Apache: ProxyPass "/app" "unix:/run/app.sock|fcgi://localhost/app"
 * const app = PathInfoFromRequestURI({ mount: '/app' })(myApp);
 * ```
 */
export function PathInfoFromRequestURI(options: PathInfoFromRequestURIOptions = {}): Middleware {
  const mount = normalizeMount(options.mount ?? '', 'path-info-from-request-uri: mount');
  return (app: App): App => (environ, startResponse) => {
    const raw = typeof environ.REQUEST_URI === 'string' ? environ.REQUEST_URI : typeof environ.UNENCODED_URL === 'string' ? environ.UNENCODED_URL : undefined;
    if (raw !== undefined) {
      const path = pathOf(raw);
      if (path !== undefined && hasPathPrefix(path, mount)) {
        setEnv(environ, 'SCRIPT_NAME', mount);
        setEnv(environ, 'PATH_INFO', path.slice(mount.length));
      }
    }
    return app(environ, startResponse);
  };
}

// The decoded, dot-segment-free path of a request target, or undefined when it has none ("*").
function pathOf(target: string): string | undefined {
  let t = target;
  const q = t.search(/[?#]/);
  if (q !== -1) t = t.slice(0, q);
  // absolute-form (RFC 9112 §3.2.2): drop scheme and authority.
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/]*/.exec(t);
  if (scheme !== null) t = t.slice(scheme[0].length) || '/';
  if (!t.startsWith('/')) return undefined;
  return removeDotSegments(decodePath(t));
}

/** RFC 3986 §5.2.4 on an absolute path: `.` and `..` segments resolved, never above the root. */
function removeDotSegments(path: string): string {
  if (!/(?:^|\/)\.\.?(?:\/|$)/.test(path)) return path;
  const out: string[] = [];
  const parts = path.split('/');
  for (let i = 1; i < parts.length; i++) {
    const seg = parts[i]!;
    const last = i === parts.length - 1;
    if (seg === '..') {
      if (out.length > 0) out.pop();
      if (last) out.push('');
    } else if (seg === '.') {
      if (last) out.push('');
    } else {
      out.push(seg);
    }
  }
  return '/' + out.join('/');
}
