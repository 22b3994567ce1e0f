// SCGI: createSCGIServer on 127.0.0.1, requests through SCGIClient (what a web server would send).
import { SCGIClient } from '../../../src/scgi/client.js';
import { createSCGIServer } from '../../../src/scgi/server.js';
import { errorSink, type Adapter } from './types.js';

export const scgi: Adapter = {
  name: 'scgi',
  liveConnection: true,
  async start({ app }) {
    const errors = errorSink();
    const server = createSCGIServer(app, { errors: errors.stream });
    const client = new SCGIClient(await server.listen('127.0.0.1:0'));
    return {
      errors: errors.text,
      close: () => server.close(1000),
      request: async (req) => {
        const res = await client.request({ method: req.method, path: req.path, headers: req.headers, body: req.body, signal: req.signal });
        return { status: res.status, statusText: res.statusText, headers: res.headers, body: res.body };
      },
    };
  },
};
