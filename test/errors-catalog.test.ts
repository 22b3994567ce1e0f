// docs/errors.md is the catalog of error codes; this keeps it and src/ in step.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

const CODE = /\bNSGI_ERR_[A-Z0-9_]+\b/g;
const used = new Set(sourceFiles('src').flatMap((f) => readFileSync(f, 'utf8').match(CODE) ?? []));
const documented = new Set(
  readFileSync('docs/errors.md', 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('| `NSGI_ERR_'))
    .map((line) => /`(NSGI_ERR_[A-Z0-9_]+)`/.exec(line)![1]!),
);

describe('docs/errors.md', () => {
  it('documents every error code used in src/', () => {
    expect([...used].filter((c) => !documented.has(c)).sort()).toEqual([]);
  });
  it('lists no code that src/ no longer uses', () => {
    expect([...documented].filter((c) => !used.has(c)).sort()).toEqual([]);
  });
});
