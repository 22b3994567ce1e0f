/**
 * Status and header validation, and the CGI-style response head.
 *
 * One place decides what a valid status line and header list are (PEP 3333,
 * RFC 9110 token rules), so every adapter refuses the same things: above all,
 * CR, LF or NUL in a name or value, which would let an app's input split the
 * response. The CGI head (`Status: 200 OK\r\n...\r\n\r\n`) is shared by the
 * FastCGI, SCGI and CGI adapters.
 * @module
 */
import { ContractError } from './errors.js';
import type { HeaderList } from './types.js';

/** A parsed, validated status line. */
export interface Status {
  code: number;
  reason: string;
  /** The status string as given, e.g. `"404 Not Found"`. */
  line: string;
}

// RFC 9110 token: the characters allowed in a header field name.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Field values: no CR, LF or NUL (the response-splitting bytes), no other control byte but TAB,
// and nothing beyond Latin-1: a head is bytes, and every adapter writes it as Latin-1.
const BAD_VALUE = /[\0-\x08\x0a-\x1f\x7f\u0100-\uffff]/;
// The reason phrase: Latin-1 text without control bytes but TAB. Beyond U+00FF a character would not
// survive the Latin-1 head: U+010D U+010A would go out as CR LF and split the response.
const STATUS = /^([1-9][0-9][0-9]) ([^\0-\x08\x0a-\x1f\x7f\u0100-\uffff]*)$/;

/**
 * Parses `"200 OK"` into code and reason. Throws `NSGI_ERR_INVALID_STATUS`
 * unless it is three digits, a space, and a reason of Latin-1 characters free
 * of control characters (a wider character would be cut to its low byte on the wire).
 */
export function parseStatus(status: unknown): Status {
  if (typeof status !== 'string') {
    throw new ContractError('NSGI_ERR_INVALID_STATUS', `response: status must be a string like "200 OK", got ${describe(status)}`);
  }
  const m = STATUS.exec(status);
  if (m === null) {
    throw new ContractError('NSGI_ERR_INVALID_STATUS', `response: status ${JSON.stringify(status)} is not "<3-digit code> <reason>", e.g. "200 OK"`);
  }
  return { code: Number(m[1]), reason: m[2]!, line: status };
}

/**
 * Checks a header list: an array of `[name, value]` string pairs, names that
 * are RFC 9110 tokens, values without CR, LF, NUL or other control bytes.
 * Throws `NSGI_ERR_INVALID_HEADER` or, for CR/LF/NUL, `NSGI_ERR_HEADER_INJECTION`.
 */
export function validateHeaders(headers: unknown): asserts headers is HeaderList {
  if (!Array.isArray(headers)) {
    throw new ContractError('NSGI_ERR_INVALID_HEADER', `response: headers must be an array of [name, value] pairs, got ${describe(headers)}`);
  }
  for (let i = 0; i < headers.length; i++) {
    const pair: unknown = headers[i];
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
      throw new ContractError('NSGI_ERR_INVALID_HEADER', `response: header #${i} must be a [name, value] pair of strings, got ${describe(pair)}`);
    }
    const [name, value] = pair as [string, string];
    if (!TOKEN.test(name)) {
      const code = /[\r\n\0]/.test(name) ? 'NSGI_ERR_HEADER_INJECTION' : 'NSGI_ERR_INVALID_HEADER';
      throw new ContractError(code, `response: header name ${JSON.stringify(name)} is not a valid token`);
    }
    if (BAD_VALUE.test(value)) {
      const code = /[\r\n\0]/.test(value) ? 'NSGI_ERR_HEADER_INJECTION' : 'NSGI_ERR_INVALID_HEADER';
      throw new ContractError(code, `response: value of header ${JSON.stringify(name)} contains a control or non-Latin-1 character (CR, LF and NUL would split the response)`);
    }
    if (name.toLowerCase() === 'status') {
      throw new ContractError('NSGI_ERR_INVALID_HEADER', 'response: "Status" is not a header; pass the status to startResponse');
    }
  }
}

/**
 * The CGI response head (RFC 3875 §6.3): `Status: <line>`, the headers, and
 * a blank line, as one buffer. Used by FastCGI, SCGI and CGI.
 */
export function cgiHead(status: Status, headers: HeaderList): Buffer {
  let head = `Status: ${status.line}\r\n`;
  for (let i = 0; i < headers.length; i++) {
    const h = headers[i]!;
    head += `${h[0]}: ${h[1]}\r\n`;
  }
  head += '\r\n';
  return Buffer.from(head, 'latin1');
}

/** Finds the first value of a header, case-insensitively. */
export function getHeader(headers: HeaderList, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [k, v] of headers) if (k.toLowerCase() === lower) return v;
  return undefined;
}

/** A short description of a value for error messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)}`;
  if (typeof value === 'function') return `a function${value.name ? ` (${value.name})` : ''}`;
  if (typeof value === 'object') return `an object (${(value as object).constructor?.name ?? 'Object'})`;
  return `${typeof value} ${String(value)}`;
}
