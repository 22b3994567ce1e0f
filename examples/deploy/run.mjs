#!/usr/bin/env node
// Tries a deployment recipe on this machine, on loopback:
//
//   node examples/deploy/run.mjs                    lists the recipes
//   node examples/deploy/run.mjs nginx-unix         starts nsgi and nginx as docs/deployment/nginx.md shows
//   node examples/deploy/run.mjs nginx-unix --port 8080 --keep
//
// The web server and nsgi run in the foreground until Ctrl-C; everything they write (the filled-in
// configs, sockets, logs) is in a temp folder printed at the start (kept with --keep).
// Needs `npm ci` first (it builds dist/, which bin/nsgi.mjs runs) and the web server installed.
import { parseArgs } from 'node:util';
import { loadRecipe, recipeNames, startRecipe } from './lib/recipes.mjs';

const { positionals, values } = parseArgs({ allowPositionals: true, options: { port: { type: 'string' }, keep: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
if (positionals.length === 0 || values.help) {
  console.log('Usage: node examples/deploy/run.mjs RECIPE [--port N] [--keep]\n\nRecipes:');
  for (const name of recipeNames()) console.log(`  ${name.padEnd(24)} ${(await loadRecipe(name)).title}`);
  process.exit(positionals.length === 0 && !values.help ? 2 : 0);
}

// What nsgi and the web server print (nsgi's "serving ..." line, start-up errors) shows here, prefixed.
const echo = (who, text) => {
  for (const line of text.split('\n')) if (line.trim() !== '') process.stderr.write(`[${who}] ${line}\n`);
};
const running = await startRecipe(positionals[0], { port: values.port ? Number(values.port) : undefined, keep: values.keep, echo }).catch((err) => {
  console.error(`run: ${err.message}`);
  process.exit(1);
});
console.log(`${running.recipe.title}
  open   ${running.url}${running.mount}/
  files  ${running.run}${values.keep ? '' : ' (removed on exit; --keep keeps them)'}
Ctrl-C stops it.`);
const shutdown = async () => {
  await running.stop();
  process.exit(0);
};
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
