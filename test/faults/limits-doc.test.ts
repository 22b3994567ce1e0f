// docs/limits.md cannot silently rot: each row's option must be declared in the options interface it
// names, with the default its doc comment states; every LimitError code raised in src/ must have a row;
// and every NSGI_ERR_* code the table names must be in docs/errors.md.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const doc = readFileSync(join(root, 'docs/limits.md'), 'utf8');
const errorsDoc = readFileSync(join(root, 'docs/errors.md'), 'utf8');

interface Row {
  transport: string;
  limit: string;
  option: string;
  defaultValue: string;
  outcome: string;
  file: string;
  iface: string;
}

function cells(line: string): string[] {
  return line
    .slice(1, -1)
    .split('|')
    .map((c) => c.trim());
}

function unquote(cell: string): string {
  return cell.replace(/^`|`$/g, '');
}

// The one table: the first line starting with "| Transport |", its separator, then its rows.
function tableRows(): Row[] {
  const lines = doc.split('\n');
  const start = lines.findIndex((l) => l.startsWith('| Transport |'));
  expect(start).toBeGreaterThan(-1);
  const rows: Row[] = [];
  for (let i = start + 2; i < lines.length && lines[i]!.startsWith('|'); i++) {
    const c = cells(lines[i]!);
    expect(c, `row ${lines[i]}`).toHaveLength(6);
    const declared = /^`([^`]+)` `([^`]+)`$/.exec(c[5]!);
    expect(declared, `"Declared in" of ${lines[i]} is not \`file\` \`Interface\``).not.toBeNull();
    rows.push({ transport: c[0]!, limit: c[1]!, option: unquote(c[2]!), defaultValue: unquote(c[3]!), outcome: c[4]!, file: declared![1]!, iface: declared![2]! });
  }
  return rows;
}

/** The body of `export interface <name> ... {` up to its closing brace at column 0. */
function interfaceBody(source: string, name: string): string | undefined {
  const start = source.search(new RegExp(`export interface ${name}\\b[^{]*\\{`));
  if (start === -1) return undefined;
  const end = source.indexOf('\n}', start);
  return source.slice(start, end === -1 ? undefined : end);
}

/** The doc comment right before `name?:` in an interface body. */
function docCommentOf(body: string, name: string): string | undefined {
  const at = body.search(new RegExp(`\\n\\s*(readonly\\s+)?${name}\\?:`));
  if (at === -1) return undefined;
  const before = body.slice(0, at);
  const open = before.lastIndexOf('/**');
  return open === -1 ? undefined : before.slice(open);
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

const rows = tableRows();

describe('docs/limits.md', () => {
  it('has a row for every transport and parser with limits', () => {
    const files = new Set(rows.map((r) => r.file));
    for (const f of ['src/fastcgi/server.ts', 'src/fastcgi/params.ts', 'src/scgi/server.ts', 'src/scgi/parser.ts', 'src/http/server.ts', 'src/cgi-response.ts', 'src/net/listen.ts']) {
      expect(files).toContain(f);
    }
  });

  it.each(rows.map((r) => [`${r.iface}.${r.option}`, r] as const))('%s is declared where the table says, with the default the table gives', (_name, row) => {
    const source = readFileSync(join(root, row.file), 'utf8');
    const body = interfaceBody(source, row.iface);
    expect(body, `interface ${row.iface} in ${row.file}`).toBeDefined();
    const comment = docCommentOf(body!, row.option);
    expect(comment, `option ${row.option} (with a doc comment) in ${row.iface}`).toBeDefined();
    // The comment's "(default: ...)" holds the table's default (backticked there, or a word like "unlimited").
    const stated = /default:\s*([^)]*)/.exec(comment!.replace(/\s*\n\s*\*\s*/g, ' '));
    expect(stated, `a "(default: ...)" in the doc comment of ${row.option}`).not.toBeNull();
    const quoted = [...stated![1]!.matchAll(/`([^`]*)`/g)].map((m) => m[1]);
    if (quoted.length > 0) expect(quoted).toContain(row.defaultValue);
    else expect(stated![1]!.trim()).toBe(row.defaultValue);
  });

  it('names only error codes that docs/errors.md lists', () => {
    const codes = doc.match(/NSGI_ERR_[A-Z_]+/g) ?? [];
    expect(codes.length).toBeGreaterThan(0);
    for (const code of new Set(codes)) expect(errorsDoc).toContain(`\`${code}\``);
  });

  it('has a row for every LimitError raised in src/', () => {
    const raised = new Set<string>();
    for (const file of sourceFiles(join(root, 'src'))) {
      for (const m of readFileSync(file, 'utf8').matchAll(/new LimitError\(\s*'(NSGI_ERR_[A-Z_]+)'/g)) raised.add(m[1]!);
    }
    expect(raised.size).toBeGreaterThan(0);
    const inTable = new Set(rows.flatMap((r) => r.outcome.match(/NSGI_ERR_[A-Z_]+/g) ?? []));
    for (const code of raised) expect(inTable, `a row for ${code}`).toContain(code);
  });
});
