// docs/deployment/process-managers.md: nsgi started by something other than `nsgi serve` on its
// own socket. spawn-fcgi binds the socket and execs nsgi with it on fd 0; systemd's socket units
// are played by systemd-socket-activate, which binds the socket and runs the service's ExecStart
// with it on fd 3. Both are run through a real nginx.
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import type { RunningRecipe } from '../../examples/deploy/lib/recipes.mjs';
import { ROOT } from '../helpers/cli.js';
import { describeRecipe } from './checks.js';

const run = promisify(execFile);

/** Resolves once `running`'s first backend has printed `text` (its stderr is nsgi's log). */
async function waitForOutput(running: RunningRecipe, test: (out: string) => boolean, what: string): Promise<string> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const out = running.backends[0]!.output();
    if (test(out)) return out;
    if (Date.now() > deadline) throw new Error(`no ${what} after 20 s\n${running.logs()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The pids of the workers the log says started, in order. */
function startedWorkers(out: string): number[] {
  return [...out.matchAll(/nsgi: worker \d+ \(pid (\d+)\) started/g)].map((m) => Number(m[1]));
}

/** The last test of a recipe: SIGTERM to the process the recipe started, as a supervisor or `systemctl stop` sends it. */
function stopsCleanly(r: () => RunningRecipe): void {
  it('stops cleanly on SIGTERM: the workers finish, the master exits 0', async () => {
    const backend = r().backends[0]!;
    await backend.stop('SIGTERM');
    // "stopping N workers": N counts an old worker that a reload just replaced and that is still
    // finishing its requests, so it may be 3 here.
    expect(backend.output()).toMatch(/nsgi: SIGTERM: stopping \d+ workers[\s\S]*nsgi: stopped\n/);
    expect(backend.child.exitCode, backend.output()).toBe(0);
  });
}

describeRecipe('spawn-fcgi', 'process-managers', (r) => {
  it('nsgi serves the socket spawn-fcgi hands it on fd 0, with the mode -M gave it', async () => {
    const out = await waitForOutput(r(), (o) => o.includes('nsgi: serving'), 'nsgi start line');
    expect(out).toMatch(/nsgi: serving \S+ over fastcgi on fd:0 \(master pid \d+, 2 workers\)/);
    // -n: spawn-fcgi replaced itself with nsgi, so the process the recipe started is nsgi's master.
    expect(out).toContain(`master pid ${r().backends[0]!.child.pid}`);
    expect(statSync(`${r().run}/app.sock`).mode & 0o777).toBe(0o660);
  });

  it('a second spawn-fcgi on the same socket is refused while nsgi serves it', () => {
    const again = spawnSync('spawn-fcgi', ['-n', '-s', `${r().run}/app.sock`, '--', '/bin/true'], { encoding: 'utf8' });
    expect(again.status).not.toBe(0);
    expect(again.stderr).toContain('socket is already in use');
  });

  stopsCleanly(r);
});

const unit = (file: string): string => readFileSync(`${ROOT}examples/deploy/systemd/${file}`, 'utf8');
const setting = (text: string, key: string): string => {
  const m = new RegExp(`^${key}=(.*)$`, 'm').exec(text);
  if (m === null) throw new Error(`no ${key}= line`);
  return m[1]!;
};

describeRecipe('systemd', 'process-managers', (r) => {
  it("runs nsgi.service's ExecStart under the socket nsgi.socket describes, as fd 3", async () => {
    const execStart = setting(unit('nsgi.service'), 'ExecStart');
    const args = execStart.slice(execStart.indexOf(' '));
    expect(args).toBe(' serve config:production.ini --fastcgi fd:3');
    expect(r().backends[0]!.command!.endsWith(args), r().backends[0]!.command).toBe(true);
    expect(setting(unit('nsgi.socket'), 'ListenStream')).toBe('/run/nsgi/app.sock');
    const out = await waitForOutput(r(), (o) => o.includes('nsgi: serving'), 'nsgi start line');
    // systemd-socket-activate waits for the first connection, then becomes nsgi's master.
    expect(out).toContain('Communication attempt on fd 3');
    expect(out).toMatch(/nsgi: serving config:production\.ini over fastcgi on fd:3 \(master pid \d+, 2 workers\)/);
    expect(out).toContain(`master pid ${r().backends[0]!.child.pid}`);
  });

  it('ExecReload (systemctl reload) replaces the workers and nginx keeps answering', async () => {
    const before = startedWorkers(await waitForOutput(r(), (o) => startedWorkers(o).length === 2, 'two workers'));
    // The ExecReload line as systemd runs it, with $MAINPID the master's pid.
    const reload = setting(unit('nsgi.service'), 'ExecReload');
    expect(reload).toBe('/bin/kill -HUP $MAINPID');
    await run('/bin/sh', ['-c', reload], { env: { ...process.env, MAINPID: String(r().backends[0]!.child.pid) } });
    const during = fetch(`${r().url}/hello?name=reload`);
    const out = await waitForOutput(r(), (o) => o.includes('nsgi: reload: done'), 'reload: done');
    expect(out).toContain('nsgi: SIGHUP: reloading 2 workers');
    const after = startedWorkers(out).slice(2);
    expect(after).toHaveLength(2);
    for (const pid of after) expect(before).not.toContain(pid);
    expect(await (await during).text()).toBe('Hello, reload!\n');
    const res = await fetch(`${r().url}/hello?name=again`);
    expect(await res.text()).toBe('Hello, again!\n');
  });

  stopsCleanly(r);
});
