// docs/deployment/apache.md: every Apache recipe in examples/deploy, run by a real Apache 2.4
// (Debian's apache2, prefork MPM, children running as nobody).
import { statSync } from 'node:fs';
import { expect, it } from 'vitest';
import { describeRecipe } from './checks.js';

describeRecipe('apache-proxy-fcgi-tcp', 'apache', (r) => {
  it('redirects the mount point without its slash to /app/', async () => {
    const res = await fetch(`${r().url}/app`, { redirect: 'manual' });
    expect(res.status).toBe(301);
    expect(res.headers.get('location')).toBe(`${r().url}/app/`);
  });
});

describeRecipe('apache-proxy-fcgi-unix', 'apache', (r) => {
  it('leaves the socket open to Apache children that share no group with nsgi (mode 666)', () => {
    expect(statSync(`${r().run}/app.sock`).mode & 0o777).toBe(0o666);
  });
});
