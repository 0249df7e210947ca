/**
 * A minimal native relay between two interfaces through two AF_PACKET ports (addon/tools/relay.cc):
 * frames received on one side are sent out of the other, in both directions, on one native
 * thread. With vnetHdr (default) GSO super-frames keep their virtio_net_hdr, so a TCP stream with
 * veth offloads on passes intact. Used by tests; the engine does the same per port.
 */
import { InvalidArgumentError, systemError } from '../errors.ts';
import { PortCountersView } from './counters.ts';
import { openError } from './io-error.ts';
import { native } from '../native.ts';
import type { NativeErrorDetail, NativeHandle, NativeRingOptions } from './native-types.ts';
import { validateIfname } from '../net/index.ts';
import { checkOptionalBool, checkOptionalString } from './options.ts';

export interface RelaySide {
  ifname: string;
  netns?: string;
}

export interface RelayOptions {
  a: RelaySide;
  b: RelaySide;
  /** Carry the virtio_net_hdr (PACKET_VNET_HDR) so GSO/TSO frames pass (default true). */
  vnetHdr?: boolean;
  /** Promiscuous mode on both sides (default true: a relay forwards frames for any MAC). */
  promisc?: boolean;
}

export interface RelayStats {
  forwardedAB: number;
  forwardedBA: number;
  droppedAB: number;
  droppedBA: number;
}

export interface Relay {
  /** Live counters of side a and side b. */
  readonly counters: [PortCountersView, PortCountersView];
  /** Stop the thread and close both ports. Rejects when the relay had stopped on an error. */
  stop(): Promise<RelayStats>;
}

interface RelayNative {
  relayStart(a: NativeRingOptions, b: NativeRingOptions, detail?: NativeErrorDetail): NativeHandle | number;
  relayStop(h: NativeHandle): RelayStats & { error: number };
  relayCounters(h: NativeHandle, side: number): ArrayBuffer;
}

/** Start a relay between two interfaces. */
export function startRelay(opts: RelayOptions): Relay {
  if (typeof opts !== 'object' || opts === null) throw new InvalidArgumentError('options', 'an object', opts);
  const vnetHdr = checkOptionalBool(opts.vnetHdr, 'vnetHdr') ?? true;
  const promisc = checkOptionalBool(opts.promisc, 'promisc') ?? true;
  const side = (s: RelaySide, f: string): NativeRingOptions => {
    if (typeof s !== 'object' || s === null) throw new InvalidArgumentError(f, 'an object { ifname, netns? }', s);
    const netns = checkOptionalString(s.netns, `${f}.netns`);
    return {
      ifname: validateIfname(s.ifname, `${f}.ifname`),
      ...(netns ? { netns } : {}),
      vnetHdr,
      promisc,
      retireTovMs: 1,
      blockSize: 1 << 20,
      blockCount: 8,
    };
  };
  const a = side(opts.a, 'a');
  const b = side(opts.b, 'b');
  const n = native() as unknown as RelayNative;
  const detail: NativeErrorDetail = {};
  const h = n.relayStart(a, b, detail);
  if (typeof h === 'number') throw openError(h, 'relay', { ifname: `${a.ifname}|${b.ifname}`, detail });
  let result: RelayStats | undefined;
  return {
    counters: [new PortCountersView(n.relayCounters(h, 0)), new PortCountersView(n.relayCounters(h, 1))],
    stop: async () => {
      if (result) return result;
      const { error, ...stats } = n.relayStop(h);
      result = stats;
      if (error < 0) throw systemError(error, 'poll', { what: 'relay', ifname: `${a.ifname}|${b.ifname}` });
      return stats;
    },
  };
}
