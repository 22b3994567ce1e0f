// The conformance cases: data apart from the runner. Each is a request and what any transport must
// make of it; conformance.test.ts runs every case against every adapter in adapters/index.ts.
import { createHash, randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { streamSha256, type Echo } from './app.js';
import { header, type Running, type SuiteRequest, type SuiteResponse } from './adapters/types.js';

export interface Case {
  name: string;
  request: SuiteRequest;
  check(res: SuiteResponse, server: Running): void;
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const EMPTY_SHA = sha256(Buffer.alloc(0));
const echoOf = (res: SuiteResponse): Echo => JSON.parse(res.body.toString()) as Echo;

// 20 MiB of random bytes, made once: uploads compare its checksum on the far side.
const BIG = randomBytes(20 * 1024 * 1024);
const SMALL = Buffer.from('{"snow":"☃"}');

function method(m: string): Case {
  return {
    name: `${m} reaches the app as REQUEST_METHOD`,
    request: { method: m, path: '/echo/m' },
    check(res) {
      expect(res.status).toBe(200);
      expect(echoOf(res)).toMatchObject({ method: m, pathInfo: '/echo/m', length: 0 });
    },
  };
}

function status(code: number): Case {
  return {
    name: `status ${code} and its reason phrase come through`,
    request: { method: 'GET', path: `/status/${code}` },
    check(res) {
      expect([res.status, res.statusText]).toEqual([code, `Reason ${code}`]);
      if (code >= 300 && code < 400) expect(header(res, 'location')).toBe('/elsewhere');
      expect(res.body.toString()).toBe(code === 204 || code === 304 ? '' : `status ${code}\n`);
    },
  };
}

export const cases: Case[] = [
  {
    name: 'GET with a UTF-8 path and query: PATH_INFO decoded, QUERY_STRING raw',
    request: { method: 'GET', path: '/echo/snow%20%E2%98%83/caf%C3%A9?q=%E2%98%83&name=Ad%C3%A5&empty=&flag' },
    check(res) {
      expect(res.status).toBe(200);
      expect(header(res, 'content-type')).toBe('application/json');
      const e = echoOf(res);
      expect(e).toMatchObject({ method: 'GET', scriptName: '', pathInfo: '/echo/snow ☃/café', query: 'q=%E2%98%83&name=Ad%C3%A5&empty=&flag', length: 0, sha256: EMPTY_SHA, signal: true, urlScheme: 'http' });
      expect(new URLSearchParams(e.query).get('q')).toBe('☃');
    },
  },
  {
    name: 'request headers become HTTP_* variables',
    request: { method: 'GET', path: '/echo/h', headers: [['X-Custom', 'one two'], ['X-Utf', 'plain']] },
    check(res) {
      expect(echoOf(res).headers).toMatchObject({ HTTP_X_CUSTOM: 'one two', HTTP_X_UTF: 'plain' });
    },
  },
  method('DELETE'),
  method('OPTIONS'),
  {
    name: 'HEAD: same status and headers as GET, no body',
    request: { method: 'HEAD', path: '/echo/head' },
    check(res) {
      expect(res.status).toBe(200);
      expect(header(res, 'x-method')).toBe('HEAD');
      expect(res.body.length).toBe(0);
    },
  },
  {
    name: 'POST with a small body: CONTENT_TYPE, CONTENT_LENGTH and the bytes arrive',
    request: { method: 'POST', path: '/echo/post', headers: [['Content-Type', 'application/json']], body: SMALL },
    check(res) {
      expect(echoOf(res)).toMatchObject({ method: 'POST', contentType: 'application/json', contentLength: String(SMALL.length), length: SMALL.length, sha256: sha256(SMALL) });
    },
  },
  {
    name: 'PUT with an empty body: wsgi.input is empty',
    request: { method: 'PUT', path: '/echo/empty', body: Buffer.alloc(0) },
    check(res) {
      const e = echoOf(res);
      expect([e.method, e.length, e.sha256]).toEqual(['PUT', 0, EMPTY_SHA]);
      expect(['0', null]).toContain(e.contentLength);
    },
  },
  {
    name: 'PATCH with a 20 MiB body arrives byte for byte (sha256)',
    request: { method: 'PATCH', path: '/echo/big', headers: [['Content-Type', 'application/octet-stream']], body: BIG },
    check(res) {
      expect(echoOf(res)).toMatchObject({ method: 'PATCH', contentLength: String(BIG.length), length: BIG.length, sha256: sha256(BIG) });
    },
  },
  {
    name: 'a streamed 8 MiB response arrives byte for byte (sha256)',
    request: { method: 'GET', path: '/stream?mib=8' },
    check(res) {
      expect(res.status).toBe(200);
      expect(res.body.length).toBe(8 * 1024 * 1024);
      expect(sha256(res.body)).toBe(streamSha256(8));
    },
  },
  {
    name: 'repeated headers: two Set-Cookie, in order',
    request: { method: 'GET', path: '/cookies' },
    check(res) {
      expect(res.headers.filter(([k]) => k.toLowerCase() === 'set-cookie').map(([, v]) => v)).toEqual(['a=1; Path=/', 'b=2; HttpOnly']);
      expect(res.body.toString()).toBe('two cookies\n');
    },
  },
  {
    name: 'a UTF-8 body is sent as UTF-8',
    request: { method: 'GET', path: '/utf8' },
    check(res) {
      expect(res.body.toString('utf8')).toBe('snow ☃, crème brûlée, 日本語\n');
    },
  },
  status(201),
  status(204),
  status(302),
  status(404),
  status(503),
  {
    name: 'an app that throws gets a 500 and its error on wsgi.errors',
    request: { method: 'GET', path: '/throw' },
    check(res, server) {
      expect(res.status).toBe(500);
      expect(res.body.toString()).toBe('Internal Server Error\n');
      expect(server.errors()).toContain('the app failed on purpose');
    },
  },
  {
    name: 'an unknown path gets the app 404',
    request: { method: 'GET', path: '/nowhere' },
    check(res) {
      expect([res.status, res.body.toString()]).toEqual([404, 'not found\n']);
    },
  },
];
