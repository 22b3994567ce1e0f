// What a client can make the HTTP transport believe. The transport faces the client directly (or
// through a proxy), so the environ must hold what the socket says, not what the request claims:
// REMOTE_ADDR is the peer address, header names that would alias another header are dropped, and
// a proxy's appended headers cannot be pushed out of the request by a flood of client headers.
import type { Server as HTTPServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHTTPServer } from '../../src/http/server.js';
import { ProxyFix } from '../../src/middleware/proxy-fix.js';
import type { NsgiServer } from '../../src/server.js';
import type { App } from '../../src/types.js';
import { quietErrors, rawTCP } from './helpers.js';

// Replies with the keys an app would base trust on.
const report: App = (environ, startResponse) => {
  const body = JSON.stringify({
    REMOTE_ADDR: environ.REMOTE_ADDR,
    HTTP_X_FORWARDED_FOR: environ.HTTP_X_FORWARDED_FOR ?? null,
    HTTP_PROXY: environ.HTTP_PROXY ?? null,
    headers: Object.keys(environ).filter((k) => k.startsWith('HTTP_')).length,
  });
  startResponse('200 OK', [['Content-Type', 'application/json']]);
  return [body];
};

interface Seen {
  REMOTE_ADDR: string;
  HTTP_X_FORWARDED_FOR: string | null;
  HTTP_PROXY: string | null;
  headers: number;
}

async function ask(port: number, headers: string): Promise<{ status: number; seen?: Seen }> {
  const raw = (await rawTCP(port, `GET / HTTP/1.1\r\nHost: x\r\n${headers}Connection: close\r\n\r\n`)).toString('latin1');
  const status = Number(raw.slice(9, 12));
  const body = raw.slice(raw.indexOf('\r\n\r\n') + 4);
  return status === 200 ? { status, seen: JSON.parse(body) as Seen } : { status };
}

describe('the HTTP transport trusts the socket, not the request', () => {
  let plain: NsgiServer;
  let behindProxy: NsgiServer;
  let plainPort: number;
  let proxyPort: number;
  beforeAll(async () => {
    plain = createHTTPServer(report, { errors: quietErrors, logger: { error() {} } });
    behindProxy = createHTTPServer(ProxyFix({ xFor: 1 })(report), { errors: quietErrors, logger: { error() {} } });
    plainPort = Number((await plain.listen('127.0.0.1:0')).split(':').pop());
    proxyPort = Number((await behindProxy.listen('127.0.0.1:0')).split(':').pop());
  });
  afterAll(async () => {
    await plain.close(1000);
    await behindProxy.close(1000);
  });

  it.each([
    ['X-Forwarded-For', 'X-Forwarded-For: 6.6.6.6\r\n'],
    ['X-Real-IP', 'X-Real-IP: 6.6.6.6\r\n'],
    ['Forwarded', 'Forwarded: for=6.6.6.6\r\n'],
    ['Client-IP', 'Client-IP: 6.6.6.6\r\n'],
    ['a REMOTE_ADDR header', 'Remote-Addr: 6.6.6.6\r\n'],
  ])('REMOTE_ADDR stays the peer address whatever %s says (no ProxyFix)', async (_what, header) => {
    const { seen } = await ask(plainPort, header);
    expect(seen?.REMOTE_ADDR).toBe('127.0.0.1');
  });

  it('drops X_Forwarded_For, so it cannot alias the X-Forwarded-For a proxy appended', async () => {
    // Through a proxy that sets X-Forwarded-For: 10.0.0.1, a client adds X_Forwarded_For: 6.6.6.6.
    // Were it kept, both would be HTTP_X_FORWARDED_FOR and the client's could land rightmost.
    const { seen } = await ask(proxyPort, 'X-Forwarded-For: 10.0.0.1\r\nX_Forwarded_For: 6.6.6.6\r\n');
    expect(seen?.HTTP_X_FORWARDED_FOR).toBe('10.0.0.1');
    expect(seen?.REMOTE_ADDR).toBe('10.0.0.1');
  });

  it('passes a Proxy request header as HTTP_PROXY in the environ only (httpoxy: see httpoxy.test.ts)', async () => {
    const { seen } = await ask(plainPort, 'Proxy: http://6.6.6.6:8080\r\n');
    expect(seen?.HTTP_PROXY).toBe('http://6.6.6.6:8080');
    expect(process.env.HTTP_PROXY).not.toBe('http://6.6.6.6:8080');
  });

  // FOUND AND FIXED: node:http keeps at most `server.maxHeadersCount` headers (default 2000 raw
  // entries, i.e. 1000 fields) and silently drops the rest. A proxy that appends its
  // X-Forwarded-For after the client's headers lost it to a client that sent 1000 tiny headers
  // first (~8 KiB, well inside maxHeaderSize), and ProxyFix then trusted the client's own value.
  // createHTTPServer now sets maxHeadersCount = 0 (the head stays bounded by maxHeaderSize).
  it('a flood of client headers cannot push out the X-Forwarded-For a proxy appended', async () => {
    let flood = '';
    for (let i = 0; i < 1100; i++) flood += `a${i}:b\r\n`;
    const res = await ask(proxyPort, `X-Forwarded-For: 6.6.6.6\r\n${flood}X-Forwarded-For: 10.0.0.1\r\n`);
    if (res.status === 200) expect(res.seen?.REMOTE_ADDR).toBe('10.0.0.1');
    else expect(res.status).toBe(431);
  });

  it('keeps a proxy-appended X-Forwarded-For when the server keeps every header (the fix above)', async () => {
    // Shows the fix works: the same request against a server with no header-count cut.
    const http = behindProxy.server as HTTPServer;
    http.maxHeadersCount = 0;
    try {
      let flood = '';
      for (let i = 0; i < 1100; i++) flood += `a${i}:b\r\n`;
      const { seen } = await ask(proxyPort, `X-Forwarded-For: 6.6.6.6\r\n${flood}X-Forwarded-For: 10.0.0.1\r\n`);
      expect(seen?.REMOTE_ADDR).toBe('10.0.0.1');
      expect(seen?.headers).toBeGreaterThan(1100);
    } finally {
      http.maxHeadersCount = null as unknown as number; // node's default (2000 raw entries)
    }
  });
});
