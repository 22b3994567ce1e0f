// The soak (docs/soak.md): a mixed load through real nginx into `nsgi serve --workers 2`, with SIGHUP
// reloads in the middle. NSGI_SOAK_SECONDS sets its length (default 20 in `npm test`; `npm run soak`
// runs 120). NSGI_SOAK_FAULT=kill-workers|corrupt|leak injects a fault: the test must then fail.
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runSoak, summarize, type Fault } from './soak.js';

const seconds = Number(process.env.NSGI_SOAK_SECONDS ?? 20);
const fault = (process.env.NSGI_SOAK_FAULT || undefined) as Fault | undefined;
// NSGI_SOAK_RELOADS_AT: when to SIGHUP, as comma-separated fractions of the run ('' for none: the control run).
const reloadsAt = process.env.NSGI_SOAK_RELOADS_AT === undefined ? undefined : process.env.NSGI_SOAK_RELOADS_AT.split(',').filter((x) => x.trim() !== '').map(Number);

describe('soak through nginx', () => {
  it(`${seconds} s of mixed load with reloads: nothing lost, memory flat, logs clean`, { timeout: (seconds + 120) * 1000 }, async () => {
    const report = await runSoak({ seconds, fault, reloadsAt });
    // The figures go to the CI log whatever the outcome.
    console.log(summarize(report));
    // NSGI_SOAK_REPORT=file.json keeps every sample (docs/soak.md's figures come from one).
    if (process.env.NSGI_SOAK_REPORT) writeFileSync(process.env.NSGI_SOAK_REPORT, JSON.stringify(report, null, 1));
    if (report.unexpectedNginx.length + report.unexpectedNsgi.length > 0) console.log(['unexpected nginx lines:', ...report.unexpectedNginx.slice(0, 30), 'unexpected nsgi lines:', ...report.unexpectedNsgi.slice(0, 30)].join('\n'));
    expect.soft(report.failures, 'requests that failed and were not aborted on purpose').toEqual([]);
    // The mix really ran: every kind completed (or was aborted) at least once.
    for (const [kind, n] of Object.entries(report.ok)) if (!kind.startsWith('abort-')) expect.soft(n, `${kind} requests checked`).toBeGreaterThan(0);
    expect.soft(report.aborted, 'aborts on purpose').toBeGreaterThan(0);
    expect.soft(report.reloads.map((r) => r.done >= 0), 'every SIGHUP reached "reload: done"').toEqual(report.reloads.map(() => true));
    expect.soft(report.after, 'a request after the load').toEqual({ status: 200, body: 'ok 42' });
    expect.soft(report.exitCode, 'the master exits 0 on SIGTERM').toBe(0);
    expect.soft(report.unexpectedNginx, 'nginx error-log lines no rule allows').toEqual([]);
    expect.soft(report.unexpectedNsgi, 'nsgi output lines no rule allows').toEqual([]);
    // Every reload replaced every worker: none of the first ones is left, and as many serve as before.
    expect.soft(report.workersAtStart).toHaveLength(2);
    expect.soft(report.workersAtEnd).toHaveLength(2);
    if (report.reloads.length > 0) expect.soft(report.workersAtEnd.filter((pid) => report.workersAtStart.includes(pid)), 'first workers still serving after the reloads').toEqual([]);
    expect.soft(report.processes.filter((p) => p.role === 'nsgi worker').length, 'worker processes seen').toBeGreaterThanOrEqual(2 + 2 * report.reloads.length);
    const grew = report.processes.filter((p) => !p.verdict.ok).map((p) => `${p.role} ${p.pid}: last-third peak ${p.verdict.lastPeak} > ${p.verdict.limit}`);
    expect.soft(grew, 'processes whose memory grew after warm-up').toEqual([]);
    // Long-lived processes are always judged: the run is long enough for their thirds.
    for (const p of report.processes.filter((p) => p.role !== 'nsgi worker')) expect.soft(p.verdict.judged, `${p.role} judged`).toBe(true);
    // ... and so is at least the first generation of workers (which serves until the first reload).
    expect.soft(report.processes.filter((p) => p.role === 'nsgi worker' && p.verdict.judged).length, 'workers judged').toBeGreaterThanOrEqual(2);
  });
});
