#!/usr/bin/env node
// The netstack CLI. The TypeScript sources are built by `tsc -b` (scripts/test and
// scripts/demo do it); this file only loads the build.
//
// V8 optimises per-packet code sooner in netstack's own processes (v8-tuning.ts: the
// path of a rare packet, a ping, otherwise runs unoptimised): set before the stack loads.
import { tuneTiering } from '../dist/v8-tuning.js';

tuneTiering();
const { main } = await import('../dist/cli.js');

// A failed command ends at once: its one line is already on stderr (written
// synchronously: stderr is a file, pipe or terminal on Linux), and whatever it
// had opened must not keep the process alive behind it. Open devices are closed by
// @netstack/tun's 'exit' hook. A command that succeeded ends when it has closed
// everything, so a handle it forgot shows up as a hang in the tests.
main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0) process.exit(code);
    process.exitCode = 0;
  },
  (err) => {
    process.stderr.write(`netstack: ${err && err.message ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
