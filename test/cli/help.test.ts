// `nsgi --help` and `nsgi serve --help` document every option with its default, and the exit codes.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runNsgi } from '../helpers/cli.js';

describe('help', () => {
  it('nsgi serve --help lists every option the parser takes, each with its default', async () => {
    const { code, stdout } = await runNsgi(['serve', '--help']);
    expect(code).toBe(0);
    const source = readFileSync(join(ROOT, 'src/cli/serve.ts'), 'utf8');
    const parsed = [...source.matchAll(/^\s+'?([a-z-]+)'?: \{ type: '(?:string|boolean)'/gm)].map((m) => m[1]!);
    expect(parsed.length).toBeGreaterThan(15);
    for (const option of parsed) expect(stdout).toContain(`--${option}`);
    // Every process and logging option says its default.
    for (const option of ['workers', 'max-requests', 'max-requests-jitter', 'max-concurrency', 'graceful-timeout', 'access-log', 'pid-file', 'socket-mode', 'server-name', 'reload']) {
      const block = stdout.slice(stdout.indexOf(`--${option}`)).split(/\n  --/)[0]!;
      expect(block, option).toMatch(/\(default: [^)]+\)/);
    }
    expect(stdout).toMatch(/Exit codes: 0 after a clean stop, 1 on a runtime failure, 2 on a usage or\s+configuration error/);
    expect(stdout).toContain('SIGHUP reloads');
  });

  it('nsgi --help documents the exit codes; nsgi --version prints the version', async () => {
    const help = await runNsgi(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('serve config:FILE.ini');
    expect(help.stdout).toMatch(/Exit codes: 0 success/);
    const version = await runNsgi(['--version']);
    expect(version.stdout).toMatch(/^nsgi \d+\.\d+\.\d+\n$/);
  });
});
