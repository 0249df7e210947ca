#!/usr/bin/env node
// Daemon entry: `macdemuxd --config FILE` (see src/service/), compiled JavaScript from dist/.
import { loadCompiled } from './load-compiled.js';

const { main } = await loadCompiled('src/service/daemon-main.js');
process.exitCode = await main(process.argv.slice(2));
