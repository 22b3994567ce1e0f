// FastCGI: createFastCGIServer on 127.0.0.1, requests through FastCGIClient, once with a connection per
// request (as nginx without fastcgi_keep_conn) and once multiplexed on one kept connection (FCGI_KEEP_CONN).
import { FastCGIClient } from '../../../src/fastcgi/client.js';
import { createFastCGIServer } from '../../../src/fastcgi/server.js';
import { errorSink, type Adapter } from './types.js';

function fastcgiAdapter(name: string, keepConn: boolean): Adapter {
  return {
    name,
    liveConnection: true,
    async start({ app }) {
      const errors = errorSink();
      const server = createFastCGIServer(app, { errors: errors.stream });
      const client = new FastCGIClient(await server.listen('127.0.0.1:0'), { keepConn });
      let stderr = '';
      return {
        errors: () => errors.text() + stderr,
        close: async () => {
          (client as { close?: () => void }).close?.();
          await server.close(1000);
        },
        request: async (req) => {
          const res = await client.request({ method: req.method, path: req.path, headers: req.headers, body: req.body, signal: req.signal });
          stderr += res.stderr;
          // No HEAD workaround: the shared driver sends no HEAD body (RFC 3875 §4.3.2), and the suite checks the wire.
          return { status: res.status, statusText: res.statusText, headers: res.headers, body: res.body };
        },
      };
    },
  };
}

export const fastcgi = fastcgiAdapter('fastcgi', false);
export const fastcgiKeepConn = fastcgiAdapter('fastcgi-keepconn', true);
