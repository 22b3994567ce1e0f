// The fault cases every transport shares: data apart from the runner. Each case is a fault, driven
// through a `FaultTransport` (transports.ts), and what any server must make of it; after each, a
// normal request still succeeds and nothing is left behind. `describeFaults(t)` runs them in the
// calling test file, next to the cases only that transport has.
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { probe, rawConnect, readUntilClose, settleValue, SLOW_INPUT_DELAY, waitFor } from './helpers.js';
import type { Drop, FaultTransport, StreamFaults } from './transports.js';

type Group = 'goes away' | 'stops reading' | 'body stalls' | 'misbehaves';

export interface FaultCase {
  group: Group;
  name: string;
  run(t: FaultTransport): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Drops `socket` the way `how` says: a FIN, an RST, or a FIN on the writing side only. */
function leave(socket: Socket, how: Drop | 'half-closed'): void {
  if (how === 'closed') socket.destroy();
  else if (how === 'reset') socket.resetAndDestroy();
  else socket.end();
}

/** A raw answer starts with `status` (`408 Request Timeout\r\n`, `400 `...) in the transport's own form. */
function expectStatus(s: StreamFaults, answer: string, status: string): void {
  expect(answer).toMatch(new RegExp(`^${s.statusPrefix}${status}`));
}

// --- the peer goes away -------------------------------------------------------------------------

function midHeader(s: StreamFaults, how: Drop | 'half-closed'): FaultCase {
  return {
    group: 'goes away',
    name: `mid-header (${how}): the request is dropped, the app never runs`,
    async run(t) {
      const name = `mid-header-${how}`;
      const socket = await rawConnect(t.address);
      socket.write(s.partialHead('/ok', name));
      await waitFor(() => t.serverSockets.length === 1, 'the server to accept');
      leave(socket, how);
      if (how === 'half-closed') {
        const { bytes } = await readUntilClose(socket);
        expectStatus(s, bytes.toString('latin1'), '400 ');
        if (s.truncatedHeadCode !== undefined) expect(t.logger.entries.map((e) => e.code)).toContain(s.truncatedHeadCode);
      }
      await t.expectHealthy();
      expect(probe(name).calls).toBe(0);
    },
  };
}

function midBody(s: StreamFaults, how: Drop | 'half-closed', code: string | undefined): FaultCase {
  return {
    group: 'goes away',
    name: `mid-body (${how}): the app reading wsgi.input ${code === undefined ? 'sees its read fail' : `gets ${code}`} and nsgi.signal fires`,
    async run(t) {
      const name = `mid-body-${how}`;
      const socket = await rawConnect(t.address);
      socket.write(Buffer.concat([s.post('/input', name, 100_000), Buffer.alloc(1000)]));
      await waitFor(() => probe(name).inputBytes === 1000, 'the first body bytes to reach the app');
      leave(socket, how);
      await waitFor(() => probe(name).done, 'the app to stop reading');
      if (code === undefined) expect(probe(name).inputError).toBeDefined();
      else expect(probe(name).inputError).toBe(code);
      expect(probe(name).aborted).toBe(true);
      if (how === 'half-closed') socket.destroy();
      await t.expectHealthy();
    },
  };
}

function midResponse(drop: Drop): FaultCase {
  return {
    group: 'goes away',
    name: `mid-response (connection ${drop}): the body iterator is closed with return() and nsgi.signal fires`,
    async run(t) {
      const name = `mid-response-${drop}`;
      const socket = await rawConnect(t.address);
      socket.write(t.requestBytes('/forever', name));
      await waitFor(() => probe(name).pulls > 10, 'the response to stream');
      leave(socket, drop);
      await waitFor(() => probe(name).returned, 'return() on the body');
      expect(probe(name).aborted).toBe(true);
      await t.expectHealthy();
    },
  };
}

// --- the peer stops reading ---------------------------------------------------------------------

function stalledThenGone(t: FaultTransport, drop: Drop): FaultCase {
  return {
    group: 'stops reading',
    name: `pauses a 256 MiB response: the body is pulled only a bounded amount ahead; once the ${t.peer} is gone (connection ${drop}) the body is closed`,
    async run() {
      const p = probe(`stalled-${drop}`);
      const socket = await rawConnect(t.address);
      socket.pause();
      const before = process.memoryUsage().arrayBuffers;
      socket.write(t.requestBytes('/big', `stalled-${drop}`));
      const pulls = await settleValue(() => p.pulls);
      // Loopback socket buffers take a few MiB at most; the rest waits in the app, unpulled.
      expect(pulls).toBeGreaterThan(0);
      expect(pulls * 64 * 1024).toBeLessThan(32 * 1024 * 1024);
      expect(t.serverSockets[0]!.writableLength).toBeLessThan(1024 * 1024);
      expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(48 * 1024 * 1024);
      leave(socket, drop);
      await waitFor(() => p.returned, 'return() on the body');
      // Once the peer is gone the sink waits for 'close' rather than returning at once, so the rest of the
      // 256 MiB body stays unpulled and the app sees nsgi.signal (before the fix the sync body was pulled
      // to its end in one blocking loop, and an endless one froze the process).
      expect(p.done).toBe(false);
      expect(p.aborted).toBe(true);
      expect(p.pulls * 64 * 1024).toBeLessThan(64 * 1024 * 1024);
      await t.expectHealthy();
    },
  };
}

// --- the body stalls (bodyTimeout) --------------------------------------------------------------

function bodyStallCases(t: FaultTransport, s: StreamFaults): FaultCase[] {
  const group = 'body stalls';
  return [
    {
      group,
      name: `a body that stalls: after bodyTimeout (${s.bodyTimeout} ms) wsgi.input fails with a LimitError, nsgi.signal fires, the ${t.peer} gets 408`,
      async run() {
        const socket = await rawConnect(t.address);
        const answer = readUntilClose(socket, 10_000);
        socket.write(Buffer.concat([s.post('/input', 'body-stall', 100_000), Buffer.alloc(1000)]));
        const { bytes, timedOut } = await answer;
        expect(timedOut).toBe(false);
        expectStatus(s, bytes.toString('latin1'), '408 Request Timeout\\r\\n');
        await waitFor(() => probe('body-stall').done, 'the app to stop reading');
        expect(probe('body-stall').inputBytes).toBe(1000);
        expect(probe('body-stall').inputError).toBe(s.bodyTimeoutCode);
        expect(probe('body-stall').aborted).toBe(true);
        expect(t.logger.entries.map((e) => e.code)).toContain(s.bodyTimeoutCode);
        await t.expectHealthy();
      },
    },
    {
      group,
      name: 'a response already streaming when the body stalls is cut short, its body closed',
      async run() {
        const socket = await rawConnect(t.address);
        const answer = readUntilClose(socket, 10_000);
        socket.write(Buffer.concat([s.post('/forever', 'stream-then-stall', 10), Buffer.from('abc')]));
        const { bytes, timedOut } = await answer;
        expect(timedOut).toBe(false);
        expectStatus(s, bytes.toString('latin1'), '200 OK\\r\\n');
        s.expectCutShort?.(bytes.toString('latin1'));
        await waitFor(() => probe('stream-then-stall').returned, 'return() on the body');
        expect(probe('stream-then-stall').aborted).toBe(true);
        expect(t.logger.entries.map((e) => e.code)).toContain(s.bodyTimeoutCode);
        await t.expectHealthy();
      },
    },
    {
      group,
      name: 'a body that keeps trickling in is not cut, however long it takes in all',
      async run() {
        const socket = await rawConnect(t.address);
        const answer = readUntilClose(socket, 10_000);
        socket.write(s.post('/input', 'body-trickle', 10));
        // One byte every bodyTimeout / 4: the whole body takes 2.5 timeouts, no gap reaches one.
        for (let i = 0; i < 10; i++) {
          await sleep(s.bodyTimeout / 4);
          socket.write('x');
        }
        const { bytes } = await answer;
        expectStatus(s, bytes.toString('latin1'), '200 OK\\r\\n[^]*\\r\\n\\r\\n10$');
        expect(t.logger.entries).toEqual([]);
        await t.expectHealthy();
      },
    },
    {
      group,
      name: `an app that is behind (body unread for ${SLOW_INPUT_DELAY} ms, past bodyTimeout) is not mistaken for a stalled ${t.peer}`,
      async run() {
        const size = 1024 * 1024;
        const socket = await rawConnect(t.address);
        const answer = readUntilClose(socket, 10_000);
        socket.write(Buffer.concat([s.post('/slow-input', 'body-app-behind', size), Buffer.alloc(size, 0x61)]));
        const { bytes } = await answer;
        expectStatus(s, bytes.toString('latin1'), `200 OK\\r\\n[^]*\\r\\n\\r\\n${size}$`);
        expect(t.logger.entries).toEqual([]);
        await t.expectHealthy();
      },
    },
  ];
}

// --- apps that misbehave ------------------------------------------------------------------------

function answered500(what: string, path: string): FaultCase {
  return {
    group: 'misbehaves',
    name: `an app that ${what} gets a 500, and the server goes on`,
    async run(t) {
      expect((await t.request(path)).status).toBe(500);
      await t.expectHealthy();
    },
  };
}

const foreverAborted: FaultCase = {
  group: 'misbehaves',
  name: 'a never-ending body whose client aborts is closed, and nothing keeps running',
  async run(t) {
    const controller = new AbortController();
    const pending = t.request('/forever', { query: 'forever-aborted', signal: controller.signal });
    await waitFor(() => probe('forever-aborted').pulls > 100, 'the body to stream');
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(t.abortError);
    await waitFor(() => probe('forever-aborted').returned, 'return() on the body');
    const pulls = probe('forever-aborted').pulls;
    await sleep(100);
    expect(probe('forever-aborted').pulls).toBe(pulls);
    await t.expectHealthy();
  },
};

/** Every shared case that applies to `t`: the stream cases only where it has a `stream` part. */
export function faultCases(t: FaultTransport): FaultCase[] {
  const s = t.stream;
  return [
    ...(s ? (['closed', 'reset', 'half-closed'] as const).map((how) => midHeader(s, how)) : []),
    ...(s ? s.bodyCuts.map(([how, code]) => midBody(s, how, code)) : []),
    ...t.drops.map(midResponse),
    ...t.drops.map((drop) => stalledThenGone(t, drop)),
    ...(s ? bodyStallCases(t, s) : []),
    answered500('throws', '/throw'),
    answered500('rejects', '/reject'),
    answered500('never calls startResponse', '/no-start'),
    foreverAborted,
  ];
}

/** Runs the shared cases against `t`, one describe block a group, titled after the transport. */
export function describeFaults(t: FaultTransport): void {
  const titles: Record<Group, string> = {
    'goes away': `${t.name}: the ${t.peer} goes away`,
    'stops reading': `${t.name}: the ${t.peer} stops reading`,
    'body stalls': `${t.name}: a body that stalls (bodyTimeout ${t.stream?.bodyTimeout} ms)`,
    misbehaves: `${t.name}: apps that misbehave`,
  };
  const cases = faultCases(t);
  for (const group of Object.keys(titles) as Group[]) {
    const inGroup = cases.filter((c) => c.group === group);
    if (inGroup.length > 0) describe(titles[group], () => {
      for (const c of inGroup) it(c.name, () => c.run(t));
    });
  }
}
