#!/usr/bin/env node
// CLI entry: runs the compiled JavaScript in dist/ (built from src/ by `npm install`/`npm ci`
// through the `prepare` script, or by `npm run build`). No TypeScript at run time.
import { loadCompiled } from './load-compiled.js';

const { main } = await loadCompiled('src/cli.js');
process.exitCode = await main(process.argv.slice(2));
