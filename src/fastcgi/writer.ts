/**
 * Framing output into FastCGI records (FastCGI 1.0 §3.3, §4, §5.3, §5.5),
 * without I/O and without copying large payloads.
 *
 * {@link RecordWriter} queues records and hands them out with `take()` as a
 * list of buffers for one `writev` (or a corked run of writes):
 *
 * - Headers, padding, discrete records and small payloads are written into
 *   one pooled buffer, so a small response (head, body, stream ends and
 *   END_REQUEST) is a single contiguous buffer: one `write()`, one syscall.
 * - A large payload is not copied: the list holds a view of it between the
 *   pooled bytes of its header and of its padding.
 * - Streams are cut into records of at most {@link MAX_RECORD_CONTENT}
 *   content bytes (65528: the largest multiple of 8 within the 16-bit length,
 *   so full records need no padding); the last record is padded to a multiple
 *   of 8 as §3.3 recommends.
 *
 * Pooled bytes are never reused once handed out (the socket may still hold
 * them): the pool only moves forward, and a new one is taken when it is full,
 * like Node's own `Buffer` pool. That is also what lets every writer in the
 * process share one pool (the default): a connection costs no buffer until
 * it writes, and then only the bytes it writes, so 2,000 open connections
 * hold no 64 KiB each (125 MiB). A writer keeps one contiguous segment open
 * while no other writer has taken bytes after it, so a small response is
 * still one buffer.
 * @module
 */
import {
  FCGI_END_REQUEST,
  FCGI_GET_VALUES_RESULT,
  FCGI_HEADER_LEN,
  FCGI_MAX_CONTENT,
  FCGI_UNKNOWN_TYPE,
  paddingFor,
  writeHeader,
} from './protocol.js';
import { encodeParams } from './params.js';

/** Content bytes per stream record: 65528, the largest multiple of 8 that fits the 16-bit length. */
export const MAX_RECORD_CONTENT = FCGI_MAX_CONTENT & ~7;

/** Options of {@link RecordWriter}. */
export interface RecordWriterOptions {
  /** Size of each pooled buffer; given, the writer has a pool of its own, else it shares the process-wide one (default: `65536`, shared). */
  poolSize?: number;
  /** Payloads up to this many bytes are copied into the pool; larger ones are sent as views (default: `2048`). */
  copyBelow?: number;
  /** Called for every record queued, e.g. to trace it; `content` is a view, valid only during the call. */
  onRecord?: (type: number, requestId: number, content: Uint8Array, paddingLength: number) => void;
}

const EMPTY = new Uint8Array(0);
const NO_BUFFER = Buffer.alloc(0);

/** A buffer taken from the front; `pos` only moves forward. */
interface Pool {
  buf: Buffer;
  pos: number;
}

const SHARED_POOL_SIZE = 65536;
// Allocated on first use: a process that never writes FastCGI never pays for it.
const shared: Pool = { buf: NO_BUFFER, pos: 0 };

/**
 * Queues FastCGI records for one connection.
 *
 * @example
 * ```ts
 * const w = new RecordWriter();
 * w.stream(FCGI_STDOUT, 1, cgiHead(status, headers));
 * w.stream(FCGI_STDOUT, 1, body);
 * w.streamEnd(FCGI_STDOUT, 1);
 * w.endRequest(1, 0, FCGI_REQUEST_COMPLETE);
 * socket.write(w.take()[0]); // small: one buffer
 * ```
 */
export class RecordWriter {
  private readonly poolSize: number;
  private readonly copyBelow: number;
  private readonly onRecord: RecordWriterOptions['onRecord'];
  private readonly pool: Pool;
  // The open segment: bytes [segmentStart, segmentEnd) of seg, queued and not yet in `out`.
  private seg: Buffer = NO_BUFFER;
  private segmentStart = 0;
  private segmentEnd = 0;
  private out: Uint8Array[] = [];
  private queued = 0;

  constructor(options: RecordWriterOptions = {}) {
    this.poolSize = options.poolSize ?? SHARED_POOL_SIZE;
    this.copyBelow = options.copyBelow ?? 2048;
    this.onRecord = options.onRecord;
    this.pool = options.poolSize === undefined ? shared : { buf: NO_BUFFER, pos: 0 };
  }

  /** Bytes queued and not yet taken. */
  get pendingBytes(): number {
    return this.queued;
  }

  /**
   * Frames `data` as records of a stream `type` (STDOUT, STDERR, or STDIN
   * and PARAMS for a client). Empty data queues nothing: a stream's end is
   * {@link streamEnd}, since an empty record means end of stream (§3.3).
   */
  stream(type: number, requestId: number, data: Uint8Array): void {
    const length = data.length;
    for (let start = 0; start < length; start += MAX_RECORD_CONTENT) {
      const n = Math.min(MAX_RECORD_CONTENT, length - start);
      const padding = paddingFor(n);
      const part = start === 0 && n === length ? data : data.subarray(start, start + n);
      this.onRecord?.(type, requestId, part, padding);
      if (n <= this.copyBelow) {
        const at = this.reserve(FCGI_HEADER_LEN + n + padding);
        writeHeader(this.seg, at, type, requestId, n, padding);
        this.seg.set(part, at + FCGI_HEADER_LEN);
        this.zero(at + FCGI_HEADER_LEN + n, padding);
      } else {
        const at = this.reserve(FCGI_HEADER_LEN);
        writeHeader(this.seg, at, type, requestId, n, padding);
        this.view(part);
        if (padding > 0) this.zero(this.reserve(padding), padding);
      }
      this.queued += FCGI_HEADER_LEN + n + padding;
    }
  }

  /** Queues the empty record that ends a stream (§3.3). */
  streamEnd(type: number, requestId: number): void {
    this.onRecord?.(type, requestId, EMPTY, 0);
    // reserve() first: it may switch pools, and the header belongs in the new one.
    const at = this.reserve(FCGI_HEADER_LEN);
    writeHeader(this.seg, at, type, requestId, 0, 0);
    this.queued += FCGI_HEADER_LEN;
  }

  /** Queues FCGI_END_REQUEST (§5.5). */
  endRequest(requestId: number, appStatus: number, protocolStatus: number): void {
    const at = this.reserve(2 * FCGI_HEADER_LEN);
    const p = this.seg;
    writeHeader(p, at, FCGI_END_REQUEST, requestId, 8, 0);
    p.writeUInt32BE(appStatus >>> 0, at + 8);
    p[at + 12] = protocolStatus;
    p[at + 13] = 0;
    p[at + 14] = 0;
    p[at + 15] = 0;
    this.queued += 2 * FCGI_HEADER_LEN;
    this.onRecord?.(FCGI_END_REQUEST, requestId, p.subarray(at + 8, at + 16), 0);
  }

  /** Queues FCGI_GET_VALUES_RESULT with `values` (§4.1). */
  getValuesResult(values: Record<string, string>): void {
    this.record(FCGI_GET_VALUES_RESULT, 0, encodeParams(values));
  }

  /** Queues FCGI_UNKNOWN_TYPE naming the management record type not understood (§4.2). */
  unknownType(type: number): void {
    const body = Buffer.alloc(8);
    body[0] = type;
    this.record(FCGI_UNKNOWN_TYPE, 0, body);
  }

  /** Queues one discrete record (content of at most 65535 bytes), copied and padded. */
  record(type: number, requestId: number, content: Uint8Array): void {
    if (content.length > FCGI_MAX_CONTENT) throw new RangeError(`fastcgi: record content of ${content.length} bytes exceeds ${FCGI_MAX_CONTENT}`);
    const padding = paddingFor(content.length);
    this.onRecord?.(type, requestId, content, padding);
    const at = this.reserve(FCGI_HEADER_LEN + content.length + padding);
    writeHeader(this.seg, at, type, requestId, content.length, padding);
    this.seg.set(content, at + FCGI_HEADER_LEN);
    this.zero(at + FCGI_HEADER_LEN + content.length, padding);
    this.queued += FCGI_HEADER_LEN + content.length + padding;
  }

  /**
   * Hands out everything queued, in order, as buffers to write with one
   * `writev` (or `cork()`, writes, `uncork()`), and starts a new queue.
   */
  take(): Uint8Array[] {
    this.closeSegment();
    const out = this.out;
    this.out = [];
    this.queued = 0;
    return out;
  }

  // Room for n contiguous bytes in `seg`; returns where they start.
  private reserve(n: number): number {
    const pool = this.pool;
    if (pool.buf.length - pool.pos < n) {
      pool.buf = Buffer.allocUnsafe(Math.max(this.poolSize, n));
      pool.pos = 0;
    }
    if (pool.buf !== this.seg || pool.pos !== this.segmentEnd) {
      // A new pool, or another writer took bytes after ours: the open segment ends here.
      this.closeSegment();
      this.seg = pool.buf;
      this.segmentStart = this.segmentEnd = pool.pos;
    }
    const at = pool.pos;
    pool.pos += n;
    this.segmentEnd = pool.pos;
    return at;
  }

  private view(data: Uint8Array): void {
    this.closeSegment();
    this.out.push(data);
  }

  private closeSegment(): void {
    if (this.segmentEnd > this.segmentStart) {
      this.out.push(this.seg.subarray(this.segmentStart, this.segmentEnd));
      this.segmentStart = this.segmentEnd;
    }
  }

  private zero(at: number, n: number): void {
    for (let i = 0; i < n; i++) this.seg[at + i] = 0;
  }
}
