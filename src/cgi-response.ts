/**
 * Reading a CGI-style response (RFC 3875 §6): header lines ended by LF or
 * CRLF, a blank line, then the body. A `Status:` header gives the status; a
 * `Location:` without one means `302 Found`; otherwise `200 OK`. This is what
 * FastCGI STDOUT, SCGI and CGI responses look like, so every client in nsgi
 * (and the tests) read them through this one sans-I/O parser.
 * @module
 */
import { ProtocolError, LimitError } from './errors.js';
import type { HeaderList } from './types.js';

/** A parsed CGI response head. */
export interface CGIHead {
  status: number;
  statusText: string;
  /** Headers in order, repeats kept, without `Status`. */
  headers: HeaderList;
  /** Body bytes that arrived in the same chunks as the head. */
  rest: Buffer;
}

/** Options of {@link CGIResponseParser}. */
export interface CGIResponseParserOptions {
  /** Largest head accepted, in bytes (default: `65536`). */
  maxHeadBytes?: number;
}

/**
 * Feed it chunks with `push()`; it returns the head once the blank line has
 * arrived (and `undefined` before). After that, the caller owns the stream.
 */
export class CGIResponseParser {
  private pending: Buffer[] = [];
  private size = 0;
  private done = false;
  private readonly maxHeadBytes: number;

  constructor(options: CGIResponseParserOptions = {}) {
    this.maxHeadBytes = options.maxHeadBytes ?? 65536;
  }

  /** Adds bytes; returns the head when it is complete. */
  push(chunk: Uint8Array): CGIHead | undefined {
    if (this.done) throw new ProtocolError('NSGI_ERR_CGI_RESPONSE', 'cgi: push() after the head was parsed; the rest is body');
    // Keep the bytes seen so far; scan from a little before the new chunk so a CRLFCRLF split across chunks is found.
    this.pending.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    this.size += chunk.byteLength;
    const all = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.size);
    this.pending = [all];
    const end = findBlankLine(all);
    if (end === undefined) {
      if (this.size > this.maxHeadBytes) {
        throw new LimitError('NSGI_ERR_CGI_RESPONSE_TOO_LARGE', `cgi: response head exceeds ${this.maxHeadBytes} bytes without a blank line`, this.maxHeadBytes);
      }
      return undefined;
    }
    if (end.headEnd > this.maxHeadBytes) {
      throw new LimitError('NSGI_ERR_CGI_RESPONSE_TOO_LARGE', `cgi: response head of ${end.headEnd} bytes exceeds ${this.maxHeadBytes}`, this.maxHeadBytes);
    }
    this.done = true;
    this.pending = [];
    return parseHead(all.subarray(0, end.headEnd).toString('latin1'), all.subarray(end.bodyStart));
  }
}

function findBlankLine(buf: Buffer): { headEnd: number; bodyStart: number } | undefined {
  // A head may be empty (a body that starts with a blank line): "\r\n" or "\n" at offset 0.
  if (buf[0] === 0x0a) return { headEnd: 0, bodyStart: 1 };
  if (buf[0] === 0x0d && buf[1] === 0x0a) return { headEnd: 0, bodyStart: 2 };
  for (let i = buf.indexOf(0x0a); i !== -1; i = buf.indexOf(0x0a, i + 1)) {
    if (buf[i + 1] === 0x0a) return { headEnd: i + 1, bodyStart: i + 2 };
    if (buf[i + 1] === 0x0d && buf[i + 2] === 0x0a) return { headEnd: i + 1, bodyStart: i + 3 };
  }
  return undefined;
}

function parseHead(text: string, rest: Buffer): CGIHead {
  const headers: HeaderList = [];
  let status: string | undefined;
  let location = false;
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new ProtocolError('NSGI_ERR_CGI_RESPONSE', `cgi: malformed response header line ${JSON.stringify(line.slice(0, 80))}`);
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === 'status') status = value;
    else {
      if (name.toLowerCase() === 'location') location = true;
      headers.push([name, value]);
    }
  }
  let code = 200;
  let reason = 'OK';
  if (status !== undefined) {
    const m = /^(\d{3})(?:\s+(.*))?$/.exec(status);
    if (m === null) throw new ProtocolError('NSGI_ERR_CGI_RESPONSE', `cgi: malformed Status header ${JSON.stringify(status)}`);
    code = Number(m[1]);
    reason = m[2] ?? '';
  } else if (location) {
    code = 302;
    reason = 'Found';
  }
  return { status: code, statusText: reason, headers, rest };
}
