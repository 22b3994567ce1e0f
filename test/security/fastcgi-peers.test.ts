// FCGI_WEB_SERVER_ADDRS (FastCGI spec §3.2): "a FastCGI application [...] checks the peer IP
// address of each new connection. If the address is not a member of the list, the application
// closes the connection." test/fastcgi/unit-server.test.ts covers the plain IPv4 list, the
// environment variable and unix sockets; this file covers what an attacker would probe: a request
// written at once (nothing of it may be read or run), and the IPv4-mapped and IPv6 forms of the
// same peer on a dual-stack listener.
import { afterEach, describe, expect, it } from 'vitest';
import { FastCGIClient } from '../../src/fastcgi/client.js';
import { createFastCGIServer, type FastCGIServerOptions } from '../../src/fastcgi/server.js';
import type { NsgiServer } from '../../src/server.js';
import type { App } from '../../src/types.js';
import { quietErrors, rawTCP, recordingLogger } from './helpers.js';

let calls = 0;
const app: App = (_environ, startResponse) => {
  calls++;
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  return ['served'];
};

const running: NsgiServer[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close(500)));
});

async function start(host: string, options: FastCGIServerOptions) {
  const logger = recordingLogger();
  const server = createFastCGIServer(app, { ...options, logger, errors: quietErrors });
  running.push(server);
  const address = await server.listen(`${host}:0`);
  return { port: Number(address.split(':').pop()), logger };
}

// A whole request in one write: BEGIN_REQUEST (responder, keep-conn off), empty PARAMS, empty STDIN.
function record(type: number, content: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.from([1, type, 0, 1, content.length >> 8, content.length & 0xff, 0, 0]);
  return Buffer.concat([head, content]);
}
const WHOLE_REQUEST = Buffer.concat([record(1, Buffer.from([0, 1, 0, 0, 0, 0, 0, 0])), record(4), record(5)]);

describe('FCGI_WEB_SERVER_ADDRS', () => {
  it('closes an unlisted peer without reading or answering a request it wrote at once', async () => {
    const { port, logger } = await start('127.0.0.1', { webServerAddrs: '192.0.2.1' });
    const before = calls;
    const reply = await rawTCP(port, WHOLE_REQUEST);
    expect(reply.length).toBe(0);
    expect(calls).toBe(before);
    expect(logger.codes).toEqual(['NSGI_ERR_FASTCGI_PEER_REFUSED']);
  });

  it('serves the same bytes from a listed peer (the refusal above is the list, not the request)', async () => {
    const { port, logger } = await start('127.0.0.1', { webServerAddrs: '192.0.2.1, 127.0.0.1' });
    const reply = await rawTCP(port, WHOLE_REQUEST);
    expect(reply.toString('latin1')).toContain('served');
    expect(logger.codes).toEqual([]);
  });

  // On a dual-stack listener ("::") an IPv4 peer shows as ::ffff:127.0.0.1.
  it.each([
    ['an IPv4 entry, IPv4 peer on a dual-stack listener', '::', '127.0.0.1', '127.0.0.1', true],
    ['an IPv4-mapped entry, IPv4 peer on a dual-stack listener', '::', '::ffff:127.0.0.1', '127.0.0.1', true],
    ['an IPv4-mapped entry, IPv4 peer on an IPv4 listener', '127.0.0.1', '::ffff:127.0.0.1', '127.0.0.1', true],
    ['an IPv6 entry, IPv6 peer', '::', '::1', '::1', true],
    ['an IPv4 loopback entry, IPv6 loopback peer', '::', '127.0.0.1', '::1', false],
    ['an IPv6 loopback entry, IPv4 peer on a dual-stack listener', '::', '::1', '127.0.0.1', false],
  ])('%s: allowed is %s', async (_what, listenHost, list, peer, allowed) => {
    const { port, logger } = await start(listenHost === '::' ? '[::]' : listenHost, { webServerAddrs: list });
    const client = new FastCGIClient(peer.includes(':') ? `[${peer}]:${port}` : `${peer}:${port}`);
    const before = calls;
    if (allowed) {
      const res = await client.request({ path: '/' });
      expect([res.status, res.body.toString()]).toEqual([200, 'served']);
      expect(logger.codes).toEqual([]);
    } else {
      await expect(client.request({ path: '/' })).rejects.toThrow();
      expect(calls).toBe(before);
      expect(logger.codes).toEqual(['NSGI_ERR_FASTCGI_PEER_REFUSED']);
    }
  });

  // FOUND AND FIXED (it failed closed, not a bypass): entries were compared as text, so a valid but
  // non-canonical IPv6 entry never matched the kernel's canonical peer address and a web server the
  // operator listed was refused. Entries and peers are now canonicalised alike.
  it.each([
    ['0:0:0:0:0:0:0:1', '::1'],
    ['::FFFF:127.0.0.1', '127.0.0.1'],
    ['::ffff:7f00:1', '127.0.0.1'],
  ])('admits a web server listed in the non-canonical form %s (peer %s)', async (list, peer) => {
    const { port } = await start('[::]', { webServerAddrs: list });
    const client = new FastCGIClient(peer.includes(':') ? `[${peer}]:${port}` : `${peer}:${port}`);
    const res = await client.request({ path: '/' });
    expect(res.status).toBe(200);
  });
});
