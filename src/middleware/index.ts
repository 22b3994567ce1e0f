/**
 * The built-in middlewares, by the names config files use
 * (`[filter:x] use = nsgi#prefix`). Each entry turns the section's options
 * (strings from the file) into a {@link Middleware}.
 * @module
 */
import type { Middleware } from '../types.js';
import { validate } from './validate.js';

/** Builds a middleware from string options, as read from a config file. */
export type MiddlewareFromConfig = (options: Record<string, string>) => Middleware;

/** Built-in middlewares by config name. */
export const builtinMiddlewares: Record<string, MiddlewareFromConfig> = {
  validate: () => validate(),
};
