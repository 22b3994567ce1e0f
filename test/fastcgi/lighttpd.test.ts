// nsgi under a real lighttpd mod_fastcgi, the two ways lighttpd is set up:
// - "bin-path": lighttpd spawns `nsgi serve app.mjs` itself with the listening
//   socket on fd 0 (no transport flag: nsgi must detect it), "max-procs" => 1,
//   variables from "bin-environment";
// - "mode" => "authorizer": an nsgi app decides, per request, whether lighttpd
//   may serve a static folder ("docroot"); a 200 lets the request through,
//   anything else is the response (FastCGI 1.0 §6.3).
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFastCGIServer } from '../../src/fastcgi/server.js';
import type { NsgiServer } from '../../src/server.js';
import authorizer from '../fixtures/apps/authorizer.mjs';
import { nsgiShellCommand, ROOT } from '../helpers/cli.js';
import { freePort, makeTempDir, removeTempDir, startLighttpd, type Peer } from '../helpers/peers.js';
import { lighttpdConfig } from './peer-configs.js';

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

describe('lighttpd mod_fastcgi', () => {
  let lighttpd: Peer;
  let auth: NsgiServer;
  let base: string;

  beforeAll(async () => {
    const dir = makeTempDir('nsgi-lighttpd-');
    // The app: lighttpd execs this script with the FastCGI listening socket as fd 0. `cd` to the
    // repository first: the command from nsgiShellCommand resolves `--import tsx` from the cwd.
    const script = join(dir, 'app.sh');
    writeFileSync(script, `#!/bin/sh\ncd '${ROOT}' || exit 1\nexec ${nsgiShellCommand(['serve', `${ROOT}test/fixtures/apps/router.mjs`])} 2>>${dir}/app.log\n`, { mode: 0o755 });
    // The authorizer runs in this process; lighttpd connects to its socket.
    auth = createFastCGIServer(authorizer, { logger: { error: () => {} }, socketMode: 0o666 });
    const authAddress = await auth.listen(`unix:${join(dir, 'auth.sock')}`);
    mkdirSync(join(dir, 'guarded', 'private'), { recursive: true, mode: 0o755 });
    writeFileSync(join(dir, 'guarded', 'private', 'secret.txt'), 'the treasure\n');
    const port = await freePort();
    lighttpd = await startLighttpd(port, () => lighttpdConfig(dir, script, authAddress.slice('unix:'.length)), dir);
    base = `http://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    await lighttpd?.stop();
    await auth?.close(1000);
    if (lighttpd) removeTempDir(lighttpd.dir);
  });

  describe('bin-path: lighttpd spawns `nsgi serve` on fd 0', () => {
    it('serves the app, with bin-environment in its process environment', async () => {
      const res = await fetch(`${base}/app/environ?q=1`);
      expect(res.status, lighttpd.read('error.log') + lighttpd.read('app.log')).toBe(200);
      const env = (await res.json()) as Record<string, string>;
      expect(env).toMatchObject({ REQUEST_METHOD: 'GET', QUERY_STRING: 'q=1', SERVER_SOFTWARE: expect.stringContaining('lighttpd') });
      // lighttpd mounts the app at /app: however it splits the path, the two together are the URL path.
      expect(env.SCRIPT_NAME + env.PATH_INFO).toBe('/app/environ');
      // bin-environment sets the spawned process's environment, not FastCGI params.
      expect(env['process.env.GREETING']).toBe('hello from bin-environment');
      expect(env.GREETING).toBeUndefined();
    });

    it('POST: a 5 MiB upload arrives whole', async () => {
      const body = randomBytes(5 * 1024 * 1024);
      const res = await fetch(`${base}/app/upload`, { method: 'POST', body });
      expect(await res.json()).toEqual({ length: body.length, sha256: sha256(body), contentLength: String(body.length) });
    });

    it('a 404 keeps both Set-Cookie headers', async () => {
      const res = await fetch(`${base}/app/cookies`);
      expect(res.status).toBe(404);
      expect(res.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2; Path=/; HttpOnly']);
    });

    it('wsgi.errors lines reach lighttpd error log', async () => {
      const marker = `lighttpd-marker-${Math.random().toString(36).slice(2)}`;
      await (await fetch(`${base}/app/errors?msg=${marker}`)).text();
      await waitFor(() => lighttpd.read('error.log').includes(marker), () => lighttpd.read('error.log').slice(-2000));
    });
  });

  describe('"mode" => "authorizer" guarding a static folder', () => {
    it('a 200 from the app lets lighttpd serve the file from docroot', async () => {
      const res = await fetch(`${base}/private/secret.txt`, { headers: { 'X-Token': 'open-sesame' } });
      expect(res.status, lighttpd.read('error.log')).toBe(200);
      expect(await res.text()).toBe('the treasure\n');
    });

    it('anything else from the app is the response the client gets', async () => {
      const res = await fetch(`${base}/private/secret.txt`);
      expect(res.status).toBe(403);
      expect(await res.text()).toMatch(/^denied: /);
    });
  });
});

async function waitFor(check: () => boolean, explain: () => string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${explain()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
