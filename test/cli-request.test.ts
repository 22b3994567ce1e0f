// `nsgi request`: curl for FastCGI (and SCGI), run as a user runs it, against
// a server started in this test; and the record tracer behind --trace.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFastCGIServer } from '../src/fastcgi/server.js';
import { createSCGIServer } from '../src/scgi/server.js';
import { encodeParams } from '../src/fastcgi/params.js';
import { FCGI_BEGIN_REQUEST, FCGI_END_REQUEST, FCGI_PARAMS, FCGI_STDOUT, beginRequestBody, endRequestBody } from '../src/fastcgi/protocol.js';
import { RecordTracer, escapeBytes } from '../src/fastcgi/trace.js';
import type { NsgiServer } from '../src/server.js';
import authorizer from './fixtures/apps/authorizer.mjs';
import router from './fixtures/apps/router.mjs';
import { nsgiArgv, runNsgi } from './helpers/cli.js';
import { makeTempDir, removeTempDir } from './helpers/peers.js';

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

describe('nsgi request --fastcgi', () => {
  let dir: string;
  let server: NsgiServer;
  let auth: NsgiServer;
  let unix: string;
  let tcp: string;
  let authAddress: string;

  beforeAll(async () => {
    dir = makeTempDir('nsgi-cli-request-');
    server = createFastCGIServer(router, { logger: { error: () => {} }, maxConnections: 7 });
    unix = await server.listen(`unix:${join(dir, 'app.sock')}`);
    const second = createFastCGIServer(router, { logger: { error: () => {} } });
    tcp = await second.listen('127.0.0.1:0');
    auth = createFastCGIServer(authorizer, { logger: { error: () => {} } });
    authAddress = await auth.listen(`unix:${join(dir, 'auth.sock')}`);
    closers.push(() => second.close(1000));
  });
  const closers: Array<() => Promise<void>> = [];
  afterAll(async () => {
    await Promise.all([server?.close(1000), auth?.close(1000), ...closers.map((c) => c())]);
    removeTempDir(dir);
  });

  it.each(['unix', 'tcp'])('GET over %s prints the body to stdout and exits 0', async (kind) => {
    const { code, stdout, stderr } = await runNsgi(['request', '--fastcgi', kind === 'unix' ? unix : tcp, '/snow%20%E2%98%83/environ?x=1']);
    expect([code, stderr]).toEqual([0, '']);
    expect(JSON.parse(stdout)).toMatchObject({ REQUEST_METHOD: 'GET', PATH_INFO: '/snow ☃/environ', QUERY_STRING: 'x=1', SCRIPT_NAME: '' });
  });

  it('-i prints the CGI head first; a 404 exits 1 and keeps both Set-Cookie lines', async () => {
    const { code, stdout } = await runNsgi(['request', '--fastcgi', unix, '-i', '/cookies']);
    expect(code).toBe(1);
    expect(stdout).toBe('Status: 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nSet-Cookie: a=1; Path=/\r\nSet-Cookie: b=2; Path=/; HttpOnly\r\nContent-Length: 14\r\n\r\nno such thing\n');
  });

  it('-X, -H, -p and --script-name shape the request', async () => {
    const { code, stdout } = await runNsgi([
      'request', '--fastcgi', unix, '-X', 'DELETE', '-H', 'X-Token: v 1', '-H', 'Content-Type: text/csv',
      '-p', 'HTTPS=on', '-p', 'DOCUMENT_ROOT=/srv/www', '--script-name', '/mount', '/environ',
    ]);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({
      REQUEST_METHOD: 'DELETE',
      HTTP_X_TOKEN: 'v 1',
      CONTENT_TYPE: 'text/csv',
      HTTPS: 'on',
      'wsgi.url_scheme': 'https',
      DOCUMENT_ROOT: '/srv/www',
      SCRIPT_NAME: '/mount',
      PATH_INFO: '/environ',
    });
  });

  it('-d DATA posts the text (POST is implied)', async () => {
    const { code, stdout } = await runNsgi(['request', '--fastcgi', unix, '-d', 'a=1&b=☃', '/upload']);
    expect(code).toBe(0);
    const sent = Buffer.from('a=1&b=☃');
    expect(JSON.parse(stdout)).toEqual({ length: sent.length, sha256: sha256(sent), contentLength: String(sent.length) });
  });

  it('-d @FILE streams the file with its size as CONTENT_LENGTH', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const file = join(dir, 'upload.bin');
    writeFileSync(file, data);
    const { code, stdout } = await runNsgi(['request', '--fastcgi', tcp, '--keep-conn', '-d', `@${file}`, '/upload']);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({ length: data.length, sha256: sha256(data), contentLength: String(data.length) });
  });

  it('-d @- reads the body from stdin', async () => {
    const [node, argv] = nsgiArgv(['request', '--fastcgi', unix, '-d', '@-', '/upload']);
    const child = spawn(node, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stdin.end('from stdin');
    const code = await new Promise((resolve) => child.once('close', resolve));
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ length: 10, sha256: sha256(Buffer.from('from stdin')) });
  });

  it("the app's wsgi.errors goes to stderr, the body to stdout", async () => {
    const { code, stdout, stderr } = await runNsgi(['request', '--fastcgi', unix, '/errors?msg=psst']);
    expect([code, stdout, stderr]).toEqual([0, 'logged\n', 'psst\n']);
  });

  it('--trace prints every record sent and received to stderr, PARAMS decoded', async () => {
    const { code, stdout, stderr } = await runNsgi(['request', '--fastcgi', unix, '--trace', '--keep-conn', '/environ?t=1']);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ QUERY_STRING: 't=1' });
    const lines = stderr.split('\n');
    const kinds = lines.filter((l) => /^[<>] [A-Z_]+ /.test(l)).map((l) => l.split(/\s+/).slice(0, 2).join(' '));
    // Sent: BEGIN_REQUEST, PARAMS (one or more, then an empty one), STDIN (empty: no body).
    expect(kinds[0]).toBe('> BEGIN_REQUEST');
    expect(kinds).toContain('> PARAMS');
    expect(kinds).toContain('> STDIN');
    expect(kinds).toContain('< STDOUT');
    expect(kinds.at(-1)).toBe('< END_REQUEST');
    expect(stderr).toMatch(/^> BEGIN_REQUEST +id=1 len=8 +pad=0 role=RESPONDER flags=KEEP_CONN$/m);
    expect(stderr).toMatch(/^> {5}REQUEST_METHOD=GET$/m);
    expect(stderr).toMatch(/^> {5}QUERY_STRING=t=1$/m);
    expect(stderr).toMatch(/^> PARAMS +id=1 len=0 +pad=0 \(end of stream\)$/m);
    expect(stderr).toMatch(/^< STDOUT +id=1 len=\d+ +pad=\d "Status: 200 OK\\r\\nContent-Type: application\/json\\r\\n/m);
    expect(stderr).toMatch(/^< END_REQUEST +id=1 len=8 +pad=0 appStatus=0 protocolStatus=REQUEST_COMPLETE$/m);
  });

  it('--get-values prints what the server answers to FCGI_GET_VALUES', async () => {
    const { code, stdout } = await runNsgi(['request', '--fastcgi', unix, '--get-values']);
    expect(code).toBe(0);
    expect(stdout).toContain('FCGI_MPXS_CONNS=1\n');
    expect(stdout).toContain('FCGI_MAX_CONNS=7\n');
    expect(stdout).toMatch(/^FCGI_MAX_REQS=\d+$/m);
  });

  it('--role authorizer: a denial is the response, exit 1', async () => {
    const denied = await runNsgi(['request', '--fastcgi', authAddress, '--role', 'authorizer', '/private/x']);
    expect(denied.code).toBe(1);
    expect(denied.stdout).toMatch(/^denied: /);
    const allowed = await runNsgi(['request', '--fastcgi', authAddress, '--role', 'authorizer', '-i', '-H', 'X-Token: open-sesame', '/private/x']);
    expect(allowed.code).toBe(0);
    expect(allowed.stdout).toContain('Variable-AUTH_USER_NAME: ada\r\n');
  });

  it('--scgi ADDR sends the same request over SCGI', async () => {
    const scgi = createSCGIServer(router, { logger: { error: () => {} } });
    const address = await scgi.listen(`unix:${join(dir, 'scgi.sock')}`);
    closers.push(() => scgi.close(1000));
    const { code, stdout } = await runNsgi(['request', '--scgi', address, '-X', 'PUT', '-H', 'X-Via: scgi', '/environ?s=1']);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ REQUEST_METHOD: 'PUT', HTTP_X_VIA: 'scgi', QUERY_STRING: 's=1', SCGI: '1' });
  });

  it('a refused connection exits 1 with a message on stderr', async () => {
    const { code, stdout, stderr } = await runNsgi(['request', '--fastcgi', `unix:${join(dir, 'nobody-here.sock')}`, '/']);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^nsgi: request: .*(ENOENT|ECONNREFUSED)/);
  });

  it.each([
    [['request', '/'], 'give exactly one of --fastcgi ADDR'],
    [['request', '--fastcgi', ':1', 'no-slash'], 'PATH must start with /'],
    [['request', '--fastcgi', ':1', '-H', 'nocolon', '/'], "is not 'Name: value'"],
    [['request', '--fastcgi', ':1', '--role', 'boss', '/'], 'is not responder, authorizer or filter'],
    [['request', '--fastcgi', ':1', '-p', 'novalue', '/'], 'is not NAME=VALUE'],
    [['request', '--scgi', ':1', '--trace', '/'], '--trace is a FastCGI option'],
  ])('nsgi %j exits 2 with a clear message', async (args, message) => {
    const { code, stderr } = await runNsgi(args);
    expect(code).toBe(2);
    expect(stderr).toContain(message);
  });

  it('--help documents the flags and the exit codes', async () => {
    const { code, stdout } = await runNsgi(['request', '--help']);
    expect(code).toBe(0);
    for (const flag of ['--fastcgi ADDR', '--scgi ADDR', '--trace', '--keep-conn', '-d, --data', '-i, --include', 'Exit codes']) expect(stdout).toContain(flag);
  });
});

describe('RecordTracer (the --trace format)', () => {
  const rec = (type: number, requestId: number, content: Uint8Array, paddingLength = 0) => ({ type, requestId, contentLength: content.length, paddingLength, content });

  it('formats BEGIN_REQUEST, STDOUT and END_REQUEST on one line each', () => {
    const t = new RecordTracer();
    expect(t.format('send', rec(FCGI_BEGIN_REQUEST, 1, beginRequestBody(2, 0)))).toBe('> BEGIN_REQUEST      id=1 len=8     pad=0 role=AUTHORIZER flags=0\n');
    expect(t.format('recv', rec(FCGI_STDOUT, 3, Buffer.from('Status: 200 OK\r\n\t"\\\x00\xff', 'latin1'), 3))).toBe(
      '< STDOUT             id=3 len=21    pad=3 "Status: 200 OK\\r\\n\\t\\"\\\\\\x00\\xff"\n',
    );
    expect(t.format('recv', rec(FCGI_END_REQUEST, 3, endRequestBody(7, 2)))).toBe('< END_REQUEST        id=3 len=8     pad=0 appStatus=7 protocolStatus=OVERLOADED\n');
    expect(t.format('recv', rec(FCGI_STDOUT, 3, Buffer.alloc(0)))).toBe('< STDOUT             id=3 len=0     pad=0 (end of stream)\n');
  });

  it('cuts long content with a count of what is left', () => {
    expect(escapeBytes(Buffer.alloc(100, 'a'), 4)).toBe('"aaaa"… (+96 bytes)');
  });

  it('decodes PARAMS pairs, including a pair cut across two records (§3.4)', () => {
    const t = new RecordTracer();
    const long = 'v'.repeat(300); // a 4-byte value length
    const all = encodeParams({ REQUEST_METHOD: 'GET', LONG: long, PATH_INFO: '/a\nb' });
    const cut = 20; // inside LONG's value
    const first = t.format('send', rec(FCGI_PARAMS, 1, all.subarray(0, cut)));
    expect(first).toBe(`> PARAMS             id=1 len=${cut}    pad=0\n>     REQUEST_METHOD=GET\n>     (${cut - 19} bytes of a pair continued in the next record)\n`);
    const second = t.format('send', rec(FCGI_PARAMS, 1, all.subarray(cut)));
    expect(second).toContain(`>     LONG=${'v'.repeat(200)}… (+100 chars)\n`);
    expect(second).toContain('>     PATH_INFO=/a\\nb\n');
    expect(t.format('send', rec(FCGI_PARAMS, 1, Buffer.alloc(0)))).toBe('> PARAMS             id=1 len=0     pad=0 (end of stream)\n');
  });
});
