/**
 * FastCGI wire constants and the 8-byte record header (FastCGI 1.0 §3.3, §8).
 *
 * Every FastCGI record is a header (version, type, request id, content
 * length, padding length, reserved), then `contentLength` bytes of content
 * and `paddingLength` bytes of padding that receivers skip. This module holds
 * the numbers of §8 and the header codec; it does no I/O.
 * @module
 */

/** The only protocol version there is (§3.3). */
export const FCGI_VERSION_1 = 1;
/** Size of a record header; "future versions of the protocol will not reduce this number" (§8). */
export const FCGI_HEADER_LEN = 8;
/** Largest content of one record: the length field is 16 bits (§3.3). */
export const FCGI_MAX_CONTENT = 65535;
/** The request id of management records (§3.3). */
export const FCGI_NULL_REQUEST_ID = 0;

/** Record types (§8). */
export const FCGI_BEGIN_REQUEST = 1;
export const FCGI_ABORT_REQUEST = 2;
export const FCGI_END_REQUEST = 3;
export const FCGI_PARAMS = 4;
export const FCGI_STDIN = 5;
export const FCGI_STDOUT = 6;
export const FCGI_STDERR = 7;
export const FCGI_DATA = 8;
export const FCGI_GET_VALUES = 9;
export const FCGI_GET_VALUES_RESULT = 10;
export const FCGI_UNKNOWN_TYPE = 11;

/** `flags` bit of FCGI_BEGIN_REQUEST: the application must not close the connection after the request (§5.1). */
export const FCGI_KEEP_CONN = 1;

/** Roles (§6). */
export const FCGI_RESPONDER = 1;
export const FCGI_AUTHORIZER = 2;
export const FCGI_FILTER = 3;

/** `protocolStatus` values of FCGI_END_REQUEST (§5.5). */
export const FCGI_REQUEST_COMPLETE = 0;
export const FCGI_CANT_MPX_CONN = 1;
export const FCGI_OVERLOADED = 2;
export const FCGI_UNKNOWN_ROLE = 3;

/** Variable names of FCGI_GET_VALUES (§4.1). */
export const FCGI_MAX_CONNS = 'FCGI_MAX_CONNS';
export const FCGI_MAX_REQS = 'FCGI_MAX_REQS';
export const FCGI_MPXS_CONNS = 'FCGI_MPXS_CONNS';

const TYPE_NAMES: readonly string[] = [
  'UNKNOWN(0)',
  'BEGIN_REQUEST',
  'ABORT_REQUEST',
  'END_REQUEST',
  'PARAMS',
  'STDIN',
  'STDOUT',
  'STDERR',
  'DATA',
  'GET_VALUES',
  'GET_VALUES_RESULT',
  'UNKNOWN_TYPE',
];

/** The name of a record type without the `FCGI_` prefix, e.g. `STDOUT`; `UNKNOWN(n)` for others. */
export function recordTypeName(type: number): string {
  return TYPE_NAMES[type] ?? `UNKNOWN(${type})`;
}

const ROLE_NAMES: readonly string[] = ['', 'RESPONDER', 'AUTHORIZER', 'FILTER'];

/** The name of a role as libfcgi and flup put it in `FCGI_ROLE`, e.g. `RESPONDER`; `UNKNOWN(n)` for others. */
export function roleName(role: number): string {
  return (role > 0 && ROLE_NAMES[role]) || `UNKNOWN(${role})`;
}

const PROTOCOL_STATUS_NAMES: readonly string[] = ['REQUEST_COMPLETE', 'CANT_MPX_CONN', 'OVERLOADED', 'UNKNOWN_ROLE'];

/** The name of an END_REQUEST `protocolStatus`, e.g. `OVERLOADED`; `UNKNOWN(n)` for others. */
export function protocolStatusName(status: number): string {
  return PROTOCOL_STATUS_NAMES[status] ?? `UNKNOWN(${status})`;
}

/** A decoded record header. */
export interface RecordHeader {
  version: number;
  type: number;
  requestId: number;
  contentLength: number;
  paddingLength: number;
}

/**
 * Writes a version-1 record header at `offset` of `target` (8 bytes). The
 * reserved byte is written as 0.
 */
export function writeHeader(target: Uint8Array, offset: number, type: number, requestId: number, contentLength: number, paddingLength: number): void {
  target[offset] = FCGI_VERSION_1;
  target[offset + 1] = type;
  target[offset + 2] = requestId >>> 8;
  target[offset + 3] = requestId & 0xff;
  target[offset + 4] = contentLength >>> 8;
  target[offset + 5] = contentLength & 0xff;
  target[offset + 6] = paddingLength;
  target[offset + 7] = 0;
}

/** Reads the record header at `offset` of `source` (8 bytes must be there). */
export function readHeader(source: Uint8Array, offset = 0): RecordHeader {
  return {
    version: source[offset]!,
    type: source[offset + 1]!,
    requestId: (source[offset + 2]! << 8) | source[offset + 3]!,
    contentLength: (source[offset + 4]! << 8) | source[offset + 5]!,
    paddingLength: source[offset + 6]!,
  };
}

/** Padding that brings a record of `contentLength` content bytes to a multiple of 8 (§3.3 "Padding"). */
export function paddingFor(contentLength: number): number {
  return -contentLength & 7;
}

/**
 * One whole record as a fresh buffer: header, content, zero padding to 8-byte
 * alignment (or `paddingLength` when given). For discrete records, tests and
 * tools; streams go through {@link RecordWriter}, which does not copy.
 */
export function encodeRecord(type: number, requestId: number, content: Uint8Array = EMPTY, paddingLength = paddingFor(content.length)): Buffer {
  if (content.length > FCGI_MAX_CONTENT) throw new RangeError(`fastcgi: record content of ${content.length} bytes exceeds ${FCGI_MAX_CONTENT}`);
  const out = Buffer.alloc(FCGI_HEADER_LEN + content.length + paddingLength);
  writeHeader(out, 0, type, requestId, content.length, paddingLength);
  out.set(content, FCGI_HEADER_LEN);
  return out;
}

const EMPTY = new Uint8Array(0);

/** The 8-byte content of FCGI_BEGIN_REQUEST (§5.1). */
export function beginRequestBody(role: number, flags: number): Buffer {
  const b = Buffer.alloc(8);
  b[0] = role >>> 8;
  b[1] = role & 0xff;
  b[2] = flags;
  return b;
}

/** The 8-byte content of FCGI_END_REQUEST (§5.5). */
export function endRequestBody(appStatus: number, protocolStatus: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(appStatus >>> 0, 0);
  b[4] = protocolStatus;
  return b;
}
