/**
 * The sans-I/O FastCGI record parser (FastCGI 1.0 §3.3).
 *
 * Bytes go in with `push(chunk)`, cut anywhere (down to one byte, inside a
 * header too); events come out through a {@link RecordHandler}: a record
 * began, here is a range of its content, it ended. Content is handed out as
 * ranges of the pushed chunk, never copied, so STDIN payloads reach
 * `wsgi.input` as views of the socket's own buffers. Padding is skipped. The
 * only memory it keeps is an 8-byte scratch for a header cut across chunks;
 * nothing is allocated per record.
 *
 * The parser checks what a header alone can tell: the version, and the
 * content length of the fixed-size records (BEGIN_REQUEST, END_REQUEST and
 * UNKNOWN_TYPE are 8 bytes). What a record means for
 * a request is the caller's business.
 * @module
 */
import { ProtocolError } from '../errors.js';
import {
  FCGI_BEGIN_REQUEST,
  FCGI_END_REQUEST,
  FCGI_HEADER_LEN,
  FCGI_UNKNOWN_TYPE,
  FCGI_VERSION_1,
  recordTypeName,
} from './protocol.js';

/** What the parser calls. Throwing from a callback stops `push()` and is rethrown to its caller. */
export interface RecordHandler {
  /** A record header was read. `content()` calls for its `contentLength` bytes follow, then `recordEnd()`. */
  record(type: number, requestId: number, contentLength: number, paddingLength: number): void;
  /**
   * Content bytes of the current record: `chunk[start..end)`, a range of the
   * pushed chunk (never empty). Keep `chunk.subarray(start, end)` to hold on
   * to them; the parser does not copy.
   */
  content(chunk: Buffer, start: number, end: number): void;
  /** All content of the current record has been delivered (its padding may still be on the way). */
  recordEnd(): void;
}

const HEADER = 0;
const CONTENT = 1;
const PADDING = 2;

/**
 * Parses a stream of records.
 *
 * @example
 * ```ts
 * const parser = new RecordParser({
 *   record(type, id, length) { console.log(recordTypeName(type), id, length); },
 *   content(chunk, start, end) { sink(chunk.subarray(start, end)); },
 *   recordEnd() {},
 * });
 * socket.on('data', (chunk) => parser.push(chunk));
 * ```
 */
export class RecordParser {
  private state = HEADER;
  private readonly header = Buffer.alloc(FCGI_HEADER_LEN);
  private headerLength = 0;
  private contentLeft = 0;
  private paddingLeft = 0;
  private failed: ProtocolError | undefined;

  constructor(private readonly handler: RecordHandler) {}

  /**
   * `true` between records: nothing of a record is pending. A stream that
   * ends while this is `false` was cut inside a record.
   */
  get atBoundary(): boolean {
    return this.state === HEADER && this.headerLength === 0;
  }

  /**
   * Parses `chunk`. Throws {@link ProtocolError} on a bad header
   * (`NSGI_ERR_FASTCGI_VERSION`, `NSGI_ERR_FASTCGI_RECORD`); after that the
   * stream is unusable and every later `push()` throws the same error.
   */
  push(chunk: Buffer): void {
    if (this.failed !== undefined) throw this.failed;
    const handler = this.handler;
    const end = chunk.length;
    let pos = 0;
    while (pos < end) {
      const state = this.state;
      if (state === HEADER) {
        let h: Buffer;
        let at: number;
        if (this.headerLength === 0 && end - pos >= FCGI_HEADER_LEN) {
          h = chunk; // the common case: the whole header is here, read it in place
          at = pos;
          pos += FCGI_HEADER_LEN;
        } else {
          const take = Math.min(FCGI_HEADER_LEN - this.headerLength, end - pos);
          chunk.copy(this.header, this.headerLength, pos, pos + take);
          this.headerLength += take;
          pos += take;
          if (this.headerLength < FCGI_HEADER_LEN) return;
          this.headerLength = 0;
          h = this.header;
          at = 0;
        }
        const version = h[at]!;
        const type = h[at + 1]!;
        const contentLength = (h[at + 4]! << 8) | h[at + 5]!;
        if (version !== FCGI_VERSION_1) throw this.fail(new ProtocolError('NSGI_ERR_FASTCGI_VERSION', `fastcgi: record version ${version} is not supported (only 1 is)`));
        if (!lengthFits(type, contentLength)) {
          throw this.fail(new ProtocolError('NSGI_ERR_FASTCGI_RECORD', `fastcgi: ${recordTypeName(type)} record with ${contentLength} content bytes (must be 8)`));
        }
        this.contentLeft = contentLength;
        this.paddingLeft = h[at + 6]!;
        handler.record(type, (h[at + 2]! << 8) | h[at + 3]!, contentLength, this.paddingLeft);
        if (contentLength === 0) {
          this.state = this.paddingLeft === 0 ? HEADER : PADDING;
          handler.recordEnd();
        } else {
          this.state = CONTENT;
        }
      } else if (state === CONTENT) {
        const left = this.contentLeft;
        const stop = end - pos > left ? pos + left : end;
        this.contentLeft = left - (stop - pos);
        const from = pos;
        pos = stop;
        if (this.contentLeft === 0) this.state = this.paddingLeft === 0 ? HEADER : PADDING;
        handler.content(chunk, from, stop);
        if (this.contentLeft === 0) handler.recordEnd();
      } else {
        const skip = Math.min(this.paddingLeft, end - pos);
        this.paddingLeft -= skip;
        pos += skip;
        if (this.paddingLeft === 0) this.state = HEADER;
      }
    }
  }

  private fail(error: ProtocolError): ProtocolError {
    this.failed = error;
    return error;
  }
}

// The fixed-size records (§5.1, §5.5, §4.2). ABORT_REQUEST has no defined content, and like Go we ignore any.
function lengthFits(type: number, contentLength: number): boolean {
  switch (type) {
    case FCGI_BEGIN_REQUEST:
    case FCGI_END_REQUEST:
    case FCGI_UNKNOWN_TYPE:
      return contentLength === 8;
    default:
      return true;
  }
}
