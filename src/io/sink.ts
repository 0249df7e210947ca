/**
 * Native traffic sink: an RX ring drained by its own thread (addon/tools/sink.cc) that counts frames per
 * destination MAC and checks the generator's test payload (loss, reordering, duplicates, latency).
 */
import { InvalidArgumentError, systemError } from '../errors.ts';
import { PortCountersView } from './counters.ts';
import { io, type NativeErrorDetail, type NativeSinkStats } from './native-types.ts';
import { validateIfname, validateRingOptions, type RingOptions } from '../net/index.ts';
import { checkOptionalBool, checkOptionalInt, checkOptionalString } from './options.ts';
import { openError } from './io-error.ts';

export interface SinkOptions extends RingOptions {
  /** Interface to receive on. */
  ifname: string;
  /** Network namespace (name or path). */
  netns?: string;
  /** Put the interface in promiscuous mode while open (PACKET_MR_PROMISC, undone on close). */
  promisc?: boolean;
  /** Pin the sink thread to this CPU. (Ring default for sinks: 32 blocks of 1 MiB, 1 ms retire timeout.) */
  cpu?: number;
}

export interface SinkStats {
  /** Test frames received (frames with the macdemux payload). */
  packets: number;
  /** Their bytes (wire length without VLAN tag and FCS). */
  bytes: number;
  /** Test frames per destination MAC. */
  perDst: Record<string, number>;
  /** Sequence numbers skipped and not (yet) seen late. */
  lost: number;
  /** Frames that arrived after a later one of their stream. */
  reordered: number;
  /** Sequence numbers seen twice. */
  duplicates: number;
  /** Test frames too short for the payload, and frames the ring flagged bad. */
  malformed: number;
  /**
   * One-way latency, microseconds: generator TX timestamp (CLOCK_MONOTONIC) to the kernel's receive
   * timestamp of the frame on the sink's interface (the sink enables SO_TIMESTAMPNS; falls back to
   * the delivery time for frames without a stamp). Excludes the ring's block-retire wait.
   */
  latencyUs: { p50: number; p99: number; p999: number; max: number; samples: number };
  /** TX timestamp to the sink thread reading the frame (includes the TPACKET_V3 block-retire wait). */
  deliveryLatencyUs: { p50: number; p99: number; p999: number; max: number };
  /** Frames without the test payload (ignored otherwise). */
  other: number;
  /** Frames the kernel dropped because the ring was full (tp_drops). */
  kernelDrops: number;
  /** Times the ring froze (tp_freeze_q_cnt). */
  freezes: number;
  /** Frames truncated by the ring. */
  truncated: number;
  /** Distinct stream ids seen. */
  streams: number;
}

export interface Sink {
  /** Current stats. */
  stats(): SinkStats;
  /** Zero every count (streams restart: the next frame of each stream is its new baseline). */
  reset(): void;
  /** Stop the thread (after draining what already arrived) and return the final stats. */
  close(): Promise<SinkStats>;
  /** Raw ring counters (live view, no call). */
  readonly counters: PortCountersView;
}

function toStats(s: NativeSinkStats): SinkStats {
  const { error: _e, ...rest } = s;
  return rest;
}

/** Open a sink on an interface. Throws when the RX ring cannot be opened. */
export function openSink(opts: SinkOptions): Sink {
  if (typeof opts !== 'object' || opts === null) throw new InvalidArgumentError('options', 'an object', opts);
  const ifname = validateIfname(opts.ifname, 'ifname');
  const netns = checkOptionalString(opts.netns, 'netns');
  const promisc = checkOptionalBool(opts.promisc, 'promisc') ?? false;
  const cpu = checkOptionalInt(opts.cpu, 'cpu', 0, 4095);
  const n = io();
  const detail: NativeErrorDetail = {};
  const r = n.sinkOpen({
    ifname,
    ...(netns !== undefined ? { netns } : {}),
    retireTovMs: 1,
    blockCount: 32,
    ...validateRingOptions(opts),
    promisc,
    ...(cpu !== undefined ? { cpu } : {}),
  }, detail);
  if (typeof r === 'number') throw openError(r, 'sink', { ifname, ...(netns ? { netns } : {}), detail });
  const h = r;
  const counters = new PortCountersView(n.sinkCounters(h));
  let closed: SinkStats | undefined;
  return {
    counters,
    stats: () => closed ?? toStats(n.sinkStats(h)),
    reset: () => n.sinkReset(h),
    close: async () => {
      if (closed) return closed;
      const s = n.sinkClose(h);
      closed = toStats(s);
      if (s.error < 0) throw systemError(s.error, 'poll', { what: 'sink', ifname, op: 'receive' });
      return closed;
    },
  };
}
