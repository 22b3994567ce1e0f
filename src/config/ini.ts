/**
 * The INI dialect of PasteDeploy files (Python's `ConfigParser` as PasteDeploy
 * configures it), read without I/O: text in, sections out.
 *
 * What it reads, as Python does:
 * - `[section]` headers; `key = value` or `key: value` (the first `=` or `:`
 *   splits, so `use = file:./app.mjs` is fine); keys keep their case.
 * - Whole-line comments starting with `#` or `;`. There are no inline
 *   comments: `prefix = /a;b #c` is the value `/a;b #c` (URLs keep their `#`).
 * - Multi-line values: an indented line continues the value above it, joined
 *   with a newline (`pipeline =` then one filter per line).
 * - `[DEFAULT]` keys are seen from every section, and `%(name)s` interpolates
 *   a key of the same section, of `[DEFAULT]`, or of the variables the caller
 *   gives (`here`, `__file__`); `%%` is a literal `%`.
 *
 * Why our own reader and not the `ini` package from npm: it has no
 * interpolation, no `[DEFAULT]`, no multi-line values and no line numbers,
 * and PasteDeploy files need all four; errors here name the file, the line and
 * the key. Deliberate differences from Python: a duplicate section or key is
 * an error (as `strict=True`), and blank lines inside a multi-line value are
 * dropped.
 * @module
 */
import { ConfigError } from '../errors.js';

/** One `key = value` line, with where it was written. */
export interface IniEntry {
  /** The raw value, before interpolation. */
  value: string;
  /** The 1-based line of the key. */
  line: number;
}

/** One `[section]`: its keys in file order, and the line of its header. */
export interface IniSection {
  name: string;
  line: number;
  entries: Map<string, IniEntry>;
}

/** A parsed file. */
export interface IniFile {
  /** The file name used in error messages. */
  file: string;
  /** The `[DEFAULT]` section (empty when the file has none). */
  defaults: IniSection;
  /** Every other section, in file order. */
  sections: Map<string, IniSection>;
}

/** Where a config error is: `file:line`. */
export function where(file: string, line: number): string {
  return `${file}:${line}`;
}

/** Throws `NSGI_ERR_CONFIG_SYNTAX` naming the file and line. */
function syntax(file: string, line: number, message: string): never {
  throw new ConfigError('NSGI_ERR_CONFIG_SYNTAX', `config: ${where(file, line)}: ${message}`);
}

const SECTION = /^\[([^\]]+)\]\s*$/;
const OPTION = /^(.*?)\s*[=:]\s*(.*)$/;

/**
 * Parses INI text. `file` only names the source in error messages. Throws
 * `NSGI_ERR_CONFIG_SYNTAX` for a line that is neither a section, a key, a
 * comment nor a continuation, a key before any section, or a duplicate.
 */
export function parseIni(text: string, file = '<config>'): IniFile {
  const defaults: IniSection = { name: 'DEFAULT', line: 0, entries: new Map() };
  const sections = new Map<string, IniSection>();
  let current: IniSection | undefined;
  let last: IniEntry | undefined;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const lineNo = i + 1;
    const trimmed = raw.trim();
    if (trimmed === '') continue;
    if (/^\s/.test(raw) && last !== undefined && !trimmed.startsWith('#') && !trimmed.startsWith(';')) {
      last.value = last.value === '' ? trimmed : `${last.value}\n${trimmed}`;
      continue;
    }
    if (trimmed.startsWith('#') || trimmed.startsWith(';')) continue;
    last = undefined;
    const header = SECTION.exec(trimmed);
    if (header) {
      const name = header[1]!.trim();
      if (name === 'DEFAULT') {
        if (defaults.line !== 0) syntax(file, lineNo, `section [DEFAULT] is repeated (first at line ${defaults.line})`);
        defaults.line = lineNo;
        current = defaults;
        continue;
      }
      const seen = sections.get(name);
      if (seen) syntax(file, lineNo, `section [${name}] is repeated (first at line ${seen.line})`);
      current = { name, line: lineNo, entries: new Map() };
      sections.set(name, current);
      continue;
    }
    if (trimmed.startsWith('[')) syntax(file, lineNo, `bad section header ${JSON.stringify(trimmed)}; write [type:name]`);
    const option = OPTION.exec(trimmed);
    if (!option || option[1] === '') syntax(file, lineNo, `expected "key = value", a [section] or a # comment, got ${JSON.stringify(trimmed)}`);
    const key = option[1]!;
    if (current === undefined) syntax(file, lineNo, `key "${key}" comes before any [section]`);
    const seen = current.entries.get(key);
    if (seen) syntax(file, lineNo, `[${current.name}] key "${key}" is repeated (first at line ${seen.line})`);
    last = { value: option[2]!, line: lineNo };
    current.entries.set(key, last);
  }
  return { file, defaults, sections };
}

const MAX_DEPTH = 10; // Python's MAX_INTERPOLATION_DEPTH

/**
 * The value of `key` in `section` (or `[DEFAULT]`), with `%(name)s`
 * interpolated from the section, `[DEFAULT]` and `vars`. Returns undefined
 * when the key is absent. Throws `NSGI_ERR_CONFIG_FILE` naming the file, line
 * and key for an unknown `%(name)s`, a loop, or a stray `%`.
 */
export function getValue(ini: IniFile, section: IniSection, key: string, vars: Record<string, string> = {}): string | undefined {
  const entry = section.entries.get(key) ?? ini.defaults.entries.get(key);
  if (entry === undefined) return undefined;
  return interpolate(ini, section, key, entry, vars, 0);
}

function interpolate(ini: IniFile, section: IniSection, key: string, entry: IniEntry, vars: Record<string, string>, depth: number): string {
  const fail = (why: string): never => {
    throw new ConfigError('NSGI_ERR_CONFIG_FILE', `config: ${where(ini.file, entry.line)}: [${section.name}] ${key}: ${why}`);
  };
  if (depth > MAX_DEPTH) fail(`interpolation is nested more than ${MAX_DEPTH} deep (a loop of %(name)s?)`);
  const value = entry.value;
  if (!value.includes('%')) return value;
  let out = '';
  let i = 0;
  while (i < value.length) {
    const at = value.indexOf('%', i);
    if (at === -1) {
      out += value.slice(i);
      break;
    }
    out += value.slice(i, at);
    if (value[at + 1] === '%') {
      out += '%';
      i = at + 2;
      continue;
    }
    const m = /^%\(([^)]+)\)s/.exec(value.slice(at));
    if (!m) fail(`stray "%" in ${JSON.stringify(value)}: write %% for a percent sign, or %(name)s`);
    const name = m![1]!;
    const ref = section.entries.get(name) ?? ini.defaults.entries.get(name);
    if (ref !== undefined) out += interpolate(ini, section, name, ref, vars, depth + 1);
    else if (name in vars) out += vars[name];
    else fail(`%(${name})s names no key of [${section.name}] or [DEFAULT]${Object.keys(vars).length ? ` nor ${Object.keys(vars).join(', ')}` : ''}`);
    i = at + m![0].length;
  }
  return out;
}
