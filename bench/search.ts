/**
 * Zero-loss throughput (RFC 2544 "throughput"): binary search on the offered rate for the highest
 * rate whose trial loses at most `maxLoss` of the frames. Searches between 0 and the generator's
 * maximum, starting at the rate forwarded under max load.
 */
import type { GeneratorKind } from '../src/measure/traffic.ts';
import type { Testbed } from './testbed.ts';
import { runTrial, type ProgressFn, type TestbedCounters, type TrialResult } from './trial.ts';

export interface SearchOptions {
  frameSize: number;
  /** Generator's max rate (measured). */
  maxPps: number;
  /** Where to start (e.g. the max-load forwarded rate). */
  startPps: number;
  iterations: number;
  warmupMs: number;
  measureMs: number;
  /** Loss ratio allowed (1e-5 = 0.001%). */
  maxLoss: number;
  /** Stop when (hi - lo) / hi falls below this. */
  precision: number;
}

export interface SearchResult {
  /** Highest passing offered rate (measured), or 0 when none passed. */
  zeroLossPps: number;
  trials: Array<{ requestedPps: number; offeredPps: number; lossRatio: number; pass: boolean }>;
  /** True when the generator could not reach the requested rate in a passing trial near the top. */
  generatorLimited: boolean;
}

export async function zeroLossSearch(
  tb: Testbed,
  counters: TestbedCounters,
  generator: GeneratorKind,
  o: SearchOptions,
  onTrial?: (t: TrialResult, requested: number, i: number) => void,
  progress?: ProgressFn,
): Promise<SearchResult> {
  let lo = 0;
  let hi = Math.max(o.maxPps, o.startPps);
  let rate = Math.min(o.startPps, hi);
  let best = 0;
  let limited = false;
  const trials: SearchResult['trials'] = [];
  for (let i = 0; i < o.iterations && rate > 0; i++) {
    const t = await runTrial(tb, counters, generator, { frameSize: o.frameSize, ratePps: rate, warmupMs: o.warmupMs, measureMs: o.measureMs }, progress);
    const pass = t.lossRatio <= o.maxLoss;
    const offered = t.sent > 0 ? t.offeredPps : 0;
    trials.push({ requestedPps: rate, offeredPps: offered, lossRatio: t.lossRatio, pass });
    onTrial?.(t, rate, i);
    if (pass) {
      if (offered > best) best = offered;
      if (offered < 0.9 * rate) limited = true;
      lo = rate;
    } else {
      hi = rate;
    }
    if (hi > 0 && (hi - lo) / hi < o.precision) break;
    rate = (lo + hi) / 2;
  }
  return { zeroLossPps: best, trials, generatorLimited: limited };
}
