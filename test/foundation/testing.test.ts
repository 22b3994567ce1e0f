// nsgi/testing is part of the product: createEnviron() and TestClient as users write tests with them.
import { describe, expect, it } from 'vitest';
import type { App } from '../../src/index.js';
import { createEnviron, TestClient } from '../../src/testing/index.js';

const echo: App = async (environ, start) => {
  const chunks: Buffer[] = [];
  for await (const c of environ['wsgi.input']) chunks.push(c as Buffer);
  start('200 OK', [['Content-Type', 'application/json'], ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']]);
  const keys = ['REQUEST_METHOD', 'SCRIPT_NAME', 'PATH_INFO', 'QUERY_STRING', 'CONTENT_TYPE', 'CONTENT_LENGTH', 'SERVER_NAME', 'SERVER_PORT', 'HTTP_HOST', 'HTTP_X_A', 'HTTPS', 'REQUEST_URI'];
  return [JSON.stringify({ ...Object.fromEntries(keys.map((k) => [k, environ[k]])), scheme: environ['wsgi.url_scheme'], body: Buffer.concat(chunks).toString() })];
};

describe('createEnviron', () => {
  it('fills every key PEP 3333 requires, with sensible defaults', () => {
    const env = createEnviron();
    expect(env).toMatchObject({ REQUEST_METHOD: 'GET', SCRIPT_NAME: '', PATH_INFO: '/', QUERY_STRING: '', SERVER_NAME: 'localhost', SERVER_PORT: '80', SERVER_PROTOCOL: 'HTTP/1.1', 'wsgi.url_scheme': 'http', 'wsgi.run_once': false });
    expect(env['nsgi.signal'].aborted).toBe(false);
  });

  it('splits path and query, decodes PATH_INFO, encodes an object query', () => {
    expect(createEnviron({ path: '/a%20b?x=%C3%A9' })).toMatchObject({ PATH_INFO: '/a b', QUERY_STRING: 'x=%C3%A9' });
    expect(createEnviron({ path: '/p', query: { q: 'café', t: ['1', '2'] } }).QUERY_STRING).toBe('q=caf%C3%A9&t=1&t=2');
  });

  it('derives SERVER_NAME from Host and the port from the scheme', () => {
    expect(createEnviron({ headers: { Host: 'example.com:8443' }, scheme: 'https' })).toMatchObject({ SERVER_NAME: 'example.com', SERVER_PORT: '443', HTTPS: 'on', 'wsgi.url_scheme': 'https' });
  });
});

describe('TestClient', () => {
  const client = new TestClient(echo);

  it('GETs with headers and reads JSON, status and repeated headers', async () => {
    const res = await client.get('/items/1?x=1', { headers: { 'X-A': 'v' } });
    expect(res.statusLine).toBe('200 OK');
    expect(res.headerAll('Set-Cookie')).toEqual(['a=1', 'b=2']);
    expect(res.json()).toMatchObject({ REQUEST_METHOD: 'GET', PATH_INFO: '/items/1', QUERY_STRING: 'x=1', HTTP_X_A: 'v' });
  });

  it('POSTs text, bytes, chunks and JSON objects with their lengths', async () => {
    expect((await client.post('/', 'héllo')).json()).toMatchObject({ body: 'héllo', CONTENT_LENGTH: '6' });
    expect((await client.post('/', new Uint8Array([104, 105]))).json()).toMatchObject({ body: 'hi', CONTENT_LENGTH: '2' });
    expect((await client.put('/', ['a', Buffer.from('b')])).json()).toMatchObject({ REQUEST_METHOD: 'PUT', body: 'ab' });
    expect((await client.patch('/', { n: 1 })).json()).toMatchObject({ body: '{"n":1}', CONTENT_TYPE: 'application/json' });
  });

  it('applies defaults to every request, overridable per request', async () => {
    const c = new TestClient(echo, { defaults: { scriptName: '/app', headers: { 'X-A': 'default' } } });
    expect((await c.get('/x')).json()).toMatchObject({ SCRIPT_NAME: '/app', HTTP_X_A: 'default', REQUEST_URI: '/app/x' });
    expect((await c.get('/x', { headers: { 'X-A': 'mine' } })).json()).toMatchObject({ HTTP_X_A: 'mine' });
  });

  it('refuses something that is not an app', () => {
    expect(() => new TestClient('app' as unknown as App)).toThrow(TypeError);
  });

  it('shows what the app wrote to wsgi.errors', async () => {
    const res = await new TestClient((environ, start) => {
      environ['wsgi.errors'].write('careful\n');
      start('200 OK', []);
      return [];
    }).head('/');
    expect(res.errors).toBe('careful\n');
  });
});
