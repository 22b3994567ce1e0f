// Faults against a running SCGI server (createSCGIServer on 127.0.0.1, port 0): peers that go away
// mid-header and mid-body (closed, reset, half-closed), mid-response, a peer that stops reading a
// 256 MiB response, slowloris on the header (headerTimeout 300 ms) and on the body (bodyTimeout 400 ms), 2,000 connections opened and dropped,
// and apps that throw, reject, never call startResponse, never end, or fail after the head. After each:
// a normal request still succeeds, no request is left running, and no socket or timer is left behind.
import type { Socket } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AbortedError, NsgiError } from '../../src/errors.js';
import { SCGIClient } from '../../src/scgi/client.js';
import { encodeSCGIHeader } from '../../src/scgi/parser.js';
import { createSCGIServer } from '../../src/scgi/server.js';
import type { NsgiServer } from '../../src/server.js';
import {
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

const HEADER_TIMEOUT = 300;
const BODY_TIMEOUT = 400;
const logger = memoryLogger();
let server: NsgiServer;
let address: string;
let client: SCGIClient;
let baseline: ResourceCounts;
const serverSockets: Socket[] = [];

function header(path: string, probeName: string, contentLength = 0, method = 'GET'): Buffer {
  return encodeSCGIHeader({ REQUEST_METHOD: method, SCRIPT_NAME: '', PATH_INFO: path, QUERY_STRING: probeName, SERVER_PROTOCOL: 'HTTP/1.1' }, contentLength);
}

async function expectHealthy(): Promise<void> {
  const res = await client.request({ path: '/ok' });
  expect([res.status, res.body.toString()]).toEqual([200, 'ok']);
  await expectNothingLeft(server, baseline);
}

beforeAll(async () => {
  // lingerTimeout short too: after an error response the server drains the peer for this long.
  server = createSCGIServer(faultApp, { logger, errors: nullErrors(), headerTimeout: HEADER_TIMEOUT, bodyTimeout: BODY_TIMEOUT, lingerTimeout: 500 });
  server.server.on('connection', (s: Socket) => serverSockets.push(s));
  address = await server.listen('127.0.0.1:0');
  client = new SCGIClient(address);
  await client.request({ path: '/ok' });
  baseline = await quietBaseline(server);
});

afterAll(() => server.close(1000));

beforeEach(() => {
  serverSockets.length = 0;
  logger.entries.length = 0;
});

describe('SCGI: the web server goes away', () => {
  it.each([
    ['closed', 'destroy'],
    ['reset', 'reset'],
    ['half-closed', 'end'],
  ] as const)('mid-header (%s): the request is dropped, the app never runs', async (_what, how) => {
    const name = `mid-header-${how}`;
    const bytes = header('/ok', name);
    const socket = await rawConnect(address);
    socket.write(bytes.subarray(0, bytes.length >> 1));
    await waitFor(() => serverSockets.length === 1, 'the server to accept');
    if (how === 'destroy') socket.destroy();
    else if (how === 'reset') socket.resetAndDestroy();
    else {
      socket.end();
      // A half-close inside the header is a truncated request: answered 400, then closed.
      const { bytes: answer } = await readUntilClose(socket);
      expect(answer.toString('latin1')).toMatch(/^Status: 400 /);
      expect(logger.entries.map((e) => e.code)).toContain('NSGI_ERR_SCGI_TRUNCATED');
    }
    await expectHealthy();
    expect(probe(name).calls).toBe(0);
  });

  // A FIN (close or half-close) inside the body is a truncated request; a reset is a peer gone.
  it.each([
    ['closed', 'NSGI_ERR_SCGI_TRUNCATED', 'destroy'],
    ['reset', 'NSGI_ERR_ABORTED', 'reset'],
    ['half-closed', 'NSGI_ERR_SCGI_TRUNCATED', 'end'],
  ] as const)('mid-body (%s): the app reading wsgi.input gets %s and nsgi.signal fires', async (_what, code, how) => {
    const name = `mid-body-${how}`;
    const socket = await rawConnect(address);
    socket.write(Buffer.concat([header('/input', name, 100_000, 'POST'), Buffer.alloc(1000)]));
    await waitFor(() => probe(name).inputBytes === 1000, 'the first body bytes to reach the app');
    if (how === 'destroy') socket.destroy();
    else if (how === 'reset') socket.resetAndDestroy();
    else socket.end();
    await waitFor(() => probe(name).done, 'the app to stop reading');
    expect(probe(name).inputError).toBe(code);
    expect(probe(name).aborted).toBe(true);
    if (how === 'end') socket.destroy();
    await expectHealthy();
  });

  it('mid-response: the body iterator is closed with return() and nsgi.signal fires', async () => {
    const socket = await rawConnect(address);
    socket.write(header('/forever', 'mid-response'));
    await waitFor(() => probe('mid-response').pulls > 10, 'the response to stream');
    socket.resetAndDestroy();
    await waitFor(() => probe('mid-response').returned, 'return() on the body');
    expect(probe('mid-response').aborted).toBe(true);
    await expectHealthy();
  });
});

describe('SCGI: the web server stops reading', () => {
  it('pauses a 256 MiB response: the body is pulled only a bounded amount ahead; once the peer is gone the body is closed', async () => {
    const p = probe('stalled');
    const socket = await rawConnect(address);
    socket.pause();
    const before = process.memoryUsage().arrayBuffers;
    socket.write(header('/big', 'stalled'));
    const pulls = await settleValue(() => p.pulls);
    // Loopback TCP buffers take a few MiB at most; the rest waits in the app, unpulled.
    expect(pulls).toBeGreaterThan(0);
    expect(pulls * 64 * 1024).toBeLessThan(32 * 1024 * 1024);
    expect(serverSockets[0]!.writableLength).toBeLessThan(1024 * 1024);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(48 * 1024 * 1024);
    socket.destroy();
    await waitFor(() => p.returned, 'return() on the body');
    // Once the peer is gone the sink waits for 'close' rather than returning at once, so the rest of the
    // 256 MiB body stays unpulled and the app sees nsgi.signal (before the fix the sync body was pulled
    // to its end in one blocking loop, and an endless one froze the process).
    expect(p.aborted).toBe(true);
    expect(p.pulls * 64 * 1024).toBeLessThan(64 * 1024 * 1024);
    await expectHealthy();
  });
});

describe('SCGI: slowloris and churn', () => {
  it(`closes a connection whose header trickles in for longer than headerTimeout (${HEADER_TIMEOUT} ms), with 408`, async () => {
    const bytes = header('/ok', 'slowloris');
    const socket = await rawConnect(address);
    const answer = readUntilClose(socket, 10_000);
    let sent = 0;
    // One byte every 50 ms: the whole header would take bytes.length * 50 ms, far past the limit.
    while (!socket.destroyed && socket.writable && sent < bytes.length - 1) {
      socket.write(bytes.subarray(sent, sent + 1));
      sent++;
      await new Promise((r) => setTimeout(r, 50));
    }
    const { bytes: got, timedOut } = await answer;
    expect(timedOut).toBe(false);
    expect(sent).toBeLessThan(bytes.length - 1);
    expect(got.toString('latin1')).toMatch(/^Status: 408 /);
    expect(logger.entries.map((e) => e.code)).toContain('NSGI_ERR_SCGI_HEADER_TIMEOUT');
    expect(probe('slowloris').calls).toBe(0);
    await expectHealthy();
  });

  it('closes a connection that sends nothing at all once headerTimeout passes', async () => {
    const socket = await rawConnect(address);
    const { timedOut } = await readUntilClose(socket, 10_000);
    expect(timedOut).toBe(false);
    await expectHealthy();
  });

  it(`a body that stalls: after bodyTimeout (${BODY_TIMEOUT} ms) wsgi.input fails with a LimitError, nsgi.signal fires, the peer gets 408`, async () => {
    const socket = await rawConnect(address);
    const answer = readUntilClose(socket, 10_000);
    socket.write(Buffer.concat([header('/input', 'body-stall', 100_000, 'POST'), Buffer.alloc(1000)]));
    const { bytes, timedOut } = await answer;
    expect(timedOut).toBe(false);
    expect(bytes.toString('latin1')).toMatch(/^Status: 408 Request Timeout\r\n/);
    await waitFor(() => probe('body-stall').done, 'the app to stop reading');
    expect(probe('body-stall').inputBytes).toBe(1000);
    expect(probe('body-stall').inputError).toBe('NSGI_ERR_SCGI_BODY_TIMEOUT');
    expect(probe('body-stall').aborted).toBe(true);
    expect(logger.entries.map((e) => e.code)).toContain('NSGI_ERR_SCGI_BODY_TIMEOUT');
    await expectHealthy();
  });

  it('a response already streaming when the body stalls is reset, its body closed', async () => {
    const socket = await rawConnect(address);
    const answer = readUntilClose(socket, 10_000);
    socket.write(Buffer.concat([header('/forever', 'stream-then-stall', 10, 'POST'), Buffer.from('abc')]));
    const { bytes, timedOut } = await answer;
    expect(timedOut).toBe(false);
    expect(bytes.toString('latin1')).toMatch(/^Status: 200 OK\r\n/);
    await waitFor(() => probe('stream-then-stall').returned, 'return() on the body');
    expect(probe('stream-then-stall').aborted).toBe(true);
    expect(logger.entries.map((e) => e.code)).toContain('NSGI_ERR_SCGI_BODY_TIMEOUT');
    await expectHealthy();
  });

  it('a body that keeps trickling in is not cut, however long it takes in all', async () => {
    const socket = await rawConnect(address);
    const answer = readUntilClose(socket, 10_000);
    socket.write(header('/input', 'body-trickle', 10, 'POST'));
    // One byte every BODY_TIMEOUT / 4: the whole body takes 2.5 timeouts, no gap reaches one.
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, BODY_TIMEOUT / 4));
      socket.write('x');
    }
    const { bytes } = await answer;
    expect(bytes.toString('latin1')).toMatch(/^Status: 200 OK\r\n[^]*\r\n\r\n10$/);
    expect(logger.entries).toEqual([]);
    await expectHealthy();
  });

  it(`an app that is behind (socket paused for ${SLOW_INPUT_DELAY} ms, past bodyTimeout) is not mistaken for a stalled peer`, async () => {
    const size = 1024 * 1024;
    const socket = await rawConnect(address);
    const answer = readUntilClose(socket, 10_000);
    socket.write(Buffer.concat([header('/slow-input', 'body-app-behind', size, 'POST'), Buffer.alloc(size, 0x61)]));
    const { bytes } = await answer;
    expect(bytes.toString('latin1')).toMatch(new RegExp(`^Status: 200 OK\\r\\n[^]*\\r\\n\\r\\n${size}$`));
    expect(logger.entries).toEqual([]);
    await expectHealthy();
  });

  it('survives 2,000 connections opened and dropped (empty, in the length, mid-header, whole request), half of them reset', async () => {
    const whole = header('/ok', 'churn');
    await churn(server, address, 2000, [Buffer.alloc(0), Buffer.from('5'), whole.subarray(0, 30), whole]);
    await expectHealthy();
  }, 30_000);
});

describe('SCGI: apps that misbehave', () => {
  it.each([
    ['throws', '/throw'],
    ['rejects', '/reject'],
    ['never calls startResponse', '/no-start'],
  ])('an app that %s gets a 500, and the server goes on', async (_what, path) => {
    const res = await client.request({ path });
    expect(res.status).toBe(500);
    await expectHealthy();
  });

  it('an app that fails after the head: the connection is reset, so the client sees a truncated response', async () => {
    const error = await client.request({ path: '/throw-after', params: { QUERY_STRING: 'throw-after' } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(NsgiError);
    expect((error as NsgiError).code).toBe('NSGI_ERR_SCGI_TRUNCATED');
    await waitFor(() => probe('throw-after').returned, 'return() on the body');
    await expectHealthy();
  });

  it('a never-ending body whose client aborts is closed, and nothing keeps running', async () => {
    const controller = new AbortController();
    const pending = client.request({ path: '/forever', params: { QUERY_STRING: 'forever-gone' }, signal: controller.signal });
    await waitFor(() => probe('forever-gone').pulls > 100, 'the body to stream');
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(AbortedError);
    await waitFor(() => probe('forever-gone').returned, 'return() on the body');
    const pulls = probe('forever-gone').pulls;
    await new Promise((r) => setTimeout(r, 100));
    expect(probe('forever-gone').pulls).toBe(pulls);
    await expectHealthy();
  });
});
