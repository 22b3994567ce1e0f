// `nsgi serve` as a user runs it: the embedded HTTP default, flags, and clear usage errors.
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { plan } from '../src/cli/serve.js';
import { runNsgi, spawnNsgi } from './helpers/cli.js';
import { freePort } from './helpers/peers.js';

describe('nsgi serve', () => {
  it('serves examples/hello.mjs over HTTP and stops cleanly on SIGTERM', async () => {
    const port = await freePort();
    const child = spawnNsgi(['serve', 'examples/hello.mjs', '--http', `127.0.0.1:${port}`]);
    try {
      await waitFor(() => child.output().includes('serving'));
      expect(child.output()).toContain(`http://127.0.0.1:${port}/`);
      const res = await fetch(`http://127.0.0.1:${port}/snow%20%E2%98%83?name=Ada`);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('Hello, Ada!\nYou asked for /snow ☃');
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
  });

  it.each([
    [['serve'], 'exactly one MODULE'],
    [['serve', 'examples/nope.mjs'], 'no file'],
    [['serve', 'examples/hello.mjs:missing'], 'has no export "missing"'],
    [['serve', 'examples/hello.mjs', '--http', 'nowhere'], 'has no port'],
    [['serve', 'examples/hello.mjs', '--http', ':1', '--scgi', ':2'], 'at most one'],
    [['frobnicate'], 'unknown command'],
  ])('nsgi %j exits 2 with a clear message', async (args, message) => {
    const { code, stderr } = await runNsgi(args);
    expect(code).toBe(2);
    expect(stderr).toContain(message);
  });

  it('prints its help and version', async () => {
    const help = await runNsgi(['serve', '--help']);
    expect([help.code, help.stdout.includes('--fastcgi ADDR')]).toEqual([0, true]);
    const version = await runNsgi(['--version']);
    expect(version.stdout).toMatch(/^nsgi \d+\.\d+\.\d+/);
  });
});

describe('transport choice with no flag (design.md)', () => {
  it('is CGI when GATEWAY_INTERFACE is set', () => {
    expect(plan({}, { GATEWAY_INTERFACE: 'CGI/1.1' })).toEqual({ kind: 'cgi' });
  });
  it('is HTTP on 127.0.0.1:8000 otherwise', () => {
    expect(plan({}, {})).toEqual({ kind: 'listen', transport: 'http', address: '127.0.0.1:8000' });
  });
  it('follows an explicit flag', () => {
    expect(plan({ http: ':9000' }, { GATEWAY_INTERFACE: 'CGI/1.1' })).toEqual({ kind: 'listen', transport: 'http', address: ':9000' });
  });
});

async function waitFor(check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 25));
  }
}
