/**
 * CPU accounting from /proc/stat: busy time summed over all cores (user + nice + system + irq +
 * softirq; idle, iowait and steal excluded), so work done in softirq on the generator's core counts
 * as much as a userspace forwarder's thread on its own core.
 */
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/stat and /proc/PID/stat (USER_HZ; 100 on every Linux architecture we run on). */
export const USER_HZ = 100;

/** A /proc/stat reading. */
export interface CpuSample {
  /** Busy ticks of all cores. */
  busyTicks: number;
  /** Steal ticks of all cores (a VM's neighbours). */
  stealTicks: number;
  /** Total ticks of all cores. */
  totalTicks: number;
  /** Per-core busy ticks. */
  perCoreBusy: number[];
}

/** Parse the contents of /proc/stat. */
export function parseProcStat(text: string): CpuSample {
  let busy = 0;
  let steal = 0;
  let total = 0;
  const perCore: number[] = [];
  for (const line of text.split('\n')) {
    const m = /^cpu(\d*)\s+(.*)$/.exec(line);
    if (!m) continue;
    const f = m[2]!.trim().split(/\s+/).map(Number);
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, st = 0] = f;
    const b = user + nice + system + irq + softirq;
    if (m[1] === '') {
      busy = b;
      steal = st;
      total = user + nice + system + idle + iowait + irq + softirq + st;
    } else {
      perCore[Number(m[1])] = b;
    }
  }
  return { busyTicks: busy, stealTicks: steal, totalTicks: total, perCoreBusy: perCore };
}

/** Read /proc/stat now. */
export function sampleCpu(): CpuSample {
  return parseProcStat(readFileSync('/proc/stat', 'utf8'));
}

/** CPU use between two samples. */
export interface CpuDelta {
  /** Busy nanoseconds summed over all cores. */
  busyNs: number;
  /** Steal as a fraction of all ticks. */
  stealFraction: number;
  /** Busy fraction per core (0..1). */
  perCoreBusy: number[];
}

export function cpuDelta(a: CpuSample, b: CpuSample): CpuDelta {
  const total = b.totalTicks - a.totalTicks;
  const cores = Math.max(1, b.perCoreBusy.length);
  const perCoreTicks = total / cores;
  return {
    busyNs: ((b.busyTicks - a.busyTicks) * 1e9) / USER_HZ,
    stealFraction: total > 0 ? (b.stealTicks - a.stealTicks) / total : 0,
    perCoreBusy: b.perCoreBusy.map((v, i) => (perCoreTicks > 0 ? (v - (a.perCoreBusy[i] ?? 0)) / perCoreTicks : 0)),
  };
}
