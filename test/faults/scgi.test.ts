// Faults against a running SCGI server (createSCGIServer on 127.0.0.1, port 0). The shared cases
// (cases.ts: peers that go away mid-header, mid-body and mid-response, a peer that stops reading a
// 256 MiB response, a body that stalls past bodyTimeout 400 ms, apps that throw, reject, never call
// startResponse or never end) run here through the SCGI adapter; below are the SCGI-only ones:
// slowloris on the header (headerTimeout 300 ms), a connection that sends nothing, 2,000 connections
// opened and dropped, and an app that fails after the head. After each: a normal request still
// succeeds, no request is left running, and no socket or timer is left behind.
import { describe, expect, it } from 'vitest';
import { NsgiError } from '../../src/errors.js';
import { describeFaults } from './cases.js';
import { churn, probe, rawConnect, readUntilClose, waitFor } from './helpers.js';
import { scgiFaults, scgiHeader as header } from './transports.js';

const HEADER_TIMEOUT = 300;
// lingerTimeout short too: after an error response the server drains the peer for this long.
const t = scgiFaults({ headerTimeout: HEADER_TIMEOUT, bodyTimeout: 400, lingerTimeout: 500 });

describeFaults(t);

describe('SCGI: slowloris and churn', () => {
  it(`closes a connection whose header trickles in for longer than headerTimeout (${HEADER_TIMEOUT} ms), with 408`, async () => {
    const bytes = header('/ok', 'slowloris');
    const socket = await rawConnect(t.address);
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
    expect(t.logger.entries.map((e) => e.code)).toContain('NSGI_ERR_SCGI_HEADER_TIMEOUT');
    expect(probe('slowloris').calls).toBe(0);
    await t.expectHealthy();
  });

  it('closes a connection that sends nothing at all once headerTimeout passes', async () => {
    const socket = await rawConnect(t.address);
    const { timedOut } = await readUntilClose(socket, 10_000);
    expect(timedOut).toBe(false);
    await t.expectHealthy();
  });

  it('survives 2,000 connections opened and dropped (empty, in the length, mid-header, whole request), half of them reset', async () => {
    const whole = header('/ok', 'churn');
    await churn(t.server, t.address, 2000, [Buffer.alloc(0), Buffer.from('5'), whole.subarray(0, 30), whole]);
    await t.expectHealthy();
  }, 30_000);
});

describe('SCGI: apps that misbehave', () => {
  it('an app that fails after the head: the connection is reset, so the client sees a truncated response', async () => {
    const error = await t.request('/throw-after', { query: 'throw-after' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(NsgiError);
    expect((error as NsgiError).code).toBe('NSGI_ERR_SCGI_TRUNCATED');
    await waitFor(() => probe('throw-after').returned, 'return() on the body');
    await t.expectHealthy();
  });
});
