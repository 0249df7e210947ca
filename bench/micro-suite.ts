/**
 * Shared pieces of the micro benchmarks (bench/micro/*.bench.ts): the result type and a
 * benchmark.js runner that reports per frame. Kept apart from bench/micro/run.ts so that the
 * runner can import the bench modules without an import cycle.
 */
import Benchmark from 'benchmark';

/** One measured operation. */
export interface MicroResult {
  /** e.g. `parse: TypeScript parseFrame` */
  name: string;
  /** Frames (or calls) per second. */
  perSecond: number;
  /** Nanoseconds per frame (or call). */
  nsPer: number;
  unit: 'frame' | 'call';
  /** Relative margin of error (%) from benchmark.js, when it measured it. */
  rme?: number;
  samples?: number;
  note?: string;
}

export interface MicroContext {
  /** Shorter runs (smoke). */
  quick: boolean;
}

/**
 * Run benchmark.js cases where one call handles `perCall` frames; results per frame.
 * `cases` maps a name to a synchronous function.
 */
export function runSuite(cases: Record<string, () => void>, perCall: number, ctx: MicroContext): MicroResult[] {
  const results: MicroResult[] = [];
  const suite = new Benchmark.Suite();
  for (const [name, fn] of Object.entries(cases)) {
    suite.add(name, fn, { minSamples: ctx.quick ? 5 : 20, maxTime: ctx.quick ? 0.5 : 2 });
  }
  suite.on('cycle', (ev: Benchmark.Event) => {
    const b = ev.target as unknown as Benchmark & { name: string };
    const perSecond = b.hz * perCall;
    results.push({ name: b.name, perSecond, nsPer: 1e9 / perSecond, unit: perCall > 1 ? 'frame' : 'call', rme: b.stats.rme, samples: b.stats.sample.length });
  });
  suite.run({ async: false });
  return results;
}

