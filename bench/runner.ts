/**
 * The benchmark run: every selected scenario (and variant) on a fresh lab, max-load trials at each
 * frame size repeated `runs` times with the scenario order shuffled per repetition (slow drift of a
 * shared VM then spreads over all forwarders instead of biasing one), then on the first repetition
 * the zero-loss search, latency at fractions of the zero-loss rate and TCP; finally port-count
 * scaling. Everything a scenario needs that is missing is reported as skipped with the reason.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab } from '../src/lab/index.ts';
import { chooseGenerator, type GeneratorKind } from '../src/measure/traffic.ts';
import { describeMachine } from './machine.ts';
import { Progress, fmtPps } from './progress.ts';
import { computeRatios } from './report/ratios.ts';
import { SCENARIOS, type Scenario } from './scenarios/index.ts';
import { zeroLossSearch } from './search.ts';
import { measureLatency } from './latency.ts';
import { tcpThroughput } from './iperf.ts';
import type { Testbed } from './testbed.ts';
import { TestbedCounters, runTrial, type TrialResult } from './trial.ts';
import type { BenchReport, LatencyAtLoad, ScenarioName, ScenarioResult } from './types.ts';

export interface BenchOptions {
  scenarios: ScenarioName[];
  quick: boolean;
  /** Frame sizes on the wire including FCS. */
  frameSizes: number[];
  /** Max-load trials per (scenario, frame size). */
  runs: number;
  warmupMs: number;
  measureMs: number;
  /** Zero-loss search (null = off). */
  search: { iterations: number; warmupMs: number; measureMs: number; maxLoss: number; precision: number } | null;
  /** Latency load points in % of the zero-loss rate (empty = off). */
  latencyLoads: number[];
  /** Port counts; the first equals `sinks` (the main rows), the others are scaling rows (64 B only). */
  portCounts: number[];
  /** iperf3 seconds (0 = off). */
  tcpSeconds: number;
  /** Destinations that receive traffic. */
  sinks: number;
  generator: GeneratorKind | 'auto';
  /** CPU for userspace forwarders (the generator runs on CPU 0). */
  forwarderCpu: number;
  /** Also run secondary variants (bridge learning, generator ring-drop). */
  variants: boolean;
  command: string;
}

export function defaultOptions(quick: boolean): BenchOptions {
  return quick
    ? {
        scenarios: [...(Object.keys(SCENARIOS) as ScenarioName[])],
        quick: true,
        frameSizes: [64],
        runs: 1,
        warmupMs: 250,
        measureMs: 700,
        search: { iterations: 3, warmupMs: 200, measureMs: 500, maxLoss: 1e-5, precision: 0.1 },
        latencyLoads: [50],
        portCounts: [2],
        tcpSeconds: 1,
        sinks: 2,
        generator: 'auto',
        forwarderCpu: 1,
        variants: false,
        command: '',
      }
    : {
        scenarios: [...(Object.keys(SCENARIOS) as ScenarioName[])],
        quick: false,
        frameSizes: [64, 512, 1518],
        runs: 5,
        warmupMs: 400,
        measureMs: 1500,
        search: { iterations: 6, warmupMs: 300, measureMs: 1000, maxLoss: 1e-5, precision: 0.04 },
        latencyLoads: [10, 50, 90],
        portCounts: [2, 64, 4096],
        tcpSeconds: 3,
        sinks: 2,
        generator: 'auto',
        forwarderCpu: 1,
        variants: true,
        command: '',
      };
}

interface Job {
  scenario: Scenario;
  variant: string;
  primary: boolean;
}

interface Acc {
  key: string;
  name: ScenarioName;
  variant: string;
  frameSize: number;
  ports: number;
  trials: TrialResult[];
  zeroLossPps: number | null;
  latency: LatencyAtLoad[];
  tcpGbps: number | null | undefined;
  notes: Set<string>;
  generator?: GeneratorKind;
  status: 'ok' | 'skipped' | 'failed';
  reason?: string;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function shuffle<T>(xs: T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** Run the suite. */
export async function runBench(opts: BenchOptions, progress = new Progress()): Promise<BenchReport> {
  const started = Date.now();
  const notes: string[] = [];
  const machine = describeMachine();
  const choice = chooseGenerator(opts.generator);
  notes.push(...choice.notes);
  const accs = new Map<string, Acc>();
  const acc = (name: ScenarioName, variant: string, frameSize: number, ports: number): Acc => {
    const key = `${name}|${variant}|${frameSize}|${ports}`;
    let a = accs.get(key);
    if (!a) {
      a = { key, name, variant, frameSize, ports, trials: [], zeroLossPps: null, latency: [], tcpGbps: undefined, notes: new Set(), status: 'ok' };
      accs.set(key, a);
    }
    return a;
  };
  const mainPorts = opts.portCounts[0] ?? opts.sinks;

  // Which (scenario, variant) pairs run; the others become skipped rows.
  const jobs: Job[] = [];
  for (const name of opts.scenarios) {
    const scenario = SCENARIOS[name];
    const variants = opts.variants ? scenario.variants : scenario.variants.slice(0, 1);
    for (const [i, variant] of variants.entries()) {
      const why = choice.kind === null ? `no traffic generator: ${choice.notes.join('; ')}` : await scenario.unavailable(variant);
      if (why) {
        const a = acc(name, variant, 64, mainPorts);
        a.status = 'skipped';
        a.reason = why;
        progress.line(`skip ${name}${variant === scenario.variants[0] ? '' : ` (${variant})`}: ${why}`);
        continue;
      }
      jobs.push({ scenario, variant, primary: i === 0 });
    }
  }
  const generator = choice.kind;
  const latencyOk = generator === 'native';
  if (!latencyOk && opts.latencyLoads.length) {
    notes.push('latency not measured: it needs the native generator and sink (timestamps in the payload)');
  }

  const failed = new Set<string>();
  const withTestbed = async <T>(job: Job, ports: number, fn: (tb: Testbed, counters: TestbedCounters) => Promise<T>): Promise<T> => {
    const lab = await Lab.create();
    const tmp = mkdtempSync(join(tmpdir(), 'macdemux-bench-'));
    let tb: Testbed | undefined;
    let counters: TestbedCounters | undefined;
    try {
      tb = await job.scenario.build({ lab, variant: job.variant, ports, sinks: opts.sinks, forwarderCpu: opts.forwarderCpu, tmpDir: tmp });
      counters = new TestbedCounters(tb);
      return await fn(tb, counters);
    } finally {
      counters?.close();
      if (tb) await tb.stop().catch((e: Error) => progress.line(`warning: stopping ${job.scenario.name}: ${e.message}`));
      await lab.destroy().catch((e: Error) => progress.line(`warning: ${e.message}`));
      rmSync(tmp, { recursive: true, force: true });
    }
  };
  const label = (job: Job): string => (job.primary ? job.scenario.name : `${job.scenario.name}/${job.variant}`);

  for (let rep = 1; rep <= opts.runs; rep++) {
    const order = opts.runs > 1 ? shuffle(jobs) : jobs;
    for (const job of order) {
      const jobKey = `${job.scenario.name}|${job.variant}`;
      if (failed.has(jobKey) || generator === null) continue;
      const sizes = job.primary ? opts.frameSizes : opts.frameSizes.slice(0, 1);
      try {
        await withTestbed(job, mainPorts, async (tb, counters) => {
          let maxLoad64: TrialResult | undefined;
          for (const size of sizes) {
            const a = acc(job.scenario.name, job.variant, size, mainPorts);
            tb.notes.forEach((n) => a.notes.add(n));
            if (tb.generatorOverride) a.generator = tb.generatorOverride;
            const tag = `[${label(job)} ${size}B run ${rep}/${opts.runs}]`;
            const t = await runTrial(tb, counters, tb.generatorOverride ?? generator, { frameSize: size, ratePps: 0, warmupMs: opts.warmupMs, measureMs: opts.measureMs },
              (o, f) => progress.status(`${tag} offered ${fmtPps(o)}  forwarded ${fmtPps(f)}`));
            a.trials.push(t);
            if (size === sizes[0]) maxLoad64 = t;
            progress.line(`${tag} offered ${fmtPps(t.offeredPps)}  forwarded ${fmtPps(t.fwdPps)}  loss ${(t.lossRatio * 100).toFixed(3)}%  cpu ${t.cpuNsPerPacket?.toFixed(0) ?? '-'} ns/pkt`);
          }
          if (rep === 1 && latencyOk && tb.latencySource && maxLoad64 && maxLoad64.offeredPps > 0) {
            // Harness latency floor: generator -> veth -> native ring, no forwarder.
            const a = acc(job.scenario.name, job.variant, sizes[0]!, mainPorts);
            const src = tb.latencySource;
            for (const pct of opts.latencyLoads) {
              const rate = (maxLoad64.offeredPps * pct) / 100;
              const timer = setTimeout(() => src.reset(), opts.warmupMs);
              const t = await runTrial(tb, counters, 'native', { frameSize: sizes[0]!, ratePps: rate, warmupMs: opts.warmupMs, measureMs: opts.measureMs },
                (o, f) => progress.status(`[${label(job)} latency @${pct}% of max] offered ${fmtPps(o)}  forwarded ${fmtPps(f)}`)).finally(() => clearTimeout(timer));
              const l = src.latency();
              if (l.samples > 0) {
                a.latency.push({ loadPct: pct, offeredPps: t.offeredPps, p50: l.p50, p99: l.p99, p999: l.p999, samples: l.samples });
                progress.line(`[${label(job)} latency @${pct}% of max = ${fmtPps(t.offeredPps)}] p50 ${l.p50.toFixed(1)} us  p99 ${l.p99.toFixed(1)} us  p99.9 ${l.p999.toFixed(1)} us`);
              }
            }
            a.notes.add('latency at % of the generator\'s maximum, measured by the drop-all ring itself: the harness floor (no forwarder)');
          }
          // Zero-loss and latency for every variant (first repetition); TCP for primary variants only.
          if (rep !== 1) return;
          const size = sizes[0]!;
          const a = acc(job.scenario.name, job.variant, size, mainPorts);
          if (opts.search && maxLoad64 && maxLoad64.fwdPps > 0 && job.scenario.name !== 'generator' && maxLoad64.lossRatio <= opts.search.maxLoss) {
            // Nothing lost even at the generator's maximum: that is the zero-loss rate (the generator limits it).
            a.zeroLossPps = maxLoad64.offeredPps;
            a.notes.add('zero-loss rate = the generator\'s maximum (no loss at max load)');
            progress.line(`[${label(job)} ${size}B zero-loss] no loss at max load: ${fmtPps(a.zeroLossPps)}`);
          } else if (opts.search && maxLoad64 && maxLoad64.fwdPps > 0 && job.scenario.name !== 'generator') {
            const s = opts.search;
            const r = await zeroLossSearch(tb, counters, tb.generatorOverride ?? generator, {
              frameSize: size, maxPps: maxLoad64.offeredPps, startPps: maxLoad64.fwdPps, iterations: s.iterations,
              warmupMs: s.warmupMs, measureMs: s.measureMs, maxLoss: s.maxLoss, precision: s.precision,
            }, (t, req, i) => progress.line(`[${label(job)} ${size}B zero-loss ${i + 1}/${s.iterations}] requested ${fmtPps(req)} offered ${fmtPps(t.offeredPps)} loss ${(t.lossRatio * 100).toFixed(4)}%`),
            (o, f) => progress.status(`[${label(job)} zero-loss search] offered ${fmtPps(o)}  forwarded ${fmtPps(f)}`));
            a.zeroLossPps = r.zeroLossPps;
            if (r.generatorLimited) a.notes.add(`zero-loss search limited by the ${generator} generator in rate-limited mode`);
          }
          if (latencyOk && tb.latency && a.zeroLossPps && a.zeroLossPps > 0) {
            for (const pct of opts.latencyLoads) {
              const rate = (a.zeroLossPps * pct) / 100;
              const l = await measureLatency(tb, counters, { frameSize: size, ratePps: rate, loadPct: pct, warmupMs: opts.warmupMs, measureMs: opts.measureMs },
                (o, f) => progress.status(`[${label(job)} latency @${pct}%] offered ${fmtPps(o)}  forwarded ${fmtPps(f)}`));
              if (l) {
                a.latency.push(l);
                progress.line(`[${label(job)} latency @${pct}% = ${fmtPps(l.offeredPps)}] p50 ${l.p50.toFixed(1)} us  p99 ${l.p99.toFixed(1)} us  p99.9 ${l.p999.toFixed(1)} us`);
              }
            }
          }
          if (opts.tcpSeconds > 0 && tb.tcp && job.primary) {
            progress.status(`[${label(job)} TCP] iperf3 ${opts.tcpSeconds} s`);
            const r = await tcpThroughput(tb, opts.tcpSeconds);
            a.tcpGbps = r.gbps;
            if (r.reason) a.notes.add(`TCP: ${r.reason}`);
            progress.line(`[${label(job)} TCP] ${r.gbps === null ? `n/a (${r.reason})` : `${r.gbps.toFixed(2)} Gbit/s`}`);
          }
        });
      } catch (err) {
        failed.add(jobKey);
        const msg = (err as Error).message.split('\n')[0]!;
        // A feature the machine lacks gets one row; a broken run marks every size it did not finish.
        for (const size of isNotBuilt(err) ? sizes.slice(0, 1) : sizes) {
          const a = acc(job.scenario.name, job.variant, size, mainPorts);
          if (a.trials.length === 0) {
            a.status = isNotBuilt(err) ? 'skipped' : 'failed';
            a.reason = msg;
          } else a.notes.add(`run ${rep} failed: ${msg}`);
        }
        progress.line(`[${label(job)}] ${isNotBuilt(err) ? 'skipped' : 'failed'}: ${msg}`);
      }
    }
  }

  // Port-count scaling (64 B, primary variants of scalable scenarios).
  for (const ports of opts.portCounts.slice(1)) {
    for (const job of jobs) {
      if (!job.primary || !job.scenario.scalable || failed.has(`${job.scenario.name}|${job.variant}`) || generator === null) continue;
      const size = opts.frameSizes[0] ?? 64;
      const a = acc(job.scenario.name, job.variant, size, ports);
      try {
        progress.status(`[${label(job)} ${ports} ports] building`);
        await withTestbed(job, ports, async (tb, counters) => {
          tb.notes.forEach((n) => a.notes.add(n));
          for (let rep = 1; rep <= Math.min(opts.runs, 2); rep++) {
            const tag = `[${label(job)} ${size}B ${ports} ports run ${rep}]`;
            const t = await runTrial(tb, counters, tb.generatorOverride ?? generator, { frameSize: size, ratePps: 0, warmupMs: opts.warmupMs, measureMs: opts.measureMs },
              (o, f) => progress.status(`${tag} offered ${fmtPps(o)}  forwarded ${fmtPps(f)}`));
            a.trials.push(t);
            progress.line(`${tag} offered ${fmtPps(t.offeredPps)}  forwarded ${fmtPps(t.fwdPps)}  cpu ${t.cpuNsPerPacket?.toFixed(0) ?? '-'} ns/pkt`);
          }
        });
      } catch (err) {
        a.status = 'failed';
        a.reason = (err as Error).message.split('\n')[0]!;
        progress.line(`[${label(job)} ${ports} ports] failed: ${a.reason}`);
      }
    }
  }
  progress.done();

  const scenarios = [...accs.values()].map((a) => summarize(a, opts.sinks, generator));
  const order = (r: ScenarioResult): number => Object.keys(SCENARIOS).indexOf(r.name);
  const vorder = (r: ScenarioResult): number => SCENARIOS[r.name].variants.indexOf(r.variant);
  scenarios.sort((x, y) => order(x) - order(y) || x.ports - y.ports || vorder(x) - vorder(y) || x.frameSize - y.frameSize);
  computeRatios(scenarios);
  const steal = [...accs.values()].flatMap((a) => a.trials.map((t) => t.stealFraction));
  if (steal.length && Math.max(...steal) > 0.02) notes.push(`CPU steal reached ${(Math.max(...steal) * 100).toFixed(1)}% in some trials`);
  if (machine.loadAvg > 0.5) notes.push(`load average ${machine.loadAvg} at the start: other work on the machine makes these numbers noisy; compare ratios within the run`);
  return {
    machine,
    date: new Date(started).toISOString(),
    command: opts.command,
    options: {
      quick: opts.quick, frameSizes: opts.frameSizes, runs: opts.runs, warmupMs: opts.warmupMs, measureMs: opts.measureMs,
      search: opts.search, latencyLoads: opts.latencyLoads, portCounts: opts.portCounts, tcpSeconds: opts.tcpSeconds,
      sinks: opts.sinks, generator, forwarderCpu: opts.forwarderCpu, generatorCpu: 0,
    },
    scenarios,
    notes,
    durationS: Math.round((Date.now() - started) / 100) / 10,
  };
}

/** A feature this machine lacks (the kernel answers ENOTSUP/EOPNOTSUPP) rather than a broken run. */
function isNotBuilt(err: unknown): boolean {
  const e = err as { code?: string };
  return e.code === 'ENOTSUP' || e.code === 'EOPNOTSUPP';
}

function summarize(a: Acc, sinks: number, generator: GeneratorKind | null): ScenarioResult {
  const base: ScenarioResult = {
    name: a.name, variant: a.variant, frameSize: a.frameSize, ports: a.ports, sinks, status: a.status,
    offeredPps: null, fwdPps: null, fwdGbps: null, lossRatio: null, cpuNsPerPacket: null, zeroLossPps: null, latencyUs: null,
    runs: a.trials.length, spread: 0, samples: [],
  };
  if (a.reason) base.reason = a.reason;
  if (a.notes.size) base.notes = [...a.notes];
  if (a.trials.length === 0) {
    if (a.status === 'ok') {
      base.status = 'failed';
      base.reason ??= 'no trial completed';
    }
    return base;
  }
  const fwd = a.trials.map((t) => t.fwdPps);
  const m = median(fwd);
  const cpu = a.trials.map((t) => t.cpuNsPerPacket).filter((x): x is number => x !== null);
  const r: ScenarioResult = {
    ...base,
    status: 'ok',
    offeredPps: median(a.trials.map((t) => t.offeredPps)),
    fwdPps: m,
    fwdGbps: (m * a.frameSize * 8) / 1e9,
    lossRatio: median(a.trials.map((t) => t.lossRatio)),
    cpuNsPerPacket: cpu.length ? median(cpu) : null,
    zeroLossPps: a.zeroLossPps,
    latencyUs: null,
    samples: fwd,
    trials: a.trials.map((t) => ({
      offeredPps: Math.round(t.offeredPps),
      fwdPps: Math.round(t.fwdPps),
      lossRatio: t.lossRatio,
      cpuNsPerPacket: t.cpuNsPerPacket === null ? null : Math.round(t.cpuNsPerPacket),
      stealFraction: t.stealFraction,
      perCoreBusy: t.perCoreBusy.map((v) => Math.round(v * 1000) / 1000),
    })),
    spread: fwd.length > 1 && m > 0 ? (Math.max(...fwd) - Math.min(...fwd)) / m : 0,
  };
  delete r.reason;
  if (a.generator ?? generator) r.generator = (a.generator ?? generator)!;
  if (a.latency.length) {
    r.latencyByLoad = a.latency;
    const at50 = a.latency.find((l) => l.loadPct === 50) ?? a.latency[Math.floor(a.latency.length / 2)]!;
    r.latencyUs = { p50: at50.p50, p99: at50.p99, p999: at50.p999 };
  }
  if (a.tcpGbps !== undefined) r.tcpGbps = a.tcpGbps;
  return r;
}
