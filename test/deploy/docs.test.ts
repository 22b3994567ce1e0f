// docs/deployment shows the recipe files as they are: each block marked
// `<!-- file: examples/deploy/NAME/FILE -->` must be that file, byte for byte; every file a recipe
// starts from must be shown on some page; and every recipe must have its observed table on a
// page and a test that runs it through the real server (which keeps that table true).
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadRecipe, recipeNames } from '../../examples/deploy/lib/recipes.mjs';
import { ROOT } from '../helpers/cli.js';

const pagesDir = `${ROOT}docs/deployment`;
const pages = readdirSync(pagesDir).filter((f) => f.endsWith('.md'));
const allDocs = pages.map((p) => readFileSync(join(pagesDir, p), 'utf8')).join('\n');
const tests = readdirSync(`${ROOT}test/deploy`)
  .filter((f) => f.endsWith('.test.ts'))
  .map((f) => readFileSync(`${ROOT}test/deploy/${f}`, 'utf8'))
  .join('\n');

/** Every `<!-- file: PATH -->` block on a page: [path, fenced contents]. */
function includedBlocks(page: string): [string, string][] {
  const text = readFileSync(join(pagesDir, page), 'utf8');
  const out: [string, string][] = [];
  for (const m of text.matchAll(/<!-- file: (\S+) -->\n```[\w-]*\n([\s\S]*?)```/g)) out.push([m[1]!, m[2]!]);
  return out;
}

describe('docs/deployment shows the recipe files as they are', () => {
  const blocks = pages.flatMap((page) => includedBlocks(page).map(([path, body]) => [page, path, body] as const));
  it('has included files at all', () => {
    expect(blocks.length).toBeGreaterThan(0);
  });
  it.each(blocks)('%s shows %s unchanged', (page, path, body) => {
    expect(existsSync(`${ROOT}${path}`), `${path} does not exist`).toBe(true);
    const file = readFileSync(`${ROOT}${path}`, 'utf8');
    if (process.env.NSGI_UPDATE_DOCS === '1' && body !== file) {
      // Rewrite the block from the file (the file is what the servers ran).
      const text = readFileSync(join(pagesDir, page), 'utf8');
      const marker = `<!-- file: ${path} -->\n`;
      const open = text.indexOf('\n', text.indexOf(marker) + marker.length) + 1;
      writeFileSync(join(pagesDir, page), text.slice(0, open) + file + text.slice(open + body.length));
      return;
    }
    expect(body, `${page} shows an old ${path} (NSGI_UPDATE_DOCS=1 copies the file in)`).toBe(file);
  });
});

describe.each(recipeNames())('recipe %s', (name) => {
  it('shows every file it starts from on a page', async () => {
    const recipe = await loadRecipe(name);
    const shown = new Set(pages.flatMap((p) => includedBlocks(p).map(([path]) => path)));
    const files = [recipe.config, ...recipe.templates].filter((f): f is string => Boolean(f));
    if (existsSync(join(recipe.here, 'production.ini'))) files.push('production.ini');
    for (const f of files) expect(shown, `examples/deploy/${name}/${f} is not shown on any docs/deployment page`).toContain(`examples/deploy/${name}/${f}`);
  });
  it('has an observed table on a page and a test that runs it', () => {
    expect(allDocs).toContain(`<!-- observed: ${name} -->`);
    expect(tests).toMatch(new RegExp(`describeRecipe\\('${name}'`));
  });
});
