/**
 * Typed view of the packet I/O exports of the native addon (addon/node/*_binding.cc). Native
 * calls return a handle, a count, or a negative errno; they never throw. A call that can fail
 * takes a {@link NativeErrorDetail} as its last argument and names the failing step in it.
 */
import { native, type NativeErrorDetail } from '../native.ts';

export type { NativeErrorDetail };

/** Opaque native handle (a napi External). */
export type NativeHandle = object & { readonly __nativeHandle?: never };

/** Options understood by every ring-based native object (see addon/io/packet_ring.h RingOptions). */
export interface NativeRingOptions {
  ifname: string;
  netns?: string;
  blockSize?: number;
  blockCount?: number;
  frameSize?: number;
  retireTovMs?: number;
  txFrameSize?: number;
  txFrameCount?: number;
  rx?: boolean;
  tx?: boolean;
  promisc?: boolean;
  qdiscBypass?: boolean;
  ignoreOutgoing?: boolean;
  vnetHdr?: boolean;
  auxVlan?: boolean;
  fanoutGroup?: number;
  fanoutMode?: number;
  /** Encoded classic BPF program (8 bytes per instruction), attached before bind(). */
  filter?: Uint8Array;
}

export interface NativeGeneratorTemplate {
  dst: Uint8Array;
  src: Uint8Array;
  vlan?: number;
  size: number;
}

export interface NativeGeneratorOptions extends NativeRingOptions {
  templates: NativeGeneratorTemplate[];
  ratePps?: number;
  count?: number;
  durationMs?: number;
  cpu?: number;
  streamBase?: number;
  burst?: number;
}

export interface NativeGeneratorStats {
  sent: number;
  bytes: number;
  backpressure: number;
  elapsedNs: number;
  /** 0 or -errno of the hard error that stopped the generator. */
  error: number;
}

export interface NativeSinkStats {
  packets: number;
  bytes: number;
  lost: number;
  reordered: number;
  duplicates: number;
  malformed: number;
  other: number;
  kernelDrops: number;
  freezes: number;
  truncated: number;
  streams: number;
  latencyUs: { p50: number; p99: number; p999: number; max: number; samples: number };
  deliveryLatencyUs: { p50: number; p99: number; p999: number; max: number };
  perDst: Record<string, number>;
  error: number;
}

/** Per-batch descriptor layout written by portRecv (4 uint32 per frame). */
export const DESC_WORDS = 4;

export interface PacketIoNative {
  ioCounterNames(): string[];
  genStart(opts: NativeGeneratorOptions, onDone: () => void, detail?: NativeErrorDetail): NativeHandle | number;
  genStop(h: NativeHandle): void;
  genStats(h: NativeHandle): NativeGeneratorStats;
  genJoin(h: NativeHandle): NativeGeneratorStats;
  genCounters(h: NativeHandle): ArrayBuffer;
  sinkOpen(opts: NativeRingOptions & { cpu?: number }, detail?: NativeErrorDetail): NativeHandle | number;
  sinkStats(h: NativeHandle): NativeSinkStats;
  sinkReset(h: NativeHandle): void;
  sinkClose(h: NativeHandle): NativeSinkStats;
  sinkCounters(h: NativeHandle): ArrayBuffer;
}

/** The addon, typed for packet I/O. */
export function io(): PacketIoNative {
  return native() as unknown as PacketIoNative;
}

export interface NativePortInfo {
  fd: number;
  ifindex: number;
  rxBlockSize: number;
  rxBlockCount: number;
  txSlots: number;
  txSlotCapacity: number;
  vnetHdr: boolean;
}

export interface PacketPortNative {
  portOpen(opts: NativeRingOptions, detail?: NativeErrorDetail): NativeHandle | number;
  portInfo(h: NativeHandle): NativePortInfo;
  portRingBuffer(h: NativeHandle): ArrayBuffer;
  portCounters(h: NativeHandle): ArrayBuffer;
  /** Frames of the next ready block described in desc (4 words each); 0 when none; -errno. */
  portRecv(h: NativeHandle, desc: Uint32Array, reinsertVlan: boolean): number;
  portRelease(h: NativeHandle): void;
  portSend(h: NativeHandle, frames: Uint8Array[], withVnet: boolean): number;
  portFlush(h: NativeHandle): number;
  portTxInFlight(h: NativeHandle): number;
  portAttachFilter(h: NativeHandle, insns: Uint8Array): number;
  portUpdateStats(h: NativeHandle): number;
  /** Start the poll thread; cb(1, 0) = a block is ready, cb(2, -errno) = error (thread exited). */
  portStart(h: NativeHandle, cb: (kind: number, arg: number) => void): number;
  portArm(h: NativeHandle): void;
  portRef(h: NativeHandle, ref: boolean): void;
  portClose(h: NativeHandle): void;
}

/** The addon, typed for packet ports. */
export function portNative(): PacketPortNative {
  return native() as unknown as PacketPortNative;
}

export interface NativeTapOptions {
  ifname: string;
  netns?: string;
  tun?: boolean;
  vnetHdr?: boolean;
  vnetHdrSize?: number;
  offloads?: number;
  queues?: number;
  /** tun: IFF_MULTI_QUEUE 1/0; -1 or absent: when queues > 1. */
  multiQueue?: number;
}

export interface TapQueueNative {
  tapOpen(opts: NativeTapOptions, detail?: NativeErrorDetail): NativeHandle[] | number;
  tapInfo(h: NativeHandle): { fd: number; ifindex: number; vnetHdrSize: number };
  tapCounters(h: NativeHandle): ArrayBuffer;
  tapRead(h: NativeHandle, buf: Uint8Array, slotSize: number, lens: Uint32Array): number;
  tapWrite(h: NativeHandle, frames: Uint8Array[]): number;
  tapSetOffload(h: NativeHandle, flags: number): number;
  tapSetQueueEnabled(h: NativeHandle, on: boolean): number;
  tapStart(h: NativeHandle, cb: (kind: number, arg: number) => void): number;
  tapArm(h: NativeHandle): void;
  tapRef(h: NativeHandle, ref: boolean): void;
  tapClose(h: NativeHandle): void;
  tapDetach(h: NativeHandle): number;
}

/** The addon, typed for tap queues. */
export function tapNative(): TapQueueNative {
  return native() as unknown as TapQueueNative;
}
