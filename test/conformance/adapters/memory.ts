// In memory: the TestClient, no sockets. HEAD bodies are dropped here as any HTTP hop drops them
// (RFC 9110 §9.3.2), so the suite compares what a client sees.
import { AbortedError } from '../../../src/errors.js';
import { TestClient } from '../../../src/testing/client.js';
import type { Adapter } from './types.js';

export const memory: Adapter = {
  name: 'memory',
  liveConnection: true,
  async start({ app }) {
    const client = new TestClient(app);
    let errors = '';
    return {
      errors: () => errors,
      close: async () => {},
      request: async (req) => {
        const res = await client.request({ method: req.method, path: req.path, headers: req.headers, body: req.body, signal: req.signal });
        errors += res.errors;
        if (res.outcome === 'aborted') throw new AbortedError();
        return { status: res.status, statusText: res.statusText, headers: res.headers, body: req.method === 'HEAD' ? Buffer.alloc(0) : res.body };
      },
    };
  },
};
