// docs/fastcgi.md shows the web server configs the real-server tests run; this
// keeps it true: each marked block must be what test/fastcgi/peer-configs.ts
// generates (with the doc's fixed port and paths).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { lighttpdConfig, nginxConfig } from './peer-configs.js';

const doc = readFileSync(`${ROOT}docs/fastcgi.md`, 'utf8');

/** The fenced block after `<!-- marker -->`. */
function block(marker: string): string {
  const m = new RegExp(`<!-- ${marker} -->\\n\`\`\`[a-z]*\\n([\\s\\S]*?)\`\`\``).exec(doc);
  if (m === null) throw new Error(`docs/fastcgi.md has no block marked ${marker}`);
  return m[1]!;
}

describe('docs/fastcgi.md shows the configs the tests run', () => {
  it.each([
    ['nginx-keep-conn', nginxConfig({ port: 8080, pass: 'unix:/run/app/fcgi.sock', keepConn: true })],
    ['nginx-tcp', nginxConfig({ port: 8080, pass: '127.0.0.1:9000', keepConn: false })],
    ['lighttpd', lighttpdConfig('/srv/app', '/srv/app/app.sh', '/srv/app/auth.sock')],
  ])('%s', (marker, generated) => {
    expect(block(marker).trim()).toBe(generated.trim());
  });
});
