// HTTP: createHTTPServer on 127.0.0.1, requests through node:http (raw headers, so repeats are kept).
import { request as httpRequest } from 'node:http';
import { createHTTPServer } from '../../../src/http/server.js';
import { errorSink, type Adapter, type SuiteResponse } from './types.js';

export const http: Adapter = {
  name: 'http',
  liveConnection: true,
  async start({ app }) {
    const errors = errorSink();
    const server = createHTTPServer(app, { errors: errors.stream });
    const address = await server.listen('127.0.0.1:0');
    const port = Number(address.split(':').pop());
    return {
      errors: errors.text,
      close: () => server.close(1000),
      request: (req) =>
        new Promise<SuiteResponse>((resolve, reject) => {
          const headers: Record<string, string> = Object.fromEntries(req.headers ?? []);
          if (req.body !== undefined) headers['Content-Length'] = String(req.body.length);
          const r = httpRequest({ host: '127.0.0.1', port, method: req.method, path: req.path, headers, agent: false, signal: req.signal }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('error', reject);
            res.on('end', () => {
              const pairs: Array<[string, string]> = [];
              for (let i = 0; i < res.rawHeaders.length; i += 2) pairs.push([res.rawHeaders[i]!, res.rawHeaders[i + 1]!]);
              resolve({ status: res.statusCode!, statusText: res.statusMessage ?? '', headers: pairs, body: Buffer.concat(chunks) });
            });
          });
          r.on('error', reject);
          r.end(req.body);
        }),
    };
  },
};
