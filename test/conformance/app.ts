// The one app every adapter serves in the conformance suite. It routes on PATH_INFO so each case
// exercises one rule; it is loaded in-process by most adapters and by the CLI (through tsx) for CGI.
//
//   /echo/...        the request as the app saw it (method, path, query, headers, body sha256) as JSON
//   /stream?mib=N    N MiB of deterministic bytes from an async generator (no Content-Length)
//   /cookies         two Set-Cookie headers, in order
//   /status/NNN      status NNN with the reason "Reason NNN" (and Location for 3xx)
//   /utf8            a UTF-8 text body
//   /throw           throws before startResponse: the driver must answer 500
//   /hang?id=X       a chunk every 20 ms until nsgi.signal fires; records what it saw in `seen`
import { createHash } from 'node:crypto';
import type { App, Body, Environ } from '../../src/types.js';

const BLOCK = 64 * 1024;

/** Block `i` of /stream: differs per block, so a lost, repeated or reordered block changes the digest. */
export function streamBlock(i: number): Buffer {
  const b = Buffer.allocUnsafe(BLOCK);
  for (let j = 0; j < BLOCK; j += 4) b.writeUInt32BE((i * BLOCK + j) >>> 0, j);
  return b;
}

/** The sha256 of what /stream?mib=N sends. */
export function streamSha256(mib: number): string {
  const hash = createHash('sha256');
  for (let i = 0; i < (mib * 1024 * 1024) / BLOCK; i++) hash.update(streamBlock(i));
  return hash.digest('hex');
}

/** What /hang saw, by `?id=`: for adapters whose app runs in the test's process. */
export const seen = new Map<string, { started: boolean; aborted: boolean; returned: boolean }>();

/** The JSON /echo answers. */
export interface Echo {
  method: string;
  scriptName: string;
  pathInfo: string;
  query: string;
  contentType: string | null;
  contentLength: string | null;
  headers: Record<string, string>;
  length: number;
  sha256: string;
  urlScheme: string;
  signal: boolean;
}

async function echo(environ: Environ): Promise<Echo> {
  const hash = createHash('sha256');
  let length = 0;
  for await (const chunk of environ['wsgi.input']) {
    hash.update(chunk as Buffer);
    length += (chunk as Buffer).length;
  }
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(environ)) if (k.startsWith('HTTP_X_') && typeof v === 'string') headers[k] = v;
  return {
    method: environ.REQUEST_METHOD,
    scriptName: environ.SCRIPT_NAME,
    pathInfo: environ.PATH_INFO,
    query: environ.QUERY_STRING,
    contentType: environ.CONTENT_TYPE ?? null,
    contentLength: environ.CONTENT_LENGTH ?? null,
    headers,
    length,
    sha256: hash.digest('hex'),
    urlScheme: environ['wsgi.url_scheme'],
    signal: environ['nsgi.signal'] instanceof AbortSignal,
  };
}

const app: App = async (environ, startResponse): Promise<Body> => {
  const path = environ.PATH_INFO;
  const query = new URLSearchParams(environ.QUERY_STRING);
  if (path.startsWith('/echo')) {
    const body = Buffer.from(JSON.stringify(await echo(environ)));
    startResponse('200 OK', [
      ['Content-Type', 'application/json'],
      ['X-Method', environ.REQUEST_METHOD],
    ]);
    return [body];
  }
  if (path === '/stream') {
    const mib = Number(query.get('mib') ?? '1');
    startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
    return (async function* () {
      for (let i = 0; i < (mib * 1024 * 1024) / BLOCK; i++) yield streamBlock(i);
    })();
  }
  if (path === '/cookies') {
    startResponse('200 OK', [
      ['Set-Cookie', 'a=1; Path=/'],
      ['Content-Type', 'text/plain'],
      ['Set-Cookie', 'b=2; HttpOnly'],
    ]);
    return ['two cookies\n'];
  }
  const status = /^\/status\/([1-9][0-9][0-9])$/.exec(path);
  if (status) {
    const code = Number(status[1]);
    const headers: Array<[string, string]> = [['Content-Type', 'text/plain']];
    if (code >= 300 && code < 400) headers.push(['Location', '/elsewhere']);
    startResponse(`${code} Reason ${code}`, headers);
    return code === 204 || code === 304 ? [] : [`status ${code}\n`];
  }
  if (path === '/utf8') {
    startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
    return ['snow ☃, ', 'crème brûlée, ', '日本語\n'];
  }
  if (path === '/throw') {
    throw new Error('conformance: the app failed on purpose');
  }
  if (path === '/hang') {
    const id = query.get('id') ?? '';
    const state = { started: true, aborted: false, returned: false };
    seen.set(id, state);
    const signal = environ['nsgi.signal'];
    signal.addEventListener('abort', () => (state.aborted = true), { once: true });
    startResponse('200 OK', [['Content-Type', 'text/plain']]);
    let timer: NodeJS.Timeout | undefined;
    const body: AsyncIterableIterator<string> = {
      [Symbol.asyncIterator]() {
        return body;
      },
      // A chunk every 20 ms until the client goes away: over SCGI and FastCGI a full close by the web
      // server looks like a half-close until the next write fails, so a response that writes nothing
      // cannot learn of an abort (see docs/scgi.md).
      next(): Promise<IteratorResult<string>> {
        return new Promise((resolve) => {
          timer = setTimeout(() => resolve({ done: false, value: 'tick\n' }), 20);
        });
      },
      return(): Promise<IteratorResult<string>> {
        clearTimeout(timer);
        state.returned = true;
        return Promise.resolve({ done: true, value: undefined });
      },
    };
    return body;
  }
  startResponse('404 Not Found', [['Content-Type', 'text/plain']]);
  return ['not found\n'];
};

export default app;
