/**
 * Reading back the HTTP/1.1 response head that Node's `http.ServerResponse`
 * serialises (`HTTP/1.1 200 OK\r\nName: value\r\n...\r\n\r\n`), so that a
 * `(req, res)` handler's response can be handed to nsgi's `startResponse`.
 *
 * Sans-I/O: it takes the head as text (Latin-1, as Node writes it) and
 * returns the status and headers. Hop-by-hop fields (RFC 9110 §7.6.1) are
 * dropped, as PEP 3333 forbids them in an app's response: the gateway frames
 * the body itself. `Transfer-Encoding: chunked` is reported so the caller can
 * undo the framing Node then applies to the body.
 * @module
 */
import { ProtocolError } from '../errors.js';
import type { HeaderList } from '../types.js';

/** A parsed response head. */
export interface ResponseHead {
  code: number;
  reason: string;
  /** The end-to-end headers, in order, repeats kept. */
  headers: HeaderList;
  /** Node framed the body with chunked transfer coding (the app set `Transfer-Encoding`). */
  chunked: boolean;
  /** A `Content-Length` header is among `headers`. */
  hasLength: boolean;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade']);

/** Parses a head (without its final blank line) such as `HTTP/1.1 404 Not Found\r\nA: b`. */
export function parseResponseHead(text: string): ResponseHead {
  let eol = text.indexOf('\r\n');
  if (eol === -1) eol = text.length;
  const m = /^HTTP\/\d\.\d (\d{3})(?: (.*))?$/.exec(text.slice(0, eol));
  if (m === null) {
    throw new ProtocolError('NSGI_ERR_BRIDGE_HEAD', `bridge: the handler's response does not start with an HTTP status line: ${JSON.stringify(text.slice(0, Math.min(eol, 60)))}`);
  }
  const headers: HeaderList = [];
  let chunked = false;
  let hasLength = false;
  let pos = eol + 2;
  while (pos < text.length) {
    let end = text.indexOf('\r\n', pos);
    if (end === -1) end = text.length;
    const colon = text.indexOf(':', pos);
    if (colon === -1 || colon > end) {
      throw new ProtocolError('NSGI_ERR_BRIDGE_HEAD', `bridge: response header line without a colon: ${JSON.stringify(text.slice(pos, Math.min(end, pos + 60)))}`);
    }
    const name = text.slice(pos, colon);
    const value = text.slice(colon + 1, end).trim();
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower)) {
      if (lower === 'transfer-encoding' && /(?:^|,)\s*chunked\s*$/i.test(value)) chunked = true;
    } else {
      if (lower === 'content-length') hasLength = true;
      headers.push([name, value]);
    }
    pos = end + 2;
  }
  return { code: Number(m[1]), reason: m[2] ?? '', headers, chunked, hasLength };
}
