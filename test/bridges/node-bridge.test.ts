// fromNodeHandler's own behaviour, with bare (req, res) handlers: what req looks like, how res is
// read back (head, Content-Length, chunked, 1xx), backpressure, failures and the close events.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, test } from 'vitest';
import { fromNodeHandler, type NodeHandler } from '../../src/bridges/node.js';
import { runApp, type ResponseSink } from '../../src/response.js';
import { createEnviron, TestClient } from '../../src/testing/index.js';

const run = (handler: NodeHandler, path = '/', opts: Parameters<TestClient['request']>[0] = {}) => new TestClient(fromNodeHandler(handler)).request({ path, ...opts });

describe('the request', () => {
  test('method, url, httpVersion, headers and rawHeaders come from the environ', async () => {
    let seen: Record<string, unknown> = {};
    const res = await run(
      (req, res) => {
        seen = { method: req.method, url: req.url, httpVersion: req.httpVersion, headers: req.headers, raw: req.rawHeaders };
        res.end();
      },
      '/a%20b?x=%41',
      { method: 'PUT', body: 'hi', headers: { 'Content-Type': 'text/plain', 'X-Forwarded-For': '10.0.0.1', DNT: '1', Cookie: 'a=1; b=2' }, protocol: 'HTTP/1.0' },
    );
    expect(res.status).toBe(200);
    expect(seen.method).toBe('PUT');
    expect(seen.url).toBe('/a%20b?x=%41');
    expect(seen.httpVersion).toBe('1.0');
    expect(seen.headers).toMatchObject({ 'content-type': 'text/plain', 'content-length': '2', 'x-forwarded-for': '10.0.0.1', dnt: '1', cookie: 'a=1; b=2' });
    const raw = seen.raw as string[];
    expect(raw).toEqual(expect.arrayContaining(['Content-Type', 'Content-Length', 'X-Forwarded-For', 'DNT', 'Cookie']));
  });

  test.each([
    ['a raw REQUEST_URI that agrees keeps %2F', { SCRIPT_NAME: '/app', PATH_INFO: '/a/b', REQUEST_URI: '/app/a%2Fb?q' }, { url: '/a%2Fb?q', originalUrl: '/app/a%2Fb?q', baseUrl: '/app' }],
    ['an escaped mount point is split where it decodes to SCRIPT_NAME', { SCRIPT_NAME: '/my app', PATH_INFO: '/x', REQUEST_URI: '/my%20app/x?q' }, { url: '/x?q', originalUrl: '/my%20app/x?q', baseUrl: '/my%20app' }],
    ['a REQUEST_URI a rewrite changed is ignored: the path is re-encoded', { SCRIPT_NAME: '', PATH_INFO: '/index.php/a b', REQUEST_URI: '/pretty?q' }, { url: '/index.php/a%20b?q', originalUrl: '/index.php/a%20b?q', baseUrl: '' }],
    ['no PATH_INFO at the mount point gives "/"', { SCRIPT_NAME: '/app', PATH_INFO: '', REQUEST_URI: '/app?q' }, { url: '/?q', originalUrl: '/app?q', baseUrl: '/app' }],
    ['? and # in a decoded path are escaped', { SCRIPT_NAME: '', PATH_INFO: '/a?b#c%', REQUEST_URI: undefined }, { url: '/a%3Fb%23c%25?q', originalUrl: '/a%3Fb%23c%25?q', baseUrl: '' }],
  ])('%s', async (_name, vars, want) => {
    let seen: Record<string, unknown> = {};
    const environ = createEnviron({ path: '/', query: 'q' });
    Object.assign(environ, vars);
    if (vars.REQUEST_URI === undefined) delete environ.REQUEST_URI;
    const app = fromNodeHandler((req, res) => {
      const r = req as IncomingMessage & { originalUrl: string; baseUrl: string };
      seen = { url: r.url, originalUrl: r.originalUrl, baseUrl: r.baseUrl };
      res.end();
    });
    await runApp(app, environ, nullSink());
    expect(seen).toEqual(want);
  });

  test("url: 'full' gives the whole path in req.url", async () => {
    let url: string | undefined;
    await new TestClient(fromNodeHandler((req, res) => ((url = req.url), res.end()), { url: 'full' })).request({ path: '/x?y=1', scriptName: '/app' });
    expect(url).toBe('/app/x?y=1');
  });

  test('the socket carries the addresses and, under https, encrypted', async () => {
    let seen: Record<string, unknown> = {};
    await run(
      (req, res) => {
        const s = req.socket as unknown as Record<string, unknown>;
        seen = { remoteAddress: s.remoteAddress, remotePort: s.remotePort, localPort: s.localPort, encrypted: s.encrypted, same: res.socket === req.socket };
        res.end();
      },
      '/',
      { scheme: 'https', remoteAddr: '2001:db8::1', extra: { REMOTE_PORT: '51000' } },
    );
    expect(seen).toEqual({ remoteAddress: '2001:db8::1', remotePort: 51000, localPort: 443, encrypted: true, same: true });
  });

  test('a body-less request is complete at once; req ends and closes after the response', async () => {
    const events: string[] = [];
    const done = new Promise<void>((resolve) => {
      void run((req, res) => {
        events.push(`complete=${req.complete}`);
        req.on('end', () => events.push('end'));
        req.on('close', () => {
          events.push('close');
          resolve();
        });
        res.end('ok');
      });
    });
    await done;
    expect(events).toEqual(['complete=true', 'end', 'close']);
  });
});

describe('the response', () => {
  test('res.end(data) gets a Content-Length, as on node:http; streamed writes do not', async () => {
    const ended = await run((_req, res) => res.end('hello'));
    expect(ended.headers).toEqual([['Content-Length', '5']]);
    const streamed = await run((_req, res) => {
      res.write('a');
      setTimeout(() => res.end('b'), 1);
    });
    expect(streamed.headers).toEqual([]);
    expect(streamed.text).toBe('ab');
  });

  test('headers keep their case and order; Set-Cookie repeats stay apart; hop-by-hop fields are dropped', async () => {
    const res = await run((_req, res) => {
      res.setHeader('X-One', '1');
      res.setHeader('set-cookie', ['a=1', 'b=2']);
      res.setHeader('Connection', 'keep-alive');
      res.writeHead(201, 'Made', { 'Content-Type': 'text/plain' });
      res.end('x');
    });
    expect(res.statusLine).toBe('201 Made');
    expect(res.headers).toEqual([['X-One', '1'], ['set-cookie', 'a=1'], ['set-cookie', 'b=2'], ['Content-Type', 'text/plain'], ['Content-Length', '1']]);
  });

  test('a chunked body the handler asked for itself is unframed', async () => {
    const res = await run((_req, res) => {
      res.setHeader('Transfer-Encoding', 'chunked');
      res.write('hello ');
      setTimeout(() => res.end('world'), 1);
    });
    expect(res.headers).toEqual([]);
    expect(res.text).toBe('hello world');
  });

  test('interim responses (100 Continue, 103 Early Hints) are dropped: CGI cannot relay them', async () => {
    const res = await run((_req, res) => {
      res.writeContinue();
      res.writeEarlyHints({ link: '</a.css>; rel=preload' });
      res.end('final');
    });
    expect(res.status).toBe(200);
    expect(res.text).toBe('final');
  });

  test('HEAD gets the head without a body; 204 without a Content-Length', async () => {
    const head = await run((_req, res) => res.end('body'), '/', { method: 'HEAD' });
    expect(head.body.length).toBe(0);
    const empty = await run((_req, res) => {
      res.statusCode = 204;
      res.end();
    });
    expect(empty.status).toBe(204);
    expect(empty.headers).toEqual([]);
  });

  test("res.write() returns false while the gateway is behind, and 'drain' follows; every byte arrives in order", async () => {
    const results: boolean[] = [];
    let drains = 0;
    const app = fromNodeHandler((_req, res) => {
      let i = 0;
      const chunk = Buffer.alloc(8192, 1);
      const pump = (): void => {
        while (i < 64) {
          i++;
          const ok = res.write(chunk);
          results.push(ok);
          if (!ok) return void res.once('drain', () => (drains++, pump()));
        }
        res.end();
      };
      pump();
    });
    // A sink that takes 1 ms per chunk.
    let received = 0;
    const sink: ResponseSink = {
      head() {},
      body(chunk) {
        received += chunk.length;
        return new Promise((r) => setTimeout(r, 1));
      },
      end() {},
      fail() {},
    };
    expect(await runApp(app, createEnviron(), sink)).toBe('complete');
    expect(received).toBe(64 * 8192);
    expect(results).toContain(false);
    expect(drains).toBe(results.filter((r) => !r).length);
  });

  test("'finish' then 'close' fire on res; writableFinished holds", async () => {
    const events: string[] = [];
    const closed = new Promise<void>((resolve) => {
      void run((_req, res: ServerResponse) => {
        res.on('finish', () => events.push(`finish ${res.writableFinished}`));
        res.on('close', () => {
          events.push('close');
          resolve();
        });
        res.end('x');
      });
    });
    await closed;
    expect(events).toEqual(['finish true', 'close']);
  });
});

describe('failures', () => {
  test('a handler that throws before responding gets a 500, and the error goes to wsgi.errors', async () => {
    const res = await run(() => {
      throw new Error('boom');
    });
    expect(res.status).toBe(500);
    expect(res.errors).toContain('boom');
  });

  test('an async handler that rejects before responding gets a 500', async () => {
    const res = await run(async () => {
      await Promise.resolve();
      throw new Error('async boom');
    });
    expect(res.status).toBe(500);
    expect(res.errors).toContain('async boom');
  });

  test('a rejection after the response ended is only reported', async () => {
    const res = await run(async (_req, res) => {
      res.end('done');
      throw new Error('late');
    });
    expect(res.status).toBe(200);
    expect(res.text).toBe('done');
    expect(res.errors).toContain('late');
  });

  test('res.destroy() mid-body cuts the response short (failed, NSGI_ERR_BRIDGE_DESTROYED)', async () => {
    const res = await run((_req, res) => {
      res.write('partial');
      setTimeout(() => res.destroy(), 5);
    });
    expect(res.outcome).toBe('failed');
    expect(res.errors).toContain('NSGI_ERR_BRIDGE_DESTROYED');
  });

  test('nsgi.signal firing mid-body destroys req (aborted) and closes res without finish', async () => {
    const ac = new AbortController();
    const seen: string[] = [];
    const closed = new Promise<void>((resolve) => {
      const app = fromNodeHandler((req, res) => {
        res.write('start');
        req.on('aborted', () => seen.push('aborted'));
        res.on('finish', () => seen.push('finish'));
        req.on('close', () => {
          seen.push(`req close aborted=${req.aborted}`);
          resolve();
        });
        setTimeout(() => ac.abort(), 5);
      });
      void new TestClient(app).request({ signal: ac.signal });
    });
    await closed;
    expect(seen).toEqual(['aborted', 'req close aborted=true']);
  });
});

describe('the request body', () => {
  test('is read only when the handler reads, paused while it does not', async () => {
    let reads = 0;
    const chunks = (async function* () {
      for (let i = 0; i < 100; i++) {
        reads++;
        yield Buffer.alloc(64 * 1024, i);
      }
    })();
    let atStart = -1;
    let bytes = 0;
    const res = await run(
      (req, res) => {
        setTimeout(() => {
          atStart = reads;
          req.on('data', (c: Buffer) => (bytes += c.length));
          req.on('end', () => res.end(String(bytes)));
        }, 20);
      },
      '/',
      { method: 'POST', body: chunks, headers: { 'Content-Length': String(100 * 64 * 1024) } },
    );
    expect(res.text).toBe(String(100 * 64 * 1024));
    // Without a reader only a few chunks were pulled from wsgi.input, not all 100.
    expect(atStart).toBeLessThan(10);
  });
});

function nullSink(): ResponseSink {
  return { head() {}, body() {}, end() {}, fail() {} };
}
