// FOUND BY THE SOAK (docs/soak.md, "Findings"): the race behind its 502s on reload, reduced to one
// connection. With FCGI_KEEP_CONN the web server keeps the connection and may send the next request
// on it at any moment (§5.1: "the Web server retains responsibility for the connection"). When a
// worker stops gracefully (SIGHUP reload, --max-requests), nsgi closes its idle kept connections at
// once; a request nginx wrote on one of them before it saw the FIN is never answered (nginx:
// "upstream prematurely closed connection while reading response header from upstream", a 502 for
// the client), and nsgi then writes its FCGI_OVERLOADED refusal to the socket it already ended
// ("fastcgi: connection error (ERR_STREAM_WRITE_AFTER_END: write after end)" on stderr).
//
// This test is the web server's side of that moment: request 2 is written on the idle kept
// connection right after close() began, as nginx does when it picks a cached connection.
import { connect, type Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeParams } from '../../src/fastcgi/params.js';
import { beginRequestBody, encodeRecord, FCGI_BEGIN_REQUEST, FCGI_END_REQUEST, FCGI_KEEP_CONN, FCGI_PARAMS, FCGI_RESPONDER, FCGI_STDIN, FCGI_STDOUT } from '../../src/fastcgi/protocol.js';
import { createFastCGIServer } from '../../src/fastcgi/server.js';
import type { App } from '../../src/types.js';
import { makeTempDir, removeTempDir } from '../helpers/peers.js';

const dir = makeTempDir('nsgi-soak-keepconn-');
afterAll(() => removeTempDir(dir));

const app: App = (environ, startResponse) => {
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  return [`hello ${environ.PATH_INFO}`];
};

function request(id: number, path: string): Buffer {
  return Buffer.concat([
    encodeRecord(FCGI_BEGIN_REQUEST, id, beginRequestBody(FCGI_RESPONDER, FCGI_KEEP_CONN)),
    encodeRecord(FCGI_PARAMS, id, encodeParams({ REQUEST_METHOD: 'GET', SCRIPT_NAME: '', PATH_INFO: path, QUERY_STRING: '', SERVER_PROTOCOL: 'HTTP/1.1' })),
    encodeRecord(FCGI_PARAMS, id),
    encodeRecord(FCGI_STDIN, id),
  ]);
}

interface Seen {
  stdout: Map<number, string>;
  /** requestId -> protocolStatus of its END_REQUEST. */
  ended: Map<number, number>;
}

/** Collects STDOUT and END_REQUEST records per request id from a socket. */
function watch(socket: Socket): { seen: Seen; closed: Promise<void>; until(check: (s: Seen) => boolean): Promise<void> } {
  const seen: Seen = { stdout: new Map(), ended: new Map() };
  let buf = Buffer.alloc(0);
  const waiters: Array<() => void> = [];
  socket.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 8) {
      const length = buf.readUInt16BE(4);
      const total = 8 + length + buf[6]!;
      if (buf.length < total) break;
      const type = buf[1]!;
      const id = buf.readUInt16BE(2);
      const content = buf.subarray(8, 8 + length);
      if (type === FCGI_STDOUT) seen.stdout.set(id, (seen.stdout.get(id) ?? '') + content.toString('latin1'));
      if (type === FCGI_END_REQUEST) seen.ended.set(id, content[4]!);
      buf = buf.subarray(total);
    }
    for (const w of waiters.splice(0)) w();
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => undefined);
  return {
    seen,
    closed,
    until: (check) =>
      new Promise<void>((resolve, reject) => {
        const test = (): void => {
          if (check(seen)) resolve();
          else if (socket.destroyed || socket.readableEnded) reject(new Error('connection closed first'));
          else waiters.push(test);
        };
        test();
      }),
  };
}

describe('FastCGI keep-conn: graceful close vs a request already on its way (soak finding)', () => {
  it('answers a request the web server sent on an idle kept connection as close() began, and logs nothing', async () => {
    const errors: string[] = [];
    const server = createFastCGIServer(app, { logger: { error: (message, error) => errors.push(`${message} ${String((error as Error | undefined)?.message ?? '')}`) } });
    const address = await server.listen(`unix:${dir}/fcgi.sock`);
    const socket = connect({ path: address.replace(/^unix:/, '') });
    const conn = watch(socket);
    socket.write(request(1, '/one'));
    await conn.until((s) => s.ended.has(1));
    expect(conn.seen.stdout.get(1)).toMatch(/hello \/one$/);

    // The connection is idle and kept. The worker starts stopping; the web server, which has not
    // yet seen anything of that, sends the next request on its cached connection.
    const closing = server.close(5000);
    socket.write(request(2, '/two'));
    await conn.closed;
    await closing;

    expect.soft({ stdout: conn.seen.stdout.get(2)?.replace(/^[^]*\r\n\r\n/, ''), status: conn.seen.ended.get(2) }, 'request 2 answered in full (FCGI_REQUEST_COMPLETE)').toEqual({ stdout: 'hello /two', status: 0 });
    expect.soft(errors, 'nothing logged').toEqual([]);
  });

  it('keeps a kept connection in use open while close() runs, and closes it once idle for closeIdleDelay', async () => {
    const server = createFastCGIServer(app, { closeIdleDelay: 300, logger: { error: () => undefined } });
    const address = await server.listen(`unix:${dir}/fcgi-linger.sock`);
    const socket = connect({ path: address.replace(/^unix:/, '') });
    const conn = watch(socket);
    socket.write(request(1, '/one'));
    await conn.until((s) => s.ended.has(1));
    let closed = false;
    void conn.closed.then(() => (closed = true));
    const closing = server.close(10_000);
    // Requests keep coming faster than the delay: each is answered, and the connection stays
    // open after each response (closing right after one is when nginx would most likely reuse it).
    for (let id = 2; id <= 6; id++) {
      await new Promise((r) => setTimeout(r, 100));
      socket.write(request(id, `/n${id}`));
      await conn.until((s) => s.ended.has(id));
      expect(conn.seen.ended.get(id), `request ${id} completed`).toBe(0);
      await new Promise((r) => setTimeout(r, 20));
      expect(closed, `connection still open after request ${id}`).toBe(false);
    }
    const idleSince = Date.now();
    await conn.closed;
    expect(Date.now() - idleSince, 'closed only after being idle for closeIdleDelay').toBeGreaterThanOrEqual(250);
    await closing;
  });
});
