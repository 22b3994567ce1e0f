// Property-based tests of environ building: decodePath (PATH_INFO's percent-decoding), cgiHeaderName,
// buildEnviron/schemeOf, the test helper createEnviron, and the HTTP adapter's httpRequestVars over
// random request targets and header lists (on a stand-in request, and through a real createHTTPServer).
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { Readable, Writable } from 'node:stream';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildEnviron, cgiHeaderName, decodePath, schemeOf } from '../../src/environ.js';
import { httpRequestVars } from '../../src/http/environ.js';
import { createHTTPServer } from '../../src/http/server.js';
import type { NsgiServer } from '../../src/server.js';
import { createEnviron } from '../../src/testing/environ.js';
import { fuzzTimeout, params } from '../helpers/fuzz.js';

const HEX = '0123456789abcdefABCDEF';

// Strings rich in percent signs: valid escapes of UTF-8 (from encodeURIComponent), raw hex escapes of any
// byte (possibly invalid UTF-8), truncated escapes, stray '%', and plain characters.
const escapeArb = fc.oneof(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 3 }).map((s) => encodeURIComponent(s)),
  fc.integer({ min: 0, max: 255 }).map((b) => `%${b.toString(16).padStart(2, '0')}`),
  fc.constantFrom('%', '%%', '%2', '%G0', '%0g', '%ZZ', '%%41', '%2F', '%2f', '%00', '%25'),
  fc.constantFrom(...HEX),
);
const pathPieceArb = fc.oneof({ weight: 3, arbitrary: escapeArb }, { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 4 }) }, { weight: 1, arbitrary: fc.constantFrom('/', '?', '#', ';', '+', ' ') });
const wellFormedArb = fc.array(pathPieceArb, { maxLength: 16 }).map((parts) => parts.join(''));
// Any UTF-16, lone surrogates included (what a JS caller could pass).
const anyStringArb = fc.array(fc.oneof(pathPieceArb, fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c))), { maxLength: 16 }).map((p) => p.join(''));

function decodeOrUndefined(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

describe('decodePath (property-based)', () => {
  it('never throws, whatever the string (malformed escapes, invalid UTF-8, lone surrogates)', () => {
    fc.assert(
      fc.property(anyStringArb, (s) => {
        expect(typeof decodePath(s)).toBe('string');
      }),
      params(),
    );
  });

  it('equals decodeURIComponent for well-formed input wherever decodeURIComponent does not throw', () => {
    fc.assert(
      fc.property(wellFormedArb, (s) => {
        const reference = decodeOrUndefined(s);
        if (reference !== undefined) expect(decodePath(s)).toBe(reference);
      }),
      params(),
    );
  });

  it('inverts encodeURIComponent and encodeURI for any well-formed string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (s) => {
        expect(decodePath(encodeURIComponent(s))).toBe(s);
        // encodeURI keeps reserved characters (/?#;...) as they are, and decodePath leaves them so.
        expect(decodePath(encodeURI(s))).toBe(s);
      }),
      params(),
    );
  });

  it('keeps a malformed escape as it is and decodes the valid ones around it', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary-ascii', maxLength: 8 }).map(encodeURIComponent), fc.constantFrom('%', '%2', '%G1', '%z9'), (valid, bad) => {
        // The bad escape goes last, so that no valid escape can complete it.
        expect(decodePath(valid + bad)).toBe(decodeURIComponent(valid) + bad);
      }),
      params(0.3),
    );
  });

  it('turns invalid UTF-8 into U+FFFD, never into bytes of another character', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 12 }), (bytes) => {
        const s = [...bytes].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
        expect(decodePath(s)).toBe(Buffer.from(bytes).toString('utf8'));
      }),
      params(),
    );
  });
});

describe('cgiHeaderName and buildEnviron (property-based)', () => {
  const TOKEN = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  const tokenArb = fc.string({ unit: fc.constantFrom(...TOKEN), minLength: 1, maxLength: 24 });

  it('names every header HTTP_* in upper case with - as _, except Content-Type and Content-Length', () => {
    fc.assert(
      fc.property(tokenArb, (name) => {
        const cgi = cgiHeaderName(name);
        const upper = name.toUpperCase().replaceAll('-', '_');
        if (upper === 'CONTENT_TYPE' || upper === 'CONTENT_LENGTH') expect(cgi).toBe(upper);
        else expect(cgi).toBe(`HTTP_${upper}`);
        expect(cgi).not.toMatch(/[a-z-]/);
      }),
      params(),
    );
  });

  it('fills every key PEP 3333 requires, keeps the variables given, and derives the scheme only from HTTPS/REQUEST_SCHEME', () => {
    const varsArb = fc.dictionary(
      fc.oneof(fc.constantFrom('REQUEST_METHOD', 'SCRIPT_NAME', 'PATH_INFO', 'QUERY_STRING', 'SERVER_NAME', 'SERVER_PORT', 'SERVER_PROTOCOL', 'HTTPS', 'REQUEST_SCHEME', 'HTTP_X_FORWARDED_PROTO'), fc.string({ maxLength: 12 })),
      fc.oneof(fc.constantFrom('on', 'ON', '1', 'yes', 'off', 'https', 'HTTPS', 'http', ''), fc.string({ maxLength: 12 })),
      { maxKeys: 8 },
    );
    fc.assert(
      fc.property(varsArb, (vars) => {
        const given = { ...vars };
        const environ = buildEnviron(vars, { input: Readable.from([]), errors: new Writable({ write: (_c, _e, cb) => cb() }), signal: new AbortController().signal });
        for (const key of ['REQUEST_METHOD', 'SCRIPT_NAME', 'PATH_INFO', 'QUERY_STRING', 'SERVER_NAME', 'SERVER_PORT', 'SERVER_PROTOCOL']) {
          expect(typeof environ[key]).toBe('string');
          if (given[key] !== undefined) expect(environ[key]).toBe(given[key]);
        }
        const https = ['on', '1', 'yes'].includes((given.HTTPS ?? '').toLowerCase()) || (given.REQUEST_SCHEME ?? '').toLowerCase() === 'https';
        expect(environ['wsgi.url_scheme']).toBe(https ? 'https' : 'http');
        expect(schemeOf(given)).toBe(environ['wsgi.url_scheme']);
      }),
      params(),
    );
  });
});

describe('createEnviron (property-based)', () => {
  it('never throws, and PATH_INFO, QUERY_STRING and REQUEST_URI agree with the path given', () => {
    const headerArb = fc.tuple(fc.string({ unit: fc.constantFrom(...'abcXYZ-_0'), minLength: 1, maxLength: 10 }), fc.string({ unit: 'binary-ascii', maxLength: 20 }));
    fc.assert(
      fc.property(wellFormedArb, fc.constantFrom('GET', 'post', 'HEAD', 'PUT'), fc.array(headerArb, { maxLength: 6 }), fc.constantFrom('', '/app', '/a b'), (path, method, headers, scriptName) => {
        const environ = createEnviron({ path, method, headers, scriptName });
        const q = path.indexOf('?');
        const rawPath = q === -1 ? path : path.slice(0, q);
        const query = q === -1 ? '' : path.slice(q + 1);
        expect(environ.PATH_INFO).toBe(decodePath(rawPath));
        expect(environ.QUERY_STRING).toBe(query);
        expect(environ.REQUEST_URI).toBe(scriptName + rawPath + (query ? `?${query}` : ''));
        expect(environ.REQUEST_METHOD).toBe(method.toUpperCase());
        expect(environ.SCRIPT_NAME).toBe(scriptName);
      }),
      params(),
    );
  });
});

// A stand-in for IncomingMessage: what httpRequestVars reads, nothing else.
function fakeRequest(url: string | undefined, rawHeaders: string[], method = 'GET', encrypted = false): IncomingMessage {
  return {
    url,
    method,
    httpVersion: '1.1',
    rawHeaders,
    socket: { localPort: 8080, remoteAddress: '192.0.2.1', remotePort: 50000, localAddress: '127.0.0.1', encrypted },
  } as unknown as IncomingMessage;
}

// The core variables, which come from the request line and the socket and must not depend on any header.
const CORE = ['REQUEST_METHOD', 'SCRIPT_NAME', 'PATH_INFO', 'QUERY_STRING', 'REQUEST_URI', 'SERVER_PROTOCOL', 'GATEWAY_INTERFACE', 'SERVER_SOFTWARE', 'SERVER_PORT', 'REMOTE_ADDR', 'REMOTE_PORT', 'HTTPS'];

const headerNameArb = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCXYZ-_0123456789'), minLength: 1, maxLength: 16 }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom('Host', 'Cookie', 'cookie', 'Content-Type', 'Content-Length', 'X-Forwarded-For', 'X_Forwarded_For', 'Request-Method', 'Path-Info', 'Https', 'Proxy', '__proto__', 'constructor'),
  },
);
const rawHeadersArb = fc.array(fc.tuple(headerNameArb, fc.string({ unit: 'binary-ascii', maxLength: 24 })), { maxLength: 10 }).map((pairs) => pairs.flat());
const originFormArb = fc.tuple(wellFormedArb, fc.option(wellFormedArb, { nil: undefined })).map(([p, q]) => `/${p.replaceAll('?', '')}${q === undefined ? '' : `?${q}`}`);
const absoluteFormArb = fc.tuple(fc.constantFrom('http', 'https', 'HTTP'), fc.constantFrom('example.com', 'example.com:8080', '[::1]:80', 'user@host'), originFormArb).map(([s, a, p]) => `${s}://${a}${p}`);
const targetArb = fc.oneof({ weight: 4, arbitrary: originFormArb }, { weight: 2, arbitrary: absoluteFormArb }, { weight: 1, arbitrary: anyStringArb }, { weight: 1, arbitrary: fc.constantFrom('*', '', '?', '??', '/?', 'http://', 'http://h?x=1') });

describe('httpRequestVars (property-based)', () => {
  it('never throws, whatever the request target and header list', () => {
    fc.assert(
      fc.property(fc.option(targetArb, { nil: undefined }), rawHeadersArb, fc.boolean(), (url, rawHeaders, encrypted) => {
        const vars = httpRequestVars(fakeRequest(url, rawHeaders, 'GET', encrypted));
        for (const value of Object.values(vars)) expect(typeof value).toBe('string');
        expect(vars.REQUEST_URI).toBe(url ?? '/');
      }),
      params(),
    );
  });

  it('derives PATH_INFO and QUERY_STRING from the raw target: the query raw after the first "?", the path percent-decoded', () => {
    fc.assert(
      fc.property(fc.oneof(originFormArb, absoluteFormArb), (url) => {
        const vars = httpRequestVars(fakeRequest(url, []));
        // The path starts after the authority of an absolute-form target (RFC 9112 §3.2.2).
        const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*/.exec(url);
        const target = m ? url.slice(m[0].length) : url;
        const q = target.indexOf('?');
        expect(vars.QUERY_STRING).toBe(q === -1 ? '' : target.slice(q + 1));
        expect(vars.PATH_INFO).toBe(decodePath(q === -1 ? target : target.slice(0, q)));
        expect(vars.PATH_INFO.startsWith('/')).toBe(true);
      }),
      params(),
    );
  });

  it('lets no header change the variables of the request line and socket, and drops header names with "_"', () => {
    fc.assert(
      fc.property(originFormArb, rawHeadersArb, fc.constantFrom('GET', 'POST', 'OPTIONS'), (url, rawHeaders, method) => {
        const bare = httpRequestVars(fakeRequest(url, [], method));
        const vars = httpRequestVars(fakeRequest(url, rawHeaders, method));
        for (const key of CORE) expect(vars[key]).toBe(bare[key]);
        for (const key of Object.keys(vars)) {
          if (key in bare) continue;
          // Every added variable is a header's: HTTP_*, or CONTENT_TYPE / CONTENT_LENGTH.
          expect(key.startsWith('HTTP_') || key === 'CONTENT_TYPE' || key === 'CONTENT_LENGTH').toBe(true);
        }
        expect(Object.getPrototypeOf(vars)).toBe(Object.prototype);
        // What each name maps to: repeats joined with ", " (Cookie with "; "); names with "_" dropped.
        const model = new Map<string, string>();
        for (let i = 0; i < rawHeaders.length; i += 2) {
          if (rawHeaders[i]!.includes('_')) continue;
          const key = cgiHeaderName(rawHeaders[i]!);
          const prev = model.get(key);
          model.set(key, prev === undefined ? rawHeaders[i + 1]! : prev + (key === 'HTTP_COOKIE' ? '; ' : ', ') + rawHeaders[i + 1]!);
        }
        for (const [key, value] of model) expect(vars[key]).toBe(value);
      }),
      params(),
    );
  });
});

// The same through a real server: request targets as bytes on a socket, the environ the app saw.
describe('HTTP adapter environ over a real socket (property-based)', () => {
  let server: NsgiServer;
  let port = 0;
  beforeAll(async () => {
    server = createHTTPServer((environ, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'application/json']]);
      return [JSON.stringify({ PATH_INFO: environ.PATH_INFO, QUERY_STRING: environ.QUERY_STRING, REQUEST_URI: environ.REQUEST_URI })];
    });
    port = Number((await server.listen('127.0.0.1:0')).split(':').pop());
  });
  afterAll(() => server.close(1000));

  // Targets Node's parser accepts: RFC 3986 pchar and query characters, escapes of any byte.
  const PCHAR = "abcXYZ019-._~!$&'()*+,;=:@";
  const segmentArb = fc.array(fc.oneof(fc.constantFrom(...PCHAR), fc.integer({ min: 0, max: 255 }).map((b) => `%${b.toString(16).padStart(2, '0').toUpperCase()}`)), { maxLength: 8 }).map((p) => p.join(''));
  const wireTargetArb = fc
    .tuple(fc.array(segmentArb, { minLength: 1, maxLength: 4 }), fc.option(fc.array(fc.oneof(segmentArb, fc.constantFrom('/', '?')), { maxLength: 4 }), { nil: undefined }))
    .map(([segs, q]) => `/${segs.join('/')}${q === undefined ? '' : `?${q.join('')}`}`);

  it('gives the app PATH_INFO = decodePath(path) and QUERY_STRING = the raw query for any target sent', async () => {
    await fc.assert(
      fc.asyncProperty(wireTargetArb, async (target) => {
        const socket = connect({ port, host: '127.0.0.1' });
        await once(socket, 'connect');
        socket.end(`GET ${target} HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n`);
        const chunks: Buffer[] = [];
        socket.on('data', (c: Buffer) => chunks.push(c));
        await once(socket, 'close');
        const text = Buffer.concat(chunks).toString('utf8');
        expect(text.startsWith('HTTP/1.1 200 ')).toBe(true);
        const seen = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as Record<string, string>;
        const q = target.indexOf('?');
        expect(seen).toEqual({ PATH_INFO: decodePath(q === -1 ? target : target.slice(0, q)), QUERY_STRING: q === -1 ? '' : target.slice(q + 1), REQUEST_URI: target });
      }),
      params(0.2),
    );
  }, fuzzTimeout(50));
});
