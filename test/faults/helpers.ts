// Shared pieces of the fault tests: one app with a misbehaviour per path, probes that record what the
// server did to it (body pulled, return() called, nsgi.signal fired), and the "nothing left behind"
// check (active handles and timers, open connections, activeRequests) run after every fault.
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { setImmediate as tick } from 'node:timers/promises';
import { expect } from 'vitest';
import type { NsgiServer } from '../../src/server.js';
import type { App, Environ, Logger } from '../../src/types.js';

/** 64 KiB, reused for every chunk of a big response: the app itself holds no more than this. */
export const CHUNK = Buffer.alloc(64 * 1024, 0x62);
/** The big response: 256 MiB in 4096 chunks. */
export const BIG_CHUNKS = 4096;
export const BIG_BYTES = CHUNK.length * BIG_CHUNKS;

/** What the app saw during one request (keyed by the `x-probe` query value). */
export interface Probe {
  /** Times the app was called. */
  calls: number;
  pulls: number;
  returned: boolean;
  aborted: boolean;
  inputError: string | undefined;
  inputBytes: number;
  done: boolean;
}

/** How long `/slow-input` waits before reading its body (longer than the body timeouts the tests set). */
export const SLOW_INPUT_DELAY = 1000;

export const probes = new Map<string, Probe>();

/** The probe for `name`, created empty on first use. */
export function probe(name: string): Probe {
  let p = probes.get(name);
  if (p === undefined) {
    p = { calls: 0, pulls: 0, returned: false, aborted: false, inputError: undefined, inputBytes: 0, done: false };
    probes.set(name, p);
  }
  return p;
}

/**
 * The app every fault test serves, routed by PATH_INFO; QUERY_STRING names the probe.
 *
 * - `/ok`: a small normal response.
 * - `/input`: reads the whole body, then answers its size.
 * - `/slow-input`: waits `SLOW_INPUT_DELAY` ms before reading (an app that is behind), then as `/input`.
 * - `/throw`, `/reject`, `/no-start`: fail before the head.
 * - `/throw-after`: fails after the head and a first chunk.
 * - `/forever`: a body that never ends (until the server calls return()).
 * - `/big`: 256 MiB in 64 KiB chunks, counting pulls.
 */
export const faultApp: App = async (environ: Environ, startResponse) => {
  const p = probe(environ.QUERY_STRING);
  p.calls++;
  const signal = environ['nsgi.signal'];
  signal.addEventListener('abort', () => (p.aborted = true), { once: true });
  switch (environ.PATH_INFO) {
    case '/ok':
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return ['ok'];
    case '/slow-input':
    case '/input':
      if (environ.PATH_INFO === '/slow-input') await new Promise((r) => setTimeout(r, SLOW_INPUT_DELAY));
      try {
        for await (const chunk of environ['wsgi.input']) p.inputBytes += (chunk as Buffer).length;
      } catch (error) {
        p.inputError = (error as { code?: string }).code ?? String(error);
        throw error;
      } finally {
        p.done = true;
      }
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return [String(p.inputBytes)];
    case '/throw':
      throw new Error('fault: thrown before startResponse');
    case '/reject':
      await tick();
      throw new Error('fault: rejected before startResponse');
    case '/no-start':
      return ['a body without a head'];
    case '/throw-after':
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return (async function* () {
        try {
          yield 'first part, then a failure';
          // A moment of work before failing, so the peer has read the first part when the reset comes:
          // libuv takes data and an RST that arrive together for a clean EOF (a partial read plus
          // POLLHUP), which would hide the truncation from a Node client (nginx reads on and sees it).
          await new Promise((r) => setTimeout(r, 20));
          throw new Error('fault: thrown after the head went out');
        } finally {
          p.returned = true;
        }
      })();
    case '/forever':
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return (async function* () {
        try {
          for (;;) {
            p.pulls++;
            yield CHUNK.subarray(0, 1024);
            await tick();
          }
        } finally {
          p.returned = true;
        }
      })();
    case '/big':
      startResponse('200 OK', [['Content-Type', 'application/octet-stream'], ['Content-Length', String(BIG_BYTES)]]);
      return (function* () {
        try {
          for (let i = 0; i < BIG_CHUNKS; i++) {
            p.pulls++;
            yield CHUNK;
          }
          p.done = true;
        } finally {
          p.returned = true;
        }
      })();
    default:
      startResponse('404 Not Found', [['Content-Type', 'text/plain']]);
      return ['not found'];
  }
};

/** A logger that keeps what it is given (the fault tests check the codes). */
export function memoryLogger(): Logger & { entries: Array<{ message: string; code: string | undefined }> } {
  const entries: Array<{ message: string; code: string | undefined }> = [];
  return {
    entries,
    error: (message, error) => entries.push({ message, code: (error as { code?: string } | undefined)?.code }),
    info() {},
  };
}

/** A `wsgi.errors` that drops what apps write (their faults are on purpose). */
export function nullErrors(): NodeJS.WritableStream {
  return new Writable({ write: (_c, _e, cb) => cb() });
}

/** Polls `cond` until it holds; fails with `what` after `timeoutMs`. */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Polls until `read()` has not changed for `quietMs` (or `timeoutMs` passed); returns the last value. */
export async function settleValue(read: () => number, quietMs = 300, timeoutMs = 5000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = read();
  let since = Date.now();
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    const now = read();
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) break;
  }
  return last;
}

const WATCHED = ['TCPSocketWrap', 'PipeWrap', 'Timeout', 'TCPServerWrap', 'PipeServerWrap'] as const;
export type ResourceCounts = Record<(typeof WATCHED)[number], number>;

/** Counts of the handles and timers that keep the process alive (`process.getActiveResourcesInfo()`). */
export function resources(): ResourceCounts {
  const counts = Object.fromEntries(WATCHED.map((k) => [k, 0])) as ResourceCounts;
  for (const name of process.getActiveResourcesInfo()) if (name in counts) counts[name as keyof ResourceCounts]++;
  return counts;
}

function connectionsOf(server: NsgiServer): Promise<number> {
  return new Promise((resolve, reject) => server.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
}

/**
 * Nothing left behind: no request running, no connection open, and the counts of sockets, pipes and
 * timers back to `baseline` (after a settle wait: closes and timers are asynchronous).
 */
export async function expectNothingLeft(server: NsgiServer, baseline: ResourceCounts, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let connections = await connectionsOf(server);
  let now = resources();
  const same = (): boolean => WATCHED.every((k) => now[k] <= baseline[k]);
  while ((server.activeRequests !== 0 || connections !== 0 || !same()) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    connections = await connectionsOf(server);
    now = resources();
  }
  expect(server.activeRequests).toBe(0);
  expect(connections).toBe(0);
  // Fewer is fine (a handle of the test runner's may have closed); more is something left behind.
  for (const k of WATCHED) expect({ [k]: now[k] }).toEqual({ [k]: Math.min(now[k], baseline[k]) });
}

/**
 * The baseline to compare with: taken once the server has no connection and the counts have stopped
 * moving (a client's socket closes a moment after its response).
 */
export async function quietBaseline(server: NsgiServer): Promise<ResourceCounts> {
  await waitFor(() => server.activeRequests === 0, 'no request running');
  const deadline = Date.now() + 5000;
  while ((await connectionsOf(server)) !== 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  let last = JSON.stringify(resources());
  let since = Date.now();
  while (Date.now() - since < 200 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    const now = JSON.stringify(resources());
    if (now !== last) {
      last = now;
      since = Date.now();
    }
  }
  return resources();
}

/**
 * Opens a raw connection to `address` (`unix:/path` or `host:port`). A unix socket whose listen backlog
 * is full refuses with EAGAIN (the server accepts in the same event loop as the churning client): wait
 * a moment and retry, as a web server would, a bounded number of times.
 */
export async function rawConnect(address: string): Promise<Socket> {
  for (let attempt = 0; ; attempt++) {
    const socket = address.startsWith('unix:') ? connect({ path: address.slice(5) }) : connect({ host: address.slice(0, address.lastIndexOf(':')), port: Number(address.slice(address.lastIndexOf(':') + 1)) });
    try {
      await once(socket, 'connect');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN' || attempt >= 100) throw error;
      await new Promise((r) => setTimeout(r, 5));
      continue;
    }
    socket.on('error', () => {});
    return socket;
  }
}

/** Collects what arrives on `socket` until it closes (or `timeoutMs`: then it is destroyed). */
export async function readUntilClose(socket: Socket, timeoutMs = 5000): Promise<{ bytes: Buffer; timedOut: boolean }> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  if (socket.destroyed) return { bytes: Buffer.concat(chunks), timedOut: false };
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    socket.destroy();
  }, timeoutMs);
  await once(socket, 'close');
  clearTimeout(timer);
  return { bytes: Buffer.concat(chunks), timedOut };
}

/**
 * Opens `total` connections, at most `concurrency` at a time, and drops each at once or after a few
 * bytes (`prefixes[i % n]`), half of them with a reset (TCP only). Bounded: returns once every one has closed.
 */
export async function churn(server: NsgiServer, address: string, total: number, prefixes: readonly Buffer[], concurrency = 64): Promise<void> {
  // A connection the client has closed still waits in the server's accept queue: keep no more than a
  // few hundred of them unaccepted, or a unix socket's backlog fills and connect() fails with EAGAIN.
  let accepted = 0;
  const onConnection = (): void => void accepted++;
  server.server.on('connection', onConnection);
  server.server.on('drop', onConnection);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < total) {
      const i = next++;
      while (i - accepted > 256) await new Promise((r) => setTimeout(r, 1));
      const socket = await rawConnect(address);
      const prefix = prefixes[i % prefixes.length]!;
      if (prefix.length > 0) socket.write(prefix);
      const closed = once(socket, 'close');
      // A reset (RST) where the socket type has one: TCP. A unix socket can only be closed.
      if (i % 2 === 0 && !address.startsWith('unix:')) socket.resetAndDestroy();
      else socket.destroy();
      await closed;
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    server.server.off('connection', onConnection);
    server.server.off('drop', onConnection);
  }
}
