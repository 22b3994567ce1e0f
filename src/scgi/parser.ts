/**
 * The SCGI request header (SCGI 1, Neil Schemenauer, 2008): a netstring
 * `LEN:` + `NAME\0VALUE\0...` + `,` whose first pair is `CONTENT_LENGTH`
 * (always present, `0` when there is no body) and which holds `SCGI` = `1`.
 * The body, exactly `CONTENT_LENGTH` bytes, follows the comma.
 *
 * {@link SCGIHeaderParser} takes the bytes in whatever pieces the socket
 * hands out and returns the variables once the netstring is whole; it does
 * no I/O, so it is tested byte by byte at every split offset. The common case
 * (the whole header in one chunk) decodes straight from that chunk; only a
 * header cut across chunks is copied, once, into a buffer of its announced
 * size.
 *
 * Names are read as Latin-1 (CGI variable names are ASCII tokens; Latin-1
 * loses no byte), values as UTF-8 (what web servers put in `PATH_INFO`), the
 * same as the FastCGI params decoder, so an app sees the same strings under
 * either protocol.
 * @module
 */
import { LimitError, ProtocolError } from '../errors.js';

/** Options of {@link SCGIHeaderParser}. */
export interface SCGIHeaderParserOptions {
  /** Largest header (the netstring's announced length) accepted, in bytes (default: `1048576`, 1 MiB). */
  maxHeaderBytes?: number;
}

/** A parsed SCGI request header. */
export interface SCGIRequestHead {
  /** The CGI variables, in the order sent (a repeated name keeps its last value). */
  vars: Record<string, string>;
  /** `CONTENT_LENGTH` as a number: how many body bytes follow the header. */
  contentLength: number;
  /** Bytes that came after the `,` in the last chunk pushed: the start of the body (a view, not a copy). */
  rest: Buffer;
}

/** Default header limit: 1 MiB, as for FastCGI's params (big cookies and long URLs are real; 1 MiB is not). */
export const DEFAULT_MAX_SCGI_HEADER_BYTES = 1024 * 1024;

const COLON = 0x3a;
const COMMA = 0x2c;
const ZERO = 0x30;
const NINE = 0x39;
const DECIMAL = /^(0|[1-9][0-9]*)$/;

/**
 * Parses one SCGI request header. `push()` chunks until it returns the head;
 * it throws a {@link ProtocolError} or {@link LimitError} (codes
 * in the SCGI section of docs/errors.md) as soon as the bytes cannot be a
 * valid header. One parser serves one connection (SCGI sends one request
 * per connection).
 *
 * @example
 * ```ts
 * const parser = new SCGIHeaderParser();
 * socket.on('data', (chunk) => {
 *   const head = parser.push(chunk);
 *   if (head) start(head.vars, head.contentLength, head.rest);
 * });
 * ```
 */
export class SCGIHeaderParser {
  private readonly maxHeaderBytes: number;
  // -1 while reading the length prefix; then the announced length.
  private length = -1;
  private digits = 0;
  private value = 0;
  // The header when it arrives in several chunks: allocated once at its announced size (+1 for the comma).
  private buf: Buffer | undefined;
  private filled = 0;
  private done = false;
  private seen = 0;

  constructor(options: SCGIHeaderParserOptions = {}) {
    this.maxHeaderBytes = options.maxHeaderBytes ?? DEFAULT_MAX_SCGI_HEADER_BYTES;
  }

  /** Bytes consumed so far (the prefix and the netstring, not the body). */
  get receivedBytes(): number {
    return this.seen;
  }

  /** True once some byte of a header has arrived (an empty connection is not a malformed request). */
  get started(): boolean {
    return this.seen > 0;
  }

  /** Adds bytes; returns the head when the netstring is complete, else `undefined`. */
  push(chunk: Buffer): SCGIRequestHead | undefined {
    if (this.done) throw new ProtocolError('NSGI_ERR_SCGI_HEADER', 'scgi: push() after the header was parsed; the rest is body');
    let pos = 0;
    if (this.length === -1) {
      pos = this.readLength(chunk);
      if (this.length === -1) return undefined;
    }
    const need = this.length + 1; // the pairs and the comma
    if (this.buf === undefined && this.filled === 0 && chunk.length - pos >= need) {
      // Fast path: the whole netstring is in this chunk; decode from it without a copy.
      this.seen += need;
      return this.finish(chunk.subarray(pos, pos + need), chunk.subarray(pos + need));
    }
    this.buf ??= Buffer.allocUnsafe(need);
    const take = Math.min(need - this.filled, chunk.length - pos);
    chunk.copy(this.buf, this.filled, pos, pos + take);
    this.filled += take;
    this.seen += take;
    if (this.filled < need) return undefined;
    const whole = this.buf;
    this.buf = undefined;
    return this.finish(whole, chunk.subarray(pos + take));
  }

  // Reads `LEN:` digits from the chunk; returns the offset after what it consumed.
  private readLength(chunk: Buffer): number {
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      this.seen++;
      if (c === COLON) {
        if (this.digits === 0) throw new ProtocolError('NSGI_ERR_SCGI_LENGTH', 'scgi: the netstring has no length before ":"');
        this.length = this.value;
        return i + 1;
      }
      if (c < ZERO || c > NINE) {
        throw new ProtocolError('NSGI_ERR_SCGI_LENGTH', `scgi: the netstring length has a non-digit byte 0x${c.toString(16).padStart(2, '0')} (a request must start with "LEN:")`);
      }
      // Netstrings forbid leading zeros ("0:" alone is the empty string, which SCGI cannot use).
      if (this.digits === 1 && this.value === 0) throw new ProtocolError('NSGI_ERR_SCGI_LENGTH', 'scgi: the netstring length has a leading zero');
      this.value = this.value * 10 + (c - ZERO);
      this.digits++;
      // Bounded as the digits come, so a stream of digits never grows a huge number.
      if (this.value > this.maxHeaderBytes) {
        throw new LimitError('NSGI_ERR_SCGI_HEADER_TOO_LARGE', `scgi: the request header is larger than the limit of ${this.maxHeaderBytes} bytes (maxHeaderBytes)`, this.maxHeaderBytes);
      }
    }
    return chunk.length;
  }

  // `net` is the netstring's content followed by its closing byte.
  private finish(net: Buffer, rest: Buffer): SCGIRequestHead {
    this.done = true;
    const end = net.length - 1;
    if (net[end] !== COMMA) throw new ProtocolError('NSGI_ERR_SCGI_NETSTRING', `scgi: the netstring of ${end} bytes is not followed by ","`);
    const vars: Record<string, string> = {};
    let pos = 0;
    let count = 0;
    let contentLength = -1;
    while (pos < end) {
      const nameEnd = net.indexOf(0, pos);
      if (nameEnd === -1 || nameEnd >= end) throw new ProtocolError('NSGI_ERR_SCGI_HEADER', 'scgi: the header ends inside a name (every name and value must end with NUL)');
      if (nameEnd === pos) throw new ProtocolError('NSGI_ERR_SCGI_HEADER', 'scgi: the header has an empty variable name');
      const valueEnd = net.indexOf(0, nameEnd + 1);
      if (valueEnd === -1 || valueEnd >= end) {
        throw new ProtocolError('NSGI_ERR_SCGI_HEADER', `scgi: variable ${JSON.stringify(net.toString('latin1', pos, Math.min(nameEnd, pos + 64)))} has no value (an odd number of strings)`);
      }
      const name = net.toString('latin1', pos, nameEnd);
      const value = net.toString('utf8', nameEnd + 1, valueEnd);
      if (count === 0) {
        if (name !== 'CONTENT_LENGTH') throw new ProtocolError('NSGI_ERR_SCGI_CONTENT_LENGTH', `scgi: the first variable must be CONTENT_LENGTH, got ${JSON.stringify(name.slice(0, 64))}`);
        if (!DECIMAL.test(value) || value.length > 15) throw new ProtocolError('NSGI_ERR_SCGI_CONTENT_LENGTH', `scgi: CONTENT_LENGTH ${JSON.stringify(value.slice(0, 64))} is not a decimal number`);
        contentLength = Number(value);
      }
      vars[name] = value;
      count++;
      pos = valueEnd + 1;
    }
    if (count === 0) throw new ProtocolError('NSGI_ERR_SCGI_CONTENT_LENGTH', 'scgi: the header is empty; CONTENT_LENGTH is required');
    if (vars.SCGI !== '1') {
      throw new ProtocolError('NSGI_ERR_SCGI_VERSION', vars.SCGI === undefined ? 'scgi: the header has no SCGI variable (SCGI=1 is required)' : `scgi: SCGI=${JSON.stringify(vars.SCGI.slice(0, 16))} is not supported (only 1)`);
    }
    return { vars, contentLength, rest };
  }
}

/**
 * Encodes CGI variables as an SCGI request header (for clients and tests).
 * `CONTENT_LENGTH` is put first and `SCGI` = `1` added, as the protocol
 * requires; names are written as Latin-1, values as UTF-8.
 */
export function encodeSCGIHeader(vars: Record<string, string>, contentLength: number): Buffer {
  const parts: Buffer[] = [Buffer.from(`CONTENT_LENGTH\0${contentLength}\0SCGI\x001\0`, 'latin1')];
  for (const name of Object.keys(vars)) {
    if (name === 'CONTENT_LENGTH' || name === 'SCGI') continue;
    if (name.length === 0 || name.includes('\0') || vars[name]!.includes('\0')) {
      throw new ProtocolError('NSGI_ERR_SCGI_HEADER', `scgi: variable ${JSON.stringify(name)} cannot be sent (empty name or NUL byte)`);
    }
    parts.push(Buffer.from(name + '\0', 'latin1'), Buffer.from(vars[name] + '\0', 'utf8'));
  }
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from(`${body.length}:`, 'latin1'), body, Buffer.from(',')]);
}
