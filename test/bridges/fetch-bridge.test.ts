// fromFetchHandler and toFetchHandler with bare handlers and apps: the URL and headers each side
// sees, streaming with backpressure both ways, signals both ways, and the edge statuses.
import { Hono } from 'hono';
import { describe, expect, test } from 'vitest';
import { fromFetchHandler, toFetchHandler } from '../../src/bridges/fetch.js';
import { runApp, type ResponseSink } from '../../src/response.js';
import { createEnviron, TestClient } from '../../src/testing/index.js';
import type { App, Environ } from '../../src/types.js';

describe('fromFetchHandler', () => {
  test.each([
    ['the Host header', { headers: { Host: 'example.com:8080' } }, 'http://example.com:8080/p?q=1'],
    ['SERVER_NAME and a non-default SERVER_PORT without Host', { serverName: 'srv.local', serverPort: 8443, scheme: 'https' }, 'https://srv.local:8443/p?q=1'],
    ['the default port left out', { serverName: 'srv.local', serverPort: 443, scheme: 'https' }, 'https://srv.local/p?q=1'],
    ['a bare IPv6 SERVER_NAME in brackets', { serverName: '::1', serverPort: 8000 }, 'http://[::1]:8000/p?q=1'],
    ['SCRIPT_NAME in front of PATH_INFO', { headers: { Host: 'h' }, scriptName: '/app' }, 'http://h/app/p?q=1'],
  ])('rebuilds the URL from %s', async (_name, opts, want) => {
    let url = '';
    const res = await new TestClient(
      fromFetchHandler((req) => {
        url = req.url;
        return new Response('ok');
      }),
    ).request({ path: '/p?q=1', ...opts });
    expect(res.status).toBe(200);
    expect(url).toBe(want);
  });

  test('passes method, headers and the streamed body', async () => {
    let seen: Record<string, unknown> = {};
    const res = await new TestClient(
      fromFetchHandler(async (req) => {
        seen = { method: req.method, type: req.headers.get('content-type'), x: req.headers.get('x-custom'), body: await req.text() };
        return new Response(null, { status: 204 });
      }),
    ).request({ method: 'PATCH', path: '/', body: (async function* () { yield Buffer.from('a'); yield Buffer.from('b'); })(), headers: { 'Content-Type': 'text/plain', 'X-Custom': 'yes', 'Content-Length': '2' } });
    expect(res.status).toBe(204);
    expect(seen).toEqual({ method: 'PATCH', type: 'text/plain', x: 'yes', body: 'ab' });
  });

  test('a Response statusText that is empty becomes the standard reason', async () => {
    const res = await new TestClient(fromFetchHandler(() => new Response('x', { status: 418 }))).get('/');
    expect(res.statusLine).toBe("418 I'm a Teapot");
  });

  test('a handler that returns no Response gets a 500 (NSGI_ERR_BRIDGE_RESPONSE)', async () => {
    const res = await new TestClient(fromFetchHandler((() => 'nope') as unknown as () => Response)).get('/');
    expect(res.status).toBe(500);
    expect(res.errors).toContain('NSGI_ERR_BRIDGE_RESPONSE');
  });

  test('a Host that makes no URL is answered 400', async () => {
    const res = await new TestClient(fromFetchHandler(() => new Response('x'))).get('/', { headers: { Host: 'bad host/x' } });
    expect(res.status).toBe(400);
  });

  test('HEAD cancels the body instead of reading it', async () => {
    let cancelled = false;
    const res = await new TestClient(
      fromFetchHandler(() => new Response(new ReadableStream({ pull: (c) => c.enqueue(new Uint8Array(10)), cancel: () => void (cancelled = true) }))),
    ).head('/');
    expect(res.body.length).toBe(0);
    expect(cancelled).toBe(true);
  });

  test('the Response body is read one chunk per chunk the gateway takes', async () => {
    let pulls = 0;
    let taken = 0;
    let maxAhead = 0;
    const app = fromFetchHandler(
      () =>
        new Response(
          new ReadableStream<Uint8Array>(
            {
              pull(c) {
                pulls++;
                if (pulls > 50) c.close();
                else c.enqueue(new Uint8Array(1024));
              },
            },
            { highWaterMark: 0 },
          ),
        ),
    );
    const sink: ResponseSink = {
      head() {},
      body() {
        taken++;
        maxAhead = Math.max(maxAhead, pulls - taken);
        return new Promise((r) => setTimeout(r, 1));
      },
      end() {},
      fail() {},
    };
    expect(await runApp(app, createEnviron(), sink)).toBe('complete');
    expect(taken).toBe(50);
    expect(maxAhead).toBeLessThanOrEqual(2);
  });
});

describe('toFetchHandler', () => {
  const quiet = { write: () => true } as unknown as NodeJS.WritableStream;
  const echo: App = (environ, startResponse) => {
    const keys = ['REQUEST_METHOD', 'SCRIPT_NAME', 'PATH_INFO', 'QUERY_STRING', 'REQUEST_URI', 'SERVER_NAME', 'SERVER_PORT', 'HTTPS', 'HTTP_HOST', 'HTTP_X_A', 'CONTENT_TYPE', 'wsgi.url_scheme'];
    const out: Record<string, unknown> = {};
    for (const k of keys) out[k] = environ[k];
    out.underscore = Object.keys(environ).filter((k) => k.startsWith('HTTP_X_B'));
    startResponse('200 OK', [['Content-Type', 'application/json'], ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']]);
    return [JSON.stringify(out)];
  };

  test('builds the environ from the Request, and keeps Set-Cookie repeats', async () => {
    const handler = toFetchHandler(echo, { scriptName: '/mnt' });
    const res = await handler(new Request('https://example.com:8443/a%20b/c?x=1', { headers: { 'X-A': '1', x_b: '2', 'Content-Type': 'text/plain' }, method: 'POST', body: 'x' }));
    expect(res.status).toBe(200);
    expect(res.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect(res.headers.get('content-length')).toBe(String((await res.clone().text()).length));
    expect(await res.json()).toEqual({
      REQUEST_METHOD: 'POST',
      SCRIPT_NAME: '/mnt',
      PATH_INFO: '/a b/c',
      QUERY_STRING: 'x=1',
      REQUEST_URI: '/a%20b/c?x=1',
      SERVER_NAME: 'example.com',
      SERVER_PORT: '8443',
      HTTPS: 'on',
      HTTP_HOST: 'example.com:8443',
      HTTP_X_A: '1',
      CONTENT_TYPE: 'text/plain',
      'wsgi.url_scheme': 'https',
      underscore: [],
    });
  });

  test('streams the request body into wsgi.input', async () => {
    const app: App = async (environ, startResponse) => {
      let n = 0;
      for await (const c of environ['wsgi.input']) n += (c as Buffer).length;
      startResponse('200 OK', []);
      return [String(n)];
    };
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 10; i++) c.enqueue(new Uint8Array(1000));
        c.close();
      },
    });
    const res = await toFetchHandler(app)(new Request('http://h/', { method: 'POST', body, duplex: 'half' } as RequestInit));
    expect(await res.text()).toBe('10000');
  });

  test('streams the response with backpressure: the app yields only as the consumer reads', async () => {
    let yielded = 0;
    const app: App = (_environ, startResponse) => {
      startResponse('200 OK', []);
      return (function* () {
        for (let i = 0; i < 100; i++) {
          yielded++;
          yield 'x'.repeat(1000);
        }
      })();
    };
    const res = await toFetchHandler(app)(new Request('http://h/'));
    const reader = res.body!.getReader();
    await reader.read();
    await new Promise((r) => setTimeout(r, 20));
    expect(yielded).toBeLessThan(5);
    let total = 1000;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
    }
    expect(total).toBe(100_000);
  });

  test('request.signal aborting fires nsgi.signal', async () => {
    const ac = new AbortController();
    let fired: () => void;
    const seen = new Promise<void>((r) => (fired = r));
    const app: App = (environ, startResponse) => {
      environ['nsgi.signal'].addEventListener('abort', () => fired());
      startResponse('200 OK', []);
      return (async function* () {
        yield 'first';
        await new Promise(() => {}); // never more
      })();
    };
    const res = await toFetchHandler(app)(new Request('http://h/', { signal: ac.signal }));
    expect(res.status).toBe(200);
    ac.abort();
    await seen;
  });

  test('cancelling the response body fires nsgi.signal and closes the app body', async () => {
    let signalled = false;
    let closed = false;
    const app: App = (environ, startResponse) => {
      environ['nsgi.signal'].addEventListener('abort', () => (signalled = true));
      startResponse('200 OK', []);
      return (function* () {
        try {
          for (;;) yield 'data';
        } finally {
          closed = true;
        }
      })();
    };
    const res = await toFetchHandler(app)(new Request('http://h/'));
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    await new Promise((r) => setTimeout(r, 10));
    expect(signalled).toBe(true);
    expect(closed).toBe(true);
  });

  test('a request aborted before the app responds rejects with NSGI_ERR_ABORTED', async () => {
    const ac = new AbortController();
    const app: App = async (environ) => {
      await new Promise((r) => environ['nsgi.signal'].addEventListener('abort', r));
      return [];
    };
    const p = toFetchHandler(app)(new Request('http://h/', { signal: ac.signal }));
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: 'NSGI_ERR_ABORTED' });
  });

  test.each([
    ['1xx cannot be carried: rejects with NSGI_ERR_BRIDGE_STATUS', '103 Early Hints', 'reject'],
    ['204 gives a null body', '204 No Content', 'null'],
  ])('%s', async (_name, status, want) => {
    const app: App = (_e, startResponse) => {
      startResponse(status, []);
      return ['ignored'];
    };
    const p = toFetchHandler(app, { errors: quiet })(new Request('http://h/'));
    if (want === 'reject') await expect(p).rejects.toMatchObject({ code: 'NSGI_ERR_BRIDGE_STATUS' });
    else expect((await p).body).toBeNull();
  });

  test('HEAD gets a null body; an app error before the head gets a 500', async () => {
    const head = await toFetchHandler(echo)(new Request('http://h/', { method: 'HEAD' }));
    expect(head.body).toBeNull();
    const errors: string[] = [];
    const failing = toFetchHandler(
      () => {
        throw new Error('kaput');
      },
      { errors: { write: (s: string) => (errors.push(s), true) } as unknown as NodeJS.WritableStream },
    );
    const res = await failing(new Request('http://h/'));
    expect(res.status).toBe(500);
    expect(errors.join('')).toContain('kaput');
  });

  test('an nsgi app mounted in Hono with app.mount() sees the path below the mount point', async () => {
    const web = new Hono();
    web.mount('/legacy', toFetchHandler(echo));
    const res = await web.fetch(new Request('http://h/legacy/a?x=1'));
    expect(await res.json()).toMatchObject({ PATH_INFO: '/a', QUERY_STRING: 'x=1' });
  });

  test('fromFetchHandler(toFetchHandler(app)) behaves as app', async () => {
    const round = fromFetchHandler(toFetchHandler(echo));
    const res = await new TestClient(round).get('/p%20q?z=9', { headers: { 'X-A': 'v' } });
    expect(res.headerAll('set-cookie')).toEqual(['a=1', 'b=2']);
    expect(res.json<Environ>()).toMatchObject({ PATH_INFO: '/p q', QUERY_STRING: 'z=9', HTTP_X_A: 'v' });
  });
});
