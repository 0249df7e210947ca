#!/usr/bin/env node
// Daemon shim: `macdemuxd --config FILE` (see src/service/).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/service/daemon-main.ts');
process.exitCode = await main(process.argv.slice(2));
