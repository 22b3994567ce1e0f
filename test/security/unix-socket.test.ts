// Unix socket files: who may connect is who may write the file, so its mode is the access control
// between the web server's user and everyone else on the host. The default is 0660 (owner and
// group, e.g. www-data), never world-writable; `socketMode` / `--socket-mode` change it. A stale
// file left by a crash is replaced; a live socket, or a file that is not a socket, is never taken.
import { chmodSync, lstatSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createFastCGIServer } from '../../src/fastcgi/server.js';
import { createHTTPServer } from '../../src/http/server.js';
import { createSCGIServer } from '../../src/scgi/server.js';
import type { NsgiServer } from '../../src/server.js';
import type { App } from '../../src/types.js';
import { spawnNsgi } from '../helpers/cli.js';
import { waitForListen } from '../helpers/peers.js';

const app: App = (_e, startResponse) => {
  startResponse('200 OK', []);
  return ['ok'];
};
const quiet = { logger: { error() {} } };

let dir: string;
const running: NsgiServer[] = [];
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'nsgi-sock-'));
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close(500)));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const mode = (path: string): number => statSync(path).mode & 0o777;
let n = 0;
const fresh = (): string => join(dir, `s${n++}.sock`);

describe.each([
  ['fastcgi', createFastCGIServer],
  ['scgi', createSCGIServer],
  ['http', createHTTPServer],
] as const)('unix sockets of the %s transport', (_name, create) => {
  it('are created 0660 by default: owner and group, never world-writable', async () => {
    const path = fresh();
    const server = create(app, quiet);
    running.push(server);
    await server.listen(`unix:${path}`);
    expect(lstatSync(path).isSocket()).toBe(true);
    expect(mode(path)).toBe(0o660);
    expect(mode(path) & 0o002).toBe(0);
  });

  it.each([0o600, 0o666])('honour socketMode %o', async (socketMode) => {
    const path = fresh();
    const server = create(app, { ...quiet, socketMode });
    running.push(server);
    await server.listen(`unix:${path}`);
    expect(mode(path)).toBe(socketMode);
  });

  it('replace a stale socket file left by a crashed run', async () => {
    const path = fresh();
    // A socket file nobody accepts on, as a crashed process leaves it (bound, process gone).
    spawnSync(process.execPath, ['-e', "require('net').createServer().listen(process.argv[1], () => process.kill(process.pid, 'SIGKILL'))", path]);
    expect(lstatSync(path).isSocket()).toBe(true);
    const server = create(app, quiet);
    running.push(server);
    await server.listen(`unix:${path}`);
    expect(mode(path)).toBe(0o660);
  });

  it('refuse a live socket with NSGI_ERR_ADDRESS_IN_USE, leaving it working', async () => {
    const path = fresh();
    const first = create(app, quiet);
    running.push(first);
    await first.listen(`unix:${path}`);
    const second = create(app, quiet);
    await expect(second.listen(`unix:${path}`)).rejects.toMatchObject({ code: 'NSGI_ERR_ADDRESS_IN_USE' });
    expect(lstatSync(path).isSocket()).toBe(true);
    await waitForListen({ path });
  });

  it('refuse to replace a file that is not a socket', async () => {
    const path = fresh();
    writeFileSync(path, 'precious');
    const server = create(app, quiet);
    await expect(server.listen(`unix:${path}`)).rejects.toMatchObject({ code: 'NSGI_ERR_ADDRESS_IN_USE' });
    expect(lstatSync(path).isFile()).toBe(true);
  });

  // FOUND AND FIXED: the file was created by bind() with the process umask and chmod'ed to
  // socketMode only afterwards; under a permissive umask the socket was connectable by others for
  // that window, and a local user who connected kept a working connection. The bind now runs under
  // a umask that allows no more than socketMode (src/net/listen.ts bindUnderMode).
  it('are never connectable by others, not even between bind and chmod', async () => {
    const path = fresh();
    const server = create(app, quiet);
    running.push(server);
    let atBind = -1;
    server.server.once('listening', () => (atBind = mode(path)));
    const saved = process.umask(0);
    try {
      await server.listen(`unix:${path}`);
    } finally {
      process.umask(saved);
    }
    expect(atBind).not.toBe(-1);
    expect(atBind & 0o007).toBe(0);
  });
});

describe('nsgi serve --socket-mode', () => {
  it.each([
    [[], 0o660],
    [['--socket-mode', '600'], 0o600],
  ])('serve %j creates the socket with mode %o', async (flags, expected) => {
    const path = fresh();
    const appFile = join(dir, 'app.mjs');
    writeFileSync(appFile, "export default (e, start) => { start('200 OK', []); return ['ok']; };\n");
    chmodSync(appFile, 0o644);
    const child = spawnNsgi(['serve', appFile, '--fastcgi', `unix:${path}`, ...flags]);
    try {
      await waitForListen({ path }, 20_000, child);
      expect(mode(path)).toBe(expected);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });
});
