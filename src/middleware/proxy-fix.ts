/**
 * `ProxyFix`: werkzeug's ProxyFix, plus RFC 7239 `Forwarded` on request.
 *
 * The problem: behind one or more reverse proxies the app sees the last
 * proxy as its client (`REMOTE_ADDR`), the proxy's scheme and host rather
 * than the visitor's, and no mount prefix. Proxies record the originals in
 * `X-Forwarded-For`, `-Proto`, `-Host`, `-Port`, `-Prefix` (or the standard
 * `Forwarded` header), each appending its own value to the right. Since a
 * client can send these headers too, only the values appended by proxies you
 * run can be trusted: you say how many proxies set each header, and the
 * middleware takes the n-th value from the right, and ignores a header that
 * has fewer than n values (it was not set by all of them: a spoof, or a
 * misconfiguration). A count of 0 ignores the header.
 *
 * With `forwarded: true`, `for`, `proto` and `host` come from the elements
 * of `Forwarded` (one per proxy, n-th from the right) and the
 * `X-Forwarded-For`/`-Proto`/`-Host` headers are ignored; `X-Forwarded-Port`
 * and `-Prefix`, which `Forwarded` has no parameter for, are still read. A
 * `Forwarded` header that does not parse is ignored as a whole.
 *
 * Production caveat: a count higher than the number of proxies that really
 * set the header lets any client choose the value. Count only the proxies
 * you control, and use the fix only behind them. Malformed values (a scheme
 * other than http/https, a host with spaces or slashes, a non-numeric port)
 * are ignored, as werkzeug does.
 *
 * Reads `HTTP_X_FORWARDED_FOR`, `HTTP_X_FORWARDED_PROTO`,
 * `HTTP_X_FORWARDED_HOST`, `HTTP_X_FORWARDED_PORT`,
 * `HTTP_X_FORWARDED_PREFIX`, `HTTP_FORWARDED`, `HTTP_HOST`. Writes
 * `REMOTE_ADDR`, `wsgi.url_scheme` and `HTTPS`, `HTTP_HOST`, `SCRIPT_NAME`
 * (replaced values go to `nsgi.orig`). Like werkzeug 3.2 it leaves
 * `SERVER_NAME` and `SERVER_PORT`, which describe the server nsgi talks to.
 * @module
 */
import { ConfigError } from '../errors.js';
import { decodePath } from '../environ.js';
import type { App, Environ, Middleware } from '../types.js';
import { isValidHost, parseScheme, setEnv, setScheme, stripPort } from './orig.js';
import { parseForwarded, type ForwardedElement } from './forwarded.js';

/** Options of {@link ProxyFix}: how many proxies set each header. */
export interface ProxyFixOptions {
  /** Trusted values of `X-Forwarded-For` (or `Forwarded: for=`), sets `REMOTE_ADDR` (default: `1`). */
  xFor?: number;
  /** Trusted values of `X-Forwarded-Proto` (or `Forwarded: proto=`), sets `wsgi.url_scheme` (default: `1`). */
  xProto?: number;
  /** Trusted values of `X-Forwarded-Host` (or `Forwarded: host=`), sets `HTTP_HOST` (default: `0`). */
  xHost?: number;
  /** Trusted values of `X-Forwarded-Port`, sets the port in `HTTP_HOST` (default: `0`). */
  xPort?: number;
  /** Trusted values of `X-Forwarded-Prefix`, sets `SCRIPT_NAME` (default: `0`). */
  xPrefix?: number;
  /** Read `for`/`proto`/`host` from the RFC 7239 `Forwarded` header instead of `X-Forwarded-*` (default: `false`). */
  forwarded?: boolean;
}

/**
 * Trusts a counted number of proxies for each forwarded header.
 *
 * @example
 * ```ts
 * import { ProxyFix } from 'nsgi';
 * // one nginx in front, setting X-Forwarded-For, -Proto and -Host
 * const app = ProxyFix({ xFor: 1, xProto: 1, xHost: 1 })(myApp);
 * ```
 */
export function ProxyFix(options: ProxyFixOptions = {}): Middleware {
  const xFor = count(options.xFor, 1, 'xFor');
  const xProto = count(options.xProto, 1, 'xProto');
  const xHost = count(options.xHost, 0, 'xHost');
  const xPort = count(options.xPort, 0, 'xPort');
  const xPrefix = count(options.xPrefix, 0, 'xPrefix');
  const useForwarded = options.forwarded ?? false;

  return (app: App): App => (environ, startResponse) => {
    let forValue: string | undefined;
    let protoValue: string | undefined;
    let hostValue: string | undefined;
    if (useForwarded) {
      const elements = typeof environ.HTTP_FORWARDED === 'string' ? parseForwarded(environ.HTTP_FORWARDED) : undefined;
      if (elements !== undefined) {
        forValue = fromRight(elements, xFor, 'for');
        protoValue = fromRight(elements, xProto, 'proto');
        hostValue = fromRight(elements, xHost, 'host');
        if (forValue !== undefined) forValue = nodeAddress(forValue);
      }
    } else {
      forValue = trusted(environ, 'HTTP_X_FORWARDED_FOR', xFor);
      protoValue = trusted(environ, 'HTTP_X_FORWARDED_PROTO', xProto);
      hostValue = trusted(environ, 'HTTP_X_FORWARDED_HOST', xHost);
    }
    if (forValue !== undefined && forValue !== '') setEnv(environ, 'REMOTE_ADDR', forValue);
    const scheme = parseScheme(protoValue);
    if (scheme !== undefined) setScheme(environ, scheme);
    if (hostValue !== undefined && isValidHost(hostValue)) setEnv(environ, 'HTTP_HOST', hostValue);

    const port = trusted(environ, 'HTTP_X_FORWARDED_PORT', xPort);
    const host = environ.HTTP_HOST;
    if (port !== undefined && /^\d{1,5}$/.test(port) && typeof host === 'string' && host !== '') {
      setEnv(environ, 'HTTP_HOST', `${stripPort(host)}:${port}`);
    }
    const prefix = trusted(environ, 'HTTP_X_FORWARDED_PREFIX', xPrefix);
    if (prefix !== undefined) {
      const mount = asMount(prefix);
      if (mount !== undefined) setEnv(environ, 'SCRIPT_NAME', mount);
    }
    return app(environ, startResponse);
  };
}

function count(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 0) {
    throw new ConfigError('NSGI_ERR_MIDDLEWARE_OPTION', `proxy-fix: ${name} must be a whole number of proxies (0 or more), got ${String(value)}`);
  }
  return value;
}

// The n-th comma-separated value from the right, or undefined when the header has fewer than n values.
function trusted(environ: Environ, key: string, n: number): string | undefined {
  const raw = environ[key];
  if (n === 0 || typeof raw !== 'string' || raw === '') return undefined;
  const values = raw.split(',').map((v) => v.trim()).filter((v) => v !== '');
  return values.length >= n ? values[values.length - n] : undefined;
}

function fromRight(elements: ForwardedElement[], n: number, param: string): string | undefined {
  if (n === 0 || elements.length < n) return undefined;
  return elements[elements.length - n]![param];
}

// RFC 7239 §6: node = nodename [":" node-port]; an IPv6 nodename is bracketed.
function nodeAddress(node: string): string {
  if (node.startsWith('[')) {
    const end = node.indexOf(']');
    return end === -1 ? node : node.slice(1, end);
  }
  const colon = node.indexOf(':');
  return colon === -1 ? node : node.slice(0, colon);
}

// X-Forwarded-Prefix is a URL path: decoded like PATH_INFO, "/" alone is the root.
function asMount(value: string): string | undefined {
  let path = decodePath(value);
  if (!path.startsWith('/') || /[?#\0]/.test(path)) return undefined;
  while (path.endsWith('/')) path = path.slice(0, -1);
  return path;
}
