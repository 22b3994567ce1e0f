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
