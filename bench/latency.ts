/**
 * Latency at a given offered rate: the native generator stamps each frame with CLOCK_MONOTONIC, the
 * native sinks on the sink interfaces compute one-way latency. Per-sink percentiles are combined as
 * the packet-weighted mean of p50 and the maximum of p99/p999 (conservative).
 */
import { openSink, type Sink, type SinkStats } from '../src/io/index.ts';
import type { Testbed } from './testbed.ts';
import { runTrial, type ProgressFn, type TestbedCounters } from './trial.ts';
import type { LatencyAtLoad, LatencyUs } from './types.ts';

/** Combine per-sink latency percentiles. */
export function combineLatency(stats: Array<{ packets: SinkStats['packets']; latencyUs: Pick<SinkStats['latencyUs'], 'p50' | 'p99' | 'p999'> }>): LatencyUs & { samples: number } {
  const withData = stats.filter((s) => s.packets > 0);
  const samples = withData.reduce((a, s) => a + s.packets, 0);
  if (samples === 0) return { p50: 0, p99: 0, p999: 0, samples: 0 };
  return {
    p50: withData.reduce((a, s) => a + s.latencyUs.p50 * s.packets, 0) / samples,
    p99: Math.max(...withData.map((s) => s.latencyUs.p99)),
    p999: Math.max(...withData.map((s) => s.latencyUs.p999)),
    samples,
  };
}

export async function measureLatency(
  tb: Testbed,
  counters: TestbedCounters,
  opts: { frameSize: number; ratePps: number; loadPct: number; warmupMs: number; measureMs: number },
  progress?: ProgressFn,
): Promise<LatencyAtLoad | null> {
  if (!tb.latency || tb.sinks.length === 0) return null;
  const sinks: Sink[] = [];
  try {
    // Small blocks with the shortest retire timeout: a TPACKET_V3 block is handed to the sink when it
    // is full or after 1 ms, and that wait is part of what the sink measures.
    for (const s of tb.sinks) sinks.push(openSink({ ifname: s.ifname, netns: s.ns.name, blockSize: 8192, blockCount: 512, retireTovMs: 1 }));
    // Reset once traffic is steady: the warm-up is excluded from the percentiles.
    const resetTimer = setTimeout(() => sinks.forEach((s) => s.reset()), opts.warmupMs);
    let t;
    try {
      t = await runTrial(tb, counters, 'native', { frameSize: opts.frameSize, ratePps: opts.ratePps, warmupMs: opts.warmupMs, measureMs: opts.measureMs }, progress);
    } finally {
      clearTimeout(resetTimer);
    }
    const lat = combineLatency(sinks.map((s) => s.stats()));
    if (lat.samples === 0) return null;
    return { loadPct: opts.loadPct, offeredPps: t.offeredPps, p50: lat.p50, p99: lat.p99, p999: lat.p999, samples: lat.samples };
  } finally {
    for (const s of sinks) await s.close().catch(() => undefined);
  }
}
