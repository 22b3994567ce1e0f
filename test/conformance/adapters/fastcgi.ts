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
          // The FastCGI server sends a HEAD response's body and leaves it to the web server to discard
          // (RFC 3875 §4.3.2 makes that the server's duty when a script sends one; SCGI and CGI omit it).
          // Dropped here as nginx, lighttpd and Apache drop it, so the suite compares what clients see.
          return { status: res.status, statusText: res.statusText, headers: res.headers, body: req.method === 'HEAD' ? Buffer.alloc(0) : res.body };
        },
      };
    },
  };
}

export const fastcgi = fastcgiAdapter('fastcgi', false);
export const fastcgiKeepConn = fastcgiAdapter('fastcgi-keepconn', true);
