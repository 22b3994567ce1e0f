// The CGI runner (RFC 3875): environ from the environment, body from stdin limited to
// CONTENT_LENGTH, response to stdout; in-process with streams, and through the CLI.
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { PassThrough, Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CGIResponseParser } from '../../src/cgi-response.js';
import { runCGI } from '../../src/cgi/run.js';
import type { App } from '../../src/types.js';
import { nsgiArgv, ROOT } from '../helpers/cli.js';

function collect(): { stream: Writable; bytes(): Buffer } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  return { stream, bytes: () => Buffer.concat(chunks) };
}

async function run(app: App, env: Record<string, string>, stdin: Buffer | Readable = Buffer.alloc(0)) {
  const out = collect();
  const err = collect();
  const input = Buffer.isBuffer(stdin) ? Readable.from([stdin]) : stdin;
  const code = await runCGI(app, { env, stdin: input, stdout: out.stream, stderr: err.stream });
  const head = new CGIResponseParser().push(out.bytes());
  return { code, head: head!, raw: out.bytes(), stderr: err.bytes().toString() };
}

const CGI_ENV = { GATEWAY_INTERFACE: 'CGI/1.1', REQUEST_METHOD: 'GET', SCRIPT_NAME: '/dispatch.cgi', PATH_INFO: '/x', QUERY_STRING: 'a=1', SERVER_NAME: 'h', SERVER_PORT: '80', SERVER_PROTOCOL: 'HTTP/1.1' };

const echo: App = async (environ, startResponse) => {
  const hash = createHash('sha256');
  let n = 0;
  for await (const c of environ['wsgi.input']) {
    hash.update(c as Buffer);
    n += (c as Buffer).length;
  }
  startResponse('200 OK', [['Content-Type', 'application/json']]);
  return [
    JSON.stringify({
      method: environ.REQUEST_METHOD,
      script: environ.SCRIPT_NAME,
      path: environ.PATH_INFO,
      query: environ.QUERY_STRING,
      length: n,
      sha256: hash.digest('hex'),
      runOnce: environ['wsgi.run_once'],
      multithread: environ['wsgi.multithread'],
      multiprocess: environ['wsgi.multiprocess'],
      custom: environ.CUSTOM_VAR ?? null,
    }),
  ];
};

describe('runCGI', () => {
  it('builds the environ from the environment with run_once true and multithread false', async () => {
    const { code, head } = await run(echo, { ...CGI_ENV, CUSTOM_VAR: 'kept' });
    expect(code).toBe(0);
    expect(head.status).toBe(200);
    expect(JSON.parse(head.rest.toString())).toEqual({ method: 'GET', script: '/dispatch.cgi', path: '/x', query: 'a=1', length: 0, sha256: createHash('sha256').digest('hex'), runOnce: true, multithread: false, multiprocess: true, custom: 'kept' });
  });

  it('writes a Status line first (RFC 3875 §6.3.3)', async () => {
    const app: App = (_e, sr) => {
      sr('201 Created', [['Location', '/new'], ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']]);
      return ['made'];
    };
    const { raw } = await run(app, CGI_ENV);
    expect(raw.toString()).toBe('Status: 201 Created\r\nLocation: /new\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\nmade');
  });

  it('reads exactly CONTENT_LENGTH bytes of stdin (RFC 3875 §4.2), in chunks', async () => {
    const body = Buffer.alloc(300_000, 3);
    const stdin = Readable.from([body.subarray(0, 1000), body.subarray(1000), Buffer.from('trailing garbage')]);
    const { head } = await run(echo, { ...CGI_ENV, REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(body.length) }, stdin);
    expect(JSON.parse(head.rest.toString())).toMatchObject({ method: 'POST', length: body.length, sha256: createHash('sha256').update(body).digest('hex') });
  });

  it('gives an empty wsgi.input without CONTENT_LENGTH, and never touches stdin', async () => {
    const stdin = new PassThrough();
    const { head } = await run(echo, { ...CGI_ENV, REQUEST_METHOD: 'POST' }, stdin);
    expect(JSON.parse(head.rest.toString()).length).toBe(0);
    expect(stdin.listenerCount('data')).toBe(0);
  });

  it('fails wsgi.input with NSGI_ERR_CGI_TRUNCATED when stdin ends early', async () => {
    let error: unknown;
    const app: App = async (environ, sr) => {
      try {
        for await (const _ of environ['wsgi.input']) void _;
      } catch (err) {
        error = err;
      }
      sr('200 OK', []);
      return [];
    };
    await run(app, { ...CGI_ENV, CONTENT_LENGTH: '100' }, Buffer.from('short'));
    expect(error).toMatchObject({ code: 'NSGI_ERR_CGI_TRUNCATED' });
  });

  it('sends no body for HEAD (RFC 3875 §4.3.2)', async () => {
    const app: App = (_e, sr) => {
      sr('200 OK', [['Content-Type', 'text/plain']]);
      return ['body'];
    };
    const { raw } = await run(app, { ...CGI_ENV, REQUEST_METHOD: 'HEAD' });
    expect(raw.toString()).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n');
  });

  it('answers 500 with the error on stderr and exits 1 when the app throws', async () => {
    const app: App = () => {
      throw new Error('kaput');
    };
    const { code, head, stderr } = await run(app, CGI_ENV);
    expect([code, head.status]).toEqual([1, 500]);
    expect(stderr).toContain('kaput');
  });

  it('waits for a slow stdout (backpressure) and delivers every byte', async () => {
    const chunks: Buffer[] = [];
    let writes = 0;
    const slow = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _enc, cb) {
        chunks.push(chunk);
        if (++writes % 8 === 0) setTimeout(cb, 1);
        else cb();
      },
    });
    const block = Buffer.alloc(4096, 9);
    let pulled = 0;
    let maxQueued = 0;
    const app: App = (_e, sr) => {
      sr('200 OK', []);
      return (function* () {
        for (let i = 0; i < 256; i++) {
          pulled++;
          maxQueued = Math.max(maxQueued, slow.writableLength);
          yield block;
        }
      })();
    };
    const code = await runCGI(app, { env: CGI_ENV, stdin: Readable.from([]), stdout: slow, stderr: collect().stream });
    expect(code).toBe(0);
    expect(pulled).toBe(256);
    // Without waiting on 'drain', the whole 1 MiB would queue in the stream.
    expect(maxQueued).toBeLessThanOrEqual(1024 + 2 * 4096);
    const head = new CGIResponseParser().push(Buffer.concat(chunks))!;
    expect(head.rest.length).toBe(256 * 4096);
  });
});

// The CLI as a web server runs it: the environment and stdin in, stdout out.
function cgiProcess(args: string[], env: Record<string, string>, stdin: Buffer): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  const [node, argv] = nsgiArgv(args);
  return new Promise((resolve, reject) => {
    const child = spawn(node, argv, { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err }));
    child.stdin.end(stdin);
  });
}

describe('nsgi serve --cgi', () => {
  it.each([
    ['with --cgi', ['serve', 'examples/hello.mjs', '--cgi']],
    ['auto-detected from GATEWAY_INTERFACE', ['serve', 'examples/hello.mjs']],
  ])('runs one request %s and exits 0', async (_name, args) => {
    const { code, stdout, stderr } = await cgiProcess(args, { ...CGI_ENV, PATH_INFO: '/snow ☃', QUERY_STRING: 'name=Ada' }, Buffer.alloc(0));
    expect(code, stderr).toBe(0);
    const head = new CGIResponseParser().push(stdout)!;
    expect(head.status).toBe(200);
    expect(head.rest.toString()).toContain('Hello, Ada!\nYou asked for /dispatch.cgi/snow ☃');
  });
});
