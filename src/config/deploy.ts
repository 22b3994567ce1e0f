/**
 * PasteDeploy-style pipeline files: `loadApp('config:production.ini')` builds
 * the app a file describes, and {@link readServerSection} reads how to serve
 * it, so that `nsgi serve config:production.ini` needs no other flag.
 *
 * ```ini
 * [DEFAULT]
 * root = %(here)s
 *
 * [app:main]
 * use = file:./app.mjs            ; default export; file:./app.mjs#name for another
 * filter-with = proxy-prefix
 *
 * [filter:proxy-prefix]
 * use = nsgi#prefix               ; a built-in middleware (egg:PasteDeploy#prefix works too)
 * prefix = /james
 *
 * [server:main]
 * use = nsgi#fastcgi
 * bind = unix:%(here)s/app.sock
 * workers = 2
 * ```
 *
 * The sections, as PasteDeploy has them:
 * - `[app:NAME]`: `use = file:PATH[#EXPORT]` (PATH relative to the file's
 *   folder), `package:NAME[#EXPORT]`, or `config:OTHER.ini[#NAME]`. The export
 *   is the app itself. With `factory = true` it is instead a function called
 *   as `factory(options, context)` with the section's other keys (strings) that
 *   returns the app or a promise of one; other keys without `factory = true`
 *   are an error, never silently dropped (nsgi never guesses from arity).
 * - `[filter:NAME]`: `use = nsgi#NAME` (the {@link builtinMiddlewares}
 *   registry) or a module export `file:./mw.mjs#factory`, called as
 *   `factory(options, context)` and returning a {@link Middleware}.
 * - `filter-with = NAME` in an app or filter section wraps it in that filter
 *   (the filter is outside, sees the request first).
 * - `[pipeline:NAME]`: `pipeline = filter1 filter2 app`, outermost first, as
 *   {@link compose}; the last name is an app, pipeline or filter-app.
 * - `[filter-app:NAME]`: a filter with `next = APP`.
 * - `[server:NAME]`: `use = nsgi#http|fastcgi|scgi|cgi`, `bind = ADDR`, the
 *   serve options (`workers`, `max_requests`, ...) and any transport option.
 * - `[DEFAULT]` keys and `%(here)s` (the file's folder) and `%(__file__)s`
 *   interpolate into every value.
 *
 * Every error names the file, the line and the key (`NSGI_ERR_CONFIG_FILE`).
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { importExport } from '../cli/load.js';
import { ConfigError } from '../errors.js';
import { describe } from '../headers.js';
import { builtinMiddlewares } from '../middleware/index.js';
import type { App, Middleware } from '../types.js';
import { getValue, parseIni, where, type IniFile, type IniSection } from './ini.js';

/** A config file read and parsed, with its interpolation variables. */
export interface DeployConfig {
  /** The absolute path of the file. */
  file: string;
  /** Its folder: `%(here)s`, and where relative `file:` paths resolve. */
  here: string;
  ini: IniFile;
}

/** What factories named in a config file get as their second argument. */
export interface DeployContext {
  /** The config file's folder. */
  here: string;
  /** The config file's path. */
  file: string;
  /** The section's name, e.g. `main` for `[app:main]`. */
  name: string;
  /** The `[DEFAULT]` keys, interpolated. */
  globalConf: Record<string, string>;
}

/**
 * An app factory named with `factory = true`: called with the section's keys
 * (other than `use`, `factory`, `filter-with`), returns the app.
 */
export type AppFactory = (options: Record<string, string>, context: DeployContext) => App | Promise<App>;

/** A filter factory: called with the section's keys, returns a middleware. */
export type FilterFactory = (options: Record<string, string>, context: DeployContext) => Middleware | Promise<Middleware>;

/** Options of {@link loadApp}. */
export interface LoadAppOptions {
  /** Where a relative `config:` path resolves from (default: `process.cwd()`). */
  cwd?: string;
}

/**
 * Builds the app a PasteDeploy-style file describes. `uri` is
 * `config:PATH[#NAME]`; NAME defaults to `main` and names an `[app:]`,
 * `[pipeline:]` or `[filter-app:]` section.
 *
 * @example
 * ```ts
 * import { loadApp, serve } from 'nsgi';
 * const app = await loadApp('config:/srv/blog/production.ini');
 * await serve(app, { fastcgi: 'unix:/run/blog.sock' });
 * ```
 */
export async function loadApp(uri: string, options: LoadAppOptions = {}): Promise<App> {
  const { path, name } = splitConfigUri(uri);
  return buildApp(readConfig(resolve(options.cwd ?? process.cwd(), path)), name);
}

/** Splits `config:PATH[#NAME]` into the path and the section name (default `main`). */
export function splitConfigUri(uri: string): { path: string; name: string } {
  if (!uri.startsWith('config:')) throw new ConfigError('NSGI_ERR_CONFIG_FILE', `config: ${JSON.stringify(uri)} is not a config:PATH[#NAME] URI`);
  const rest = uri.slice('config:'.length);
  const hash = rest.lastIndexOf('#');
  const path = hash === -1 ? rest : rest.slice(0, hash);
  const name = hash === -1 ? 'main' : rest.slice(hash + 1);
  if (path === '' || name === '') throw new ConfigError('NSGI_ERR_CONFIG_FILE', `config: ${JSON.stringify(uri)} needs a path (and a name after #, if any)`);
  return { path, name };
}

/** Reads and parses a config file; throws `NSGI_ERR_CONFIG_FILE` when it cannot be read. */
export function readConfig(file: string): DeployConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError('NSGI_ERR_CONFIG_FILE', `config: cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  return { file, here: dirname(file), ini: parseIni(text, file) };
}

const APP_KINDS = ['app', 'pipeline', 'filter-app'] as const;
const RESERVED = new Set(['use', 'factory', 'filter-with', 'next', 'pipeline']);

/** Builds the app named `name` (an `[app:]`, `[pipeline:]` or `[filter-app:]` section). */
export async function buildApp(config: DeployConfig, name = 'main'): Promise<App> {
  return new Builder(config).app(name, [], undefined);
}

class Builder {
  private readonly vars: Record<string, string>;

  constructor(private readonly config: DeployConfig) {
    this.vars = { here: config.here, __file__: config.file };
  }

  private fail(section: IniSection | undefined, key: string | undefined, message: string, cause?: unknown): never {
    const line = section === undefined ? undefined : key === undefined ? section.line : section.entries.get(key)?.line ?? this.config.ini.defaults.entries.get(key)?.line ?? section.line;
    const at = line === undefined ? this.config.file : where(this.config.file, line);
    const what = section === undefined ? '' : ` [${section.name}]${key === undefined ? '' : ` ${key}`}:`;
    throw new ConfigError('NSGI_ERR_CONFIG_FILE', `config: ${at}:${what} ${message}`, cause === undefined ? undefined : { cause });
  }

  private get(section: IniSection, key: string): string | undefined {
    return getValue(this.config.ini, section, key, this.vars);
  }

  private find(kinds: readonly string[], name: string, from: { section?: IniSection; key?: string }): IniSection {
    const found = kinds.map((k) => this.config.ini.sections.get(`${k}:${name}`)).filter((s): s is IniSection => s !== undefined);
    if (found.length === 1) return found[0]!;
    const want = kinds.map((k) => `[${k}:${name}]`).join(' or ');
    if (found.length > 1) this.fail(from.section, from.key, `"${name}" names several sections (${found.map((s) => `[${s.name}]`).join(', ')}); keep one`);
    const have = [...this.config.ini.sections.keys()].map((s) => `[${s}]`).join(', ') || 'none';
    this.fail(from.section, from.key, `no section ${want} in the file (sections: ${have})`);
  }

  private options(section: IniSection): Record<string, string> {
    const out: Record<string, string> = {};
    for (const key of section.entries.keys()) if (!RESERVED.has(key)) out[key] = this.get(section, key)!;
    return out;
  }

  private context(section: IniSection): DeployContext {
    const globalConf: Record<string, string> = {};
    for (const key of this.config.ini.defaults.entries.keys()) globalConf[key] = getValue(this.config.ini, this.config.ini.defaults, key, this.vars)!;
    return { here: this.config.here, file: this.config.file, name: section.name.slice(section.name.indexOf(':') + 1), globalConf };
  }

  async app(name: string, chain: string[], from: { section?: IniSection; key?: string } | undefined): Promise<App> {
    const section = this.find(APP_KINDS, name, from ?? {});
    if (chain.includes(section.name)) this.fail(from?.section ?? section, from?.key, `loops back on itself (${[...chain, section.name].join(' -> ')})`);
    const path = [...chain, section.name];
    let app: App;
    if (section.name.startsWith('pipeline:')) {
      const names = (this.get(section, 'pipeline') ?? '').split(/\s+/).filter(Boolean);
      if (names.length === 0) this.fail(section, 'pipeline', 'needs at least an app: pipeline = filter1 filter2 app');
      app = await this.app(names[names.length - 1]!, path, { section, key: 'pipeline' });
      for (let i = names.length - 2; i >= 0; i--) app = this.wrap(await this.filter(names[i]!, path, { section, key: 'pipeline' }), app, section, 'pipeline');
    } else if (section.name.startsWith('filter-app:')) {
      const next = this.get(section, 'next');
      if (next === undefined || next.trim() === '') this.fail(section, undefined, 'needs next = APP (the app this filter wraps)');
      app = await this.app(next.trim(), path, { section, key: 'next' });
      app = this.wrap(await this.filterOf(section), app, section, 'use');
    } else {
      app = await this.appOf(section);
    }
    return this.filterWith(section, app, path);
  }

  private async filterWith(section: IniSection, app: App, path: string[]): Promise<App> {
    const outer = this.get(section, 'filter-with');
    if (outer === undefined || outer.trim() === '') return app;
    return this.wrap(await this.filter(outer.trim(), path, { section, key: 'filter-with' }), app, section, 'filter-with');
  }

  private wrap(middleware: Middleware, app: App, section: IniSection, key: string): App {
    const wrapped = middleware(app);
    if (typeof wrapped !== 'function') this.fail(section, key, `the middleware returned ${describe(wrapped)} instead of an app`);
    return wrapped;
  }

  /** A filter by name, with its own `filter-with` applied outside it. */
  private async filter(name: string, chain: string[], from: { section: IniSection; key: string }): Promise<Middleware> {
    const section = this.find(['filter'], name, from);
    if (chain.includes(section.name)) this.fail(from.section, from.key, `loops back on itself (${[...chain, section.name].join(' -> ')})`);
    const inner = await this.filterOf(section);
    const outerName = this.get(section, 'filter-with')?.trim();
    if (!outerName) return inner;
    const outer = await this.filter(outerName, [...chain, section.name], { section, key: 'filter-with' });
    return (app) => outer(inner(app));
  }

  private async filterOf(section: IniSection): Promise<Middleware> {
    const use = this.get(section, 'use');
    if (use === undefined || use.trim() === '') this.fail(section, undefined, 'needs use = nsgi#NAME or use = file:./module.mjs#factory');
    const options = this.options(section);
    const builtin = builtinName(use);
    let middleware: unknown;
    if (builtin !== undefined) {
      const make = builtinMiddlewares[builtin];
      if (make === undefined) this.fail(section, 'use', `no built-in middleware "${builtin}" (built-ins: ${Object.keys(builtinMiddlewares).join(', ')})`);
      try {
        middleware = make(options);
      } catch (err) {
        this.fail(section, 'use', (err as Error).message, err);
      }
    } else {
      const factory = await this.importUse(section, use);
      if (typeof factory !== 'function') this.fail(section, 'use', `a filter's export must be a factory (options, context) => middleware, got ${describe(factory)}`);
      try {
        middleware = await (factory as FilterFactory)(options, this.context(section));
      } catch (err) {
        this.fail(section, 'use', `the filter factory failed: ${(err as Error).message}`, err);
      }
    }
    if (typeof middleware !== 'function') this.fail(section, 'use', `expected a middleware (app) => app, got ${describe(middleware)}`);
    return middleware as Middleware;
  }

  private async appOf(section: IniSection): Promise<App> {
    const use = this.get(section, 'use');
    if (use === undefined || use.trim() === '') this.fail(section, undefined, 'needs use = file:./app.mjs[#export] or use = package:NAME[#export]');
    const factoryText = this.get(section, 'factory');
    const factory = factoryText === undefined ? false : parseBoolean(factoryText);
    if (factory === undefined) this.fail(section, 'factory', `must be true or false, got ${JSON.stringify(factoryText)}`);
    const options = this.options(section);
    if (!factory) {
      const extra = Object.keys(options)[0];
      if (extra !== undefined) this.fail(section, extra, 'options are only for a factory: add factory = true (the export is then called with them), or remove the key');
    }
    if (use.startsWith('config:')) {
      const { path, name } = splitConfigUri(use.trim());
      let other: DeployConfig;
      try {
        other = readConfig(resolve(this.config.here, path));
      } catch (err) {
        this.fail(section, 'use', (err as Error).message, err);
      }
      return buildApp(other, name);
    }
    let app = await this.importUse(section, use);
    if (factory) {
      if (typeof app !== 'function') this.fail(section, 'use', `factory = true needs a function (options, context) => app, got ${describe(app)}`);
      try {
        app = await (app as AppFactory)(options, this.context(section));
      } catch (err) {
        this.fail(section, 'use', `the app factory failed: ${(err as Error).message}`, err);
      }
    }
    if (typeof app !== 'function') this.fail(section, 'use', `must name an app (environ, startResponse) => body${factory ? ' (the factory returned ' : ', got '}${describe(app)}${factory ? ')' : ''}`);
    return app as App;
  }

  /** Imports what `use = file:...#x` or `use = package:...#x` names. */
  private async importUse(section: IniSection, use: string): Promise<unknown> {
    const m = /^(file|package):([^#]+)(?:#(.+))?$/.exec(use.trim());
    if (!m) this.fail(section, 'use', `${JSON.stringify(use)} is not file:PATH[#export], package:NAME[#export], config:FILE[#name] or nsgi#NAME`);
    const [, kind, target, exportName = 'default'] = m;
    let url: string;
    try {
      if (kind === 'file') {
        const path = resolve(this.config.here, target!);
        if (!existsSync(path)) throw new ConfigError('NSGI_ERR_APP_LOAD', `no file ${path}`);
        url = pathToFileURL(path).href;
      } else {
        // A package name is resolved as Node does from the config's folder, never read as a file there.
        try {
          url = pathToFileURL(createRequire(resolve(this.config.here, 'noop.js')).resolve(target!)).href;
        } catch (err) {
          throw new ConfigError('NSGI_ERR_APP_LOAD', `cannot find package ${JSON.stringify(target)} from ${this.config.here}`, { cause: err });
        }
      }
      return await importExport(url, exportName, target!);
    } catch (err) {
      this.fail(section, 'use', (err as Error).message.replace(/^load: /, ''), err);
    }
  }
}

/** `nsgi#x`, `egg:PasteDeploy#x`, `egg:Paste#x` name the built-in `x`. */
function builtinName(use: string): string | undefined {
  const m = /^(?:nsgi|egg:PasteDeploy|egg:Paste)#(.+)$/.exec(use.trim());
  return m ? m[1]! : undefined;
}

/** Python's `getboolean`: 1/yes/true/on and 0/no/false/off. */
export function parseBoolean(text: string): boolean | undefined {
  const t = text.trim().toLowerCase();
  if (['1', 'yes', 'true', 'on'].includes(t)) return true;
  if (['0', 'no', 'false', 'off'].includes(t)) return false;
  return undefined;
}

/** A `[server:NAME]` section, read: keys in camelCase with their lines. */
export interface ServerSection {
  /** The transport named by `use = nsgi#NAME` (undefined when absent). */
  transport?: string;
  /** The settings (`use` included), keyed in camelCase (`max_requests` -> `maxRequests`), values interpolated. */
  settings: Map<string, { key: string; value: string; line: number }>;
  /** Throws `NSGI_ERR_CONFIG_FILE` naming the file, line and key of setting `name`. */
  fail(name: string, message: string): never;
}

/** `max_requests`, `max-requests` and `maxRequests` are one setting: `maxRequests`. */
export function camelKey(key: string): string {
  return key.replace(/[-_]+([a-zA-Z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** Reads `[server:NAME]`; undefined when the file has no such section. */
export function readServerSection(config: DeployConfig, name = 'main'): ServerSection | undefined {
  const section = config.ini.sections.get(`server:${name}`);
  if (section === undefined) return undefined;
  const vars = { here: config.here, __file__: config.file };
  const settings = new Map<string, { key: string; value: string; line: number }>();
  for (const [key, entry] of section.entries) {
    const camel = camelKey(key);
    const seen = settings.get(camel);
    if (seen) throw new ConfigError('NSGI_ERR_CONFIG_FILE', `config: ${where(config.file, entry.line)}: [${section.name}] ${key}: same setting as ${seen.key} at line ${seen.line}`);
    settings.set(camel, { key, value: getValue(config.ini, section, key, vars)!.trim(), line: entry.line });
  }
  const fail = (setting: string, message: string): never => {
    const s = settings.get(setting);
    throw new ConfigError('NSGI_ERR_CONFIG_FILE', `config: ${where(config.file, s?.line ?? section.line)}: [${section.name}]${s ? ` ${s.key}` : ''}: ${message}`);
  };
  let transport: string | undefined;
  const use = settings.get('use');
  if (use !== undefined) {
    transport = builtinName(use.value);
    if (transport === undefined) fail('use', `${JSON.stringify(use.value)} is not nsgi#http, nsgi#fastcgi, nsgi#scgi or nsgi#cgi`);
  }
  return { transport, settings, fail };
}
