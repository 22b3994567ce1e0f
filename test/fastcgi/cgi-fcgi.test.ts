// The reference FastCGI client talks to nsgi: `cgi-fcgi` from Open Market's
// libfcgi (Debian libfcgi-bin), the bridge a CGI-only web server runs. It
// sends its whole process environment as FCGI_PARAMS and its stdin as
// FCGI_STDIN, and copies STDOUT/STDERR to its own stdout/stderr, so what it
// prints is exactly the CGI response nsgi framed.
//   cgi-fcgi -bind -connect HOST:PORT|/path.sock       (a running server)
//   cgi-fcgi -start -connect /path.sock APP            (libfcgi starts the app with the listening socket on fd 0)
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CGIResponseParser } from '../../src/cgi-response.js';
import { createFastCGIServer } from '../../src/fastcgi/server.js';
import type { NsgiServer } from '../../src/server.js';
import router from '../fixtures/apps/router.mjs';
import { nsgiShellCommand, ROOT } from '../helpers/cli.js';
import { makeTempDir, removeTempDir, waitForListen } from '../helpers/peers.js';

const CGI_FCGI = '/usr/bin/cgi-fcgi';

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs cgi-fcgi once with CGI variables in its environment and `stdin` as the body. */
function cgiFcgi(args: string[], vars: Record<string, string>, stdin: Uint8Array = Buffer.alloc(0)): Promise<Run> {
  return new Promise((resolve, reject) => {
    // A clean environment: cgi-fcgi forwards every variable it has as a FastCGI param.
    const child = spawn(CGI_FCGI, args, { env: { PATH: '/usr/bin:/bin', ...vars }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', reject);
    // A server that never answers must fail the test with what was seen, not hang it.
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr: err });
    });
    child.stdin.on('error', () => {}); // EPIPE if it stops reading early: the exit code tells
    child.stdin.end(stdin);
  });
}

function cgiVars(method: string, pathInfo: string, query = '', extra: Record<string, string> = {}): Record<string, string> {
  return {
    GATEWAY_INTERFACE: 'CGI/1.1',
    REQUEST_METHOD: method,
    SCRIPT_NAME: '/cgi-bin/app',
    PATH_INFO: pathInfo,
    QUERY_STRING: query,
    SERVER_NAME: 'example.test',
    SERVER_PORT: '80',
    SERVER_PROTOCOL: 'HTTP/1.1',
    REMOTE_ADDR: '192.0.2.7',
    ...extra,
  };
}

function parse(stdout: Buffer): { status: number; statusText: string; headers: Array<[string, string]>; body: Buffer } {
  const head = new CGIResponseParser().push(stdout);
  if (head === undefined) throw new Error(`no CGI head in ${JSON.stringify(stdout.subarray(0, 200).toString('latin1'))}`);
  return { status: head.status, statusText: head.statusText, headers: head.headers, body: head.rest };
}

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

describe.each(['unix', 'tcp'] as const)('cgi-fcgi -bind -connect over %s -> nsgi', (transport) => {
  let dir: string;
  let server: NsgiServer;
  let connect: string;

  beforeAll(async () => {
    dir = makeTempDir('nsgi-cgi-fcgi-');
    server = createFastCGIServer(router, { logger: { error: () => {} } });
    const bound = await server.listen(transport === 'unix' ? `unix:${join(dir, 'app.sock')}` : '127.0.0.1:0');
    // cgi-fcgi reads a name with a colon as host:port, anything else as a socket path.
    connect = bound.startsWith('unix:') ? bound.slice(5) : bound;
  });
  afterAll(async () => {
    await server?.close(1000);
    removeTempDir(dir);
  });

  it('GET: a CGI response with Status line; the app saw the CGI variables cgi-fcgi had', async () => {
    const run = await cgiFcgi(['-bind', '-connect', connect], cgiVars('GET', '/snow ☃/environ', 'a=1&b=%20', { HTTP_ACCEPT: 'text/plain' }));
    expect(run.code).toBe(0);
    expect(run.stdout.toString('latin1')).toMatch(/^Status: 200 OK\r\n/);
    const res = parse(run.stdout);
    expect(res.status).toBe(200);
    expect(res.headers).toContainEqual(['Content-Type', 'application/json']);
    expect(JSON.parse(res.body.toString('utf8'))).toMatchObject({
      REQUEST_METHOD: 'GET',
      SCRIPT_NAME: '/cgi-bin/app',
      PATH_INFO: '/snow ☃/environ',
      QUERY_STRING: 'a=1&b=%20',
      SERVER_NAME: 'example.test',
      REMOTE_ADDR: '192.0.2.7',
      HTTP_ACCEPT: 'text/plain',
      PATH: '/usr/bin:/bin',
    });
  });

  it('POST: stdin becomes wsgi.input (1 MiB, checksummed)', async () => {
    const body = randomBytes(1024 * 1024);
    const run = await cgiFcgi(['-bind', '-connect', connect], cgiVars('POST', '/upload', '', { CONTENT_LENGTH: String(body.length), CONTENT_TYPE: 'application/octet-stream' }), body);
    expect(run.code).toBe(0);
    const res = parse(run.stdout);
    expect(JSON.parse(res.body.toString())).toEqual({ length: body.length, sha256: sha256(body), contentLength: String(body.length) });
  });

  it('a 404 with two Set-Cookie lines comes out as two header lines', async () => {
    const run = await cgiFcgi(['-bind', '-connect', connect], cgiVars('GET', '/cookies'));
    expect(run.stdout.toString('latin1')).toMatch(/^Status: 404 Not Found\r\n/);
    const res = parse(run.stdout);
    expect(res.headers.filter(([k]) => k === 'Set-Cookie')).toEqual([
      ['Set-Cookie', 'a=1; Path=/'],
      ['Set-Cookie', 'b=2; Path=/; HttpOnly'],
    ]);
    expect(res.body.toString()).toBe('no such thing\n');
  });

  it('wsgi.errors reaches cgi-fcgi stderr (FCGI_STDERR), apart from stdout', async () => {
    const run = await cgiFcgi(['-bind', '-connect', connect], cgiVars('GET', '/errors', 'msg=to-stderr-via-fcgi'));
    expect(run.stderr).toContain('to-stderr-via-fcgi\n');
    expect(parse(run.stdout).body.toString()).toBe('logged\n');
  });

  it('a 3 MiB streamed response comes through whole (records of at most 65535 bytes, reassembled)', async () => {
    const run = await cgiFcgi(['-bind', '-connect', connect], cgiVars('GET', '/stream', 'mib=3'));
    const res = parse(run.stdout);
    expect(res.body.length).toBe(3 * 1024 * 1024);
    const { expectedSha256 } = await import('../fixtures/apps/stream.mjs');
    expect(sha256(res.body)).toBe(expectedSha256(3));
  });
});

describe('cgi-fcgi -start: libfcgi spawns `nsgi serve` with the listening socket on fd 0', () => {
  let dir: string;
  let pid: number | undefined;

  beforeAll(async () => {
    dir = makeTempDir('nsgi-cgi-fcgi-start-');
    // No transport flag: nsgi must notice that fd 0 is a listening socket and serve FastCGI on it.
    const script = join(dir, 'app.sh');
    writeFileSync(script, `#!/bin/sh\necho $$ > ${dir}/app.pid\nexec ${nsgiShellCommand(['serve', `${ROOT}test/fixtures/apps/router.mjs`])} 2>>${dir}/app.log\n`, { mode: 0o755 });
    const sock = join(dir, 'app.sock');
    const start = spawn(CGI_FCGI, ['-start', '-connect', sock, script], { stdio: 'ignore' });
    await new Promise((resolve) => start.once('close', resolve));
    await waitForListen({ path: sock });
    pid = Number(readFileSync(join(dir, 'app.pid'), 'utf8'));
    // libfcgi bound the socket before exec: wait until nsgi says it serves FastCGI on it.
    const log = (): string => (existsSync(join(dir, 'app.log')) ? readFileSync(join(dir, 'app.log'), 'utf8') : '');
    const deadline = Date.now() + 20_000;
    while (!log().includes('serving')) {
      if (Date.now() > deadline) throw new Error(`nsgi did not start: ${log()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(log()).toMatch(/fastcgi/);
  });
  afterAll(async () => {
    if (pid) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    removeTempDir(dir);
  });

  it('answers requests on the inherited socket', async () => {
    const sock = join(dir, 'app.sock');
    const run = await cgiFcgi(['-bind', '-connect', sock], cgiVars('GET', '/environ', 'via=fd0'));
    expect(run.code, readFileSync(join(dir, 'app.log'), 'utf8')).toBe(0);
    const res = parse(run.stdout);
    expect(JSON.parse(res.body.toString())).toMatchObject({ QUERY_STRING: 'via=fd0', PATH_INFO: '/environ' });
  });
});
