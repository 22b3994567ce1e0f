// Faults against a running FastCGI server (createFastCGIServer on a unix socket in a temp dir). The
// shared cases (cases.ts: a web server that closes the connection mid-response or stops reading a
// 256 MiB response, apps that throw, reject, never call startResponse or never end) run here through
// the FastCGI adapter; below are the FastCGI-only ones: peers that go away mid-PARAMS, mid-STDIN or
// with FCGI_ABORT_REQUEST, a paused response that completes once reading resumes, 2,000 connections
// opened and dropped, a peer speaking garbage, an app that fails after the head, and a web server that
// stalls mid-request (paramsTimeout, stdinTimeout). After each: a normal request still succeeds, no
// request is left running, and no socket or timer is left behind.
import type { Socket } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AbortedError, type NsgiError } from '../../src/errors.js';
import { FastCGIClient } from '../../src/fastcgi/client.js';
import { encodeParams } from '../../src/fastcgi/params.js';
import { RecordParser } from '../../src/fastcgi/parser.js';
import {
  beginRequestBody,
  encodeRecord,
  FCGI_BEGIN_REQUEST,
  FCGI_END_REQUEST,
  FCGI_HEADER_LEN,
  FCGI_KEEP_CONN,
  FCGI_PARAMS,
  FCGI_RESPONDER,
  FCGI_STDIN,
  FCGI_STDOUT,
} from '../../src/fastcgi/protocol.js';
import { createFastCGIServer } from '../../src/fastcgi/server.js';
import type { NsgiServer } from '../../src/server.js';
import { makeTempDir, removeTempDir } from '../helpers/peers.js';
import { describeFaults } from './cases.js';
import {
  BIG_BYTES,
  churn,
  expectNothingLeft,
  faultApp,
  memoryLogger,
  nullErrors,
  probe,
  quietBaseline,
  rawConnect,
  readUntilClose,
  SLOW_INPUT_DELAY,
  settleValue,
  waitFor,
  type ResourceCounts,
} from './helpers.js';
import { fastcgiFaults, fcgiHead as head, fcgiParams as params } from './transports.js';

const dir = makeTempDir('nsgi-faults-fcgi-');
const t = fastcgiFaults(`${dir}/fcgi.sock`);
// A client of its own for the cases that look past the adapter's `request` (appStatus, protocolStatus).
let client: FastCGIClient;

beforeAll(() => {
  client = new FastCGIClient(t.address);
});

afterAll(async () => {
  await client.close();
  removeTempDir(dir);
});

describeFaults(t);

describe('FastCGI: the web server goes away', () => {
  it('mid-PARAMS (inside a record, and between records): the half-received request is dropped, the app never runs', async () => {
    const full = encodeRecord(FCGI_PARAMS, 1, encodeParams(params('/ok', 'mid-params')));
    for (const cut of [FCGI_HEADER_LEN + 5, full.length]) {
      const socket = await rawConnect(t.address);
      socket.write(Buffer.concat([encodeRecord(FCGI_BEGIN_REQUEST, 1, beginRequestBody(FCGI_RESPONDER, 0)), full.subarray(0, cut)]));
      await waitFor(() => t.server.activeRequests === 1, 'the request to begin');
      socket.destroy();
      await t.expectHealthy();
    }
    expect(probe('mid-params').calls).toBe(0);
  });

  it('mid-STDIN: the app reading wsgi.input sees nsgi.signal fire and its read stop', async () => {
    const socket = await rawConnect(t.address);
    socket.write(Buffer.concat([head('/input', 'mid-stdin', { REQUEST_METHOD: 'POST', CONTENT_LENGTH: '100000' }), encodeRecord(FCGI_STDIN, 1, Buffer.alloc(1000))]));
    await waitFor(() => probe('mid-stdin').inputBytes === 1000, 'the first body bytes to reach the app');
    socket.destroy();
    await waitFor(() => probe('mid-stdin').done, 'the app to stop reading');
    expect(probe('mid-stdin').aborted).toBe(true);
    await t.expectHealthy();
  });

  it('mid-response (FCGI_ABORT_REQUEST from the client): the request ends, the body is closed', async () => {
    const controller = new AbortController();
    const pending = t.request('/forever', { query: 'abort-request', signal: controller.signal });
    await waitFor(() => probe('abort-request').pulls > 10, 'the response to stream');
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(AbortedError);
    await waitFor(() => probe('abort-request').returned, 'return() on the body');
    expect(probe('abort-request').aborted).toBe(true);
    await t.expectHealthy();
  });
});

describe('FastCGI: the web server stops reading', () => {
  it('pauses a 256 MiB response: the body is pulled only a bounded amount ahead, and all of it arrives once reading resumes', async () => {
    const p = probe('stalled');
    const socket = await rawConnect(t.address);
    socket.pause();
    const before = process.memoryUsage().arrayBuffers;
    socket.write(Buffer.concat([head('/big', 'stalled'), encodeRecord(FCGI_STDIN, 1)]));
    const pulls = await settleValue(() => p.pulls);
    const serverSocket = t.serverSockets[0]!;
    // Stalled: a few socket buffers' worth pulled (kernel + Node), nowhere near the 256 MiB.
    expect(pulls).toBeGreaterThan(0);
    expect(pulls * 64 * 1024).toBeLessThan(16 * 1024 * 1024);
    expect(serverSocket.writableLength).toBeLessThan(1024 * 1024);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(32 * 1024 * 1024);
    expect(p.done).toBe(false);
    // Reading again: the response completes, byte for byte.
    let stdout = 0;
    let ended = false;
    let type = 0;
    const parser = new RecordParser({
      record: (t) => (type = t),
      content: (_c, start, end) => {
        if (type === FCGI_STDOUT) stdout += end - start;
      },
      recordEnd: () => {
        if (type === FCGI_END_REQUEST) ended = true;
      },
    });
    socket.on('data', (chunk: Buffer) => parser.push(chunk));
    socket.resume();
    await readUntilClose(socket, 30_000);
    expect(ended).toBe(true);
    expect(p.done).toBe(true);
    expect(stdout).toBeGreaterThan(BIG_BYTES);
    expect(stdout).toBeLessThan(BIG_BYTES + 200);
    await t.expectHealthy();
  }, 60_000);

});

describe('FastCGI: connection churn and garbage', () => {
  it('survives 2,000 connections opened and dropped (empty, mid-header, mid-PARAMS, whole request)', async () => {
    const begin = encodeRecord(FCGI_BEGIN_REQUEST, 1, beginRequestBody(FCGI_RESPONDER, 0));
    const prefixes = [Buffer.alloc(0), begin.subarray(0, 3), begin, head('/ok', 'churn').subarray(0, 40), Buffer.concat([head('/ok', 'churn'), encodeRecord(FCGI_STDIN, 1)])];
    await churn(t.server, t.address, 2000, prefixes);
    await t.expectHealthy();
  }, 30_000);

  it('closes only the connection that speaks garbage; a request running on another one completes', async () => {
    const other = await rawConnect(t.address);
    other.write(Buffer.concat([head('/input', 'beside-garbage', { REQUEST_METHOD: 'POST', CONTENT_LENGTH: '3' }), encodeRecord(FCGI_STDIN, 1, Buffer.from('ab'))]));
    await waitFor(() => probe('beside-garbage').inputBytes === 2, 'the other request to start');
    const bad = await rawConnect(t.address);
    bad.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    const { timedOut } = await readUntilClose(bad);
    expect(timedOut).toBe(false);
    expect(t.logger.entries.some((e) => e.code === 'NSGI_ERR_FASTCGI_VERSION')).toBe(true);
    other.write(Buffer.concat([encodeRecord(FCGI_STDIN, 1, Buffer.from('c')), encodeRecord(FCGI_STDIN, 1)]));
    const { bytes } = await readUntilClose(other);
    expect(bytes.toString('latin1')).toContain('Status: 200 OK');
    expect(probe('beside-garbage').inputBytes).toBe(3);
    await t.expectHealthy();
  });
});

describe('FastCGI: apps that misbehave', () => {
  it('an app that fails after the head: the response is cut short (no clean END_REQUEST), the body closed', async () => {
    const outcome = await client.request({ path: '/throw-after', params: { QUERY_STRING: 'throw-after' } }).then(
      (res) => ({ appStatus: res.appStatus, code: undefined as string | undefined }),
      (error: unknown) => ({ appStatus: undefined, code: (error as NsgiError).code }),
    );
    // Alone on its connection, the request is cut (the client sees the connection close); never a clean 0.
    expect(outcome.appStatus === undefined ? outcome.code : outcome.appStatus).not.toBe(0);
    await waitFor(() => probe('throw-after').returned, 'return() on the body');
    await t.expectHealthy();
  });

  it('a never-ending body whose client goes away is closed, and nothing keeps running', async () => {
    const socket = await rawConnect(t.address);
    socket.write(Buffer.concat([head('/forever', 'forever-gone'), encodeRecord(FCGI_STDIN, 1)]));
    await waitFor(() => probe('forever-gone').pulls > 100, 'the body to stream');
    socket.destroy();
    await waitFor(() => probe('forever-gone').returned, 'return() on the body');
    const pulls = probe('forever-gone').pulls;
    await new Promise((r) => setTimeout(r, 100));
    expect(probe('forever-gone').pulls).toBe(pulls);
    await t.expectHealthy();
  });
});

/** The records a raw peer got, until the server closed the connection. */
async function recordsUntilClose(socket: Socket): Promise<{ stdout: string; ended: boolean; appStatus: number | undefined; timedOut: boolean }> {
  let stdout = '';
  let type = 0;
  let ended = false;
  let appStatus: number | undefined;
  const parser = new RecordParser({
    record: (t) => (type = t),
    content: (c, start, end) => {
      if (type === FCGI_STDOUT) stdout += c.toString('latin1', start, end);
      if (type === FCGI_END_REQUEST && end - start >= 4) appStatus = c.readUInt32BE(start);
    },
    recordEnd: () => {
      if (type === FCGI_END_REQUEST) ended = true;
    },
  });
  const { bytes, timedOut } = await readUntilClose(socket);
  parser.push(bytes);
  return { stdout, ended, appStatus, timedOut };
}

describe('FastCGI: a web server that stalls mid-request (paramsTimeout, stdinTimeout)', () => {
  const PARAMS_TIMEOUT = 300;
  const STDIN_TIMEOUT = 400;
  const slowLogger = memoryLogger();
  let slow: NsgiServer;
  let slowAddress: string;
  let slowClient: FastCGIClient;
  let slowBaseline: ResourceCounts;

  beforeAll(async () => {
    // One request slot: a stalled request that kept it would refuse every later one.
    slow = createFastCGIServer(faultApp, { logger: slowLogger, errors: nullErrors(), maxRequests: 1, paramsTimeout: PARAMS_TIMEOUT, stdinTimeout: STDIN_TIMEOUT });
    slowAddress = await slow.listen(`unix:${dir}/fcgi-slow.sock`);
    slowClient = new FastCGIClient(slowAddress);
    await slowClient.request({ path: '/ok' });
    slowBaseline = await quietBaseline(slow);
  });

  afterAll(async () => {
    await slowClient.close();
    await slow.close(1000);
  });

  beforeEach(() => {
    slowLogger.entries.length = 0;
  });

  async function expectSlowHealthy(): Promise<void> {
    const res = await slowClient.request({ path: '/ok' });
    expect([res.status, res.body.toString(), res.protocolStatus]).toEqual([200, 'ok', 0]);
    await expectNothingLeft(slow, slowBaseline);
  }

  it(`half a PARAMS stream: answered 408 after paramsTimeout (${PARAMS_TIMEOUT} ms), the slot freed, the app never run`, async () => {
    const full = encodeRecord(FCGI_PARAMS, 1, encodeParams(params('/ok', 'params-stall')));
    const socket = await rawConnect(slowAddress);
    socket.write(Buffer.concat([encodeRecord(FCGI_BEGIN_REQUEST, 1, beginRequestBody(FCGI_RESPONDER, 0)), full.subarray(0, FCGI_HEADER_LEN + 5)]));
    await waitFor(() => slow.activeRequests === 1, 'the request to begin');
    // Meanwhile the one slot is taken: another request is refused, not queued.
    const refused = await slowClient.request({ path: '/ok' });
    expect(refused.protocolStatus).not.toBe(0);
    const started = Date.now();
    const { stdout, ended, appStatus, timedOut } = await recordsUntilClose(socket);
    expect(timedOut).toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(PARAMS_TIMEOUT / 2);
    expect(stdout).toMatch(/^Status: 408 Request Timeout\r\n/);
    expect([ended, appStatus]).toEqual([true, 0]);
    expect(slowLogger.entries.map((e) => e.code)).toContain('NSGI_ERR_FASTCGI_PARAMS_TIMEOUT');
    expect(probe('params-stall').calls).toBe(0);
    await expectSlowHealthy();
  });

  it(`a body that stalls: after stdinTimeout (${STDIN_TIMEOUT} ms) wsgi.input fails with a LimitError, nsgi.signal fires, the peer gets 408`, async () => {
    const socket = await rawConnect(slowAddress);
    socket.write(Buffer.concat([head('/input', 'stdin-stall', { REQUEST_METHOD: 'POST', CONTENT_LENGTH: '100000' }), encodeRecord(FCGI_STDIN, 1, Buffer.alloc(1000))]));
    await waitFor(() => probe('stdin-stall').inputBytes === 1000, 'the first body bytes to reach the app');
    const { stdout, ended, timedOut } = await recordsUntilClose(socket);
    expect(timedOut).toBe(false);
    expect(stdout).toMatch(/^Status: 408 Request Timeout\r\n/);
    expect(ended).toBe(true);
    await waitFor(() => probe('stdin-stall').done, 'the app to stop reading');
    expect(probe('stdin-stall').inputError).toBe('NSGI_ERR_FASTCGI_STDIN_TIMEOUT');
    expect(probe('stdin-stall').aborted).toBe(true);
    expect(slowLogger.entries.map((e) => e.code)).toContain('NSGI_ERR_FASTCGI_STDIN_TIMEOUT');
    await expectSlowHealthy();
  });

  it('on a kept connection, only the stalled request ends: the connection serves the next one', async () => {
    const socket = await rawConnect(slowAddress);
    const keep = (path: string, id: number, probeName: string, extra: Record<string, string>): Buffer =>
      Buffer.concat([
        encodeRecord(FCGI_BEGIN_REQUEST, id, beginRequestBody(FCGI_RESPONDER, FCGI_KEEP_CONN)),
        encodeRecord(FCGI_PARAMS, id, encodeParams(params(path, probeName, extra))),
        encodeRecord(FCGI_PARAMS, id),
      ]);
    const got: Buffer[] = [];
    socket.on('data', (c: Buffer) => got.push(c));
    socket.write(Buffer.concat([keep('/input', 1, 'kept-stall', { REQUEST_METHOD: 'POST', CONTENT_LENGTH: '10' }), encodeRecord(FCGI_STDIN, 1, Buffer.from('abc'))]));
    await waitFor(() => probe('kept-stall').done, 'the stalled request to end');
    await waitFor(() => slow.activeRequests === 0, 'the slot to be freed');
    socket.write(Buffer.concat([keep('/ok', 2, 'kept-next', {}), encodeRecord(FCGI_STDIN, 2)]));
    await waitFor(() => Buffer.concat(got).toString('latin1').includes('ok'), 'the next request on the same connection');
    expect(socket.destroyed).toBe(false);
    const text = Buffer.concat(got).toString('latin1');
    expect(text).toContain('Status: 408 Request Timeout');
    expect(text).toContain('Status: 200 OK');
    expect(probe('kept-stall').inputError).toBe('NSGI_ERR_FASTCGI_STDIN_TIMEOUT');
    socket.destroy();
    await expectSlowHealthy();
  });

  it('a response already streaming when the body stalls is cut short (no clean END_REQUEST), its body closed', async () => {
    const socket = await rawConnect(slowAddress);
    socket.write(Buffer.concat([head('/forever', 'stream-then-stall', { REQUEST_METHOD: 'POST', CONTENT_LENGTH: '10' }), encodeRecord(FCGI_STDIN, 1, Buffer.from('abc'))]));
    const { stdout, ended, timedOut } = await recordsUntilClose(socket);
    expect(timedOut).toBe(false);
    expect(stdout).toMatch(/^Status: 200 OK\r\n/);
    expect(ended).toBe(false);
    await waitFor(() => probe('stream-then-stall').returned, 'return() on the body');
    expect(probe('stream-then-stall').aborted).toBe(true);
    expect(slowLogger.entries.map((e) => e.code)).toContain('NSGI_ERR_FASTCGI_STDIN_TIMEOUT');
    await expectSlowHealthy();
  });

  it('a body that keeps trickling in is not cut, however long it takes in all', async () => {
    const socket = await rawConnect(slowAddress);
    socket.write(head('/input', 'stdin-trickle', { REQUEST_METHOD: 'POST', CONTENT_LENGTH: '10' }));
    // 10 bytes, one every STDIN_TIMEOUT / 4: the whole body takes 2.5 timeouts, no gap reaches one.
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, STDIN_TIMEOUT / 4));
      socket.write(encodeRecord(FCGI_STDIN, 1, Buffer.from('x')));
    }
    socket.write(encodeRecord(FCGI_STDIN, 1));
    const { stdout, ended } = await recordsUntilClose(socket);
    expect(stdout).toMatch(/^Status: 200 OK\r\n[^]*\r\n\r\n10$/);
    expect(ended).toBe(true);
    expect(slowLogger.entries).toEqual([]);
    await expectSlowHealthy();
  });

  it(`an app that is behind (socket paused for ${SLOW_INPUT_DELAY} ms, past stdinTimeout) is not mistaken for a stalled peer`, async () => {
    const socket = await rawConnect(slowAddress);
    const body = Buffer.alloc(60_000, 0x61);
    const records = [head('/slow-input', 'app-behind', { REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(body.length * 16) })];
    for (let i = 0; i < 16; i++) records.push(encodeRecord(FCGI_STDIN, 1, body));
    records.push(encodeRecord(FCGI_STDIN, 1));
    socket.write(Buffer.concat(records));
    const { stdout, ended } = await recordsUntilClose(socket);
    expect(stdout).toMatch(new RegExp(`^Status: 200 OK\\r\\n[^]*\\r\\n\\r\\n${body.length * 16}$`));
    expect(ended).toBe(true);
    expect(slowLogger.entries).toEqual([]);
    await expectSlowHealthy();
  });
});
