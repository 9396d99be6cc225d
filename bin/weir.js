#!/usr/bin/env node
// The `weir` command. The TypeScript is compiled to dist/ on install (npm `prepare`).
import { quietDisabledDebug } from '../dist/core/quiet-debug.js';

// Before the gateway's packages load (they log through `debug`): see quiet-debug.ts.
quietDisabledDebug();
const { main } = await import('../dist/cli/main.js');

main(process.argv.slice(2)).then(
  (code) => {
    if (typeof code === 'number') process.exitCode = code;
  },
  (err) => {
    console.error(err?.stack ?? String(err));
    process.exitCode = 1;
  },
);
