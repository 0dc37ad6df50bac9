#!/usr/bin/env node
// The netstack CLI. The TypeScript sources are built by `tsc -b` (scripts/test and
// scripts/demo do it); this file only loads the build.
import { main } from '../dist/cli.js';

main(process.argv.slice(2)).then(
  (code) => { if (typeof code === 'number') process.exitCode = code; },
  (err) => {
    process.stderr.write(`netstack: ${err && err.message ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
