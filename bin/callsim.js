#!/usr/bin/env node
// Thin launcher: the CLI lives in the compiled TypeScript (npm install builds it via `prepare`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = new URL('../dist/src/cli/program.js', import.meta.url);
if (!existsSync(fileURLToPath(cli))) {
  process.stderr.write('callsim: not built yet; run `npm install` (or `npm run build`) in the package first\n');
  process.exit(2);
}
const { main } = await import(cli.href);
await main(process.argv);
