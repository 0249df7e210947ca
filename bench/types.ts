/**
 * The benchmark's result model: what `macdemux bench --json FILE` writes and what the Markdown and
 * SVG reports read. Field names are camelCase and stable (tests and docs/bench read them).
 */

/** Forwarders compared side by side. `generator` is the harness ceiling (nothing forwards). */
export type ScenarioName = 'generator' | 'bridge' | 'macvlan' | 'ovs' | 'macdemux' | 'macdemux-xdp' | 'macdemux-tap' | 'macdemux-js';

export const SCENARIO_NAMES: readonly ScenarioName[] = [
  'generator',
  'bridge',
  'macvlan',
  'ovs',
  'macdemux',
  'macdemux-xdp',
  'macdemux-tap',
  'macdemux-js',
];

/** Latency percentiles in microseconds (one-way, from the TX timestamp in the payload). */
export interface LatencyUs {
  p50: number;
  p99: number;
  p999: number;
}

/** Latency at one load point (a fraction of the zero-loss rate). */
export interface LatencyAtLoad extends LatencyUs {
  /** Percent of the zero-loss rate offered (10, 50, 90). */
  loadPct: number;
  offeredPps: number;
  /** Packets the sinks timed. */
  samples: number;
}

/** One row: a forwarder (and variant) at one frame size and port count. */
export interface ScenarioResult {
  name: ScenarioName;
  /** e.g. `static-fdb`, `learning`, `ring-drop` (generator with an AF_PACKET drop-all ring), `default`. */
  variant: string;
  /** Frame size on the wire including FCS (the veth buffer is 4 bytes shorter). */
  frameSize: number;
  /** Ports (table entries) configured on the forwarder; traffic goes to `sinks` of them. */
  ports: number;
  /** Destinations that receive traffic (round-robin). */
  sinks: number;
  status: 'ok' | 'skipped' | 'failed';
  /** Why it was skipped or failed. */
  reason?: string;
  /** Offered load (generator's measured rate, max-load trials), median over runs. */
  offeredPps: number | null;
  /** Forwarded packets per second at max offered load, median over runs. */
  fwdPps: number | null;
  /** fwdPps x frameSize x 8 (L2 bits including FCS, no preamble/IFG). */
  fwdGbps: number | null;
  /** Loss ratio at max offered load (median). */
  lossRatio: number | null;
  /** Busy CPU time of all cores (user+nice+system+irq+softirq, /proc/stat) per forwarded packet, ns, median. */
  cpuNsPerPacket: number | null;
  /** Highest offered rate with loss <= the threshold (binary search); null when not measured. */
  zeroLossPps: number | null;
  /** Latency at 50% of the zero-loss rate (null when not measured). */
  latencyUs: LatencyUs | null;
  /** Latency at every load point measured. */
  latencyByLoad?: LatencyAtLoad[];
  /** TCP throughput (iperf3, one stream, generator namespace -> sink 1), Gbit/s. */
  tcpGbps?: number | null;
  /** Number of max-load trials. */
  runs: number;
  /** (max - min) / median of fwdPps over the runs; 0 for one run. */
  spread: number;
  /** fwdPps of every run, in order. */
  samples: number[];
  /** Raw max-load trials, in order (per-core busy fractions, steal). */
  trials?: Array<{ offeredPps: number; fwdPps: number; lossRatio: number; cpuNsPerPacket: number | null; stealFraction: number; perCoreBusy: number[] }>;
  /** Ratios within this run (same frame size and port count): fwdPps / bridge's, / macvlan's; cost ratio likewise. */
  ratios?: {
    fwdVsBridge?: number;
    fwdVsMacvlan?: number;
    cpuVsBridge?: number;
    cpuVsMacvlan?: number;
    zeroLossVsBridge?: number;
  };
  /** Which generator produced the load. */
  generator?: 'native' | 'trafgen';
  notes?: string[];
}

/** The machine the run happened on. */
export interface MachineInfo {
  hostname: string;
  nproc: number;
  cpuModel: string;
  kernel: string;
  node: string;
  memGiB: number;
  /** 1-minute load average at the start (other users of the machine make numbers noisy). */
  loadAvg: number;
}

/** The whole report. */
export interface BenchReport {
  machine: MachineInfo;
  /** ISO 8601 start time. */
  date: string;
  /** The command line that produced it. */
  command: string;
  /** Effective options (durations, sizes, thresholds). */
  options: Record<string, unknown>;
  scenarios: ScenarioResult[];
  /** Run-wide notes: generator choice, skipped dependencies, noise. */
  notes: string[];
  /** Wall-clock duration of the run, seconds. */
  durationS: number;
}
