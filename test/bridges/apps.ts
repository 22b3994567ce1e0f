// The Express 5 and Hono apps the bridge tests run, unmodified framework code, and the
// deterministic data they stream. Every transport's test (in memory, HTTP, FastCGI) serves these.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import express from 'express';
import { Hono } from 'hono';
import { setCookie } from 'hono/cookie';

export const MiB = 1024 * 1024;
export const BIG = 20 * MiB;

// A block of prime length, so chunk boundaries never line up with it: a reordered or dropped
// chunk changes the checksum.
const BLOCK = Buffer.alloc(65_521);
for (let i = 0; i < BLOCK.length; i++) BLOCK[i] = (i * 31 + (i >> 8) * 7) & 0xff;

/** `size` deterministic bytes, in chunks of `chunk` bytes. */
export function* pattern(size: number, chunk = 64 * 1024): Generator<Buffer> {
  let offset = 0;
  while (offset < size) {
    const n = Math.min(chunk, size - offset);
    const out = Buffer.allocUnsafe(n);
    for (let filled = 0; filled < n; ) {
      const at = (offset + filled) % BLOCK.length;
      filled += BLOCK.copy(out, filled, at, Math.min(BLOCK.length, at + n - filled));
    }
    offset += n;
    yield out;
  }
}

/** sha256 of `pattern(size)`. */
export function patternSha(size: number): string {
  const h = createHash('sha256');
  for (const c of pattern(size)) h.update(c);
  return h.digest('hex');
}

/** What handlers report about requests that ended early, for the abort tests. */
export class Probe {
  private waiters = new Map<string, (v: unknown) => void>();
  private values = new Map<string, unknown>();
  /** Records `value` under `key`. */
  set(key: string, value: unknown): void {
    this.values.set(key, value);
    this.waiters.get(key)?.(value);
  }
  /** Resolves with the value recorded under `key`, now or later. */
  get<T>(key: string): Promise<T> {
    if (this.values.has(key)) return Promise.resolve(this.values.get(key) as T);
    return new Promise((resolve) => this.waiters.set(key, resolve as (v: unknown) => void));
  }
  reset(): void {
    this.values.clear();
    this.waiters.clear();
  }
}

/** A file with 256 known bytes (0..255), for sendFile and Range requests. */
export function makeFixtureFile(dir: string): string {
  const path = join(dir, 'bytes.bin');
  writeFileSync(path, Buffer.from(Array.from({ length: 256 }, (_, i) => i)));
  return path;
}

/** The Express app: routing, express.json(), streams both ways, redirects, cookies, sendFile, mounting. */
export function expressApp(probe: Probe, file: string): express.Express {
  const app = express();
  app.get('/hello/:name', (req, res) => {
    res.json({ hello: req.params.name, url: req.url, originalUrl: req.originalUrl, baseUrl: req.baseUrl, query: req.query });
  });
  app.get('/whoami', (req, res) => {
    res.json({ ip: req.ip, protocol: req.protocol, secure: req.secure, hostname: req.hostname, httpVersion: req.httpVersion, ua: req.get('user-agent') ?? null });
  });
  app.post('/json', express.json(), (req, res) => {
    res.status(201).json({ received: req.body as unknown, type: req.get('content-type') });
  });
  app.post('/upload', (req, res) => {
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      hash.update(c);
      bytes += c.length;
    });
    req.on('end', () => res.json({ bytes, sha256: hash.digest('hex') }));
  });
  app.get('/download', (req, res) => {
    const size = Number(req.query.size ?? BIG);
    res.setHeader('Content-Type', 'application/octet-stream');
    Readable.from(pattern(size)).pipe(res);
  });
  app.get('/redirect', (req, res) => res.redirect(`${req.baseUrl}/hello/redirected`));
  app.get('/cookies', (_req, res) => {
    res.cookie('first', 'one');
    res.cookie('second', 'two', { httpOnly: true });
    res.send('two cookies');
  });
  app.get('/file', (_req, res) => res.sendFile(file));
  app.get('/wait', (req, res) => {
    probe.set('started', true);
    req.on('close', () => probe.set('req-close', { aborted: req.aborted, destroyed: req.destroyed }));
    res.on('close', () => probe.set('res-close', { writableFinished: res.writableFinished }));
    // Never answers: only the client going away ends this request.
  });
  const sub = express.Router();
  sub.get('/where', (req, res) => res.json({ url: req.url, originalUrl: req.originalUrl, baseUrl: req.baseUrl }));
  sub.get('/back', (req, res) => res.redirect(`${req.baseUrl}/where`));
  app.use('/sub', sub);
  return app;
}

/** The Hono app: the same routes, as a fetch handler. */
export function honoApp(probe: Probe): Hono {
  const app = new Hono();
  app.get('/hello/:name', (c) => {
    const url = new URL(c.req.url);
    return c.json({ hello: c.req.param('name'), path: url.pathname, query: c.req.query() });
  });
  app.post('/json', async (c) => c.json({ received: await c.req.json<unknown>(), type: c.req.header('content-type') }, 201));
  app.post('/upload', async (c) => {
    const hash = createHash('sha256');
    let bytes = 0;
    const reader = c.req.raw.body!.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      hash.update(value);
      bytes += value.length;
    }
    return c.json({ bytes, sha256: hash.digest('hex') });
  });
  app.get('/download', (c) => {
    const it = pattern(Number(c.req.query('size') ?? BIG));
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        const step = it.next();
        if (step.done) controller.close();
        else controller.enqueue(step.value);
      },
    });
    return c.body(body, 200, { 'Content-Type': 'application/octet-stream' });
  });
  app.get('/redirect', (c) => c.redirect('/hello/redirected'));
  app.get('/cookies', (c) => {
    setCookie(c, 'first', 'one');
    setCookie(c, 'second', 'two', { httpOnly: true });
    return c.text('two cookies');
  });
  app.get('/wait', async (c) => {
    const signal = c.req.raw.signal;
    probe.set('started', true);
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    probe.set('signal', { aborted: signal.aborted });
    return c.text('too late');
  });
  return app;
}
