/**
 * `http.IncomingMessage` → CGI variables, as a CGI server would compute them
 * (RFC 3875 §4.1): the path percent-decoded into `PATH_INFO`, the query raw,
 * every header as `HTTP_*` with `Content-Type`/`Content-Length` under their
 * CGI names.
 *
 * Header names with an underscore are dropped, as nginx and Apache 2.4 do:
 * `X_Forwarded_For` and `X-Forwarded-For` would both become
 * `HTTP_X_FORWARDED_FOR`, letting a client spoof a header a proxy set.
 * @module
 */
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { cgiHeaderName, decodePath } from '../environ.js';

/** Options for {@link httpRequestVars}. */
export interface HTTPVarsOptions {
  /** The mount point given as `SCRIPT_NAME` (default: `''`). */
  scriptName?: string;
}

/** The CGI variables of a Node HTTP request. */
export function httpRequestVars(req: IncomingMessage, options: HTTPVarsOptions = {}): Record<string, string> {
  const socket = req.socket;
  let url = req.url ?? '/';
  // Absolute-form request targets (RFC 9112 §3.2.2) carry the path after the authority.
  if (!url.startsWith('/') && url !== '*') {
    const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*/.exec(url);
    url = m ? url.slice(m[0].length) : url;
    if (!url.startsWith('/')) url = '/' + url; // `http://host` and `http://host?x=1` ask for the root
  }
  const q = url.indexOf('?');
  const rawPath = q === -1 ? url : url.slice(0, q);
  const vars: Record<string, string> = {
    REQUEST_METHOD: req.method ?? 'GET',
    SCRIPT_NAME: options.scriptName ?? '',
    PATH_INFO: decodePath(rawPath),
    QUERY_STRING: q === -1 ? '' : url.slice(q + 1),
    REQUEST_URI: req.url ?? '/',
    SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_SOFTWARE: 'nsgi',
    SERVER_NAME: '',
    SERVER_PORT: String(socket?.localPort ?? ''),
    REMOTE_ADDR: socket?.remoteAddress ?? '',
    REMOTE_PORT: String(socket?.remotePort ?? ''),
  };
  if ((socket as TLSSocket | undefined)?.encrypted) vars.HTTPS = 'on';
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.indexOf('_') !== -1) continue;
    const key = cgiHeaderName(name);
    const prev = vars[key];
    // RFC 9110 §5.3: repeated fields join with ", "; Cookie with "; " (RFC 6265 §5.4).
    vars[key] = prev === undefined ? raw[i + 1]! : prev + (key === 'HTTP_COOKIE' ? '; ' : ', ') + raw[i + 1]!;
  }
  const host = vars.HTTP_HOST;
  vars.SERVER_NAME = host !== undefined ? hostName(host) : (socket?.localAddress ?? '');
  return vars;
}

function hostName(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end === -1 ? host : host.slice(0, end + 1);
  }
  const colon = host.indexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}
