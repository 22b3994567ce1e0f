/**
 * `compose(a, b, c)(app)` is `a(b(c(app)))`: the first middleware listed is
 * the outermost one and sees the request first, as in PasteDeploy pipelines
 * and koa-compose.
 *
 * @example
 * ```ts
 * const app = compose(
 *   PrefixMiddleware({ prefix: '/' }),
 *   StaticAlias({ '/images': './public/images' }),
 * )(myApp);
 * ```
 * @module
 */
import { describe } from './headers.js';
import type { App, Middleware } from './types.js';

/**
 * Stacks middlewares, outermost first. Throws a `TypeError` naming the
 * position and what was passed when an entry is not a function, or when the
 * result is called with something that is not an app.
 */
export function compose(...middlewares: Middleware[]): Middleware {
  // Accept compose([a, b]) too: a list built at run time is common in bootstraps.
  const list: unknown[] = middlewares.length === 1 && Array.isArray(middlewares[0]) ? (middlewares[0] as unknown[]) : middlewares;
  for (let i = 0; i < list.length; i++) {
    if (typeof list[i] !== 'function') {
      throw new TypeError(`compose: middleware #${i} must be a function (app) => app, got ${describe(list[i])}; did you forget to call a factory, e.g. PrefixMiddleware()?`);
    }
  }
  const stack = (list as Middleware[]).slice();
  return (app: App): App => {
    if (typeof app !== 'function') throw new TypeError(`compose: the app must be a function (environ, startResponse) => body, got ${describe(app)}`);
    let wrapped = app;
    for (let i = stack.length - 1; i >= 0; i--) {
      const next = stack[i]!(wrapped);
      if (typeof next !== 'function') {
        throw new TypeError(`compose: middleware #${i} returned ${describe(next)} instead of an app; a middleware is (app) => app`);
      }
      wrapped = next;
    }
    return wrapped;
  };
}
