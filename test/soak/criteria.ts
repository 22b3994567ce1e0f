// The soak's pass/fail rules, as pure functions over what the run recorded, so that each rule has a
// table of its own (criteria.test.ts) showing that it passes flat memory and fails a leak, accepts a
// client abort in nginx's log and refuses a 502.

/** One RSS sample of one process. */
export interface Sample {
  /** Milliseconds since the load started. */
  t: number;
  /** Resident set size in bytes (VmRSS). */
  rss: number;
}

/** Memory is judged only on a life of at least this many samples (3 per third; 1 s apart). */
export const MIN_JUDGED_SAMPLES = 9;
/** Allowed growth from the second third's peak to the last third's: ×1.10 plus this much. */
export const RSS_SLACK_BYTES = 16 * 1024 * 1024;
export const RSS_SLACK_RATIO = 1.1;

export interface MemoryVerdict {
  /** `false` when the process lived too short to be judged (reported, not failed). */
  judged: boolean;
  ok: boolean;
  /** Peak RSS in the second third of its life (the baseline after warm-up). */
  middlePeak: number;
  /** Peak RSS in the last third. */
  lastPeak: number;
  /** middlePeak × 1.10 + 16 MiB. */
  limit: number;
}

/**
 * "Flat after warm-up" for one process over its own life: the first third is its warm-up (JIT, heap
 * growth to its working size, first buffers), the second third its baseline, and the peak of the
 * last third may not exceed the baseline's peak by more than 10 % + 16 MiB. A process replaced by a
 * reload has a life of its own and its own warm-up. Peaks, not means: a leak raises the floor and
 * the peaks with it, while the garbage collector's sawtooth moves means around without a leak.
 *
 * What it can see: a steady growth of G over a life whose baseline is B fails once G > 0.375 B +
 * 60 MiB (about 100 MiB for a 110 MiB worker: 1.7 MiB/s over a 60 s life). A slower leak needs a
 * longer run; the ×1.25 first tried let a 2 MiB/s leak through (criteria.test.ts).
 */
export function judgeMemory(samples: readonly Sample[]): MemoryVerdict {
  const n = samples.length;
  if (n < MIN_JUDGED_SAMPLES) return { judged: false, ok: true, middlePeak: 0, lastPeak: 0, limit: 0 };
  const third = Math.floor(n / 3);
  const peak = (from: number, to: number): number => Math.max(...samples.slice(from, to).map((s) => s.rss));
  const middlePeak = peak(third, n - third);
  const lastPeak = peak(n - third, n);
  const limit = middlePeak * RSS_SLACK_RATIO + RSS_SLACK_BYTES;
  return { judged: true, ok: lastPeak <= limit, middlePeak, lastPeak, limit };
}

/**
 * nginx error-log lines that a healthy soak produces, each with why. Everything at [warn] and above
 * is unexpected, and so is an [info] line not listed here (a rule for "recv() failed (104)" was
 * left out on purpose: "while reading upstream" may name the upstream's reset as well as a client's): a 502 logs "upstream prematurely closed"
 * or "recv() failed (104: Connection reset by peer) while reading response header from upstream",
 * an app error "FastCGI sent in stderr", a stall "upstream timed out".
 */
export const ALLOWED_NGINX: ReadonlyArray<{ pattern: RegExp; why: string }> = [
  { pattern: /\[notice\]/, why: 'start, stop and signal notices' },
  { pattern: /\[info\] \d+#\d+: \*\d+ client prematurely closed connection/, why: 'a client aborted on purpose (mid-download, mid-upload, mid-slow)' },
  { pattern: /\[info\] \d+#\d+: \*\d+ epoll_wait\(\) reported that client prematurely closed connection/, why: 'the same, seen by epoll' },
  { pattern: /\[info\] \d+#\d+: \*\d+ client \S+ closed keepalive connection/, why: 'the client closed an idle keep-alive connection (end of run, or after an abort)' },
  { pattern: /\[info\] \d+#\d+: \*\d+ (writev|sendfile|send)\(\) failed \((32: Broken pipe|104: Connection reset by peer)\) while sending to client/, why: 'writing to a client that aborted on purpose' },
  { pattern: /\[info\] \d+#\d+: \*\d+ client closed connection while waiting for request/, why: 'an idle client connection closed' },
];

/** The nginx error-log lines no rule in {@link ALLOWED_NGINX} accepts. */
export function unexpectedNginxLines(log: string): string[] {
  return log
    .split('\n')
    .filter((line) => line.trim() !== '')
    .filter((line) => !ALLOWED_NGINX.some((rule) => rule.pattern.test(line)));
}

/** How many lines each rule of {@link ALLOWED_NGINX} accepted (by its `why`), for the report. */
export function allowedNginxCounts(log: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of log.split('\n')) {
    const rule = ALLOWED_NGINX.find((r) => r.pattern.test(line));
    if (rule) counts[rule.why] = (counts[rule.why] ?? 0) + 1;
  }
  return counts;
}

/** Lines the nsgi master prints in a healthy soak (start, reloads, stop); anything else (a death, an error, a stack) is unexpected. */
export const ALLOWED_NSGI: readonly RegExp[] = [
  /^nsgi: serving /,
  /^nsgi: worker \d+ \(pid \d+\) started$/,
  /^nsgi: SIGHUP: reloading \d+ workers?$/,
  /^nsgi: reload: done$/,
  /^nsgi: worker \d+ \(pid \d+\) stopped$/,
  /^nsgi: SIGTERM: stopping /,
  /^nsgi: stopped$/,
];

/** The lines of nsgi's stdout/stderr that {@link ALLOWED_NSGI} does not accept. */
export function unexpectedNsgiLines(output: string): string[] {
  return output
    .split('\n')
    .filter((line) => line.trim() !== '')
    .filter((line) => !ALLOWED_NSGI.some((re) => re.test(line)));
}
