/**
 * CLI start time, side by side: `macdemux link show` (the installed bin, compiled dist/) against
 * `ip link show`, with `node -e 0` as the floor any Node program pays. Each command is spawned
 * --runs times, interleaved so that machine noise hits all of them alike; wall time per spawn
 * (spawn to exit) is reported as median and p90. Exit 1 when macdemux's median exceeds --bar.
 *
 *   npm run bench:cli-start -- [--runs 40] [--bar 0.3] [--json FILE]
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../src/package-info.ts';

interface Subject {
  name: string;
  argv: string[];
}

/** Summary of one subject's wall times, in seconds. */
export interface StartTimes {
  name: string;
  command: string;
  runs: number;
  medianS: number;
  p90S: number;
  minS: number;
}

function quantile(sorted: number[], q: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

function timeOnce(argv: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr.toString().trim()}`);
  return dt;
}

/** Time every subject `runs` times (interleaved, after one warm-up spawn each). */
export function measure(subjects: Subject[], runs: number): StartTimes[] {
  const samples = subjects.map(() => [] as number[]);
  for (const s of subjects) timeOnce(s.argv); // warm the page cache
  for (let i = 0; i < runs; i++) subjects.forEach((s, k) => samples[k]!.push(timeOnce(s.argv)));
  return subjects.map((s, k) => {
    const sorted = samples[k]!.sort((a, b) => a - b);
    return { name: s.name, command: s.argv.join(' '), runs, medianS: quantile(sorted, 0.5), p90S: quantile(sorted, 0.9), minS: sorted[0]! };
  });
}

function main(argv: string[]): number {
  let runs = 40;
  let bar = 0.3;
  let json: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--runs') runs = Number(argv[++i]);
    else if (a === '--bar') bar = Number(argv[++i]);
    else if (a === '--json') json = argv[++i];
    else {
      process.stderr.write(`cli-start: unknown option ${a}\nusage: cli-start [--runs N] [--bar SECONDS] [--json FILE]\n`);
      return 2;
    }
  }
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs expects a positive integer');
  if (!(bar > 0)) throw new Error('--bar expects seconds > 0');
  const bin = join(PACKAGE_ROOT, 'bin', 'macdemux.js');
  const subjects: Subject[] = [
    { name: 'macdemux link show', argv: [process.execPath, bin, 'link', 'show'] },
    { name: 'ip link show', argv: ['ip', 'link', 'show'] },
    { name: 'node -e 0 (floor)', argv: [process.execPath, '-e', '0'] },
  ];
  const results = measure(subjects, runs);
  const ms = (s: number) => `${(s * 1000).toFixed(1)} ms`;
  const width = Math.max(...results.map((r) => r.name.length));
  process.stdout.write(`start time, ${runs} runs each (interleaved), wall time spawn -> exit\n`);
  process.stdout.write(`${'command'.padEnd(width)}  ${'median'.padStart(9)}  ${'p90'.padStart(9)}  ${'min'.padStart(9)}\n`);
  for (const r of results) {
    process.stdout.write(`${r.name.padEnd(width)}  ${ms(r.medianS).padStart(9)}  ${ms(r.p90S).padStart(9)}  ${ms(r.minS).padStart(9)}\n`);
  }
  const [md, ip, floor] = results as [StartTimes, StartTimes, StartTimes];
  const ok = md.medianS <= bar;
  process.stdout.write(
    `macdemux/ip median ${(md.medianS / ip.medianS).toFixed(1)}x; macdemux above the node floor ${ms(md.medianS - floor.medianS)}; ` +
      `bar ${ms(bar)}: ${ok ? 'met' : 'MISSED'}\n`,
  );
  if (json) writeFileSync(json, JSON.stringify({ date: new Date().toISOString(), node: process.version, bar, results }, null, 2) + '\n');
  return ok ? 0 : 1;
}

process.exitCode = main(process.argv.slice(2));
