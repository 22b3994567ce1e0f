// The app the real-server SCGI and CGI tests serve: it answers the CGI variables the web server
// sent and the length and sha256 of the body it read, as JSON. Loaded in-process (SCGI) and by the
// CLI through tsx (CGI under Apache mod_cgi), so what a web server sends can be written down.
import { createHash } from 'node:crypto';
import type { App } from '../../src/types.js';

/** What the app answers. */
export interface PeerEcho {
  vars: Record<string, string>;
  length: number;
  sha256: string;
  runOnce: boolean;
}

const app: App = async (environ, startResponse) => {
  const hash = createHash('sha256');
  let length = 0;
  for await (const chunk of environ['wsgi.input']) {
    hash.update(chunk as Buffer);
    length += (chunk as Buffer).length;
  }
  const vars: Record<string, string> = {};
  for (const [k, v] of Object.entries(environ)) if (typeof v === 'string' && /^[A-Z][A-Z0-9_]*$/.test(k)) vars[k] = v;
  const out: PeerEcho = { vars, length, sha256: hash.digest('hex'), runOnce: environ['wsgi.run_once'] };
  startResponse('200 OK', [
    ['Content-Type', 'application/json'],
    ['Set-Cookie', 'a=1'],
    ['Set-Cookie', 'b=2'],
  ]);
  return [JSON.stringify(out)];
};

export default app;
