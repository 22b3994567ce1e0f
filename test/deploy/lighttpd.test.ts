// docs/deployment/lighttpd.md: every lighttpd recipe in examples/deploy, run by a real lighttpd
// (1.4.69 here), with the standard checks of checks.ts and what each recipe adds.
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { describeRecipe } from './checks.js';

/** The parent pids of `pid`, nearest first, read from /proc. */
function ancestors(pid: number): number[] {
  const out: number[] = [];
  for (let p = pid; p > 1; ) {
    const status = readFileSync(`/proc/${p}/status`, 'utf8');
    p = Number(/^PPid:\s+(\d+)/m.exec(status)![1]);
    out.push(p);
  }
  return out;
}

describeRecipe('lighttpd-bin-path', 'lighttpd', (r) => {
  it('max-procs 2: two nsgi processes that lighttpd spawned answer', async () => {
    const pids = new Set<number>();
    // lighttpd gives a request to the least busy process: only concurrent requests reach both.
    for (let round = 0; round < 20 && pids.size < 2; round++) {
      const answers = await Promise.all(Array.from({ length: 8 }, () => fetch(`${r().url}/app/env`)));
      for (const res of answers) {
        expect(res.status, r().logs()).toBe(200);
        await res.arrayBuffer();
        pids.add(Number(res.headers.get('x-worker-pid')));
      }
    }
    expect(pids.size, r().logs()).toBe(2);
    for (const pid of pids) expect(ancestors(pid)).toContain(r().server!.child.pid);
  });

  it('bin-environment reaches the app (the process environment, copied into the environ)', async () => {
    const env = (await (await fetch(`${r().url}/app/env`)).json()) as Record<string, unknown>;
    expect(env.GREETING).toBe('hello from bin-environment');
  });

  it('the condition keeps the "/app" key from catching /apple', async () => {
    const apple = await fetch(`${r().url}/apple`);
    expect(apple.status).toBe(404);
    expect(apple.headers.get('x-nsgi-script-name')).toBeNull();
    const bare = await fetch(`${r().url}/app`);
    expect(bare.status).toBe(200);
    expect(bare.headers.get('x-nsgi-script-name')).toBe('%2Fapp');
  });
});
