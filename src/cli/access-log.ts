/**
 * The access log of `nsgi serve --access-log FILE|-`: one line per request in
 * the Common Log Format that Apache, nginx and log analysers read:
 *
 * ```
 * 127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET /a?b=1 HTTP/1.1" 200 2326
 * ```
 *
 * It is a wrapper around the app, so every transport gets it without a hook of
 * its own: the status is seen through `startResponse`, the bytes through the
 * body (and legacy `write()`), and the line is written when the body is done
 * (an array body: at once, its size being known). A response the app never
 * started (the driver answers 500) is logged with status 500. Each worker
 * appends to the file (`O_APPEND`: lines of one `write` stay whole), and
 * {@link AccessLog.reopen} starts a new file after rotation (SIGUSR1).
 * @module
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { App, Body, Chunk, Environ } from '../types.js';

/** Where access lines go. */
export interface AccessLog {
  write(line: string): void;
  /** Reopens the file (after logrotate moved it); a no-op for stderr. */
  reopen(): void;
  /** Flushes and closes. */
  close(): Promise<void>;
}

/** Opens `target`: a file path (appended to), or `-` for stderr. */
export function openAccessLog(target: string): AccessLog {
  if (target === '-') {
    return { write: (line) => void process.stderr.write(line), reopen: () => {}, close: async () => {} };
  }
  const open = (): WriteStream => {
    const s = createWriteStream(target, { flags: 'a' });
    s.on('error', () => {}); // a full disk must not take the worker down; lines are lost
    return s;
  };
  let stream = open();
  return {
    write: (line) => void stream.write(line),
    reopen: () => {
      const old = stream;
      stream = open();
      old.end();
    },
    close: () => new Promise<void>((resolve) => stream.end(resolve)),
  };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number): string => (n < 10 ? `0${n}` : String(n));

/** `10/Oct/2000:13:55:36 +0000` (UTC, as nginx's `$time_local` under TZ=UTC). */
export function clfDate(date: Date): string {
  return `${pad(date.getUTCDate())}/${MONTHS[date.getUTCMonth()]}/${date.getUTCFullYear()}:${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`;
}

/** The request line as the client sent it, rebuilt from the environ. */
function requestLine(environ: Environ): string {
  let target = environ.REQUEST_URI;
  if (target === undefined) {
    target = encodeURI(`${environ.SCRIPT_NAME}${environ.PATH_INFO}`) + (environ.QUERY_STRING ? `?${environ.QUERY_STRING}` : '');
  }
  // Quotes and control characters would break the line for parsers.
  return `${environ.REQUEST_METHOD} ${target} ${environ.SERVER_PROTOCOL}`.replace(/["\\\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

const size = (chunk: Chunk): number => (typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length);

/** Wraps `app` so that each request writes one Common Log Format line to `log`. */
export function withAccessLog(app: App, log: AccessLog): App {
  return async (environ, startResponse) => {
    const started = new Date();
    let status: string | undefined;
    let bytes = 0;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      const code = status === undefined ? '500' : status.slice(0, 3);
      const user = typeof environ.REMOTE_USER === 'string' && environ.REMOTE_USER !== '' ? environ.REMOTE_USER.replace(/\s/g, '_') : '-';
      log.write(`${environ.REMOTE_ADDR || '-'} - ${user} [${clfDate(started)}] "${requestLine(environ)}" ${code} ${bytes === 0 ? '-' : bytes}\n`);
    };
    let body: Body;
    try {
      body = await app(environ, (s, headers, excInfo) => {
        const write = startResponse(s, headers, excInfo);
        status = s;
        return (chunk) => {
          bytes += size(chunk);
          write(chunk);
        };
      });
    } catch (err) {
      status = undefined;
      finish();
      throw err;
    }
    if (Array.isArray(body) && status !== undefined) {
      for (const chunk of body as Chunk[]) if (typeof chunk === 'string' || chunk instanceof Uint8Array) bytes += size(chunk);
      finish();
      return body;
    }
    return counted(body, (n) => (bytes += n), finish);
  };
}

/** Passes `body` through, counting bytes, and calls `done` once it ends (or is closed early). */
function counted(body: Body, add: (n: number) => void, done: () => void): Body {
  if (body != null && typeof (body as AsyncIterable<Chunk>)[Symbol.asyncIterator] === 'function') {
    return (async function* () {
      try {
        for await (const chunk of body as AsyncIterable<Chunk>) {
          if (typeof chunk === 'string' || chunk instanceof Uint8Array) add(size(chunk));
          yield chunk;
        }
      } finally {
        done();
      }
    })();
  }
  if (body != null && typeof (body as Iterable<Chunk>)[Symbol.iterator] === 'function' && typeof body !== 'string') {
    return (function* () {
      try {
        for (const chunk of body as Iterable<Chunk>) {
          if (typeof chunk === 'string' || chunk instanceof Uint8Array) add(size(chunk));
          yield chunk;
        }
      } finally {
        done();
      }
    })();
  }
  // Not a body at all: the driver answers 500 with the contract error.
  done();
  return body;
}
