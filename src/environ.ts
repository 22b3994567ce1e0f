/**
 * CGI meta-variables → environ: the one place every adapter builds its
 * environ (Go's FastCGI child reuses `cgi.RequestFromMap` the same way).
 *
 * FastCGI and SCGI hand us the variables the web server computed; the HTTP
 * adapter and CGI runner compute or read them; all of them end here, so the
 * `wsgi.*`/`nsgi.*` keys and the defaults for missing variables are the same
 * under every transport.
 * @module
 */
import type { Readable, Writable } from 'node:stream';
import type { Environ } from './types.js';

/** The extension values an adapter supplies beside the CGI variables. */
export interface EnvironExtras {
  /** The request body stream (`wsgi.input`). */
  input: Readable;
  /** The diagnostics stream (`wsgi.errors`). */
  errors: Writable;
  /** Fires when the client or web server goes away (`nsgi.signal`). */
  signal: AbortSignal;
  /** Overrides the scheme derived from `HTTPS` / `REQUEST_SCHEME`. */
  urlScheme?: string;
  /** `wsgi.multithread` (default: `true`: requests run concurrently in one process). */
  multithread?: boolean;
  /** `wsgi.multiprocess` (default: `false`). */
  multiprocess?: boolean;
  /** `wsgi.run_once` (default: `false`; `true` under CGI). */
  runOnce?: boolean;
}

const WSGI_VERSION = Object.freeze([1, 0] as const);

/**
 * Turns CGI variables into an environ. Takes ownership of `vars` (it becomes
 * the environ, no copy is made) and fills the keys PEP 3333 requires when the
 * gateway left them out: `SCRIPT_NAME`, `PATH_INFO` and `QUERY_STRING` become
 * empty strings, `REQUEST_METHOD` `GET`, `SERVER_PROTOCOL` `HTTP/1.0`.
 */
export function buildEnviron(vars: Record<string, string>, extras: EnvironExtras): Environ {
  const env = vars as unknown as Environ;
  if (env.REQUEST_METHOD === undefined) env.REQUEST_METHOD = 'GET';
  if (env.SCRIPT_NAME === undefined) env.SCRIPT_NAME = '';
  if (env.PATH_INFO === undefined) env.PATH_INFO = '';
  if (env.QUERY_STRING === undefined) env.QUERY_STRING = '';
  if (env.SERVER_NAME === undefined) env.SERVER_NAME = '';
  if (env.SERVER_PORT === undefined) env.SERVER_PORT = '';
  if (env.SERVER_PROTOCOL === undefined) env.SERVER_PROTOCOL = 'HTTP/1.0';
  env['wsgi.input'] = extras.input;
  env['wsgi.errors'] = extras.errors;
  env['wsgi.url_scheme'] = extras.urlScheme ?? schemeOf(vars);
  env['wsgi.version'] = WSGI_VERSION;
  env['wsgi.multithread'] = extras.multithread ?? true;
  env['wsgi.multiprocess'] = extras.multiprocess ?? false;
  env['wsgi.run_once'] = extras.runOnce ?? false;
  env['nsgi.signal'] = extras.signal;
  return env;
}

/** `https` when the gateway says so (`HTTPS=on|1|yes` or `REQUEST_SCHEME=https`), else `http`. */
export function schemeOf(vars: Record<string, string | undefined>): string {
  const https = vars.HTTPS;
  if (https !== undefined) {
    const v = https.toLowerCase();
    if (v === 'on' || v === '1' || v === 'yes') return 'https';
  }
  return vars.REQUEST_SCHEME?.toLowerCase() === 'https' ? 'https' : 'http';
}

/**
 * Percent-decodes a URL path as CGI's `PATH_INFO` requires: `%XX` escapes
 * become bytes, and the bytes are read as UTF-8. Unlike `decodeURIComponent`
 * it never throws: a malformed escape is kept as it is, and invalid UTF-8
 * becomes U+FFFD. `%2F` decodes to `/`, as in every CGI server.
 */
export function decodePath(raw: string): string {
  if (raw.indexOf('%') === -1) return raw;
  const bytes = Buffer.from(raw, 'utf8');
  const out = Buffer.allocUnsafe(bytes.length);
  let j = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === 0x25 && i + 2 < bytes.length && isHex(bytes[i + 1]!) && isHex(bytes[i + 2]!)) {
      out[j++] = (hexValue(bytes[i + 1]!) << 4) | hexValue(bytes[i + 2]!);
      i += 2;
    } else {
      out[j++] = b;
    }
  }
  return out.toString('utf8', 0, j);
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

function hexValue(c: number): number {
  return c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x61 + 10;
}

/**
 * The CGI name of an HTTP request header: `HTTP_` + upper case, `-` → `_`;
 * `Content-Type` and `Content-Length` get their own CGI names (RFC 3875 §4.1.18).
 */
export function cgiHeaderName(name: string): string {
  const upper = name.toUpperCase().replace(/-/g, '_');
  if (upper === 'CONTENT_TYPE' || upper === 'CONTENT_LENGTH') return upper;
  return 'HTTP_' + upper;
}
