// The real peers the suite relies on start from generated configs and serve a static file.
// If one of these fails, every real-server test of that peer would fail for the same reason.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, removeTempDir, startApache, startLighttpd, startNginx, type Peer } from './helpers/peers.js';

let peer: Peer | undefined;
afterEach(async () => {
  await peer?.stop();
  if (peer) removeTempDir(peer.dir);
  peer = undefined;
});

async function fetchText(port: number, path: string): Promise<[number, string]> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return [res.status, await res.text()];
}

describe('real peers start from generated configs', () => {
  it('nginx', async () => {
    const port = await freePort();
    peer = await startNginx((dir) => `server { listen 127.0.0.1:${port}; root ${dir}/htdocs; }`, () => ({ port }));
    writeFileSync(join(peer.dir, 'htdocs-index.txt'), '');
    expect((await fetchText(port, '/missing'))[0]).toBe(404);
  });

  it('lighttpd', async () => {
    const port = await freePort();
    peer = await startLighttpd(port, () => '');
    writeFileSync(join(peer.dir, 'htdocs', 'a.txt'), 'from lighttpd');
    expect(await fetchText(port, '/a.txt')).toEqual([200, 'from lighttpd']);
  });

  it('apache', async () => {
    const port = await freePort();
    peer = await startApache(port, [], () => '');
    writeFileSync(join(peer.dir, 'htdocs', 'a.txt'), 'from apache');
    expect(await fetchText(port, '/a.txt')).toEqual([200, 'from apache']);
  });
});
