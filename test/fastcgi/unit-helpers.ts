// Byte-building helpers shared by the FastCGI unit tests (Go's fcgi tests build their tables the same way).
import { encodeParams } from '../../src/fastcgi/params.js';
import { beginRequestBody, encodeRecord, FCGI_BEGIN_REQUEST, FCGI_PARAMS, FCGI_RESPONDER, FCGI_STDIN } from '../../src/fastcgi/protocol.js';
import { RecordParser } from '../../src/fastcgi/parser.js';

/** One record: header, content, padding (default: to 8-byte alignment). */
export function makeRecord(type: number, requestId: number, content: Uint8Array | string = new Uint8Array(0), padding?: number): Buffer {
  const bytes = typeof content === 'string' ? Buffer.from(content, 'latin1') : content;
  return encodeRecord(type, requestId, bytes, padding);
}

/** A BEGIN_REQUEST record. */
export function begin(requestId: number, flags = 0, role = FCGI_RESPONDER): Buffer {
  return makeRecord(FCGI_BEGIN_REQUEST, requestId, beginRequestBody(role, flags));
}

/** A whole request as a web server sends it: BEGIN, PARAMS (+ end), STDIN (+ end). */
export function request(requestId: number, params: Record<string, string>, body: Uint8Array | string = '', flags = 0, role = FCGI_RESPONDER): Buffer {
  const parts = [begin(requestId, flags, role)];
  const p = encodeParams(params);
  if (p.length > 0) parts.push(makeRecord(FCGI_PARAMS, requestId, p));
  parts.push(makeRecord(FCGI_PARAMS, requestId));
  const b = typeof body === 'string' ? Buffer.from(body) : Buffer.from(body);
  for (let i = 0; i < b.length; i += 65535) parts.push(makeRecord(FCGI_STDIN, requestId, b.subarray(i, i + 65535)));
  parts.push(makeRecord(FCGI_STDIN, requestId));
  return Buffer.concat(parts);
}

/** A parsed record with its whole content. */
export interface ParsedRecord {
  type: number;
  requestId: number;
  content: Buffer;
  paddingLength: number;
}

/** Parses a complete byte stream into records (for checking what a server or writer sent). */
export function parseAll(bytes: Uint8Array | Uint8Array[]): ParsedRecord[] {
  const out: ParsedRecord[] = [];
  let cur: { type: number; requestId: number; paddingLength: number; parts: Buffer[] } | undefined;
  const parser = new RecordParser({
    record(type, requestId, _length, paddingLength) {
      cur = { type, requestId, paddingLength, parts: [] };
    },
    content(chunk, start, end) {
      cur!.parts.push(Buffer.from(chunk.subarray(start, end)));
    },
    recordEnd() {
      out.push({ type: cur!.type, requestId: cur!.requestId, paddingLength: cur!.paddingLength, content: Buffer.concat(cur!.parts) });
    },
  });
  for (const b of Array.isArray(bytes) ? bytes : [bytes]) parser.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  return out;
}

import { connect, type Socket } from 'node:net';
import { parseAddress } from '../../src/net/address.js';

/** Polls `cond` until it holds (never a fixed sleep: the machine may be slow). */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A raw connection that sends hand-made records and collects what comes back. */
export class RawConnection {
  readonly chunks: Buffer[] = [];
  closed = false;
  readonly closedPromise: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on('data', (c: Buffer) => this.chunks.push(c));
    socket.on('error', () => {});
    this.closedPromise = new Promise((resolve) =>
      socket.on('close', () => {
        this.closed = true;
        resolve();
      }),
    );
  }

  static async open(address: string): Promise<RawConnection> {
    const a = parseAddress(address);
    const socket = a.kind === 'unix' ? connect({ path: a.path }) : connect({ host: (a as { host: string }).host, port: (a as { port: number }).port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawConnection(socket);
  }

  send(...bufs: Buffer[]): void {
    for (const b of bufs) this.socket.write(b);
  }

  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }

  records(): ParsedRecord[] {
    return parseAll(this.bytes);
  }

  /** Waits until the records received satisfy `pred`. */
  async until(pred: (records: ParsedRecord[]) => boolean, what = 'records'): Promise<ParsedRecord[]> {
    await waitFor(() => pred(this.records()), what);
    return this.records();
  }

  /** Waits for END_REQUEST of `requestId`. */
  async ended(requestId: number): Promise<ParsedRecord[]> {
    return this.until((rs) => rs.some((r) => r.type === 3 && r.requestId === requestId), `END_REQUEST ${requestId}`);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** STDOUT of one request, concatenated. */
export function stdoutOf(records: ParsedRecord[], requestId: number): string {
  return Buffer.concat(records.filter((r) => r.type === 6 && r.requestId === requestId).map((r) => r.content)).toString('latin1');
}

/** A logger that keeps what it is told. */
export function memoryLogger(): { errors: Array<{ message: string; error: unknown }>; error(message: string, error?: unknown): void; info(): void } {
  const errors: Array<{ message: string; error: unknown }> = [];
  return { errors, error: (message, error) => errors.push({ message, error }), info() {} };
}
