/**
 * `LighttpdRootFix`: werkzeug's `LighttpdCGIRootFix` (later `CGIRootFix`).
 *
 * The problem: lighttpd's mod_fastcgi (and mod_cgi, mod_scgi) treats the
 * `fastcgi.server` key as a script name. Mounted at the URL root with the
 * key `""`, it sends the whole path in `SCRIPT_NAME` and no `PATH_INFO`;
 * with the key `"/"` it splits after the first segment (`/users` in
 * `SCRIPT_NAME`, `/7` in `PATH_INFO`), unless the backend sets
 * `"fix-root-scriptname" => "enable"`. The app, believing it is mounted at
 * `/users`, builds wrong URLs. This middleware glues the two back together
 * into `PATH_INFO` and sets `SCRIPT_NAME` to the app root.
 *
 * One deliberate difference from werkzeug: the app root keeps its leading
 * slash (`appRoot: '/app'` gives `SCRIPT_NAME` `/app`; werkzeug 0.9+ gave
 * `app`, which breaks URL building); `/` gives the empty string. Unlike
 * werkzeug it does not look at `SERVER_SOFTWARE`: every lighttpd 1.4 still
 * splits a root mount this way (werkzeug's string comparison of versions
 * also misreads `1.4.100`).
 *
 * Production caveat: use it only when the app is mounted at lighttpd's root.
 * Mounted at `/app`, lighttpd sends the right split already and this fix
 * would move `/app` into `PATH_INFO`; see {@link PathInfoFromRequestURI}
 * for a fix that works at every mount.
 *
 * Reads `SCRIPT_NAME`, `PATH_INFO`; writes both (replaced values go to
 * `nsgi.orig`).
 * @module
 */
import type { App, Middleware } from '../types.js';
import { normalizeMount, setEnv } from './orig.js';

/** Options of {@link LighttpdRootFix}. */
export interface LighttpdRootFixOptions {
  /**
   * The URL prefix under which users see the app, when a proxy in front of
   * lighttpd publishes its root under a prefix; `/` means the root
   * (default: `/`).
   */
  appRoot?: string;
}

/**
 * Puts the path lighttpd moved into `SCRIPT_NAME` back into `PATH_INFO`.
 *
 * @example
 * ```ts
 * import { LighttpdRootFix } from 'nsgi';
 * // fastcgi.server = ( "" => (( "socket" => "/run/app.sock", "check-local" => "disable" )) )
 * const app = LighttpdRootFix()(myApp);
 * ```
 */
export function LighttpdRootFix(options: LighttpdRootFixOptions = {}): Middleware {
  const appRoot = normalizeMount(options.appRoot ?? '/', 'lighttpd-root-fix: appRoot');
  return (app: App): App => (environ, startResponse) => {
    setEnv(environ, 'PATH_INFO', environ.SCRIPT_NAME + environ.PATH_INFO);
    setEnv(environ, 'SCRIPT_NAME', appRoot);
    return app(environ, startResponse);
  };
}
