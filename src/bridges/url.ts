/**
 * The request URL of an environ, for bridges to APIs that want a URL
 * (`req.url`, a fetch `Request`) rather than CGI's split, decoded path.
 *
 * CGI hands the app `SCRIPT_NAME` and `PATH_INFO` percent-decoded (RFC 3875
 * §4.1.5), which loses the difference between `/a%2Fb` and `/a/b`. When the
 * gateway also passed the raw `REQUEST_URI` (nginx, lighttpd and Apache all
 * do) and it decodes to the same path, the raw bytes the client sent are
 * used, split at the mount point; otherwise the decoded path is re-encoded.
 * This is PEP 3333's "URL reconstruction" with the raw path preferred.
 *
 * Reads `SCRIPT_NAME`, `PATH_INFO`, `QUERY_STRING`, `REQUEST_URI`,
 * `HTTP_HOST`, `SERVER_NAME`, `SERVER_PORT` and `wsgi.url_scheme`.
 * @module
 */
import { decodePath } from '../environ.js';
import type { Environ } from '../types.js';

/** A request path split at the mount point, every part percent-encoded. */
export interface RequestTarget {
  /** The mount point (`SCRIPT_NAME`), encoded: `''` or `/app`. */
  script: string;
  /** The rest of the path (`PATH_INFO`), encoded: `''` or starting with `/`. */
  path: string;
  /** The raw query string, without `?` (`QUERY_STRING`). */
  query: string;
}

// Characters RFC 3986 allows unescaped in a path: unreserved, sub-delims, ':', '@' and '/'.
const PATH_SAFE = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/]*$/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Percent-encodes a decoded path so that it parses back to the same path (`%`, `?`, `#`, spaces, non-ASCII). */
export function encodePath(path: string): string {
  if (PATH_SAFE.test(path)) return path;
  let s: string;
  try {
    s = encodeURI(path);
  } catch {
    // A lone surrogate cannot be UTF-8: encode U+FFFD in its place, as decodePath does for bad bytes.
    s = encodeURI(path.replace(LONE_SURROGATE, '\uFFFD'));
  }
  // encodeURI keeps the reserved characters; '?' and '#' would end the path.
  return s.replace(/[?#]/g, (c) => (c === '?' ? '%3F' : '%23'));
}

/**
 * The request path of `environ`, split at the mount point and encoded: the
 * raw `REQUEST_URI` when it agrees with `SCRIPT_NAME + PATH_INFO` (so `%2F`
 * survives), else the decoded variables re-encoded.
 */
export function requestTarget(environ: Environ): RequestTarget {
  const script = typeof environ.SCRIPT_NAME === 'string' ? environ.SCRIPT_NAME : '';
  const path = typeof environ.PATH_INFO === 'string' ? environ.PATH_INFO : '';
  const query = typeof environ.QUERY_STRING === 'string' ? environ.QUERY_STRING : '';
  const uri = environ.REQUEST_URI;
  if (typeof uri === 'string' && uri.length > 0) {
    const split = splitRaw(rawPathOf(uri), script, path);
    if (split !== undefined) return { script: split[0], path: split[1], query };
  }
  return { script: encodePath(script), path: encodePath(path), query };
}

/** `SCRIPT_NAME + PATH_INFO (+ '?' + QUERY_STRING)`, encoded, never empty. */
export function requestPath(target: RequestTarget): string {
  const p = target.script + target.path || '/';
  return target.query.length > 0 ? `${p}?${target.query}` : p;
}

/**
 * The absolute URL of the request (PEP 3333 URL reconstruction): scheme,
 * then `Host` or `SERVER_NAME` with a non-default `SERVER_PORT`, then the
 * encoded path and query.
 */
export function requestURL(environ: Environ, target: RequestTarget = requestTarget(environ)): string {
  return `${environ['wsgi.url_scheme'] === 'https' ? 'https' : 'http'}://${hostOf(environ)}${requestPath(target)}`;
}

/** The authority of the request: `Host` when the client sent one, else `SERVER_NAME[:SERVER_PORT]`. */
export function hostOf(environ: Environ): string {
  const host = environ.HTTP_HOST;
  if (typeof host === 'string' && host.length > 0) return host;
  let name = environ.SERVER_NAME || 'localhost';
  if (name.indexOf(':') !== -1 && !name.startsWith('[')) name = `[${name}]`; // a bare IPv6 address
  const port = environ.SERVER_PORT;
  const https = environ['wsgi.url_scheme'] === 'https';
  return port && port !== (https ? '443' : '80') ? `${name}:${port}` : name;
}

function rawPathOf(uri: string): string {
  let end = uri.indexOf('?');
  const hash = uri.indexOf('#');
  if (hash !== -1 && (end === -1 || hash < end)) end = hash;
  let raw = end === -1 ? uri : uri.slice(0, end);
  // Absolute-form request target (RFC 9112 §3.2.2): keep only the path.
  if (!raw.startsWith('/')) {
    const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/]*/.exec(raw);
    if (m !== null) raw = raw.slice(m[0].length);
  }
  return raw;
}

// Finds where in the raw path the mount point ends; undefined when the raw path
// does not decode to script + path (a rewrite changed it, or the gateway lied).
function splitRaw(raw: string, script: string, path: string): [string, string] | undefined {
  if (!PATH_SAFE.test(raw.replace(/%[0-9A-Fa-f]{2}/g, ''))) return undefined;
  if (raw.indexOf('%') === -1) {
    return raw === script + path ? [script, path] : undefined;
  }
  if (decodePath(raw) !== script + path) return undefined;
  if (script.length === 0) return ['', raw];
  // Decoding only shrinks, so the boundary is at or after script.length; try each '/' (or the end).
  for (let i = script.length; i <= raw.length; i++) {
    if (i < raw.length && raw.charCodeAt(i) !== 0x2f) continue;
    const head = raw.slice(0, i);
    if (decodePath(head) === script && decodePath(raw.slice(i)) === path) return [head, raw.slice(i)];
  }
  return undefined;
}
