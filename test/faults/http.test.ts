// Faults against a running HTTP server (createHTTPServer on 127.0.0.1, port 0). The shared cases
// (cases.ts: clients that go away mid-header, mid-body and mid-response, a client that stops reading
// a 256 MiB response, a body that stalls past bodyTimeout 400 ms, apps that throw, reject, never call
// startResponse or never end) run here through the HTTP adapter; below are the HTTP-only ones:
// slowloris on the head (headersTimeout 300 ms), an idle keep-alive connection, too many connections,
// 2,000 connections opened and dropped, and an app that fails after the head. After each: a normal
// request still succeeds, no request is left running, and no socket or timer is left behind.
import { describe, expect, it } from 'vitest';
import { createHTTPServer } from '../../src/http/server.js';
import { describeFaults } from './cases.js';
import { churn, faultApp, memoryLogger, nullErrors, probe, rawConnect, readUntilClose, waitFor } from './helpers.js';
import { httpFaults, httpHead as head } from './transports.js';

const HEADERS_TIMEOUT = 300;
const KEEP_ALIVE_TIMEOUT = 300;
const t = httpFaults({ headersTimeout: HEADERS_TIMEOUT, keepAliveTimeout: KEEP_ALIVE_TIMEOUT, bodyTimeout: 400 });

describeFaults(t);

describe('HTTP: slowloris, idle connections and churn', () => {
  it(`answers 408 and closes a connection whose head trickles in for longer than headersTimeout (${HEADERS_TIMEOUT} ms)`, async () => {
    const socket = await rawConnect(t.address);
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
    await t.expectHealthy();
  });

  it(`closes an idle keep-alive connection after keepAliveTimeout (${KEEP_ALIVE_TIMEOUT} ms)`, async () => {
    const socket = await rawConnect(t.address);
    socket.write(`${head('/ok', 'keep-alive')}\r\n`);
    const { bytes, timedOut } = await readUntilClose(socket, 10_000);
    expect(timedOut).toBe(false);
    expect(bytes.toString('latin1')).toMatch(/^HTTP\/1\.1 200 [^]*\r\n\r\nok$/);
    await t.expectHealthy();
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
    await churn(t.server, t.address, 2000, [Buffer.alloc(0), Buffer.from('GET /'), whole.subarray(0, 30), whole]);
    await t.expectHealthy();
  }, 30_000);
});

describe('HTTP: apps that misbehave', () => {
  it('an app that fails after the head: the connection is cut before the chunked body ends, so the client sees an error', async () => {
    await expect(t.request('/throw-after', { query: 'throw-after' })).rejects.toThrow();
    await waitFor(() => probe('throw-after').returned, 'return() on the body');
    await t.expectHealthy();
  });
});
