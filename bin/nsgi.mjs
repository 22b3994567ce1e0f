#!/usr/bin/env node
// The nsgi command. The code lives in dist/ (npm run build; npm ci runs it through "prepare").
import { main } from '../dist/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`nsgi: ${err?.stack ?? err}\n`);
    process.exit(1);
  },
);
