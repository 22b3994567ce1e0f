// Shared bits of the middleware tests: an app that echoes the environ keys a fixer touches,
// and a runner that wraps the middleware in validate() on both sides, as the issue asks.
import { compose } from '../../src/compose.js';
import { validate } from '../../src/middleware/validate.js';
import { TestClient } from '../../src/testing/client.js';
import type { EnvironOptions } from '../../src/testing/environ.js';
import type { App, Middleware } from '../../src/types.js';

/** The keys the echo app reports. */
export const ECHOED = ['SCRIPT_NAME', 'PATH_INFO', 'QUERY_STRING', 'HTTP_HOST', 'SERVER_NAME', 'SERVER_PORT', 'REMOTE_ADDR', 'HTTPS', 'wsgi.url_scheme', 'nsgi.orig', 'nsgi.params'] as const;

export type Echo = Partial<Record<(typeof ECHOED)[number] | 'forwarded', unknown>>;

/** Replies 200 with the echoed environ keys as JSON (absent keys left out). */
export const echo: App = (environ, startResponse) => {
  const out: Record<string, unknown> = {};
  for (const key of ECHOED) if (environ[key] !== undefined) out[key] = environ[key];
  // Which X-Forwarded-* keys are still visible to the app.
  out.forwarded = Object.keys(environ).filter((k) => k.startsWith('HTTP_X_FORWARDED_')).sort();
  const body = JSON.stringify(out);
  startResponse('200 OK', [['Content-Type', 'application/json'], ['Content-Length', String(Buffer.byteLength(body))]]);
  return [body];
};

/**
 * Runs one request through validate() → middleware → validate() → app and returns the response.
 * `outer: false` drops the outer validate(), for requests that break the contract the way a real
 * server does (lighttpd's SCRIPT_NAME "/") and that the middleware under test must repair.
 */
export async function run(middleware: Middleware, request: EnvironOptions, app: App = echo, outer = true) {
  const client = new TestClient(outer ? compose(validate(), middleware, validate())(app) : compose(middleware, validate())(app));
  return client.request(request);
}

/** Runs one request and returns what the echo app saw. */
export async function seen(middleware: Middleware, request: EnvironOptions, outer = true): Promise<Echo> {
  const res = await run(middleware, request, echo, outer);
  if (res.status !== 200) throw new Error(`expected 200, got ${res.status}: ${res.text}`);
  return res.json<Echo>();
}
