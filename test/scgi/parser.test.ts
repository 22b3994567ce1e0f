// The SCGI header parser, byte by byte: every split offset of valid requests, and each kind of
// malformed header with its typed error. SCGI: https://python.ca/scgi/protocol.txt
import { describe, expect, it } from 'vitest';
import { LimitError, ProtocolError } from '../../src/errors.js';
import { encodeSCGIHeader, SCGIHeaderParser, type SCGIRequestHead } from '../../src/scgi/parser.js';

// The example of the SCGI specification, byte for byte (its "70:" header), plus the body "What is the answer to life?".
const SPEC_HEADER = 'CONTENT_LENGTH\x0027\x00SCGI\x001\x00REQUEST_METHOD\x00POST\x00REQUEST_URI\x00/deepthought\x00';
const SPEC_REQUEST = Buffer.from(`${Buffer.byteLength(SPEC_HEADER)}:${SPEC_HEADER},What is the answer to life?`, 'latin1');

// Builds a raw netstring from NUL-joined strings (no validation: for malformed cases too).
function net(strings: string[], { length, comma = ',' }: { length?: string; comma?: string } = {}): Buffer {
  const content = Buffer.from(strings.map((s) => s + '\0').join(''), 'utf8');
  return Buffer.concat([Buffer.from(`${length ?? content.length}:`), content, Buffer.from(comma)]);
}

// Feeds `bytes` cut at the given offsets; returns the head (or throws what the parser threw).
function parseSplit(bytes: Buffer, cuts: number[], options?: ConstructorParameters<typeof SCGIHeaderParser>[0]): { head: SCGIRequestHead | undefined; after: Buffer } {
  const parser = new SCGIHeaderParser(options);
  let prev = 0;
  let head: SCGIRequestHead | undefined;
  const after: Buffer[] = [];
  for (const cut of [...cuts, bytes.length]) {
    const piece = bytes.subarray(prev, cut);
    prev = cut;
    if (head !== undefined) after.push(piece);
    else head = parser.push(piece);
  }
  if (head !== undefined) after.unshift(head.rest);
  return { head, after: Buffer.concat(after) };
}

describe('SCGIHeaderParser: valid requests at every split', () => {
  it('parses the specification example in one chunk, with the body start as rest', () => {
    const { head } = parseSplit(SPEC_REQUEST, []);
    expect(head!.vars).toEqual({ CONTENT_LENGTH: '27', SCGI: '1', REQUEST_METHOD: 'POST', REQUEST_URI: '/deepthought' });
    expect(head!.contentLength).toBe(27);
    expect(head!.rest.toString()).toBe('What is the answer to life?');
  });

  it('keeps CGI variable order (CONTENT_LENGTH first)', () => {
    const { head } = parseSplit(SPEC_REQUEST, []);
    expect(Object.keys(head!.vars)).toEqual(['CONTENT_LENGTH', 'SCGI', 'REQUEST_METHOD', 'REQUEST_URI']);
  });

  it('gives the same head and body bytes for a cut at every offset', () => {
    for (let i = 0; i <= SPEC_REQUEST.length; i++) {
      const { head, after } = parseSplit(SPEC_REQUEST, [i]);
      expect(head, `cut at ${i}`).toBeDefined();
      expect(head!.vars.REQUEST_URI).toBe('/deepthought');
      expect(after.toString(), `cut at ${i}`).toBe('What is the answer to life?');
    }
  });

  it('gives the same head for every pair of cuts (three pieces)', () => {
    const bytes = encodeSCGIHeader({ REQUEST_METHOD: 'GET', PATH_INFO: '/snow ☃/x', QUERY_STRING: 'q=%E2%98%83' }, 0);
    for (let i = 0; i <= bytes.length; i++) {
      for (let j = i; j <= bytes.length; j++) {
        const { head } = parseSplit(bytes, [i, j]);
        expect(head!.vars.PATH_INFO).toBe('/snow ☃/x');
        expect(head!.contentLength).toBe(0);
      }
    }
  });

  it('parses a request fed one byte at a time', () => {
    const cuts = Array.from({ length: SPEC_REQUEST.length - 1 }, (_, i) => i + 1);
    const { head, after } = parseSplit(SPEC_REQUEST, cuts);
    expect(head!.vars.SCGI).toBe('1');
    expect(after.toString()).toBe('What is the answer to life?');
  });

  it('reads names as Latin-1 and values as UTF-8', () => {
    const { head } = parseSplit(net(['CONTENT_LENGTH', '0', 'SCGI', '1', 'PATH_INFO', '/ünï ☃', 'HTTP_X', '']), []);
    expect(head!.vars.PATH_INFO).toBe('/ünï ☃');
    expect(head!.vars.HTTP_X).toBe('');
  });

  it('keeps the last value of a repeated name', () => {
    const { head } = parseSplit(net(['CONTENT_LENGTH', '0', 'SCGI', '1', 'X', 'a', 'X', 'b']), []);
    expect(head!.vars.X).toBe('b');
  });

  it('accepts a header exactly at maxHeaderBytes', () => {
    const bytes = net(['CONTENT_LENGTH', '0', 'SCGI', '1', 'PAD', 'x'.repeat(100)]);
    const size = bytes.indexOf(':'.charCodeAt(0));
    const announced = Number(bytes.subarray(0, size).toString());
    expect(parseSplit(bytes, [], { maxHeaderBytes: announced }).head).toBeDefined();
  });

  it('round-trips encodeSCGIHeader, which puts CONTENT_LENGTH first and adds SCGI=1', () => {
    const { head } = parseSplit(encodeSCGIHeader({ REQUEST_METHOD: 'PUT', SCGI: '2', CONTENT_LENGTH: '9' }, 5), []);
    expect(head!.vars).toEqual({ CONTENT_LENGTH: '5', SCGI: '1', REQUEST_METHOD: 'PUT' });
  });

  it('refuses a second push after the head', () => {
    const parser = new SCGIHeaderParser();
    expect(parser.push(SPEC_REQUEST)).toBeDefined();
    expect(() => parser.push(Buffer.from('x'))).toThrow(ProtocolError);
  });
});

// [name, bytes, error class, code]
const MALFORMED: Array<[string, Buffer, typeof ProtocolError | typeof LimitError, string]> = [
  ['no comma after the netstring', net(['CONTENT_LENGTH', '0', 'SCGI', '1'], { comma: ';' }), ProtocolError, 'NSGI_ERR_SCGI_NETSTRING'],
  ['a length shorter than the content (no comma where it should be)', net(['CONTENT_LENGTH', '0', 'SCGI', '1'], { length: '20' }), ProtocolError, 'NSGI_ERR_SCGI_NETSTRING'],
  ['a non-digit length', Buffer.from('2x:CONTENT_LENGTH\x000\x00,'), ProtocolError, 'NSGI_ERR_SCGI_LENGTH'],
  ['a request that does not start with digits (HTTP sent to SCGI)', Buffer.from('GET / HTTP/1.1\r\n\r\n'), ProtocolError, 'NSGI_ERR_SCGI_LENGTH'],
  ['leading junk before the length', Buffer.from(' 24:CONTENT_LENGTH\x000\x00SCGI\x001\x00,'), ProtocolError, 'NSGI_ERR_SCGI_LENGTH'],
  ['an empty length', Buffer.from(':CONTENT_LENGTH\x000\x00,'), ProtocolError, 'NSGI_ERR_SCGI_LENGTH'],
  ['a negative length', Buffer.from('-1:,'), ProtocolError, 'NSGI_ERR_SCGI_LENGTH'],
  ['a length with a leading zero', net(['CONTENT_LENGTH', '0', 'SCGI', '1'], { length: '024' }), ProtocolError, 'NSGI_ERR_SCGI_LENGTH'],
  ['an empty netstring (0:,)', Buffer.from('0:,'), ProtocolError, 'NSGI_ERR_SCGI_CONTENT_LENGTH'],
  ['missing CONTENT_LENGTH', net(['SCGI', '1', 'REQUEST_METHOD', 'GET']), ProtocolError, 'NSGI_ERR_SCGI_CONTENT_LENGTH'],
  ['CONTENT_LENGTH not first', net(['SCGI', '1', 'CONTENT_LENGTH', '0']), ProtocolError, 'NSGI_ERR_SCGI_CONTENT_LENGTH'],
  ['a non-decimal CONTENT_LENGTH', net(['CONTENT_LENGTH', '-5', 'SCGI', '1']), ProtocolError, 'NSGI_ERR_SCGI_CONTENT_LENGTH'],
  ['an empty CONTENT_LENGTH', net(['CONTENT_LENGTH', '', 'SCGI', '1']), ProtocolError, 'NSGI_ERR_SCGI_CONTENT_LENGTH'],
  ['a CONTENT_LENGTH with a leading zero', net(['CONTENT_LENGTH', '012', 'SCGI', '1']), ProtocolError, 'NSGI_ERR_SCGI_CONTENT_LENGTH'],
  ['missing SCGI=1', net(['CONTENT_LENGTH', '0', 'REQUEST_METHOD', 'GET']), ProtocolError, 'NSGI_ERR_SCGI_VERSION'],
  ['SCGI=2', net(['CONTENT_LENGTH', '0', 'SCGI', '2']), ProtocolError, 'NSGI_ERR_SCGI_VERSION'],
  ['an odd number of strings', net(['CONTENT_LENGTH', '0', 'SCGI', '1', 'LONELY']), ProtocolError, 'NSGI_ERR_SCGI_HEADER'],
  ['content not ended by NUL', Buffer.from('25:CONTENT_LENGTH\x000\x00SCGI\x001\x00X,'), ProtocolError, 'NSGI_ERR_SCGI_HEADER'],
  ['an empty variable name', net(['CONTENT_LENGTH', '0', 'SCGI', '1', '', 'v']), ProtocolError, 'NSGI_ERR_SCGI_HEADER'],
  ['an announced length over maxHeaderBytes', Buffer.from('2000000:'), LimitError, 'NSGI_ERR_SCGI_HEADER_TOO_LARGE'],
  ['an endless run of digits', Buffer.from('9'.repeat(40)), LimitError, 'NSGI_ERR_SCGI_HEADER_TOO_LARGE'],
];

describe('SCGIHeaderParser: malformed headers', () => {
  it.each(MALFORMED)('rejects %s', (_name, bytes, cls, code) => {
    const err = (() => {
      try {
        parseSplit(bytes, []);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(cls);
    expect((err as ProtocolError).code).toBe(code);
    expect((err as Error).message).toMatch(/^scgi: /);
  });

  it.each(MALFORMED)('rejects %s with the same error at every split offset', (_name, bytes, _cls, code) => {
    for (let i = 0; i <= bytes.length; i++) {
      expect(() => parseSplit(bytes, [i]), `cut at ${i}`).toThrow(expect.objectContaining({ code }));
    }
  });

  it('refuses an oversize header as soon as its length is read, before any content arrives', () => {
    const parser = new SCGIHeaderParser({ maxHeaderBytes: 100 });
    expect(() => parser.push(Buffer.from('101:'))).toThrow(expect.objectContaining({ code: 'NSGI_ERR_SCGI_HEADER_TOO_LARGE', limit: 100 }));
  });

  it('waits (returns undefined) on a valid prefix', () => {
    const parser = new SCGIHeaderParser();
    expect(parser.push(Buffer.from('24'))).toBeUndefined();
    expect(parser.started).toBe(true);
    expect(parser.push(Buffer.from(':CONTENT_LENGTH\x00'))).toBeUndefined();
  });
});
