/**
 * The built-in middlewares, by the names config files use
 * (`[filter:x] use = nsgi#prefix`). Each entry turns the section's options
 * (strings from the file) into a {@link Middleware}. Option names may be
 * written as in PasteDeploy (`force_port`), in kebab case (`force-port`) or
 * as in code (`forcePort`); booleans accept `true/false`, `yes/no`, `on/off`,
 * `1/0`, as Paste's `asbool`.
 *
 * `static` takes its aliases as options whose name starts with `/`:
 *
 * ```ini
 * [filter:static]
 * use = nsgi#static
 * /images = ./public/images
 * max_age = 3600
 * ```
 * @module
 */
import { ConfigError } from '../errors.js';
import type { Middleware } from '../types.js';
import { FastCGIFixMiddleware } from './fastcgi-fix.js';
import { LighttpdRootFix } from './lighttpd-root-fix.js';
import { PathInfoFromRequestURI } from './path-info-from-request-uri.js';
import { PrefixMiddleware } from './prefix.js';
import { ProxyFix } from './proxy-fix.js';
import { StaticAlias, type StaticAliasOptions } from './static-alias.js';
import { validate } from './validate.js';

/** Builds a middleware from string options, as read from a config file. */
export type MiddlewareFromConfig = (options: Record<string, string>) => Middleware;

/** Built-in middlewares by config name. */
export const builtinMiddlewares: Record<string, MiddlewareFromConfig> = {
  validate: () => validate(),
  prefix: (o) => {
    const c = read('prefix', o, ['prefix', 'translateForwardedServer', 'forcePort', 'scheme']);
    return PrefixMiddleware({
      prefix: c.str('prefix'),
      translateForwardedServer: c.bool('translateForwardedServer'),
      forcePort: c.str('forcePort'),
      scheme: c.str('scheme') as 'http' | 'https' | undefined,
    });
  },
  'fastcgi-fix': (o) => FastCGIFixMiddleware({ scriptName: read('fastcgi-fix', o, ['scriptName']).str('scriptName') }),
  'lighttpd-root-fix': (o) => LighttpdRootFix({ appRoot: read('lighttpd-root-fix', o, ['appRoot']).str('appRoot') }),
  'path-info-from-request-uri': (o) => PathInfoFromRequestURI({ mount: read('path-info-from-request-uri', o, ['mount']).str('mount') }),
  'proxy-fix': (o) => {
    const c = read('proxy-fix', o, ['xFor', 'xProto', 'xHost', 'xPort', 'xPrefix', 'forwarded']);
    return ProxyFix({ xFor: c.int('xFor'), xProto: c.int('xProto'), xHost: c.int('xHost'), xPort: c.int('xPort'), xPrefix: c.int('xPrefix'), forwarded: c.bool('forwarded') });
  },
  static: (o) => {
    const aliases: Record<string, string> = {};
    const rest: Record<string, string> = {};
    for (const [k, v] of Object.entries(o)) (k.startsWith('/') ? aliases : rest)[k] = v;
    const c = read('static', rest, ['maxAge', 'immutable', 'etag', 'lastModified', 'index', 'redirect', 'dotfiles', 'fallthrough', 'followSymlinks']);
    const index = c.str('index');
    return StaticAlias(aliases, {
      maxAge: c.int('maxAge'),
      immutable: c.bool('immutable'),
      etag: c.bool('etag'),
      lastModified: c.bool('lastModified'),
      index: index === undefined ? undefined : index.trim() === '' ? false : index.split(/[\s,]+/).filter(Boolean),
      redirect: c.bool('redirect'),
      dotfiles: c.str('dotfiles') as StaticAliasOptions['dotfiles'],
      fallthrough: c.bool('fallthrough'),
      followSymlinks: c.bool('followSymlinks'),
    });
  },
};

const squash = (name: string): string => name.replace(/[-_]/g, '').toLowerCase();

// Reads a section's string options by their code names, refusing names the middleware does not know.
function read(middleware: string, options: Record<string, string>, known: string[]) {
  const values = new Map<string, string>();
  const bySquashed = new Map(known.map((k) => [squash(k), k]));
  for (const [key, value] of Object.entries(options)) {
    const name = bySquashed.get(squash(key));
    if (name === undefined) throw new ConfigError('NSGI_ERR_MIDDLEWARE_OPTION', `${middleware}: unknown option ${JSON.stringify(key)} (known: ${known.join(', ')})`);
    values.set(name, value);
  }
  return {
    str: (name: string): string | undefined => values.get(name),
    bool(name: string): boolean | undefined {
      const v = values.get(name)?.trim().toLowerCase();
      if (v === undefined) return undefined;
      if (['true', 'yes', 'on', '1', 'y', 't'].includes(v)) return true;
      if (['false', 'no', 'off', '0', 'n', 'f', ''].includes(v)) return false;
      throw new ConfigError('NSGI_ERR_MIDDLEWARE_OPTION', `${middleware}: ${name} must be true or false, got ${JSON.stringify(values.get(name))}`);
    },
    int(name: string): number | undefined {
      const v = values.get(name)?.trim();
      if (v === undefined) return undefined;
      if (!/^\d+$/.test(v)) throw new ConfigError('NSGI_ERR_MIDDLEWARE_OPTION', `${middleware}: ${name} must be a whole number, got ${JSON.stringify(v)}`);
      return Number(v);
    },
  };
}
