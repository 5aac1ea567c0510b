#!/usr/bin/env node
import { signingKeyFromEnvironment } from '../anchor/keys.js';
import { runCli } from './program.js';

// Out of the environment before any command runs, so nothing this process starts can inherit it.
signingKeyFromEnvironment();

// A reader that goes away (`sealtrail verify --json | head -1`) is not an error worth reporting.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

// Setting exitCode rather than calling process.exit() lets stdout drain before the process ends.
process.exitCode = await runCli(process.argv.slice(2));
