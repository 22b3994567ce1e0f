// One app, one set of cases, every transport: "the same app runs everywhere" as a tested fact.
// Cases are in cases.ts, transports in adapters/; a new adapter gets all of this for free.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import app, { seen } from './app.js';
import { adapters } from './adapters/index.js';
import type { Running } from './adapters/types.js';
import { cases } from './cases.js';

const SUITE_APP = { app, module: 'test/conformance/app.ts' };

describe.each(adapters)('conformance over $name', (adapter) => {
  let server: Running;
  beforeAll(async () => {
    server = await adapter.start(SUITE_APP);
  });
  afterAll(async () => {
    await server?.close();
  });

  it.each(cases)('$name', async (c) => {
    const res = await server.request(c.request);
    c.check(res, server);
  });

  // Only where the app runs in this process behind a live connection (not CGI: a process per request).
  if (adapter.liveConnection) it('a client abort fires nsgi.signal and closes the body iterator', async () => {
    const id = `${adapter.name}-${Math.random()}`;
    const controller = new AbortController();
    const pending = server.request({ method: 'GET', path: `/hang?id=${encodeURIComponent(id)}`, signal: controller.signal });
    pending.catch(() => {});
    await waitFor(() => seen.get(id)?.started === true);
    // Let the first chunk reach the client before it goes away.
    await new Promise((r) => setTimeout(r, 20));
    controller.abort();
    await expect(pending).rejects.toThrow();
    await waitFor(() => seen.get(id)?.aborted === true && seen.get(id)?.returned === true);
    expect(seen.get(id)).toEqual({ started: true, aborted: true, returned: true });
  });
});

async function waitFor(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
