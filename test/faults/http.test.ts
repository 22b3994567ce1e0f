// Faults against a running HTTP server (createHTTPServer on 127.0.0.1, port 0): clients that go away
// mid-header, mid-body and mid-response, a client that stops reading a 256 MiB response, slowloris on
// the head (headersTimeout 300 ms) and the body (bodyTimeout 400 ms), too many connections, an idle keep-alive connection, 2,000 connections opened and dropped,
// and apps that throw, reject, never call startResponse, never end, or fail after the head. After each:
// a normal request still succeeds, no request is left running, and no socket or timer is left behind.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createHTTPServer } from '../../src/http/server.js';
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

const HEADERS_TIMEOUT = 300;
const KEEP_ALIVE_TIMEOUT = 300;
const BODY_TIMEOUT = 400;
const logger = memoryLogger();
let server: NsgiServer;
let address: string;
let port: number;
let baseline: ResourceCounts;
const serverSockets: Socket[] = [];

interface Got {
  status: number;
  body: string;
}

/** One request on its own connection (no agent, Connection: close); rejects when the response breaks. */
function get(path: string, options: { signal?: AbortSignal } = {}): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: false, headers: { Connection: 'close' }, signal: options.signal }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
      res.on('aborted', () => reject(Object.assign(new Error('response aborted'), { code: 'ECONNRESET' })));
    });
    req.on('error', reject);
    req.end();
  });
}

async function expectHealthy(): Promise<void> {
  expect(await get('/ok')).toEqual({ status: 200, body: 'ok' });
  await expectNothingLeft(server, baseline);
}

beforeAll(async () => {
  server = createHTTPServer(faultApp, { logger, errors: nullErrors(), headersTimeout: HEADERS_TIMEOUT, keepAliveTimeout: KEEP_ALIVE_TIMEOUT, bodyTimeout: BODY_TIMEOUT });
  // No connectionsCheckingInterval tweak here: createHTTPServer derives it from the timeouts, so a
  // 300 ms headersTimeout is enforced within ~150 ms (Node's default check runs every 30 s).
  server.server.on('connection', (s: Socket) => serverSockets.push(s));
  address = await server.listen('127.0.0.1:0');
  port = Number(address.split(':').pop());
  await get('/ok');
  baseline = await quietBaseline(server);
});

afterAll(() => server.close(1000));

beforeEach(() => {
  serverSockets.length = 0;
  logger.entries.length = 0;
});

function head(path: string, probeName: string, extra = ''): string {
  return `GET ${path}?${probeName} HTTP/1.1\r\nHost: faults\r\n${extra}`;
}

describe('HTTP: the client goes away', () => {
  it.each([
    ['closed', 'destroy'],
    ['reset', 'reset'],
    ['half-closed', 'end'],
  ] as const)('mid-header (%s): the request is dropped, the app never runs', async (_what, how) => {
    const name = `mid-header-${how}`;
    const socket = await rawConnect(address);
    socket.write(head('/ok', name));
    await waitFor(() => serverSockets.length === 1, 'the server to accept');
    if (how === 'destroy') socket.destroy();
    else if (how === 'reset') socket.resetAndDestroy();
    else {
      socket.end();
      const { bytes } = await readUntilClose(socket);
      expect(bytes.toString('latin1')).toMatch(/^HTTP\/1\.1 400 /);
    }
    await expectHealthy();
    expect(probe(name).calls).toBe(0);
  });

  it.each([
    ['closed', 'destroy'],
    ['reset', 'reset'],
  ] as const)('mid-body (%s): the app reading wsgi.input sees its read fail and nsgi.signal fire', async (_what, how) => {
    const name = `mid-body-${how}`;
    const socket = await rawConnect(address);
    socket.write(`POST /input?${name} HTTP/1.1\r\nHost: faults\r\nContent-Length: 100000\r\n\r\n`);
    socket.write(Buffer.alloc(1000));
    await waitFor(() => probe(name).inputBytes === 1000, 'the first body bytes to reach the app');
    if (how === 'destroy') socket.destroy();
    else socket.resetAndDestroy();
    await waitFor(() => probe(name).done, 'the app to stop reading');
    expect(probe(name).inputError).toBeDefined();
    expect(probe(name).aborted).toBe(true);
    await expectHealthy();
  });

  it('mid-response: the body iterator is closed with return() and nsgi.signal fires', async () => {
    const socket = await rawConnect(address);
    socket.write(`${head('/forever', 'mid-response')}\r\n`);
    await waitFor(() => probe('mid-response').pulls > 10, 'the response to stream');
    socket.resetAndDestroy();
    await waitFor(() => probe('mid-response').returned, 'return() on the body');
    expect(probe('mid-response').aborted).toBe(true);
    await expectHealthy();
  });
});

describe('HTTP: the client stops reading', () => {
  it('pauses a 256 MiB response: the body is pulled only a bounded amount ahead; once the client is gone it is abandoned', async () => {
    const p = probe('stalled');
    const socket = await rawConnect(address);
    socket.pause();
    const before = process.memoryUsage().arrayBuffers;
    socket.write(`${head('/big', 'stalled')}\r\n`);
    const pulls = await settleValue(() => p.pulls);
    expect(pulls).toBeGreaterThan(0);
    expect(pulls * 64 * 1024).toBeLessThan(32 * 1024 * 1024);
    expect(serverSockets[0]!.writableLength).toBeLessThan(1024 * 1024);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(48 * 1024 * 1024);
    socket.resetAndDestroy();
    await waitFor(() => p.returned, 'return() on the body');
    expect(p.done).toBe(false);
    expect(p.aborted).toBe(true);
    await expectHealthy();
  });
});

describe('HTTP: slowloris, idle connections and churn', () => {
  it(`answers 408 and closes a connection whose head trickles in for longer than headersTimeout (${HEADERS_TIMEOUT} ms)`, async () => {
    const socket = await rawConnect(address);
    const answer = readUntilClose(socket, 10_000);
    socket.write(head('/ok', 'slowloris'));
    let sent = 0;
    // A new header line every 50 ms, never the blank line: the head never ends.
    while (!socket.destroyed && socket.writable && sent < 200) {
      socket.write(`X-Slow-${sent}: 1\r\n`);
      sent++;
      await new Promise((r) => setTimeout(r, 50));
    }
    const { bytes, timedOut } = await answer;
    expect(timedOut).toBe(false);
    expect(sent).toBeLessThan(200);
    expect(bytes.toString('latin1')).toMatch(/^HTTP\/1\.1 408 /);
    expect(probe('slowloris').calls).toBe(0);
    await expectHealthy();
  });

  it(`closes an idle keep-alive connection after keepAliveTimeout (${KEEP_ALIVE_TIMEOUT} ms)`, async () => {
    const socket = await rawConnect(address);
    socket.write(`${head('/ok', 'keep-alive')}\r\n`);
    const { bytes, timedOut } = await readUntilClose(socket, 10_000);
    expect(timedOut).toBe(false);
    expect(bytes.toString('latin1')).toMatch(/^HTTP\/1\.1 200 [^]*\r\n\r\nok$/);
    await expectHealthy();
  });

  const post = (path: string, probeName: string, length: number): string =>
    `POST ${path}?${probeName} HTTP/1.1\r\nHost: faults\r\nContent-Length: ${length}\r\nConnection: close\r\n\r\n`;

  it(`a body that stalls: after bodyTimeout (${BODY_TIMEOUT} ms) wsgi.input fails with a LimitError, nsgi.signal fires, the client gets 408`, async () => {
    const socket = await rawConnect(address);
    const answer = readUntilClose(socket, 10_000);
    socket.write(post('/input', 'body-stall', 100_000) + 'x'.repeat(1000));
    const { bytes, timedOut } = await answer;
    expect(timedOut).toBe(false);
    expect(bytes.toString('latin1')).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    await waitFor(() => probe('body-stall').done, 'the app to stop reading');
    expect(probe('body-stall').inputBytes).toBe(1000);
    expect(probe('body-stall').inputError).toBe('NSGI_ERR_HTTP_BODY_TIMEOUT');
    expect(probe('body-stall').aborted).toBe(true);
    expect(logger.entries.map((e) => e.code)).toContain('NSGI_ERR_HTTP_BODY_TIMEOUT');
    await expectHealthy();
  });

  it('a response already streaming when the body stalls is cut short (no final chunk), its body closed', async () => {
    const socket = await rawConnect(address);
    const answer = readUntilClose(socket, 10_000);
    socket.write(post('/forever', 'stream-then-stall', 10) + 'abc');
    const { bytes, timedOut } = await answer;
    expect(timedOut).toBe(false);
    const text = bytes.toString('latin1');
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(text.endsWith('\r\n0\r\n\r\n')).toBe(false);
    await waitFor(() => probe('stream-then-stall').returned, 'return() on the body');
    expect(probe('stream-then-stall').aborted).toBe(true);
    expect(logger.entries.map((e) => e.code)).toContain('NSGI_ERR_HTTP_BODY_TIMEOUT');
    await expectHealthy();
  });

  it('a body that keeps trickling in is not cut, however long it takes in all', async () => {
    const socket = await rawConnect(address);
    const answer = readUntilClose(socket, 10_000);
    socket.write(post('/input', 'body-trickle', 10));
    // One byte every BODY_TIMEOUT / 4: the whole body takes 2.5 timeouts, no gap reaches one.
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, BODY_TIMEOUT / 4));
      socket.write('x');
    }
    const { bytes } = await answer;
    expect(bytes.toString('latin1')).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\n10$/);
    expect(logger.entries).toEqual([]);
    await expectHealthy();
  });

  it(`an app that is behind (body unread for ${SLOW_INPUT_DELAY} ms, past bodyTimeout) is not mistaken for a stalled client`, async () => {
    const size = 1024 * 1024;
    const socket = await rawConnect(address);
    const answer = readUntilClose(socket, 10_000);
    socket.write(post('/slow-input', 'body-app-behind', size) + 'a'.repeat(size));
    const { bytes } = await answer;
    expect(bytes.toString('latin1')).toMatch(new RegExp(`^HTTP/1\\.1 200 OK\\r\\n[^]*\\r\\n\\r\\n${size}$`));
    expect(logger.entries).toEqual([]);
    await expectHealthy();
  });

  it('closes connections past maxConnections on accept, logged; 1024 by default', async () => {
    expect(createHTTPServer(faultApp).server.maxConnections).toBe(1024);
    const few = memoryLogger();
    const small = createHTTPServer(faultApp, { logger: few, errors: nullErrors(), maxConnections: 2 });
    let accepted = 0;
    small.server.on('connection', () => accepted++);
    const smallAddress = await small.listen('127.0.0.1:0');
    const held = [await rawConnect(smallAddress), await rawConnect(smallAddress)];
    await waitFor(() => accepted === 2, 'the two connections to be accepted');
    const extra = await rawConnect(smallAddress);
    extra.write(`${head('/ok', 'over-limit')}\r\n`);
    const { bytes, timedOut } = await readUntilClose(extra);
    expect([bytes.length, timedOut]).toEqual([0, false]);
    expect(few.entries.map((e) => e.code)).toEqual(['NSGI_ERR_HTTP_TOO_MANY_CONNECTIONS']);
    expect(probe('over-limit').calls).toBe(0);
    for (const s of held) s.destroy();
    await small.close(1000);
  });

  it('survives 2,000 connections opened and dropped (empty, mid-request-line, mid-header, whole request), half of them reset', async () => {
    const whole = Buffer.from(`${head('/ok', 'churn')}\r\n`);
    await churn(server, address, 2000, [Buffer.alloc(0), Buffer.from('GET /'), whole.subarray(0, 30), whole]);
    await expectHealthy();
  }, 30_000);
});

describe('HTTP: apps that misbehave', () => {
  it.each([
    ['throws', '/throw'],
    ['rejects', '/reject'],
    ['never calls startResponse', '/no-start'],
  ])('an app that %s gets a 500, and the server goes on', async (_what, path) => {
    expect((await get(path)).status).toBe(500);
    await expectHealthy();
  });

  it('an app that fails after the head: the connection is cut before the chunked body ends, so the client sees an error', async () => {
    await expect(get('/throw-after?throw-after')).rejects.toThrow();
    await waitFor(() => probe('throw-after').returned, 'return() on the body');
    await expectHealthy();
  });

  it('a never-ending body whose client aborts is closed, and nothing keeps running', async () => {
    const controller = new AbortController();
    const pending = get('/forever?forever-gone', { signal: controller.signal });
    await waitFor(() => probe('forever-gone').pulls > 100, 'the body to stream');
    controller.abort();
    await expect(pending).rejects.toThrow();
    await waitFor(() => probe('forever-gone').returned, 'return() on the body');
    const pulls = probe('forever-gone').pulls;
    await new Promise((r) => setTimeout(r, 100));
    expect(probe('forever-gone').pulls).toBe(pulls);
    await expectHealthy();
  });
});
