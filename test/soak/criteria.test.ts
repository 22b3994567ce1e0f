// The soak's rules on their own (criteria.ts), table-driven: each must pass what a healthy run
// records and fail what a broken one does, so that a green soak means something.
import { describe, expect, it } from 'vitest';
import { judgeMemory, MIN_JUDGED_SAMPLES, unexpectedNginxLines, unexpectedNsgiLines, type Sample } from './criteria.js';
import { servingEnd } from './soak.js';

const MiB = 1024 * 1024;
/** n samples, one a second, RSS in MiB from `f(i)`. */
const series = (n: number, f: (i: number) => number): Sample[] => Array.from({ length: n }, (_, i) => ({ t: i * 1000, rss: Math.round(f(i) * MiB) }));
// A deterministic wobble of ±8 MiB: the garbage collector's sawtooth.
const wobble = (i: number): number => 8 * Math.sin(i * 1.7);

describe('judgeMemory: flat after warm-up', () => {
  it.each([
    ['flat with GC wobble', series(60, (i) => 120 + wobble(i))],
    ['a warm-up ramp in the first third, then flat', series(60, (i) => (i < 20 ? 40 + 4 * i : 120) + wobble(i))],
    ['a one-sample spike in the middle third', series(60, (i) => (i === 30 ? 200 : 120))],
    ['going down (a worker draining at the end of its life)', series(30, (i) => 120 - i)],
    // The rule's stated limit (criteria.ts): growth below 0.375 B + 60 MiB over a life goes unseen.
    ['a slow leak below what it can see (0.5 MiB a second over 60 s)', series(60, (i) => 110 + 0.5 * i + wobble(i))],
  ])('passes %s', (_, samples) => {
    const v = judgeMemory(samples);
    expect(v.judged).toBe(true);
    expect(v.ok, JSON.stringify(v)).toBe(true);
  });

  it.each([
    ['a steady leak of 2 MiB a second', series(60, (i) => 100 + 2 * i + wobble(i))],
    ['a step of 64 MiB in the last third', series(60, (i) => (i < 45 ? 120 : 184))],
    ['a leak that only starts after the middle', series(90, (i) => 120 + Math.max(0, i - 55) * 3)],
    ['the app keeping every upload (test/soak/app.mjs SOAK_LEAK=1, as seen)', series(30, (i) => 90 + 25 * i)],
  ])('fails %s', (_, samples) => {
    const v = judgeMemory(samples);
    expect(v.judged).toBe(true);
    expect(v.ok, JSON.stringify(v)).toBe(false);
  });

  it(`leaves a life shorter than ${MIN_JUDGED_SAMPLES} samples unjudged (reported, not failed)`, () => {
    expect(judgeMemory(series(MIN_JUDGED_SAMPLES - 1, (i) => 100 + 50 * i))).toMatchObject({ judged: false, ok: true });
    expect(judgeMemory(series(MIN_JUDGED_SAMPLES, (i) => 100 + 50 * i))).toMatchObject({ judged: true, ok: false });
  });
});

const line = (level: string, text: string): string => `2026/11/21 01:49:47 [${level}] 30419#30419: *156 ${text}, client: 127.0.0.1, server: , request: "GET /app/x HTTP/1.1", host: "127.0.0.1:42579"`;

describe('nginx error log', () => {
  it.each([
    ['a client abort', line('info', 'client prematurely closed connection while sending to client')],
    ['a client abort mid-upload', line('info', 'client prematurely closed connection while sending request to upstream')],
    ['a client reset while nginx writes to it', line('info', 'writev() failed (104: Connection reset by peer) while sending to client')],
    ['an idle client connection closed', line('info', 'client 127.0.0.1 closed keepalive connection').replace(/, client:.*$/, '')],
    ['a start notice', '2026/11/21 01:49:47 [notice] 123#123: start worker processes'],
  ])('allows %s', (_, text) => {
    expect(unexpectedNginxLines(`${text}\n`)).toEqual([]);
  });

  it.each([
    ['a 502 from a connection closed under a request', line('error', 'upstream prematurely closed connection while reading response header from upstream')],
    ['a reset upstream', line('error', 'recv() failed (104: Connection reset by peer) while reading response header from upstream')],
    ['a reset seen while reading upstream, at info', line('info', 'recv() failed (104: Connection reset by peer) while reading upstream')],
    ['an app error on FCGI_STDERR', line('error', 'FastCGI sent in stderr: "boom" while reading response header from upstream')],
    ['a stall', line('error', 'upstream timed out (110: Connection timed out) while reading upstream')],
    ['an unknown info line', line('info', 'something new happened')],
    ['a warning', line('warn', 'an upstream response is buffered to a temporary file')],
  ])('refuses %s', (_, text) => {
    expect(unexpectedNginxLines(`${line('info', 'client prematurely closed connection while sending to client')}\n${text}\n`)).toEqual([text]);
  });
});

describe('nsgi output', () => {
  const healthy = [
    'nsgi: serving /x/app.mjs over fastcgi on unix:/tmp/s/fcgi.sock (master pid 1, 2 workers)',
    'nsgi: worker 1 (pid 11) started',
    'nsgi: SIGHUP: reloading 2 workers',
    'nsgi: worker 1 (pid 11) stopped',
    'nsgi: reload: done',
    'nsgi: SIGTERM: stopping 2 workers; requests in flight get 30 s',
    'nsgi: stopped',
  ].join('\n');

  it('allows start, reload and stop lines', () => {
    expect(unexpectedNsgiLines(healthy)).toEqual([]);
  });

  it.each([
    ['a worker death', 'nsgi: worker 2 (pid 12) died (signal SIGKILL); restarting'],
    ['a connection error', 'nsgi: fastcgi: connection error (ERR_STREAM_WRITE_AFTER_END: write after end)'],
    ['a stack line', '    at Socket.write (node:net:123:4)'],
  ])('refuses %s', (_, text) => {
    expect(unexpectedNsgiLines(`${healthy}\n${text}\n`)).toEqual([text]);
  });
});

describe('servingEnd: a replaced worker is judged up to its replacement, not through its drain', () => {
  const starts = [
    { slot: 1, pid: 11, t: 0 },
    { slot: 2, pid: 12, t: 0 },
    { slot: 1, pid: 21, t: 60_000 },
    { slot: 2, pid: 22, t: 64_000 },
    { slot: 1, pid: 31, t: 90_000 },
  ];
  it.each([
    [11, 60_000],
    [12, 64_000],
    [21, 90_000],
    [22, Infinity],
    [31, Infinity],
    [999, Infinity],
  ])('pid %i serves until %d', (pid, end) => {
    expect(servingEnd(starts, pid)).toBe(end);
  });
});
