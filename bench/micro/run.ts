/**
 * Micro benchmarks (benchmark.js): `npm run bench:micro [-- --json FILE] [filter]`.
 *
 * Every `bench/micro/*.bench.ts` module that exports `run(ctx): Promise<MicroResult[]>` is run in
 * turn (a module without that export is listed as skipped). Results are per frame where the
 * operation handles a batch, so native (one call per batch) and TypeScript (one call per frame)
 * compare directly.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import type { MicroContext, MicroResult } from '../micro-suite.ts';

function fmt(r: MicroResult): string {
  const rate = r.perSecond >= 1e6 ? `${(r.perSecond / 1e6).toFixed(2)} M/s` : `${(r.perSecond / 1e3).toFixed(1)} k/s`;
  return `${r.name.padEnd(58)} ${rate.padStart(12)} ${`${r.nsPer.toFixed(1)} ns/${r.unit}`.padStart(16)}${r.rme !== undefined ? `  ±${r.rme.toFixed(1)}%` : ''}${r.note ? `  (${r.note})` : ''}`;
}

/** Run every *.bench.ts module (optionally only names containing `filter`). */
export async function main(argv: string[]): Promise<number> {
  let json: string | undefined;
  let quick = false;
  const filters: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--json') json = argv[++i];
    else if (argv[i] === '--quick') quick = true;
    else filters.push(argv[i]!);
  }
  const dir = dirname(fileURLToPath(import.meta.url));
  const files = readdirSync(dir).filter((f) => f.endsWith('.bench.ts')).sort();
  const all: Record<string, MicroResult[] | { skipped: string }> = {};
  for (const f of files) {
    if (filters.length && !filters.some((x) => f.includes(x))) continue;
    const mod = (await import(pathToFileURL(join(dir, f)).href)) as { run?: (ctx: MicroContext) => Promise<MicroResult[]> };
    if (typeof mod.run !== 'function') {
      all[f] = { skipped: 'no run(ctx) export' };
      process.stdout.write(`\n${f}: skipped (no run(ctx) export)\n`);
      continue;
    }
    process.stdout.write(`\n${f}\n`);
    try {
      const results = await mod.run({ quick });
      all[f] = results;
      for (const r of results) process.stdout.write(`  ${fmt(r)}\n`);
    } catch (err) {
      all[f] = { skipped: (err as Error).message };
      process.stdout.write(`  skipped: ${(err as Error).message}\n`);
    }
  }
  if (json) writeFileSync(json, JSON.stringify({ date: new Date().toISOString(), node: process.version, results: all }, null, 2) + '\n');
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
