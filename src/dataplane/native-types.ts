/** Types of the engine's native exports (addon/node/engine_binding.cc, table_binding.cc) and a typed accessor. */
import { native, type NativeErrorDetail } from '../native.ts';

export type { NativeErrorDetail };

/** Opaque native handle (a napi External). */
export type NativeHandle = { readonly __nativeHandle: unique symbol };

/** Output buffers of {@link EngineNative.decideBatch}. */
export interface DecideBatchOut {
  reasons: Uint8Array;
  uplink: Uint8Array;
  egressCount: Uint32Array;
  egress: Uint32Array;
  drops: BigUint64Array;
  forwarded: BigUint64Array;
  txPerSlot: BigUint64Array;
}

export interface EngineNative {
  /** Build a native port-table snapshot from PortTable.encode(). */
  tableCreate(blob: Uint8Array, maxSlots: number): { handle?: NativeHandle; errno?: number; message?: string };
  /** Run frames through the C++ parse + decide; frames processed or -errno. */
  decideBatch(
    table: NativeHandle,
    frames: Uint8Array,
    offsets: Uint32Array,
    lengths: Uint32Array,
    ingressSlots: Uint32Array,
    tci: Uint32Array | null,
    out: DecideBatchOut,
    /** learning mode: learned entries as [vlan, mac, slot] triples */
    fdb?: Float64Array,
  ): number;
  /** Create an engine: handle or -errno (detail.step says why, e.g. 'uplink "eth0": bind'). */
  engineCreate(opts: EngineCreateOptions, detail?: NativeErrorDetail): NativeHandle | number;
  engineStart(e: NativeHandle): number;
  engineStop(e: NativeHandle): number;
  engineDestroy(e: NativeHandle): number;
  /** Attach an egress/ingress backend to a slot (before or while running). 0 or -errno. */
  engineAttachPacket(e: NativeHandle, slot: number, ifname: string, opts: { ringBlockSize?: number; ringBlocks?: number; txFrames?: number }, detail?: NativeErrorDetail): number;
  engineAttachJs(e: NativeHandle, slot: number, cb: (data: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number) => void, detail?: NativeErrorDetail): number;
  engineAttachTap(e: NativeHandle, slot: number, ifname: string, queues: number, detail?: NativeErrorDetail): number;
  engineDetach(e: NativeHandle, slot: number): number;
  /** New uplink rings (the device was re-created), swapped in while running. 0 or -errno. */
  engineReplaceUplink(e: NativeHandle, detail?: NativeErrorDetail): number;
  /** fd events from the workers: kind 1 error read and cleared, 2 fd disarmed, 3 uplink replaced. */
  engineOnEvent(e: NativeHandle, cb: (kind: number, slot: number, queue: number, errno: number, worker: number) => void): number;
  /** Publish a new table (waits for workers to pass a quiescent point). 0 or -errno. */
  engineSetTable(e: NativeHandle, blob: Uint8Array, detail?: NativeErrorDetail): number;
  /** Frames from a JS port into the switch: frames queued or -errno. */
  engineInject(e: NativeHandle, slot: number, data: Uint8Array, offsets: Uint32Array, lengths: Uint32Array): number;
  /** Shared counters (BigUint64Array over engine memory; layout in addon/dataplane/engine_counters.h). */
  engineCounters(e: NativeHandle): BigUint64Array;
  engineLayout(e: NativeHandle): EngineLayout;
  /** XDP backend state: '' (not used), 'native' | 'generic', or why every frame goes to the rings. */
  engineXdpState(e: NativeHandle): string;
  /** The XDP program's own counters (indexes: XDP_STAT in xdp-program.ts) or -errno. */
  engineXdpStats(e: NativeHandle): number[] | number;
  /** Backend 'tc': probe the ports' devices again (veth peer in another namespace?): ports changed or -errno. */
  engineRefreshTcPeers(e: NativeHandle, detail?: NativeErrorDetail, slot?: number): number;
  /** Backend 'tc': 1 when the tc program delivers into the slot's veth peer (bpf_redirect_peer), else 0. */
  engineTcPeer(e: NativeHandle, slot: number): number;
}

export interface EngineCreateOptions {
  uplink: string;
  netns?: string;
  workers: number;
  maxSlots: number;
  learning: boolean;
  fanoutGroup: number;
  ringBlockSize?: number;
  ringBlocks?: number;
  txFrames?: number;
  promisc?: boolean;
  qdiscBypass?: boolean;
  portTxCopy?: boolean;
  /** Uplink RX backend: 'xdp' puts the XDP program in front of the rings (addon/engine_xdp.cc). */
  backend?: 'packet' | 'xdp' | 'tc';
  xdpGeneric?: boolean;
  /** With backend 'xdp': frames for userspace come up through AF_XDP sockets (default), or with
   * XDP_PASS to the AF_PACKET rings when false. */
  xdpSockets?: boolean;
  /** With backend 'tc': bpf_redirect_peer into a veth port whose peer is in another namespace (default true). */
  tcPeer?: boolean;
  cpus?: number[];
  ageingMs?: number;
  /** 0 adaptive (V2 ring at low rates, V3 blocks under load), 2 V2 only, 3 V3 only. */
  rxMode?: 0 | 2 | 3;
  /** Busy-poll this long after the last frame before sleeping in epoll. */
  spinUs?: number;
  sliceUs?: number;
  /** 1: fanout rollover between the uplink's V2 and V3 rings (default), 0: off. */
  rxRollover?: number;
  /** Uplink V2 ring slots (2 KiB each). */
  ringSlots?: number;
  /** SCHED_FIFO priority of the workers (0: normal scheduling). */
  realtimePriority?: number;
}

export interface EngineLayout {
  headerWords: number;
  workerWords: number;
  slotWords: number;
  workers: number;
  maxSlots: number;
  /** Index of fields inside a worker block / a slot block. */
  workerFields: Record<string, number>;
  /** MTU of the uplink device when the engine opened it (0: unknown). */
  uplinkMtu?: number;
  slotFields: Record<string, number>;
}

/** The addon, typed for the engine's exports. */
export function engineNative(): EngineNative {
  return native() as unknown as EngineNative;
}
