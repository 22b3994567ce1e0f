/**
 * Loading the app the CLI serves: `MODULE[:EXPORT]`, where MODULE is a path
 * to an ES module or a package name. The default export (or the named one)
 * is the app; with `factory`, it is a function called with no arguments that
 * returns the app or a promise of one. nsgi never guesses which from a
 * function's arity.
 * @module
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../errors.js';
import { describe } from '../headers.js';
import type { App } from '../types.js';

/** Options of {@link loadAppModule}. */
export interface LoadOptions {
  /** The export is a factory to call, not the app (default: `false`). */
  factory?: boolean;
  /** Where relative paths and package names resolve from (default: `process.cwd()`). */
  cwd?: string;
}

/** Splits `MODULE[:EXPORT]`; a trailing `:name` is the export when it is an identifier. */
export function splitSpec(spec: string): { module: string; exportName: string } {
  const m = /^(.*):([A-Za-z_$][\w$]*)$/.exec(spec);
  if (m && m[1] !== '' && !/^[A-Za-z]$/.test(m[1]!)) return { module: m[1]!, exportName: m[2]! };
  return { module: spec, exportName: 'default' };
}

/** Resolves a module spec to a URL `import()` can load. */
export function resolveModule(module: string, cwd: string): string {
  // A path: relative, absolute, an existing file, or a file name with a script extension
  // (`examples/app.mjs`); anything else is a package name (`my-app`, `@org/app/server`).
  const looksLikeFile = /\.(?:m?js|cjs|ts|mts)$/.test(module) && !module.startsWith('@');
  if (module.startsWith('.') || isAbsolute(module) || looksLikeFile || existsSync(resolve(cwd, module))) {
    const path = resolve(cwd, module);
    if (!existsSync(path)) throw new ConfigError('NSGI_ERR_APP_LOAD', `load: no file ${path}`);
    return pathToFileURL(path).href;
  }
  try {
    return pathToFileURL(createRequire(resolve(cwd, 'noop.js')).resolve(module)).href;
  } catch (err) {
    throw new ConfigError('NSGI_ERR_APP_LOAD', `load: cannot find module or package ${JSON.stringify(module)} from ${cwd}`, { cause: err });
  }
}

/**
 * Imports the module at `url` and returns its export `exportName`; `module`
 * names it in errors (`NSGI_ERR_APP_LOAD` when the import fails or the export
 * is missing).
 */
export async function importExport(url: string, exportName: string, module: string): Promise<unknown> {
  let ns: Record<string, unknown>;
  try {
    ns = (await import(url)) as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError('NSGI_ERR_APP_LOAD', `load: importing ${module} failed: ${(err as Error).message}`, { cause: err });
  }
  if (!(exportName in ns)) {
    const names = Object.keys(ns).join(', ') || 'none';
    throw new ConfigError('NSGI_ERR_APP_LOAD', `load: ${module} has no export "${exportName}" (exports: ${names})`);
  }
  return ns[exportName];
}

/** Imports `MODULE[:EXPORT]` and returns the app it names. */
export async function loadAppModule(spec: string, options: LoadOptions = {}): Promise<App> {
  const { module, exportName } = splitSpec(spec);
  const url = resolveModule(module, options.cwd ?? process.cwd());
  let app = await importExport(url, exportName, module);
  if (options.factory) {
    if (typeof app !== 'function') throw new ConfigError('NSGI_ERR_APP_LOAD', `load: --factory needs ${module}:${exportName} to be a function, got ${describe(app)}`);
    app = await (app as () => unknown)();
  }
  if (typeof app !== 'function') {
    throw new ConfigError('NSGI_ERR_APP_LOAD', `load: ${module}:${exportName} must be an app (environ, startResponse) => body${options.factory ? ' (the factory returned ' + describe(app) + ')' : ', got ' + describe(app)}`);
  }
  return app as App;
}
