/**
 * A human-readable trace of FastCGI records, one line per record (and one
 * line per name-value pair of PARAMS and GET_VALUES), for `nsgi request
 * --trace` and for anyone debugging a web server's FastCGI traffic:
 *
 * ```text
 * > BEGIN_REQUEST      id=1 len=8     pad=0 role=RESPONDER flags=KEEP_CONN
 * > PARAMS             id=1 len=395   pad=5
 * >     REQUEST_METHOD=GET
 * > PARAMS             id=1 len=0     pad=0 (end of stream)
 * < STDOUT             id=1 len=57    pad=7 "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nhello\n"
 * < END_REQUEST        id=1 len=8     pad=0 appStatus=0 protocolStatus=REQUEST_COMPLETE
 * ```
 *
 * `>` is a record sent, `<` one received. Name-value pairs are decoded even
 * when a pair is cut across two PARAMS records (FastCGI 1.0 §3.4 allows it):
 * the tracer carries the cut bytes to the next record of the same stream.
 * Content is previewed escaped and cut to a short length. This module does
 * no I/O: it turns records into text.
 * @module
 */
import { protocolStatusName, recordTypeName, roleName, FCGI_BEGIN_REQUEST, FCGI_END_REQUEST, FCGI_GET_VALUES, FCGI_GET_VALUES_RESULT, FCGI_KEEP_CONN, FCGI_PARAMS, FCGI_UNKNOWN_TYPE } from './protocol.js';

/** A record as the tracer needs it (what {@link FastCGIClient}'s `trace` option hands out). */
export interface TracedRecord {
  type: number;
  requestId: number;
  contentLength: number;
  paddingLength: number;
  content: Uint8Array;
}

/** Options of {@link RecordTracer}. */
export interface RecordTracerOptions {
  /** Most content bytes shown for a STDIN/STDOUT/STDERR record (default: `80`). */
  previewBytes?: number;
  /** Most characters shown of one PARAMS value (default: `200`). */
  valueChars?: number;
}

/**
 * Formats records as trace lines. Keep one tracer per connection (or per
 * client): it remembers the bytes of a name-value pair cut between records.
 *
 * @example
 * ```ts
 * const tracer = new RecordTracer();
 * const client = new FastCGIClient('unix:/run/app.sock', {
 *   trace: (direction, record) => process.stderr.write(tracer.format(direction, record)),
 * });
 * ```
 */
export class RecordTracer {
  private readonly previewBytes: number;
  private readonly valueChars: number;
  // Bytes of a pair cut at the end of a record, by direction + type + request id.
  private readonly carry = new Map<string, Buffer>();

  constructor(options: RecordTracerOptions = {}) {
    this.previewBytes = options.previewBytes ?? 80;
    this.valueChars = options.valueChars ?? 200;
  }

  /** The trace line(s) of one record, each ending in `\n`. */
  format(direction: 'send' | 'recv', record: TracedRecord): string {
    const arrow = direction === 'send' ? '>' : '<';
    const content = Buffer.from(record.content.buffer, record.content.byteOffset, record.content.byteLength);
    const head = `${arrow} ${recordTypeName(record.type).padEnd(18)} id=${record.requestId} len=${String(record.contentLength).padEnd(5)} pad=${record.paddingLength}`;
    switch (record.type) {
      case FCGI_BEGIN_REQUEST: {
        if (content.length < 8) return `${head} (short body)\n`;
        const role = (content[0]! << 8) | content[1]!;
        const flags = content[2]!;
        return `${head} role=${roleName(role)} flags=${flags & FCGI_KEEP_CONN ? 'KEEP_CONN' : '0'}${flags & ~FCGI_KEEP_CONN ? `|0x${(flags & ~FCGI_KEEP_CONN).toString(16)}` : ''}\n`;
      }
      case FCGI_END_REQUEST: {
        if (content.length < 8) return `${head} (short body)\n`;
        return `${head} appStatus=${content.readUInt32BE(0)} protocolStatus=${protocolStatusName(content[4]!)}\n`;
      }
      case FCGI_UNKNOWN_TYPE:
        return `${head}${content.length > 0 ? ` type=${content[0]}` : ''}\n`;
      case FCGI_PARAMS:
      case FCGI_GET_VALUES:
      case FCGI_GET_VALUES_RESULT:
        return this.pairs(direction, record, content, head, arrow);
      default:
        if (content.length === 0) return `${head} (end of stream)\n`;
        return `${head} ${escapeBytes(content, this.previewBytes)}\n`;
    }
  }

  private pairs(direction: string, record: TracedRecord, content: Buffer, head: string, arrow: string): string {
    const key = `${direction}:${record.type}:${record.requestId}`;
    if (content.length === 0 && record.type === FCGI_PARAMS) {
      const left = this.carry.get(key);
      this.carry.delete(key);
      return `${head} (end of stream)${left ? ` (${left.length} bytes of an incomplete pair)` : ''}\n`;
    }
    const previous = this.carry.get(key);
    const bytes = previous ? Buffer.concat([previous, content]) : content;
    this.carry.delete(key);
    let out = `${head}\n`;
    let i = 0;
    for (;;) {
      const pair = readPair(bytes, i);
      if (pair === undefined) break;
      out += `${arrow}     ${escapeText(pair.name, this.valueChars)}=${escapeText(pair.value, this.valueChars)}\n`;
      i = pair.next;
    }
    if (i < bytes.length) {
      this.carry.set(key, Buffer.from(bytes.subarray(i)));
      out += `${arrow}     (${bytes.length - i} bytes of a pair continued in the next record)\n`;
    }
    return out;
  }
}

// One name-value pair at offset i (§3.4), or undefined when it is not all there.
function readPair(b: Buffer, i: number): { name: string; value: string; next: number } | undefined {
  const nameLen = readLength(b, i);
  if (nameLen === undefined) return undefined;
  const valueLen = readLength(b, nameLen.next);
  if (valueLen === undefined) return undefined;
  const start = valueLen.next;
  const end = start + nameLen.length + valueLen.length;
  if (end > b.length) return undefined;
  return {
    name: b.toString('latin1', start, start + nameLen.length),
    value: b.toString('utf8', start + nameLen.length, end),
    next: end,
  };
}

function readLength(b: Buffer, i: number): { length: number; next: number } | undefined {
  if (i >= b.length) return undefined;
  if (b[i]! < 0x80) return { length: b[i]!, next: i + 1 };
  if (i + 4 > b.length) return undefined;
  return { length: b.readUInt32BE(i) & 0x7fffffff, next: i + 4 };
}

/**
 * Bytes as a short quoted preview: printable ASCII as is, `\r \n \t \\ \"`
 * escaped, other bytes as `\xHH`; cut after `max` bytes with a count of the rest.
 */
export function escapeBytes(bytes: Uint8Array, max: number): string {
  let s = '"';
  const n = Math.min(bytes.length, max);
  for (let i = 0; i < n; i++) {
    const c = bytes[i]!;
    if (c === 0x0d) s += '\\r';
    else if (c === 0x0a) s += '\\n';
    else if (c === 0x09) s += '\\t';
    else if (c === 0x5c) s += '\\\\';
    else if (c === 0x22) s += '\\"';
    else if (c >= 0x20 && c < 0x7f) s += String.fromCharCode(c);
    else s += `\\x${c.toString(16).padStart(2, '0')}`;
  }
  s += '"';
  return bytes.length > n ? `${s}… (+${bytes.length - n} bytes)` : s;
}

// A name or value on one line: control characters escaped, long text cut.
function escapeText(text: string, max: number): string {
  const cut = text.length > max ? text.slice(0, max) : text;
  const clean = cut.replace(/[\x00-\x1f\x7f\\]/g, (c) => (c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : c === '\t' ? '\\t' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
  return text.length > max ? `${clean}… (+${text.length - max} chars)` : clean;
}
