// The PEP 3333 contract as the shared response driver enforces it, observed through
// the test client (which runs the same driver as every server).
import { describe, expect, it } from 'vitest';
import { runApp, type App, type Body, type Chunk, type ResponseSink } from '../../src/index.js';
import { createEnviron, TestClient } from '../../src/testing/index.js';

const ok = (body: Body, headers: Array<[string, string]> = []): App => (_env, start) => {
  start('200 OK', headers);
  return body;
};

describe('status line', () => {
  it.each([
    ['200 OK', 200, 'OK'],
    ['404 Not Found', 404, 'Not Found'],
    ['599 ', 599, ''],
    ['201 Créé', 201, 'Créé'],
  ])('accepts %j', async (status, code, reason) => {
    const res = await new TestClient((_e, start) => (start(status, []), [])).get('/');
    expect([res.status, res.statusText]).toEqual([code, reason]);
  });

  it.each([['200'], ['200OK'], ['OK 200'], ['2000 OK'], ['099 Low'], ['200 OK\r\nX-Evil: 1'], [200 as unknown as string]])(
    'refuses %j with a 500 and an error on wsgi.errors',
    async (status) => {
      const res = await new TestClient((_e, start) => (start(status, []), ['never'])).get('/');
      expect(res.status).toBe(500);
      expect(res.errors).toContain('[NSGI_ERR_INVALID_STATUS]');
      expect(res.text).toBe('Internal Server Error\n');
    },
  );
});

describe('headers', () => {
  it('keeps order and repeats (two Set-Cookie)', async () => {
    const headers: Array<[string, string]> = [['Set-Cookie', 'a=1'], ['X-One', '1'], ['Set-Cookie', 'b=2']];
    const res = await new TestClient(ok(['x'], headers)).get('/');
    expect(res.headers.slice(0, 3)).toEqual(headers);
    expect(res.headerAll('set-cookie')).toEqual(['a=1', 'b=2']);
  });

  it.each([
    ['CR/LF in a value', [['X-A', 'v\r\nSet-Cookie: evil=1']], 'NSGI_ERR_HEADER_INJECTION'],
    ['LF in a value', [['X-A', 'v\nx']], 'NSGI_ERR_HEADER_INJECTION'],
    ['NUL in a value', [['X-A', 'v\0']], 'NSGI_ERR_HEADER_INJECTION'],
    ['CR/LF in a name', [['X-A\r\nX-B', 'v']], 'NSGI_ERR_HEADER_INJECTION'],
    ['a space in a name', [['X A', 'v']], 'NSGI_ERR_INVALID_HEADER'],
    ['a non-Latin-1 value', [['X-A', 'snow ☃']], 'NSGI_ERR_INVALID_HEADER'],
    ['a Status header', [['Status', '200 OK']], 'NSGI_ERR_INVALID_HEADER'],
    ['a number value', [['X-A', 1]], 'NSGI_ERR_INVALID_HEADER'],
    ['a non-array', { 'X-A': 'v' }, 'NSGI_ERR_INVALID_HEADER'],
  ])('refuses %s (%s)', async (_what, headers, code) => {
    let caught: unknown;
    const app: App = (_e, start) => {
      try {
        start('200 OK', headers as Array<[string, string]>);
      } catch (err) {
        caught = err;
        throw err;
      }
      return ['body'];
    };
    const res = await new TestClient(app).get('/');
    expect((caught as { code: string }).code).toBe(code);
    expect(res.status).toBe(500);
    expect(res.headerAll('set-cookie')).toEqual([]);
  });
});

describe('startResponse', () => {
  it('throws when called twice without excInfo', async () => {
    let code: string | undefined;
    const app: App = (_e, start) => {
      start('200 OK', []);
      try {
        start('201 Created', []);
      } catch (err) {
        code = (err as { code: string }).code;
      }
      return ['x'];
    };
    const res = await new TestClient(app).get('/');
    expect(code).toBe('NSGI_ERR_START_RESPONSE_TWICE');
    expect(res.status).toBe(200);
  });

  it('replaces headers not yet sent when called with excInfo', async () => {
    const app: App = (_e, start) => {
      start('200 OK', [['X-First', '1']]);
      try {
        throw new Error('boom');
      } catch (err) {
        start('503 Service Unavailable', [['X-Second', '2']], err);
        return ['sorry'];
      }
    };
    const res = await new TestClient(app).get('/');
    expect(res.statusLine).toBe('503 Service Unavailable');
    expect(res.header('x-first')).toBeUndefined();
    expect(res.header('x-second')).toBe('2');
  });

  it('rethrows excInfo once the headers were sent', async () => {
    const boom = new Error('late failure');
    let rethrown: unknown;
    const app: App = (_e, start) => {
      const write = start('200 OK', []);
      write('part one');
      try {
        start('500 Internal Server Error', [], boom);
      } catch (err) {
        rethrown = err;
      }
      return [];
    };
    const res = await new TestClient(app).get('/');
    expect(rethrown).toBe(boom);
    expect(res.status).toBe(200);
    expect(res.text).toBe('part one');
  });

  it('returns a working write() whose bytes precede the body', async () => {
    const app: App = (_e, start) => {
      const write = start('200 OK', []);
      write('a');
      write(Buffer.from('b'));
      return ['c'];
    };
    expect((await new TestClient(app).get('/')).text).toBe('abc');
  });

  it('gives a 500 when the app never calls it', async () => {
    const res = await new TestClient(() => ['oops']).get('/');
    expect(res.status).toBe(500);
    expect(res.errors).toContain('[NSGI_ERR_NO_START_RESPONSE]');
  });

  it('lets the app call it late, from inside the body, before the first bytes', async () => {
    const app: App = (_e, start) =>
      (function* () {
        yield '';
        start('202 Accepted', []);
        yield 'late';
      })();
    const res = await new TestClient(app).get('/');
    expect([res.status, res.text]).toEqual([202, 'late']);
  });
});

describe('body', () => {
  it('sends strings as UTF-8', async () => {
    const res = await new TestClient(ok(['snow ☃ ', 'straße ', '日本'])).get('/');
    expect(res.body).toEqual(Buffer.from('snow ☃ straße 日本', 'utf8'));
  });

  it('mixes bytes and strings, sync and async iterables', async () => {
    async function* gen(): AsyncGenerator<Chunk> {
      yield 'a';
      yield new Uint8Array([0x62]);
      yield Buffer.from('c');
    }
    expect((await new TestClient(ok(gen())).get('/')).text).toBe('abc');
    expect((await new TestClient(ok(new Set<Chunk>(['x', 'y']))).get('/')).text).toBe('xy');
  });

  it.each([
    ['a bare string', 'text'],
    ['a bare Buffer', Buffer.from('x')],
    ['a number', 42],
    ['null', null],
    ['an array holding a number', [1]],
  ])('refuses %s with a 500', async (_what, body) => {
    const res = await new TestClient(ok(body as Body)).get('/');
    expect(res.status).toBe(500);
    expect(res.errors).toContain('[NSGI_ERR_INVALID_BODY]');
  });

  it('calls return() on the body iterator when the response completes', async () => {
    let closed = 0;
    const app: App = (_e, start) => {
      start('200 OK', []);
      return (function* () {
        try {
          yield 'a';
        } finally {
          closed++;
        }
      })();
    };
    await new TestClient(app).get('/');
    expect(closed).toBe(1);
  });

  it('calls return() on the body iterator when a chunk is invalid (early end)', async () => {
    const events: string[] = [];
    const body = {
      [Symbol.iterator]() {
        let i = 0;
        return {
          next: () => (i++ === 0 ? { done: false, value: 'ok' } : { done: false, value: 7 as unknown as string }),
          return: () => {
            events.push('return');
            return { done: true as const, value: undefined };
          },
        };
      },
    };
    const res = await new TestClient(ok(body)).get('/');
    expect(events).toEqual(['return']);
    expect(res.outcome).toBe('failed');
  });
});

describe('errors in the app', () => {
  it('turns a throw into 500 and reports it on wsgi.errors', async () => {
    const res = await new TestClient(() => {
      throw new Error('kaboom');
    }).get('/x');
    expect(res.status).toBe(500);
    expect(res.errors).toContain('kaboom');
    expect(res.errors).toContain('GET /x');
  });

  it('turns a rejected promise into 500', async () => {
    const res = await new TestClient(async () => {
      throw new TypeError('async kaboom');
    }).get('/');
    expect(res.status).toBe(500);
    expect(res.errors).toContain('async kaboom');
  });

  it('after headers were sent, ends the response as failed instead of sending a 500', async () => {
    const app: App = (_e, start) => {
      start('200 OK', []);
      return (function* () {
        yield 'partial';
        throw new Error('midway');
      })();
    };
    const res = await new TestClient(app).get('/');
    expect([res.status, res.text, res.outcome]).toEqual([200, 'partial', 'failed']);
    expect(res.errors).toContain('midway');
  });
});

describe('HEAD', () => {
  // RFC 3875 §4.3.2: the script MUST NOT send a body for HEAD; the driver drops it for every transport.
  it('sends the head with the Content-Length of an array body, and no body', async () => {
    const seen: Array<number | undefined | string> = [];
    const sink: ResponseSink = {
      head: (status, _h, knownLength) => void seen.push(status.code, knownLength),
      body: (chunk) => void seen.push(`body ${chunk.length}`),
      end: () => void seen.push('end'),
      fail: () => void seen.push('fail'),
    };
    expect(await runApp(ok(['hello']), createEnviron({ method: 'HEAD' }), sink)).toBe('complete');
    expect(seen).toEqual([200, 5, 'end']);
  });

  it('stops pulling a streamed body once the head is out, and calls return()', async () => {
    const pulled: number[] = [];
    let closed = false;
    const app: App = (_e, start) => {
      start('200 OK', []);
      return (function* () {
        try {
          for (let i = 0; i < 1000; i++) {
            pulled.push(i);
            yield 'chunk';
          }
        } finally {
          closed = true;
        }
      })();
    };
    const res = await new TestClient(app).head('/');
    expect([res.status, res.body.length, pulled.length, closed]).toEqual([200, 0, 1, true]);
  });

  it('drops bytes given to write()', async () => {
    const res = await new TestClient((_e, start) => (start('200 OK', [])('written'), [])).head('/');
    expect(res.body.length).toBe(0);
  });
});
