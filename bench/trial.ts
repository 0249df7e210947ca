/**
 * One trial: offer a load for a while and measure what came out.
 *
 * Offered = generator interface tx_packets + tx_dropped (what the generator got into the veth);
 * forwarded = rx_packets at the count points (or the testbed's own counter). Rates and CPU are taken
 * over a steady window after a warm-up; loss is counted over the whole trial after a short drain.
 */
import { cpuDelta, sampleCpu, type CpuSample } from '../src/measure/cpu.ts';
import { LinkCounterPool } from '../src/measure/link-counters.ts';
import { startTraffic, type GeneratorKind } from '../src/measure/traffic.ts';
import type { Testbed } from './testbed.ts';

export interface TrialSpec {
  frameSize: number;
  /** 0 = max. */
  ratePps: number;
  warmupMs: number;
  measureMs: number;
}

export interface TrialResult {
  /** Offered rate over the steady window. */
  offeredPps: number;
  /** Forwarded rate over the steady window. */
  fwdPps: number;
  /** All-core busy ns per forwarded packet over the window (null when nothing was forwarded). */
  cpuNsPerPacket: number | null;
  /** Whole trial. */
  sent: number;
  forwarded: number;
  lossRatio: number;
  stealFraction: number;
  perCoreBusy: number[];
}

/** Live progress callback: offered and forwarded pps of the last interval. */
export type ProgressFn = (offeredPps: number, fwdPps: number) => void;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Reading {
  t: bigint;
  offered: number;
  fwd: number;
  cpu: CpuSample;
}

/** Reads the testbed's counters cheaply (rtnetlink, no processes spawned). */
export class TestbedCounters {
  private pool = new LinkCounterPool();
  constructor(private tb: Testbed) {}

  offered(): number {
    const c = this.pool.read(this.tb.gen.ns.name, this.tb.gen.ifname);
    return c.txPackets + c.txDropped;
  }

  forwarded(): number {
    const links = this.tb.countAt.length ? this.pool.readSum(this.tb.countAt).rxPackets : 0;
    return links + (this.tb.forwarded ? this.tb.forwarded() : 0);
  }

  read(): Reading {
    return { t: process.hrtime.bigint(), offered: this.offered(), fwd: this.forwarded(), cpu: sampleCpu() };
  }

  close(): void {
    this.pool.close();
  }
}

/** Run one trial on a testbed. */
export async function runTrial(
  tb: Testbed,
  counters: TestbedCounters,
  generator: GeneratorKind,
  spec: TrialSpec,
  progress?: ProgressFn,
): Promise<TrialResult> {
  if (tb.prepare) await tb.prepare();
  const start = counters.read();
  const traffic = await startTraffic(generator, {
    netns: tb.gen.ns.name,
    ifname: tb.gen.ifname,
    src: tb.gen.mac,
    dsts: tb.dsts,
    frameSize: spec.frameSize,
    ratePps: spec.ratePps,
    durationMs: spec.warmupMs + spec.measureMs + 150,
    cpu: 0,
  });
  let w1: Reading | undefined;
  let w2: Reading | undefined;
  try {
    await sleep(spec.warmupMs);
    w1 = counters.read();
    let last = w1;
    const step = 500;
    let left = spec.measureMs;
    while (left > 0) {
      const d = Math.min(step, left);
      await sleep(d);
      left -= d;
      const now = counters.read();
      const dt = Number(now.t - last.t) / 1e9;
      if (progress && dt > 0) progress((now.offered - last.offered) / dt, (now.fwd - last.fwd) / dt);
      last = now;
    }
    w2 = last;
    await traffic.done;
  } finally {
    if (!w2) await traffic.stop().catch(() => undefined);
  }
  await sleep(200); // let rings and backlogs drain before the final count
  const end = counters.read();
  const dt = Number(w2.t - w1.t) / 1e9;
  const fwdWindow = w2.fwd - w1.fwd;
  const cpu = cpuDelta(w1.cpu, w2.cpu);
  const sent = end.offered - start.offered;
  const forwarded = end.fwd - start.fwd;
  return {
    offeredPps: (w2.offered - w1.offered) / dt,
    fwdPps: fwdWindow / dt,
    cpuNsPerPacket: fwdWindow > 0 ? cpu.busyNs / fwdWindow : null,
    sent,
    forwarded,
    lossRatio: sent > 0 ? Math.max(0, 1 - forwarded / sent) : 1,
    stealFraction: cpu.stealFraction,
    perCoreBusy: cpu.perCoreBusy,
  };
}
