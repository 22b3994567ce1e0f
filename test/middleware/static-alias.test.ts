// StaticAlias: lighttpd's alias.url served with `send`. Committed hostile fixtures live in
// test/fixtures/static (do..ts.txt, "snow ☃/", .hidden, 100%.txt); symlinks, a large file and
// names that git cannot hold are made at test time in a temp dir.
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compose } from '../../src/compose.js';
import { ConfigError } from '../../src/errors.js';
import { StaticAlias, type StaticAliasOptions } from '../../src/middleware/static-alias.js';
import { validate } from '../../src/middleware/validate.js';
import { runApp, type ResponseSink } from '../../src/response.js';
import { createEnviron, type EnvironOptions } from '../../src/testing/environ.js';
import { TestClient } from '../../src/testing/client.js';
import { echo } from './helpers.js';

const FIXTURES = resolve('test/fixtures/static');
const client = (aliases: Record<string, string>, options?: StaticAliasOptions) =>
  new TestClient(compose(validate(), StaticAlias(aliases, options), validate())(echo));
const fixtures = (options?: StaticAliasOptions) => client({ '/static': FIXTURES }, options);

let tmp: string;
let root: string;
const BIG = 4 * 1024 * 1024;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'nsgi-static-'));
  root = join(tmp, 'root');
  mkdirSync(root);
  writeFileSync(join(tmp, 'outside.txt'), 'outside the root\n');
  writeFileSync(join(root, 'inside.txt'), 'inside\n');
  writeFileSync(join(root, 'back\\slash.txt'), 'a backslash in a name\n');
  const big = Buffer.alloc(BIG);
  for (let i = 0; i < BIG; i++) big[i] = i % 251;
  writeFileSync(join(root, 'big.bin'), big);
  symlinkSync(join(tmp, 'outside.txt'), join(root, 'escape.txt'));
  symlinkSync('../', join(root, 'up'));
  symlinkSync('inside.txt', join(root, 'alias-inside.txt'));
  mkdirSync(join(root, 'linkdir'));
  symlinkSync(join(tmp, 'outside.txt'), join(root, 'linkdir', 'index.html'));
});

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('StaticAlias: serving with send', () => {
  it('serves a file with type, length, validators and cache headers', async () => {
    const res = await fixtures().get('/static/hello.txt');
    expect(res.status).toBe(200);
    expect(res.text).toBe('hello\n');
    expect(res.header('content-type')).toBe('text/plain; charset=utf-8');
    expect(res.header('content-length')).toBe('6');
    expect(res.header('accept-ranges')).toBe('bytes');
    expect(res.header('cache-control')).toBe('public, max-age=0');
    expect(res.header('etag')).toMatch(/^W\/"/);
    expect(res.header('last-modified')).toBe(statSync(join(FIXTURES, 'hello.txt')).mtime.toUTCString());
  });

  it.each([
    ['/static/style.css', 'text/css; charset=utf-8'],
    ['/static/favicon.ico', 'image/vnd.microsoft.icon'],
    ['/static/data.unknownext', 'application/octet-stream'],
    ['/static/sub/page.html', 'text/html; charset=utf-8'],
  ])('takes the Content-Type of %s from mime-types', async (path, type) => {
    const res = await fixtures().get(path);
    expect([res.status, res.header('content-type')]).toEqual([200, type]);
  });

  it('answers HEAD with the headers and no body', async () => {
    const res = await fixtures().head('/static/hello.txt');
    expect([res.status, res.header('content-length'), res.body.length]).toEqual([200, '6', 0]);
  });

  it('answers 304 to a matching If-None-Match', async () => {
    const etag = (await fixtures().get('/static/hello.txt')).header('etag')!;
    const res = await fixtures().get('/static/hello.txt', { headers: { 'If-None-Match': etag } });
    expect([res.status, res.body.length, res.header('content-type')]).toEqual([304, 0, undefined]);
  });

  it('answers 304 to a current If-Modified-Since', async () => {
    const res = await fixtures().get('/static/hello.txt', { headers: { 'If-Modified-Since': new Date(Date.now() + 60_000).toUTCString() } });
    expect(res.status).toBe(304);
  });

  it('answers 412 to a failing If-Match', async () => {
    const res = await fixtures().get('/static/hello.txt', { headers: { 'If-Match': '"nope"' } });
    expect(res.status).toBe(412);
  });

  it.each([
    ['bytes=0-4', 'abcde', 'bytes 0-4/26'],
    ['bytes=-3', 'xyz', 'bytes 23-25/26'],
    ['bytes=20-', 'uvwxyz', 'bytes 20-25/26'],
  ])('answers Range %s with 206', async (range, body, contentRange) => {
    const res = await fixtures().get('/static/alphabet.txt', { headers: { Range: range } });
    expect([res.status, res.text, res.header('content-range'), res.header('content-length')]).toEqual([206, body, contentRange, String(body.length)]);
  });

  it('answers an unsatisfiable Range with 416 and Content-Range */size', async () => {
    const res = await fixtures().get('/static/alphabet.txt', { headers: { Range: 'bytes=100-200' } });
    expect([res.status, res.header('content-range')]).toEqual([416, 'bytes */26']);
  });

  it('ignores Range when If-Range names another version', async () => {
    const res = await fixtures().get('/static/alphabet.txt', { headers: { Range: 'bytes=0-4', 'If-Range': '"old-etag"' } });
    expect([res.status, res.text]).toEqual([200, 'abcdefghijklmnopqrstuvwxyz']);
  });

  it('sets Cache-Control from maxAge (seconds) and immutable', async () => {
    const res = await fixtures({ maxAge: 3600, immutable: true }).get('/static/hello.txt');
    expect(res.header('cache-control')).toBe('public, max-age=3600, immutable');
  });

  it('leaves out ETag and Last-Modified when turned off', async () => {
    const res = await fixtures({ etag: false, lastModified: false }).get('/static/hello.txt');
    expect([res.header('etag'), res.header('last-modified')]).toEqual([undefined, undefined]);
  });

  it.each([
    ['/static/do..ts.txt', 'dots are not traversal\n'],
    ['/static/100%25.txt', 'percent\n'],
    ['/static/snow%20%E2%98%83/', '<p>snow</p>\n'],
  ])('serves the hostile-but-legal name %s', async (path, body) => {
    const res = await fixtures().get(path);
    expect([res.status, res.text]).toEqual([200, body]);
  });
});

describe('StaticAlias: routing', () => {
  it('passes requests outside the aliases to the app untouched', async () => {
    const res = await fixtures().get('/app/page?x=1');
    expect(res.json()).toEqual({ SCRIPT_NAME: '', PATH_INFO: '/app/page', QUERY_STRING: 'x=1', SERVER_NAME: 'localhost', SERVER_PORT: '80', REMOTE_ADDR: '127.0.0.1', 'wsgi.url_scheme': 'http', forwarded: [] });
  });

  it('matches at a segment boundary: /static does not take /staticfiles', async () => {
    const res = await fixtures().get('/staticfiles/hello.txt');
    expect(res.json()).toMatchObject({ PATH_INFO: '/staticfiles/hello.txt' });
  });

  it('tries the longest alias first', async () => {
    const res = await client({ '/s': FIXTURES, '/s/sub': join(FIXTURES, 'noindex') }).get('/s/sub/file.txt');
    expect([res.status, res.text]).toEqual([200, 'no index here\n']);
  });

  it('serves an alias that maps to a single file, and nothing below it', async () => {
    const c = client({ '/favicon.ico': join(FIXTURES, 'favicon.ico') });
    expect((await c.get('/favicon.ico')).status).toBe(200);
    expect((await c.get('/favicon.ico/x')).status).toBe(404);
  });

  it('answers a miss under an alias with 404, as lighttpd', async () => {
    const res = await fixtures().get('/static/missing.txt');
    expect([res.status, res.header('content-type')]).toEqual([404, 'text/plain; charset=utf-8']);
  });

  it('hands a miss to the app with fallthrough', async () => {
    const res = await fixtures({ fallthrough: true }).get('/static/missing.txt');
    expect([res.status, res.json<{ PATH_INFO: string }>().PATH_INFO]).toEqual([200, '/static/missing.txt']);
  });

  it('answers 405 with Allow to other methods, or falls through', async () => {
    const res = await fixtures().post('/static/hello.txt', 'x');
    expect([res.status, res.header('allow')]).toEqual([405, 'GET, HEAD']);
    expect((await fixtures({ fallthrough: true }).post('/static/hello.txt', 'x')).status).toBe(200);
  });

  it('redirects a directory without its slash under SCRIPT_NAME, keeping the query', async () => {
    const res = await fixtures().get('/static/sub?v=1', { scriptName: '/site' });
    expect([res.status, res.header('location')]).toEqual([301, '/site/static/sub/?v=1']);
  });

  it('percent-encodes the redirect Location', async () => {
    const res = await fixtures().get('/static/snow%20%E2%98%83');
    expect(res.header('location')).toBe('/static/snow%20%E2%98%83/');
  });

  it('redirects the alias root itself to its slash form', async () => {
    const res = await fixtures().get('/static');
    expect([res.status, res.header('location')]).toEqual([301, '/static/']);
  });

  it('never redirects to a protocol-relative //host URL', async () => {
    const res = await client({ '/': FIXTURES }).get('//sub');
    expect(res.header('location')).toBe('/sub/');
  });

  it('answers 404 for a directory without its slash when redirect is off', async () => {
    expect((await fixtures({ redirect: false }).get('/static/sub')).status).toBe(404);
  });

  it.each<[StaticAliasOptions, string, number, string?]>([
    [{}, '/static/sub/', 200, '<p>sub index</p>\n'],
    [{ index: 'page.html' }, '/static/sub/', 200, '<p>page</p>\n'],
    [{ index: false }, '/static/sub/', 404],
    [{}, '/static/noindex/', 404],
    [{}, '/static/hello.txt/', 404],
  ])('index %j: %s is %i', async (options, path, status, body) => {
    const res = await fixtures(options).get(path);
    expect(res.status).toBe(status);
    if (body !== undefined) expect(res.text).toBe(body);
  });
});

describe('StaticAlias: hostile paths', () => {
  // PATH_INFO is decoded, so %2e%2e and %2f arrive as "..", "/" and are refused like the raw forms.
  it.each([
    ['..', '/static/../package.json', 403],
    ['%2e%2e', '/static/%2e%2e/package.json', 403],
    ['%2f hiding ..', '/static/..%2f..%2fpackage.json', 403],
    ['a single dot segment', '/static/./hello.txt', 403],
    ['NUL', '/static/hello.txt%00.png', 403],
    ['backslash', '/static/..%5c..%5cpackage.json', 403],
    ['a dotfile', '/static/.hidden', 404],
    ['a file in a dot folder', '/static/.private/secret.txt', 404],
  ])('refuses %s (%s) with %i', async (_what, path, status) => {
    const res = await fixtures().get(path);
    expect(res.status).toBe(status);
    expect(res.text).not.toContain('secret');
    expect(res.text).not.toContain('"name"');
  });

  it('does not let a refusal fall through to the app', async () => {
    expect((await fixtures({ fallthrough: true }).get('/static/../x')).status).toBe(403);
  });

  it.each<[StaticAliasOptions['dotfiles'], number]>([
    ['deny', 403],
    ['ignore', 404],
    ['allow', 200],
  ])('dotfiles %s gives %i', async (dotfiles, status) => {
    expect((await fixtures({ dotfiles }).get('/static/.hidden')).status).toBe(status);
  });

  it('refuses a name with a backslash even when it exists', async () => {
    expect((await client({ '/r': root }).get('/r/back%5Cslash.txt')).status).toBe(403);
  });

  it.each([
    ['a symlink to a file outside the root', '/r/escape.txt'],
    ['a symlinked folder leading out', '/r/up/outside.txt'],
    ['an index file that links outside', '/r/linkdir/'],
  ])('refuses %s with 403', async (_what, path) => {
    const res = await client({ '/r': root }).get(path);
    expect(res.status).toBe(403);
    expect(res.text).not.toContain('outside the root');
  });

  it('follows a symlink that stays inside the root', async () => {
    const res = await client({ '/r': root }).get('/r/alias-inside.txt');
    expect([res.status, res.text]).toEqual([200, 'inside\n']);
  });

  it('follows symlinks out of the root with followSymlinks', async () => {
    const res = await client({ '/r': root }, { followSymlinks: true }).get('/r/escape.txt');
    expect([res.status, res.text]).toEqual([200, 'outside the root\n']);
  });

  it('serves a root that is itself reached through a symlink', async () => {
    const linked = join(tmp, 'linked-root');
    symlinkSync(root, linked);
    const res = await client({ '/r': linked }).get('/r/inside.txt');
    expect(res.status).toBe(200);
  });
});

describe('StaticAlias: streaming', () => {
  // The fds this process holds open on `file` (Linux /proc).
  function openFds(file: string): string[] {
    return readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`) === file;
      } catch {
        return false;
      }
    });
  }

  // Bytes this process has read through read(2)/pread(2) so far (file reads included).
  const bytesRead = (): number => Number(/rchar:\s*(\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))![1]);

  // The file is closed asynchronously after the response ends: poll briefly.
  async function closed(file: string): Promise<string[]> {
    for (let i = 0; i < 40 && openFds(file).length > 0; i++) await new Promise((r) => setTimeout(r, 25));
    return openFds(file);
  }

  function run(request: EnvironOptions, sink: Partial<ResponseSink>, signal?: AbortSignal) {
    const app = StaticAlias({ '/r': root })(echo);
    const environ = createEnviron({ ...request, ...(signal ? { signal } : {}) });
    return runApp(app, environ, { head() {}, body() {}, end() {}, fail() {}, ...sink });
  }

  it('streams the whole file in chunks, byte for byte, and closes it', async () => {
    const chunks: Buffer[] = [];
    const outcome = await run({ path: '/r/big.bin' }, { body: (c) => void chunks.push(Buffer.from(c)) });
    expect(outcome).toBe('complete');
    expect(chunks.length).toBeGreaterThan(1);
    expect(Buffer.concat(chunks).equals(readFileSync(join(root, 'big.bin')))).toBe(true);
    expect(await closed(join(root, 'big.bin'))).toEqual([]);
  });

  it('reads from disk only as fast as the transport takes the bytes (backpressure)', async () => {
    let release!: () => void;
    let firstChunk!: () => void;
    const gotFirst = new Promise<void>((r) => (firstChunk = r));
    let chunks = 0;
    const before = bytesRead();
    const received: Buffer[] = [];
    const done = run(
      { path: '/r/big.bin' },
      {
        body(chunk) {
          chunks++;
          received.push(Buffer.from(chunk));
          if (chunks === 1) {
            firstChunk();
            return new Promise<void>((r) => (release = r));
          }
          return undefined;
        },
      },
    );
    await gotFirst;
    await new Promise((r) => setTimeout(r, 150));
    // Stalled on the first chunk: the file is open, and only a few 64 KiB reads were made, not 4 MiB.
    expect(openFds(join(root, 'big.bin')).length).toBe(1);
    expect(bytesRead() - before).toBeLessThan(1024 * 1024);
    expect(chunks).toBe(1);
    release();
    expect(await done).toBe('complete');
    expect(Buffer.concat(received).length).toBe(BIG);
    expect(await closed(join(root, 'big.bin'))).toEqual([]);
  });

  it('stops reading and closes the file when nsgi.signal fires', async () => {
    const controller = new AbortController();
    let chunks = 0;
    const before = bytesRead();
    const outcome = await run(
      { path: '/r/big.bin' },
      {
        body() {
          chunks++;
          if (chunks === 2) controller.abort();
          return new Promise<void>((r) => setImmediate(r));
        },
      },
      controller.signal,
    );
    expect(outcome).toBe('aborted');
    expect(chunks).toBe(2);
    expect(await closed(join(root, 'big.bin'))).toEqual([]);
    expect(bytesRead() - before).toBeLessThan(1024 * 1024);
  });
});

describe('StaticAlias: options', () => {
  it.each<[string, unknown, StaticAliasOptions]>([
    ['a non-string target', { '/a': 5 }, {}],
    ['a bad dotfiles policy', { '/a': '.' }, { dotfiles: 'hide' as 'deny' }],
    ['a negative maxAge', { '/a': '.' }, { maxAge: -1 }],
  ])('refuses %s', (_what, aliases, options) => {
    expect(() => StaticAlias(aliases as Record<string, string>, options)).toThrow(ConfigError);
  });
});
