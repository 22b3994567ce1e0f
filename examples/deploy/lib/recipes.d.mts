// Types for recipes.mjs, for the TypeScript tests that start recipes.
import type { ChildProcess } from 'node:child_process';

export interface Recipe {
  /** The folder name under examples/deploy. */
  name: string;
  /** The folder, absolute. */
  here: string;
  /** One line for listings and page headings. */
  title: string;
  /** The web server that runs `config`, or null when the recipe has none. */
  server: 'nginx' | 'lighttpd' | 'apache' | null;
  /** The server config snippet (a template) in the recipe folder. */
  config?: string;
  /** Apache modules to load (mod_NAME.so). */
  modules: string[];
  /** More templates to fill into the run folder (same relative path and mode). */
  templates: string[];
  /** nsgi processes to start before the server: a shell command, and the address to wait for. */
  backends: { command: string; listen?: string }[];
  /** Names of template values to fill with free ports (e.g. BACKEND_PORT). */
  ports: string[];
  /** Environment variables for the backends and the server. */
  env: Record<string, string>;
  /** The SCRIPT_NAME the app should see: '' at the root, '/app' under /app. */
  mount: string;
  /** A URL path the web server answers with examples/deploy/static/hello.txt. */
  static: string;
}

export interface RunningProcess {
  child: ChildProcess;
  what: string;
  command?: string;
  listen?: string;
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface RunningRecipe {
  recipe: Recipe;
  /** http://127.0.0.1:PORT of the web server. */
  url: string;
  mount: string;
  run: string;
  vars: Record<string, string | number>;
  server: RunningProcess | undefined;
  backends: RunningProcess[];
  logs(): string;
  stop(): Promise<void>;
}

export interface StartOptions {
  nsgi?: string;
  port?: number;
  run?: string;
  keep?: boolean;
  vars?: Record<string, string | number>;
  /** Called with what the backends and the web server print, as they print it. */
  echo?: (who: string, text: string) => void;
}

export const DEPLOY_DIR: string;
export const DEFAULT_NSGI: string;
export function recipeNames(): string[];
export function loadRecipe(name: string): Promise<Recipe>;
export function startRecipe(name: string | Recipe, options?: StartOptions): Promise<RunningRecipe>;
export function freePort(host?: string): Promise<number>;
