// The FastCGI server driven by hand-made records over raw sockets: the responder flow, keep-conn,
// multiplexing, management records, aborts, limits, and malformed input closing only its own connection.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createFastCGIServer, type FastCGIServerOptions } from '../../src/fastcgi/server.js';
import {
  FCGI_ABORT_REQUEST,
  FCGI_AUTHORIZER,
  FCGI_END_REQUEST,
  FCGI_FILTER,
  FCGI_GET_VALUES,
  FCGI_GET_VALUES_RESULT,
  FCGI_KEEP_CONN,
  FCGI_OVERLOADED,
  FCGI_PARAMS,
  FCGI_REQUEST_COMPLETE,
  FCGI_STDERR,
  FCGI_STDIN,
  FCGI_STDOUT,
  FCGI_UNKNOWN_ROLE,
  FCGI_UNKNOWN_TYPE,
} from '../../src/fastcgi/protocol.js';
import { decodeParams, encodeParams } from '../../src/fastcgi/params.js';
import type { NsgiServer } from '../../src/server.js';
import type { App, Environ } from '../../src/types.js';
import { begin, makeRecord, memoryLogger, RawConnection, request, stdoutOf, waitFor, type ParsedRecord } from './unit-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'nsgi-fcgi-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const running: NsgiServer[] = [];
const raws: RawConnection[] = [];
afterEach(async () => {
  for (const r of raws.splice(0)) r.close();
  await Promise.all(running.splice(0).map((s) => s.close(100)));
});

let unixCount = 0;
async function start(app: App, options: FastCGIServerOptions = {}, address = '127.0.0.1:0'): Promise<{ server: NsgiServer; address: string; logger: ReturnType<typeof memoryLogger>; sockets: Socket[] }> {
  const logger = memoryLogger();
  const server = createFastCGIServer(app, { logger, ...options });
  const sockets: Socket[] = [];
  server.server.on('connection', (s: Socket) => sockets.push(s));
  running.push(server);
  if (address === 'unix') address = `unix:${join(dir, `s${unixCount++}.sock`)}`;
  return { server, address: await server.listen(address), logger, sockets };
}

async function raw(address: string): Promise<RawConnection> {
  const r = await RawConnection.open(address);
  raws.push(r);
  return r;
}

function endOf(records: ParsedRecord[], id: number): { appStatus: number; protocolStatus: number } | undefined {
  const r = records.find((x) => x.type === FCGI_END_REQUEST && x.requestId === id);
  return r && { appStatus: r.content.readUInt32BE(0), protocolStatus: r.content[4]! };
}

const hello: App = (environ, startResponse) => {
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  return [`hello ${environ.REQUEST_METHOD} ${environ.PATH_INFO}`];
};

// Echoes the body and a few environ values, after reading the whole of wsgi.input.
const echo: App = async (environ, startResponse) => {
  const parts: Buffer[] = [];
  for await (const c of environ['wsgi.input']) parts.push(c as Buffer);
  const body = Buffer.concat(parts);
  startResponse('200 OK', [['Content-Type', 'text/plain'], ['X-Role', String(environ.FCGI_ROLE)], ['X-Len', String(body.length)]]);
  return [body];
};

describe('responder flow (§6.2)', () => {
  it('answers a request with STDOUT (CGI head + body), an empty STDOUT and END_REQUEST, then closes (no KEEP_CONN)', async () => {
    const { address } = await start(hello);
    const c = await raw(address);
    c.send(request(1, { REQUEST_METHOD: 'GET', PATH_INFO: '/x' }));
    await c.closedPromise;
    const records = c.records();
    expect(records.map((r) => [r.type, r.requestId])).toEqual([
      [FCGI_STDOUT, 1],
      [FCGI_STDOUT, 1],
      [FCGI_STDOUT, 1],
      [FCGI_END_REQUEST, 1],
    ]);
    expect(stdoutOf(records, 1)).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nhello GET /x');
    expect(records[2]!.content.length).toBe(0);
    expect(endOf(records, 1)).toEqual({ appStatus: 0, protocolStatus: FCGI_REQUEST_COMPLETE });
  });

  it('sends a small response (head, body, stream end, END_REQUEST) in one socket write', async () => {
    const { address, sockets } = await start(hello);
    const c = await raw(address);
    await waitFor(() => sockets.length === 1, 'the connection');
    const writes: number[] = [];
    const s = sockets[0]!;
    const write = s.write.bind(s) as (chunk: Uint8Array) => boolean;
    (s as unknown as { write: (chunk: Uint8Array) => boolean }).write = (chunk) => {
      writes.push(chunk.length);
      return write(chunk);
    };
    c.send(request(1, { REQUEST_METHOD: 'GET', PATH_INFO: '/x' }));
    await c.closedPromise;
    expect(writes).toEqual([c.bytes.length]);
  });

  it('builds the environ from PARAMS: CGI variables as sent, FCGI_ROLE, the wsgi and nsgi keys', async () => {
    let seen: Environ | undefined;
    const { address } = await start((environ, sr) => {
      seen = environ;
      sr('204 No Content', []);
      return [];
    });
    const c = await raw(address);
    c.send(request(1, { REQUEST_METHOD: 'PUT', SCRIPT_NAME: '/app', PATH_INFO: '/snow ☃/', QUERY_STRING: 'a=1', HTTPS: 'on', HTTP_X_A: 'b' }));
    await c.closedPromise;
    expect(seen).toMatchObject({ REQUEST_METHOD: 'PUT', SCRIPT_NAME: '/app', PATH_INFO: '/snow ☃/', QUERY_STRING: 'a=1', HTTP_X_A: 'b', FCGI_ROLE: 'RESPONDER', 'wsgi.url_scheme': 'https' });
    expect(seen!['nsgi.signal']).toBeInstanceOf(AbortSignal);
    expect(seen!['nsgi.signal'].aborted).toBe(false);
    expect(stdoutOf(c.records(), 1)).toBe('Status: 204 No Content\r\n\r\n');
  });

  it('answers HEAD with the head alone: the Content-Length of an array body, none made up for an empty one', async () => {
    const { address } = await start((environ, sr) => {
      sr('200 OK', [['Content-Type', 'text/plain']]);
      return environ.PATH_INFO === '/empty' ? [] : ['abc'];
    });
    const c = await raw(address);
    c.send(request(1, { REQUEST_METHOD: 'HEAD', PATH_INFO: '/abc' }, '', FCGI_KEEP_CONN), request(2, { REQUEST_METHOD: 'HEAD', PATH_INFO: '/empty' }, '', FCGI_KEEP_CONN));
    const records = await c.until((rs) => endOf(rs, 1) !== undefined && endOf(rs, 2) !== undefined);
    expect(stdoutOf(records, 1)).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\n');
    expect(stdoutOf(records, 2)).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n');
  });

  it('streams STDIN to wsgi.input, cut across records and chunks', async () => {
    const { address } = await start(echo);
    const c = await raw(address);
    const bytes = request(1, { REQUEST_METHOD: 'POST', CONTENT_LENGTH: '11' }, 'hello world');
    for (let i = 0; i < bytes.length; i += 5) c.send(bytes.subarray(i, i + 5));
    await c.closedPromise;
    expect(stdoutOf(c.records(), 1)).toMatch(/X-Len: 11\r\n.*\r\n\r\nhello world$/s);
  });

  it('sends wsgi.errors writes as STDERR records, ended by an empty STDERR before END_REQUEST', async () => {
    const { address } = await start((environ, sr) => {
      environ['wsgi.errors'].write('first line\n');
      environ['wsgi.errors'].write(Buffer.from('second ☃\n'));
      sr('200 OK', []);
      return ['ok'];
    });
    const c = await raw(address);
    c.send(request(1, {}));
    await c.closedPromise;
    const records = c.records();
    const stderr = records.filter((r) => r.type === FCGI_STDERR);
    expect(Buffer.concat(stderr.map((r) => r.content)).toString()).toBe('first line\nsecond ☃\n');
    expect(stderr.at(-1)!.content.length).toBe(0);
    expect(records.findIndex((r) => r.type === FCGI_STDERR && r.content.length === 0)).toBeLessThan(records.findIndex((r) => r.type === FCGI_END_REQUEST));
  });

  it('reports an app error before the head as a 500 and its stack on STDERR', async () => {
    const { address } = await start(() => {
      throw new Error('boom');
    });
    const c = await raw(address);
    c.send(request(1, { PATH_INFO: '/err' }));
    await c.closedPromise;
    const records = c.records();
    expect(stdoutOf(records, 1)).toMatch(/^Status: 500 Internal Server Error\r\n/);
    expect(Buffer.concat(records.filter((r) => r.type === FCGI_STDERR).map((r) => r.content)).toString()).toContain('Error: boom');
  });

  it('cuts the connection when the app fails after its head went out, so the truncation is visible', async () => {
    const { address } = await start((_e, sr) => {
      sr('200 OK', []);
      return (async function* () {
        yield 'partial';
        throw new Error('late failure');
      })();
    });
    const c = await raw(address);
    c.send(request(1, {}));
    await c.closedPromise;
    expect(stdoutOf(c.records(), 1)).toContain('partial');
    expect(endOf(c.records(), 1)).toBeUndefined();
  });
});

describe('connections: FCGI_KEEP_CONN (§5.1) and idle timeout', () => {
  it('serves several requests on one kept connection, reusing the request id, and closes after one without KEEP_CONN', async () => {
    const { address } = await start(hello);
    const c = await raw(address);
    for (let i = 0; i < 3; i++) {
      c.chunks.length = 0;
      c.send(request(1, { PATH_INFO: `/r${i}` }, '', FCGI_KEEP_CONN));
      const records = await c.ended(1);
      expect(stdoutOf(records, 1)).toContain(`hello GET /r${i}`);
      expect(c.closed).toBe(false);
    }
    c.chunks.length = 0;
    c.send(request(1, { PATH_INFO: '/last' }));
    await c.closedPromise;
    expect(stdoutOf(c.records(), 1)).toContain('hello GET /last');
  });

  it('closes a kept connection that stays idle past idleTimeout', async () => {
    const { address } = await start(hello, { idleTimeout: 50 });
    const c = await raw(address);
    c.send(request(1, {}, '', FCGI_KEEP_CONN));
    await c.ended(1);
    await c.closedPromise;
    expect(c.closed).toBe(true);
  });

  it('does not close a connection for idleness while a request is running on it', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { address, server } = await start(
      async (_e, sr) => {
        await gate;
        sr('200 OK', []);
        return ['late'];
      },
      { idleTimeout: 30 },
    );
    const c = await raw(address);
    c.send(request(1, {}, '', FCGI_KEEP_CONN));
    await waitFor(() => server.activeRequests === 1, 'the request to start');
    await new Promise((r) => setTimeout(r, 150)); // several idle periods
    expect(c.closed).toBe(false);
    release();
    expect(stdoutOf(await c.ended(1), 1)).toContain('late');
  });
});

describe('multiplexing (§3.3)', () => {
  it('runs two interleaved requests on one connection and keeps their STDOUT apart', async () => {
    const { address } = await start(echo);
    const c = await raw(address);
    const p1 = encodeParams({ REQUEST_METHOD: 'POST', PATH_INFO: '/one' });
    const p2 = encodeParams({ REQUEST_METHOD: 'POST', PATH_INFO: '/two' });
    c.send(
      begin(1, FCGI_KEEP_CONN),
      begin(2, FCGI_KEEP_CONN),
      makeRecord(FCGI_PARAMS, 2, p2.subarray(0, 5)),
      makeRecord(FCGI_PARAMS, 1, p1),
      makeRecord(FCGI_PARAMS, 2, p2.subarray(5)),
      makeRecord(FCGI_PARAMS, 1),
      makeRecord(FCGI_STDIN, 1, 'body-one-'),
      makeRecord(FCGI_PARAMS, 2),
      makeRecord(FCGI_STDIN, 2, 'body-two'),
      makeRecord(FCGI_STDIN, 2),
      makeRecord(FCGI_STDIN, 1, 'more'),
      makeRecord(FCGI_STDIN, 1),
    );
    const records = await c.until((rs) => endOf(rs, 1) !== undefined && endOf(rs, 2) !== undefined);
    expect(stdoutOf(records, 1)).toMatch(/\r\n\r\nbody-one-more$/);
    expect(stdoutOf(records, 2)).toMatch(/\r\n\r\nbody-two$/);
    expect(c.closed).toBe(false);
  });

  it('interleaves the STDOUT of streaming responses record by record, each request intact', async () => {
    const { address } = await start((environ, sr) => {
      sr('200 OK', []);
      const name = environ.PATH_INFO;
      return (async function* () {
        for (let i = 0; i < 5; i++) {
          await new Promise((r) => setImmediate(r));
          yield `${name}:${i};`;
        }
      })();
    });
    const c = await raw(address);
    c.send(request(1, { PATH_INFO: 'a' }, '', FCGI_KEEP_CONN), request(2, { PATH_INFO: 'b' }, '', FCGI_KEEP_CONN), request(3, { PATH_INFO: 'c' }, '', FCGI_KEEP_CONN));
    const records = await c.until((rs) => [1, 2, 3].every((id) => endOf(rs, id) !== undefined));
    for (const [id, name] of [[1, 'a'], [2, 'b'], [3, 'c']] as const) {
      expect(stdoutOf(records, id).split('\r\n\r\n')[1]).toBe(`${name}:0;${name}:1;${name}:2;${name}:3;${name}:4;`);
    }
    const ids = records.filter((r) => r.type === FCGI_STDOUT && r.content.length > 0).map((r) => r.requestId);
    expect(new Set(ids.slice(0, 6)).size).toBeGreaterThan(1); // they really were interleaved
  });

  it('closes a connection without KEEP_CONN only once every request on it has ended', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { address } = await start(async (environ, sr) => {
      if (environ.PATH_INFO === '/slow') await gate;
      sr('200 OK', []);
      return [environ.PATH_INFO];
    });
    const c = await raw(address);
    c.send(request(1, { PATH_INFO: '/slow' }), request(2, { PATH_INFO: '/fast' }));
    await c.ended(2);
    expect(c.closed).toBe(false);
    release();
    await c.closedPromise;
    expect(stdoutOf(c.records(), 1)).toContain('/slow');
  });
});

describe('management records (§4)', () => {
  it('answers FCGI_GET_VALUES from the configured limits and omits names it does not know', async () => {
    const { address } = await start(hello, { maxConnections: 7, maxRequests: 9 });
    const c = await raw(address);
    c.send(makeRecord(FCGI_GET_VALUES, 0, encodeParams({ FCGI_MAX_CONNS: '', FCGI_MAX_REQS: '', FCGI_MPXS_CONNS: '', NOT_A_VARIABLE: '' })));
    const [r] = await c.until((rs) => rs.length === 1);
    expect(r!.type).toBe(FCGI_GET_VALUES_RESULT);
    expect(r!.requestId).toBe(0);
    expect(decodeParams(r!.content)).toEqual({ FCGI_MAX_CONNS: '7', FCGI_MAX_REQS: '9', FCGI_MPXS_CONNS: '1' });
  });

  it.each([
    ['an unknown management type', 42],
    ['BEGIN_REQUEST on the null request id', 1],
    ['GET_VALUES_RESULT sent to the application', FCGI_GET_VALUES_RESULT],
  ])('answers %s with UNKNOWN_TYPE naming the type (§4.2)', async (_name, type) => {
    const { address } = await start(hello);
    const c = await raw(address);
    c.send(makeRecord(type, 0, Buffer.alloc(8)));
    const [r] = await c.until((rs) => rs.length === 1);
    expect(r).toMatchObject({ type: FCGI_UNKNOWN_TYPE, requestId: 0 });
    expect([...r!.content]).toEqual([type, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('ignores records for request ids that are not active (§3.3) and keeps serving', async () => {
    const { address, logger } = await start(hello);
    const c = await raw(address);
    c.send(makeRecord(FCGI_STDIN, 9, 'stray'), makeRecord(FCGI_PARAMS, 9, 'x'), makeRecord(FCGI_ABORT_REQUEST, 9), makeRecord(FCGI_STDOUT, 9, 'odd'));
    c.send(request(1, { PATH_INFO: '/after' }));
    await c.closedPromise;
    expect(stdoutOf(c.records(), 1)).toContain('hello GET /after');
    expect(c.records().every((r) => r.requestId === 1)).toBe(true);
    expect(logger.errors).toEqual([]);
  });
});

describe('roles (§6)', () => {
  it('plays the Authorizer: FCGI_ROLE says so and the response (Variable-* headers too) goes back as the app gave it', async () => {
    const { address } = await start((environ, sr) => {
      sr(environ.HTTP_AUTHORIZATION === 'ok' ? '200 OK' : '401 Unauthorized', [['Variable-USER', 'alice'], ['X-Role', String(environ.FCGI_ROLE)]]);
      return [];
    });
    const c = await raw(address);
    c.send(request(1, { HTTP_AUTHORIZATION: 'ok' }, '', FCGI_KEEP_CONN, FCGI_AUTHORIZER), request(2, {}, '', FCGI_KEEP_CONN, FCGI_AUTHORIZER));
    const records = await c.until((rs) => endOf(rs, 1) !== undefined && endOf(rs, 2) !== undefined);
    expect(stdoutOf(records, 1)).toBe('Status: 200 OK\r\nVariable-USER: alice\r\nX-Role: AUTHORIZER\r\nContent-Length: 0\r\n\r\n');
    expect(stdoutOf(records, 2)).toMatch(/^Status: 401 Unauthorized\r\n/);
  });

  it.each([
    ['Filter', FCGI_FILTER],
    ['an unknown role', 77],
  ])('refuses %s with END_REQUEST FCGI_UNKNOWN_ROLE and ignores the rest of the request', async (_name, role) => {
    let called = false;
    const { address } = await start(() => {
      called = true;
      return [];
    });
    const c = await raw(address);
    c.send(request(1, { A: 'b' }, 'body', 0, role));
    await c.closedPromise;
    const records = c.records();
    expect(records).toHaveLength(1);
    expect(endOf(records, 1)).toEqual({ appStatus: 0, protocolStatus: FCGI_UNKNOWN_ROLE });
    expect(called).toBe(false);
  });
});

describe('aborts (§5.4)', () => {
  function hanging(): { app: App; seen: { signal?: AbortSignal; returned: boolean } } {
    const seen: { signal?: AbortSignal; returned: boolean } = { returned: false };
    const app: App = (environ, sr) => {
      seen.signal = environ['nsgi.signal'];
      sr('200 OK', []);
      // An iterator whose second chunk never comes: only an abort ends this response. (An async generator
      // would not do: one suspended in an await answers return() only after that await settles.)
      let n = 0;
      const body: AsyncIterableIterator<string> = {
        next: () => (n++ === 0 ? Promise.resolve({ done: false, value: 'first' }) : new Promise(() => {})),
        return: () => {
          seen.returned = true;
          return Promise.resolve({ done: true, value: undefined });
        },
        [Symbol.asyncIterator]: () => body,
      };
      return body;
    };
    return { app, seen };
  }

  it('FCGI_ABORT_REQUEST fires nsgi.signal, calls return(), answers END_REQUEST and frees the id', async () => {
    const { app, seen } = hanging();
    const { address, server } = await start(app);
    const c = await raw(address);
    c.send(request(1, {}, '', FCGI_KEEP_CONN));
    await c.until((rs) => stdoutOf(rs, 1).includes('first'));
    c.send(makeRecord(FCGI_ABORT_REQUEST, 1));
    const records = await c.ended(1);
    expect(endOf(records, 1)).toEqual({ appStatus: 0, protocolStatus: FCGI_REQUEST_COMPLETE });
    expect(seen.signal!.aborted).toBe(true);
    await waitFor(() => seen.returned, 'return() to be called');
    expect(server.activeRequests).toBe(0);
    expect(c.closed).toBe(false);
    // The id is free again.
    c.chunks.length = 0;
    c.send(request(1, {}, '', FCGI_KEEP_CONN));
    await c.until((rs) => stdoutOf(rs, 1).includes('first'));
  });

  it('an app reading wsgi.input when the request is aborted gets an AbortedError (NSGI_ERR_ABORTED), not a hang', async () => {
    let readError: unknown;
    let gotChunk = false;
    const { address } = await start(async (environ, sr) => {
      try {
        for await (const _chunk of environ['wsgi.input']) gotChunk = true;
      } catch (error) {
        readError = error;
      }
      sr('200 OK', []);
      return [];
    });
    const c = await raw(address);
    c.send(begin(1, FCGI_KEEP_CONN), makeRecord(FCGI_PARAMS, 1, encodeParams({ REQUEST_METHOD: 'POST' })), makeRecord(FCGI_PARAMS, 1), makeRecord(FCGI_STDIN, 1, 'part of a body'));
    await waitFor(() => gotChunk, 'the app to read the first chunk');
    c.send(makeRecord(FCGI_ABORT_REQUEST, 1));
    await c.ended(1);
    await waitFor(() => readError !== undefined, 'the read to fail');
    expect(readError).toMatchObject({ code: 'NSGI_ERR_ABORTED' });
  });

  it('aborts a request still receiving PARAMS with an END_REQUEST, never starting the app', async () => {
    let called = false;
    const { address } = await start(() => {
      called = true;
      return [];
    });
    const c = await raw(address);
    c.send(begin(1, FCGI_KEEP_CONN), makeRecord(FCGI_PARAMS, 1, encodeParams({ A: 'b' })), makeRecord(FCGI_ABORT_REQUEST, 1));
    expect(endOf(await c.ended(1), 1)!.protocolStatus).toBe(FCGI_REQUEST_COMPLETE);
    c.send(makeRecord(FCGI_PARAMS, 1), makeRecord(FCGI_STDIN, 1));
    await new Promise((r) => setTimeout(r, 20));
    expect(called).toBe(false);
  });

  it('a closed connection fires nsgi.signal and calls return() for every request on it', async () => {
    const { app, seen } = hanging();
    const { address, server } = await start(app);
    const c = await raw(address);
    c.send(request(1, {}));
    await c.until((rs) => stdoutOf(rs, 1).includes('first'));
    expect(server.activeRequests).toBe(1);
    c.close();
    await waitFor(() => seen.returned, 'return() to be called');
    expect(seen.signal!.aborted).toBe(true);
    expect(server.activeRequests).toBe(0);
  });
});

describe('limits', () => {
  it('refuses requests beyond maxRequests with END_REQUEST FCGI_OVERLOADED, not a hang, and logs a LimitError', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { address, server, logger } = await start(
      async (_e, sr) => {
        await gate;
        sr('200 OK', []);
        return ['done'];
      },
      { maxRequests: 1 },
    );
    const a = await raw(address);
    a.send(request(1, {}));
    await waitFor(() => server.activeRequests === 1, 'the first request');
    const b = await raw(address);
    b.send(request(1, {}, 'ignored body'));
    await b.closedPromise;
    expect(b.records()).toHaveLength(1);
    expect(endOf(b.records(), 1)).toEqual({ appStatus: 0, protocolStatus: FCGI_OVERLOADED });
    expect(logger.errors.map((e) => (e.error as { code?: string }).code)).toEqual(['NSGI_ERR_FASTCGI_OVERLOADED']);
    release();
    await a.closedPromise;
    expect(stdoutOf(a.records(), 1)).toContain('done');
  });

  it('answers a PARAMS stream past maxParamsBytes with 431 and keeps the connection serving', async () => {
    const { address, logger } = await start(hello, { maxParamsBytes: 1000 });
    const c = await raw(address);
    c.send(request(1, { HTTP_COOKIE: 'c'.repeat(2000) }, 'body', FCGI_KEEP_CONN));
    const records = await c.ended(1);
    expect(stdoutOf(records, 1)).toMatch(/^Status: 431 Request Header Fields Too Large\r\n/);
    expect((logger.errors[0]!.error as { code: string; limit: number })).toMatchObject({ code: 'NSGI_ERR_FASTCGI_PARAMS_TOO_LARGE', limit: 1000 });
    c.chunks.length = 0;
    c.send(request(1, { PATH_INFO: '/next' }, '', FCGI_KEEP_CONN));
    expect(stdoutOf(await c.ended(1), 1)).toContain('hello GET /next');
  });

  it('closes connections beyond maxConnections and logs a LimitError', async () => {
    const { address, logger } = await start(hello, { maxConnections: 1 });
    await raw(address);
    const second = await raw(address);
    await second.closedPromise;
    await waitFor(() => logger.errors.length > 0, 'the log line');
    expect((logger.errors[0]!.error as { code: string }).code).toBe('NSGI_ERR_FASTCGI_MAX_CONNS');
  });

  it('STDIN backpressure: with an app not reading, the server stops reading the socket and buffers a bounded amount', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let input: Environ['wsgi.input'] | undefined;
    const { address, sockets } = await start(async (environ, sr) => {
      input = environ['wsgi.input'];
      await gate;
      const hash = createHash('sha256');
      let n = 0;
      for await (const c of input) {
        hash.update(c as Buffer);
        n += (c as Buffer).length;
      }
      sr('200 OK', []);
      return [`${n} ${hash.digest('hex')}`];
    });
    const body = Buffer.alloc(16 * 1024 * 1024);
    for (let i = 0; i < body.length; i += 4096) body[i] = i & 0xff;
    const c = await raw(address);
    c.send(request(1, { REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(body.length) }, body));
    await waitFor(() => sockets.length === 1 && sockets[0]!.isPaused(), 'the server to pause the socket');
    // The client's writes back up behind the paused socket: its side holds almost everything.
    await waitFor(() => c.socket.writableLength > 8 * 1024 * 1024, 'the client to back up');
    const server = sockets[0]!;
    expect(server.isPaused()).toBe(true);
    expect(input!.readableLength).toBeLessThanOrEqual(2 * 65536 + 65536);
    expect(server.bytesRead).toBeLessThan(8 * 1024 * 1024);
    release();
    await c.closedPromise;
    expect(stdoutOf(c.records(), 1)).toContain(`${body.length} ${createHash('sha256').update(body).digest('hex')}`);
  });
});

describe('protocol violations close only their own connection', () => {
  const violations: Array<[string, (address: string) => Buffer, string]> = [
    ['a bad version', () => Object.assign(makeRecord(FCGI_STDIN, 1, 'x'), { 0: 2 }), 'NSGI_ERR_FASTCGI_VERSION'],
    ['BEGIN_REQUEST for a busy id', () => Buffer.concat([begin(5, FCGI_KEEP_CONN), begin(5, FCGI_KEEP_CONN)]), 'NSGI_ERR_FASTCGI_BUSY_ID'],
    ['a BEGIN_REQUEST of the wrong length', () => makeRecord(1, 5, Buffer.alloc(4)), 'NSGI_ERR_FASTCGI_RECORD'],
    ['STDIN before the PARAMS stream ended', () => Buffer.concat([begin(5), makeRecord(FCGI_STDIN, 5, 'early')]), 'NSGI_ERR_FASTCGI_RECORD'],
    ['a PARAMS stream ending inside a pair', () => Buffer.concat([begin(5), makeRecord(FCGI_PARAMS, 5, Buffer.from('0305414243', 'hex')), makeRecord(FCGI_PARAMS, 5)]), 'NSGI_ERR_FASTCGI_PARAMS'],
  ];

  it.each(violations)('%s: the connection is closed and logged, another connection keeps working', async (_name, bytes, code) => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { address, logger } = await start(async (environ, sr) => {
      if (environ.PATH_INFO === '/wait') await gate;
      sr('200 OK', []);
      return ['fine'];
    });
    const good = await raw(address);
    good.send(request(1, { PATH_INFO: '/wait' }));
    const bad = await raw(address);
    bad.send(bytes(address));
    await bad.closedPromise;
    expect(logger.errors.map((e) => (e.error as { code?: string }).code)).toEqual([code]);
    expect(logger.errors[0]!.message).toMatch(/^fastcgi: closing connection/);
    release();
    await good.closedPromise;
    expect(stdoutOf(good.records(), 1)).toContain('fine');
  });

  it('a stream cut inside a record aborts its requests and is logged as truncated', async () => {
    const { address, logger } = await start(hello);
    const c = await raw(address);
    c.send(begin(1), makeRecord(FCGI_PARAMS, 1, encodeParams({ A: 'b' })).subarray(0, 10));
    c.socket.end();
    await c.closedPromise;
    expect((logger.errors[0]!.error as { code: string }).code).toBe('NSGI_ERR_FASTCGI_TRUNCATED');
  });

  it('a peer that ends its side (as nginx does when its client goes away) aborts the requests on it, logging nothing', async () => {
    const seen: { signal?: AbortSignal } = {};
    const { address, logger, server } = await start((environ) => {
      seen.signal = environ['nsgi.signal'];
      return new Promise(() => {});
    });
    const c = await raw(address);
    c.send(request(1, {}));
    await waitFor(() => seen.signal !== undefined, 'the app');
    c.socket.end();
    await c.closedPromise;
    expect(seen.signal!.aborted).toBe(true);
    expect(server.activeRequests).toBe(0);
    expect(logger.errors).toEqual([]);
  });
});

describe('listening and FCGI_WEB_SERVER_ADDRS (§3.2)', () => {
  it('serves on a unix socket', async () => {
    const { address } = await start(hello, {}, 'unix');
    expect(address).toMatch(/^unix:/);
    const c = await raw(address);
    c.send(request(1, { PATH_INFO: '/unix' }));
    await c.closedPromise;
    expect(stdoutOf(c.records(), 1)).toContain('hello GET /unix');
  });

  it('closes TCP peers not in webServerAddrs and logs them', async () => {
    const { address, logger } = await start(hello, { webServerAddrs: '10.9.9.9, 192.0.2.1' });
    const c = await raw(address);
    c.send(request(1, {}));
    await c.closedPromise;
    expect(c.records()).toEqual([]);
    expect((logger.errors[0]!.error as { code: string }).code).toBe('NSGI_ERR_FASTCGI_PEER_REFUSED');
  });

  it('accepts a listed TCP peer, and unix-socket peers whatever the list says', async () => {
    const tcp = await start(hello, { webServerAddrs: ['10.9.9.9', '127.0.0.1'] });
    const unix = await start(hello, { webServerAddrs: '10.9.9.9' }, 'unix');
    for (const address of [tcp.address, unix.address]) {
      const c = await raw(address);
      c.send(request(1, { PATH_INFO: '/ok' }));
      await c.closedPromise;
      expect(stdoutOf(c.records(), 1)).toContain('hello GET /ok');
    }
  });

  it('reads FCGI_WEB_SERVER_ADDRS from the environment by default', async () => {
    const saved = process.env.FCGI_WEB_SERVER_ADDRS;
    process.env.FCGI_WEB_SERVER_ADDRS = '10.9.9.9';
    try {
      const { address, logger } = await start(hello);
      const c = await raw(address);
      await c.closedPromise;
      expect(logger.errors).toHaveLength(1);
    } finally {
      if (saved === undefined) delete process.env.FCGI_WEB_SERVER_ADDRS;
      else process.env.FCGI_WEB_SERVER_ADDRS = saved;
    }
  });

  it('refuses a malformed allowlist and bad limits with NSGI_ERR_CONFIG', () => {
    expect(() => createFastCGIServer(hello, { webServerAddrs: 'not-an-ip' })).toThrow(expect.objectContaining({ code: 'NSGI_ERR_CONFIG' }));
    expect(() => createFastCGIServer(hello, { maxRequests: 0 })).toThrow(expect.objectContaining({ code: 'NSGI_ERR_CONFIG' }));
  });

  it('close() stops accepting, lets the running request finish, then resolves', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { address, server } = await start(async (_e, sr) => {
      await gate;
      sr('200 OK', []);
      return ['finished'];
    });
    const c = await raw(address);
    c.send(request(1, {}, '', FCGI_KEEP_CONN));
    await waitFor(() => server.activeRequests === 1, 'the request');
    let closed = false;
    const closing = server.close(10_000).then(() => (closed = true));
    await expect(RawConnection.open(address)).rejects.toThrow();
    expect(closed).toBe(false);
    release();
    await closing;
    expect(stdoutOf(c.records(), 1)).toContain('finished');
    await c.closedPromise; // closed after its request although KEEP_CONN was set
  });

  it('close(timeout) cuts what is still running after the grace period', async () => {
    const seen: { signal?: AbortSignal } = {};
    const { address, server } = await start((environ) => {
      seen.signal = environ['nsgi.signal'];
      return new Promise(() => {});
    });
    const c = await raw(address);
    c.send(request(1, {}));
    await waitFor(() => seen.signal !== undefined, 'the app');
    await server.close(20);
    await c.closedPromise;
    expect(seen.signal!.aborted).toBe(true);
  });
});
