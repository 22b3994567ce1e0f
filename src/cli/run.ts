/**
 * The executable entry of the `nsgi` command (bin/nsgi.mjs loads its build).
 * Tests spawn this file through tsx, so they run the sources, never a stale build.
 * @module
 */
import { main } from './main.js';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`nsgi: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
