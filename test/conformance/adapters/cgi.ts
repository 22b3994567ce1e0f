// CGI: one `nsgi serve MODULE --cgi` process per request, from the sources (helpers/cli.ts), with the
// meta-variables a CGI server sets (RFC 3875 §4.1) in its environment and the body on stdin; stdout
// is read with the shared CGIResponseParser.
import { spawn } from 'node:child_process';
import { CGIResponseParser } from '../../../src/cgi-response.js';
import { cgiHeaderName, decodePath } from '../../../src/environ.js';
import { nsgiArgv, ROOT } from '../../helpers/cli.js';
import type { Adapter, SuiteResponse } from './types.js';

export const cgi: Adapter = {
  name: 'cgi',
  liveConnection: false,
  async start({ module }) {
    let errors = '';
    return {
      errors: () => errors,
      close: async () => {},
      request: (req) => {
        const q = req.path.indexOf('?');
        const env: Record<string, string> = {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          GATEWAY_INTERFACE: 'CGI/1.1',
          REQUEST_METHOD: req.method,
          SCRIPT_NAME: '',
          PATH_INFO: decodePath(q === -1 ? req.path : req.path.slice(0, q)),
          QUERY_STRING: q === -1 ? '' : req.path.slice(q + 1),
          REQUEST_URI: req.path,
          SERVER_NAME: '127.0.0.1',
          SERVER_PORT: '80',
          SERVER_PROTOCOL: 'HTTP/1.1',
          SERVER_SOFTWARE: 'nsgi-conformance',
          REMOTE_ADDR: '127.0.0.1',
        };
        for (const [name, value] of req.headers ?? []) env[cgiHeaderName(name)] = value;
        if (req.body !== undefined && req.body.length > 0) env.CONTENT_LENGTH = String(req.body.length);
        const [node, argv] = nsgiArgv(['serve', module, '--cgi']);
        return new Promise<SuiteResponse>((resolve, reject) => {
          const child = spawn(node, argv, { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
          const out: Buffer[] = [];
          child.stdout.on('data', (d: Buffer) => out.push(d));
          child.stderr.on('data', (d: Buffer) => (errors += d.toString()));
          child.stdin.on('error', () => {}); // the script may exit without reading a body it does not need
          child.once('error', reject);
          child.once('close', () => {
            try {
              const head = new CGIResponseParser().push(Buffer.concat(out));
              if (head === undefined) throw new Error(`cgi: no response head; stderr: ${errors}`);
              resolve({ status: head.status, statusText: head.statusText, headers: head.headers, body: head.rest });
            } catch (err) {
              reject(err);
            }
          });
          child.stdin.end(req.body);
        });
      },
    };
  },
};
