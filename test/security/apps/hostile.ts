// The app behind test/security: each route answers with one hostile response head, so every
// transport can be asked the same question ("does this reach the wire?"). Loaded in-process by the
// memory, HTTP, FastCGI and SCGI adapters and through the CLI (tsx) for CGI.
//
//   /inject/<case>   startResponse with the status and headers of INJECTIONS[<case>]
//   /env             the request's HTTP_PROXY, the process's HTTP_PROXY/http_proxy, and what a child
//                    process the app spawns inherits (curl, git, a package manager...), as JSON
import { spawnSync } from 'node:child_process';
import type { App, HeaderList } from '../../../src/types.js';

/** The marker every injection tries to smuggle onto the wire as a header of its own. */
export const MARKER = 'X-Injected';

// What a library that configures its HTTP client when imported would read (httpoxy at load time).
const PROXY_AT_IMPORT = process.env.HTTP_PROXY ?? null;

/** Hostile response heads: [status, headers, the error code the driver must report]. */
export const INJECTIONS: Record<string, [string, HeaderList, string]> = {
  'status-crlf': [`200 OK\r\n${MARKER}: 1`, [], 'NSGI_ERR_INVALID_STATUS'],
  'status-lf': [`200 OK\n${MARKER}: 1`, [], 'NSGI_ERR_INVALID_STATUS'],
  'status-nul': ['200 OK\0', [], 'NSGI_ERR_INVALID_STATUS'],
  // U+010D U+010A: written as Latin-1, a code unit keeps only its low byte, so these become CR LF.
  'status-wide-crlf': [`200 OK\u010d\u010a${MARKER}: 1`, [], 'NSGI_ERR_INVALID_STATUS'],
  'name-crlf': ['200 OK', [[`X-A\r\n${MARKER}`, '1']], 'NSGI_ERR_HEADER_INJECTION'],
  'name-nul': ['200 OK', [['X-A\0', '1']], 'NSGI_ERR_HEADER_INJECTION'],
  'name-colon': ['200 OK', [[`${MARKER}: 1\r\nX-B`, '1']], 'NSGI_ERR_HEADER_INJECTION'],
  'value-crlf': ['200 OK', [['X-A', `v\r\n${MARKER}: 1`]], 'NSGI_ERR_HEADER_INJECTION'],
  'value-lf': ['200 OK', [['X-A', `v\n${MARKER}: 1`]], 'NSGI_ERR_HEADER_INJECTION'],
  'value-cr': ['200 OK', [['X-A', `v\r${MARKER}: 1`]], 'NSGI_ERR_HEADER_INJECTION'],
  'value-nul': ['200 OK', [['X-A', 'v\0']], 'NSGI_ERR_HEADER_INJECTION'],
  'value-wide-crlf': ['200 OK', [['X-A', `v\u010d\u010a${MARKER}: 1`]], 'NSGI_ERR_INVALID_HEADER'],
  'value-crlf-crlf-body': ['200 OK', [['X-A', `v\r\n\r\n<script>${MARKER}</script>`]], 'NSGI_ERR_HEADER_INJECTION'],
};

const app: App = (environ, startResponse) => {
  const path = environ.PATH_INFO;
  if (path.startsWith('/inject/')) {
    const entry = INJECTIONS[path.slice('/inject/'.length)];
    if (entry === undefined) throw new Error(`no such injection case ${path}`);
    startResponse(entry[0], entry[1]);
    return ['the body of an injected response'];
  }
  if (path === '/env') {
    const body = JSON.stringify({
      request: environ.HTTP_PROXY ?? null,
      processUpper: process.env.HTTP_PROXY ?? null,
      processAtImport: PROXY_AT_IMPORT,
      processLower: process.env.http_proxy ?? null,
      child: spawnSync('sh', ['-c', 'printf %s "${HTTP_PROXY-unset}"'], { encoding: 'utf8' }).stdout,
    });
    startResponse('200 OK', [['Content-Type', 'application/json']]);
    return [body];
  }
  startResponse('404 Not Found', [['Content-Type', 'text/plain']]);
  return ['not found'];
};

export default app;
