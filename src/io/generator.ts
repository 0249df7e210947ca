/**
 * Native traffic generator: a TX-ring blaster on its own thread (addon/tools/generator.cc).
 * Frames carry the macdemux test payload (see {@link TEST_PAYLOAD}) that {@link openSink} checks.
 */
import { InvalidArgumentError, systemError } from '../errors.ts';
import { io, type NativeGeneratorStats, type NativeErrorDetail, type NativeHandle } from './native-types.ts';
import { parseMac, validateIfname, validateRingOptions, type RingOptions } from '../net/index.ts';
import { checkOptionalInt, checkOptionalString } from './options.ts';
import { openError } from './io-error.ts';

/** One frame template: every generated frame is a copy with a fresh sequence and timestamp. */
export interface FrameTemplate {
  /** Destination MAC, `aa:bb:cc:dd:ee:ff`. */
  dst: string;
  /** Source MAC. */
  src: string;
  /** VLAN id 0..4095: an 802.1Q tag is inserted inline (4 bytes on top of `size`). */
  vlan?: number;
  /** Frame size without FCS and without the VLAN tag: 60..1514 (larger only with bigger txFrameSize and MTU). */
  size: number;
}

export interface GeneratorOptions extends RingOptions {
  /** Interface to send on. */
  ifname: string;
  /** Network namespace (name or path); default: the current one. */
  netns?: string;
  /** Templates, used round-robin; template i is stream `streamBase + i`. */
  templates: FrameTemplate[];
  /** Frames per second; 0 or absent = as fast as the ring allows. */
  ratePps?: number;
  /** Stop after this many frames (0/absent = no limit). */
  count?: number;
  /** Stop after this many milliseconds (0/absent = no limit). */
  durationMs?: number;
  /** Pin the sending thread to this CPU. */
  cpu?: number;
  /** First stream id (default: random, so two generators do not collide at one sink). */
  streamBase?: number;
  /** Frames per TX kick (default 64). */
  burst?: number;
  /** Largest frame size accepted in templates (default 1514). */
  maxFrameSize?: number;
}

export interface GeneratorStats {
  /** Frames queued to the kernel. */
  sent: number;
  /** Their bytes (as on the wire, without FCS). */
  bytes: number;
  /** TX attempts that found the ring full or got EAGAIN/ENOBUFS. */
  backpressure: number;
  /** Time from the first frame to the end (or now, while running). */
  elapsedNs: number;
}

export interface Generator {
  /** Resolves when the generator finished (count/duration reached or stopped); rejects on a hard send error. */
  readonly done: Promise<GeneratorStats>;
  /** Ask the thread to stop; resolves with the final stats. */
  stop(): Promise<GeneratorStats>;
  /** Current stats (while running or after). */
  stats(): GeneratorStats;
}

/** Test payload layout (after the Ethernet header and any inline VLAN tag; big-endian). */
export const TEST_PAYLOAD = {
  etherType: 0x88b5,
  magic: 0x4d445831,
  size: 24,
  offMagic: 0,
  offStream: 4,
  offSeq: 8,
  offTimestamp: 16,
} as const;

function toStats(s: NativeGeneratorStats): GeneratorStats {
  return { sent: s.sent, bytes: s.bytes, backpressure: s.backpressure, elapsedNs: s.elapsedNs };
}

/** Start a native generator thread. Throws (synchronously) when the TX ring cannot be opened. */
export function startGenerator(opts: GeneratorOptions): Generator {
  if (typeof opts !== 'object' || opts === null) throw new InvalidArgumentError('options', 'an object', opts);
  const ifname = validateIfname(opts.ifname, 'ifname');
  const netns = checkOptionalString(opts.netns, 'netns');
  const maxSize = checkOptionalInt(opts.maxFrameSize, 'maxFrameSize', 60, 65535) ?? 1514;
  if (!Array.isArray(opts.templates) || opts.templates.length === 0)
    throw new InvalidArgumentError('templates', 'a non-empty array of frame templates', opts.templates);
  const templates = opts.templates.map((t, i) => {
    if (typeof t !== 'object' || t === null) throw new InvalidArgumentError(`templates[${i}]`, 'an object', t);
    const vlan = checkOptionalInt(t.vlan, `templates[${i}].vlan`, 0, 4095);
    const size = checkOptionalInt(t.size, `templates[${i}].size`, 60, maxSize);
    if (size === undefined) throw new InvalidArgumentError(`templates[${i}].size`, `an integer between 60 and ${maxSize}`, t.size);
    return {
      dst: parseMac(t.dst, `templates[${i}].dst`, { unicast: false }),
      src: parseMac(t.src, `templates[${i}].src`, { unicast: false }),
      size,
      ...(vlan !== undefined ? { vlan } : {}),
    };
  });
  const ratePps = checkOptionalInt(opts.ratePps, 'ratePps', 0, 1e9) ?? 0;
  const count = checkOptionalInt(opts.count, 'count', 0, Number.MAX_SAFE_INTEGER) ?? 0;
  const durationMs = checkOptionalInt(opts.durationMs, 'durationMs', 0, 1e9) ?? 0;
  const cpu = checkOptionalInt(opts.cpu, 'cpu', 0, 4095);
  const streamBase =
    checkOptionalInt(opts.streamBase, 'streamBase', 0, 0xffffffff - templates.length) ??
    (Math.floor(Math.random() * 0xffff) << 16) >>> 0;
  const burst = checkOptionalInt(opts.burst, 'burst', 1, 4096) ?? 64;
  const n = io();
  let resolveDone!: (s: GeneratorStats) => void;
  let rejectDone!: (e: Error) => void;
  const done = new Promise<GeneratorStats>((res, rej) => {
    resolveDone = res;
    rejectDone = rej;
  });
  let finalStats: GeneratorStats | undefined;
  // The handle is assigned before the thread can finish: onDone is queued to this (JS) thread.
  let handle: NativeHandle | undefined;
  const onDone = (): void => {
    if (!handle || finalStats) return;
    const s = n.genJoin(handle);
    finalStats = toStats(s);
    if (s.error < 0) rejectDone(systemError(s.error, 'sendto', { what: 'generator', ifname, op: 'TX ring kick' }));
    else resolveDone(finalStats);
  };
  const detail: NativeErrorDetail = {};
  const r = n.genStart(
    {
      ifname,
      ...(netns !== undefined ? { netns } : {}),
      ...validateRingOptions(opts),
      templates,
      ratePps,
      count,
      durationMs,
      streamBase,
      burst,
      ...(cpu !== undefined ? { cpu } : {}),
    },
    onDone,
    detail,
  );
  if (typeof r === 'number') throw openError(r, 'generator', { ifname, ...(netns ? { netns } : {}), detail });
  handle = r;
  const h = r;
  done.catch(() => {}); // callers that only use stop() must not see an unhandled rejection
  return {
    done,
    stats: () => finalStats ?? toStats(n.genStats(h)),
    stop: () => {
      n.genStop(h);
      return done;
    },
  };
}
