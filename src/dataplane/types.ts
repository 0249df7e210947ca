/** Public types of the userspace switch (src/dataplane): modes, port specs, backends, counters. */

import type { MacvlanMode } from '../net/index.ts';

export type { MacvlanMode };

/** Mode bits, equal to the kernel's enum macvlan_mode (shared with addon/dataplane/port_table.h). */
export const MODE_BITS: Record<MacvlanMode, number> = {
  private: 1,
  vepa: 2,
  bridge: 4,
  passthru: 8,
  source: 16,
};

/** A batch of frames handed to a JS port, or injected by one. Frame i is
 * `data.subarray(offsets[i], offsets[i] + lengths[i])`. The views are valid only during the call. */
export interface SwitchFrameBatch {
  readonly count: number;
  readonly data: Uint8Array;
  readonly offsets: Uint32Array;
  readonly lengths: Uint32Array;
  /** Copy frame i out (when it must outlive the callback). */
  frame(i: number): Uint8Array;
}

/** Where a port's frames go to and come from. */
export type PortBackend =
  /** An AF_PACKET port on a device (e.g. a veth into a namespace). */
  | { kind: 'packet'; ifname: string }
  /** A macvtap or tap device, opened with `queues` queues (multiqueue). */
  | { kind: 'tap'; ifname: string; queues?: number }
  /** Frames to a JS handler, in batches. Frames from JS: {@link Switch.inject}. */
  | { kind: 'js'; onFrames(batch: SwitchFrameBatch): void };

/** One virtual port of the switch. */
export interface PortSpec {
  /** Unique name (for counters, removePort, setPortMode). */
  name: string;
  /** The port's MAC: frames for it are delivered to this port. */
  mac: string;
  /** Forwarding mode (default: the switch's default mode, 'bridge' unless set). */
  mode?: MacvlanMode;
  /** 802.1Q VLAN id 1..4094: the port sees untagged frames of this VLAN; its transmit is tagged on the uplink. */
  vlan?: number;
  /** Source mode: the remote MACs whose frames this port receives. */
  sourceMacs?: string[];
  /** Source mode: consume matching frames (no destination delivery), like MACVLAN_FLAG_NODST. */
  nodst?: boolean;
  /** Multicast groups the port joined. When given, only these groups (and broadcast) are delivered;
   * when absent all multicast of the mode's domain is flooded to it (userspace cannot see joins). */
  multicastGroups?: string[];
  backend: PortBackend;
}

/** Counters of one port (or the uplink). */
export interface PortCounters {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  /** Frames that could not be queued for transmit on this port (ring full, JS queue full). */
  txDropped: number;
  /** Frames received on this port that were dropped (by any reason). */
  rxDropped: number;
  /** Frames received on this port that went somewhere. */
  forwarded: number;
  /** Frames the kernel dropped because this port's (or the uplink's) RX ring was full. */
  ringDrops: number;
}

/** Snapshot of all counters. Invariant: rxFrames = forwarded + sum(drops). */
export interface SwitchCounters {
  uplink: PortCounters;
  ports: Record<string, PortCounters>;
  rxFrames: number;
  forwarded: number;
  drops: Record<string, number>;
  /** Per worker. fdErrors: ring errors read and cleared (ENETDOWN: link down); fdDisarmed: fds
   * taken out of the poll set (device gone); uplinkSwaps: uplink rings replaced. */
  workers: {
    rxFrames: number;
    forwarded: number;
    loops: number;
    txDropped: number;
    fdErrors: number;
    fdDisarmed: number;
    uplinkSwaps: number;
    /** Adaptive receive: switches between the uplink's V2 and V3 ring, and the one in use (2 or 3). */
    rxModeSwitches: number;
    rxMode: number;
    /** Fanout member order found swapped (a flap re-links the members) and fixed. */
    rxRemaps: number;
    /** epoll waits that slept (no frame within the spin budget). */
    sleeps: number;
    /** Kernel drops (ring full) of the uplink's V2 and V3 ring, counted apart. */
    rxV2Drops: number;
    rxV3Drops: number;
    /** Frames the kernel put on the other uplink ring because the selected one was full (fanout rollover). */
    rxRollovers: number;
    /** Busy-poll passes that found nothing (the cost of spinning). */
    spins: number;
  }[];
  /**
   * Offloads completed in software for egresses that cannot take a virtio_net_hdr (JS ports):
   * checksums completed, GSO super-frames segmented, the segments they made, frames refused.
   */
  softOffload: { checksums: number; gsoFrames: number; segments: number; refused: number };
}
