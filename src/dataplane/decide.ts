/**
 * The reference dispatcher (the oracle): frame + ingress -> egress set, with the kernel macvlan
 * rules (drivers/net/macvlan.c). A line-by-line twin of addon/dataplane/decision.h + addon/dataplane/frame_parse.h, written
 * for clarity rather than speed; the differential test requires both to agree on every frame.
 */
import { DropReason } from './drop-reasons.ts';
import { macToNumber } from '../net/index.ts';
import { BROADCAST_MAC } from './mac.ts';
import { MODE_BITS } from './types.ts';
import type { PortTable, VlanDomain } from './port-table.ts';

/** Ingress slot of the uplink. */
export const UPLINK = 0;
/** "No VLAN metadata" marker for the tci argument. */
export const NO_TCI = 0xffffffff;

const ETH_P_8021Q = 0x8100;
const ETH_P_8021AD = 0x88a8;
const ETH_P_PAUSE = 0x8808;

const M_PRIVATE = MODE_BITS.private;
const M_VEPA = MODE_BITS.vepa;
const M_BRIDGE = MODE_BITS.bridge;
const M_PASSTHRU = MODE_BITS.passthru;

/** Result of {@link decide}. */
export interface Delivery {
  /** 0 when delivered somewhere, else the DropReason value. */
  reason: number;
  /** Egress port slots (may repeat a slot when the kernel would deliver twice). */
  egress: number[];
  /** Also transmitted on the uplink. */
  uplink: boolean;
  /** VLAN tag to add on the uplink (0 = none). */
  uplinkVlan: number;
}

/**
 * Learning mode (not macvlan): the learned FDB, (vlan, mac) -> slot. Consulted only when the
 * static table has no owner; a learned port must still exist and be in the frame's VLAN.
 */
export interface LearnedMacs {
  lookup(vlan: number, mac: number): number | undefined;
}

/** A parsed Ethernet header. */
export interface Parsed {
  dst: number;
  src: number;
  vlan: number;
  ethertype: number;
  /** Frame has an inline outer 802.1Q/802.1ad tag (bytes 12..15). */
  inlineTag: boolean;
}

/** Parse (bounds-checked); returns a DropReason value (>0) when the frame is unusable. */
export function parseFrame(f: Uint8Array, tci: number, parseTag: boolean, maxFrameLen: number): Parsed | number {
  const len = f.length;
  if (len < 14) return DropReason.runt;
  let et = (f[12] as number) * 256 + (f[13] as number);
  let vlan = 0;
  let inlineTag = false;
  let untagged = len;
  if (parseTag && tci !== NO_TCI) {
    vlan = tci & 0x0fff;
  } else if (parseTag && (et === ETH_P_8021Q || et === ETH_P_8021AD)) {
    if (len < 18) return DropReason.runt;
    vlan = ((f[14] as number) * 256 + (f[15] as number)) & 0x0fff;
    inlineTag = true;
    et = (f[16] as number) * 256 + (f[17] as number);
    untagged = len - 4;
  }
  if (untagged > maxFrameLen) return DropReason.oversized;
  if (vlan === 0x0fff) return DropReason.malformed;
  if (((f[6] as number) & 1) === 1) return DropReason.malformed;
  return { dst: macToNumber(f, 0), src: macToNumber(f, 6), vlan, ethertype: et, inlineTag };
}

const isMulticast = (mac: number): boolean => Math.floor(mac / 2 ** 40) % 2 === 1;

/**
 * Decide where a frame goes.
 * @param table the port table
 * @param frame the frame bytes (from the uplink: as on the wire, the VLAN tag inline or in `tci`;
 *   from a port: as the port sent it, the port's VLAN applies)
 * @param ingress UPLINK (0) or the slot of the port that sent the frame
 * @param tci VLAN TCI metadata (AF_PACKET auxdata) or NO_TCI
 * @param fdb learning mode: the learned MACs (absent = macvlan semantics, no learning)
 */
export function decide(table: PortTable, frame: Uint8Array, ingress: number, tci: number = NO_TCI, fdb?: LearnedMacs): Delivery {
  const out: Delivery = { reason: 0, egress: [], uplink: false, uplinkVlan: 0 };
  let ingressIdx = -1;
  if (ingress !== UPLINK) {
    ingressIdx = table.indexOfSlot(ingress);
    if (ingressIdx < 0) return drop(out, DropReason.ingressGone);
  }
  const p = parseFrame(frame, tci, ingress === UPLINK, table.maxFrameLen);
  if (typeof p === 'number') return drop(out, p);
  const idx: number[] = [];
  if (ingress === UPLINK) {
    const dom = table.domainOf(p.vlan);
    if (!dom) return drop(out, DropReason.unknownVlan);
    out.reason = lowerDeviceRx(table, p, dom, idx, fdb);
  } else {
    const port = table.entries[ingressIdx]!;
    out.uplinkVlan = port.vlan;
    let handled = false;
    if (port.mode === 'bridge') {
      if (isMulticast(p.dst)) {
        if (p.ethertype !== ETH_P_PAUSE) broadcast(table, table.domainOf(port.vlan)!, ingressIdx, M_BRIDGE, p.dst, idx);
        out.uplink = true;
        handled = true;
      } else {
        let dest = table.lookup(port.vlan, p.dst);
        if (dest < 0 && fdb) dest = learned(table, fdb, port.vlan, p.dst);
        if (dest >= 0 && table.entries[dest]!.mode === 'bridge') {
          out.reason = lowerDeviceRx(table, { ...p, vlan: port.vlan }, table.domainOf(port.vlan)!, idx, fdb);
          handled = true;
        }
      }
    }
    if (!handled) out.uplink = true;
  }
  out.egress = idx.map((i) => table.entries[i]!.slot);
  if (out.egress.length > 0 || out.uplink) out.reason = 0;
  return out;
}

function drop(out: Delivery, reason: number): Delivery {
  out.reason = reason;
  return out;
}

/** macvlan_forward_source: true when a matching port has nodst (frame consumed). */
function forwardSource(t: PortTable, vlan: number, src: number, idx: number[]): boolean {
  let consume = false;
  for (const i of t.sourceMatches(vlan, src)) {
    idx.push(i);
    if (t.entries[i]!.nodst) consume = true;
  }
  return consume;
}

/** Entry index of a learned MAC (in the frame's VLAN), or -1. */
function learned(t: PortTable, fdb: LearnedMacs, vlan: number, mac: number): number {
  const slot = fdb.lookup(vlan, mac);
  if (slot === undefined) return -1;
  const i = t.indexOfSlot(slot);
  return i >= 0 && t.entries[i]!.vlan === vlan ? i : -1;
}

/** macvlan_broadcast over one VLAN domain. */
function broadcast(t: PortTable, dom: VlanDomain, except: number, mask: number, dst: number, idx: number[]): void {
  // declared multicast groups filter multicast only (not broadcast, not a learning-mode unicast flood)
  const groupFilter = isMulticast(dst) && dst !== BROADCAST_MAC;
  for (const i of dom.members) {
    if (i === except) continue;
    if ((MODE_BITS[t.entries[i]!.mode] & mask) === 0) continue;
    if (groupFilter && !t.acceptsGroup(i, dst)) continue;
    idx.push(i);
  }
}

/** macvlan_handle_frame; returns the drop reason used when nothing is delivered. */
function lowerDeviceRx(t: PortTable, p: Parsed, dom: VlanDomain, idx: number[], fdb?: LearnedMacs): number {
  if (isMulticast(p.dst)) {
    if (forwardSource(t, p.vlan, p.src, idx)) return 0;
    const s = t.lookup(p.vlan, p.src);
    const sMode = s >= 0 ? t.entries[s]!.mode : undefined;
    if (s >= 0 && sMode !== 'vepa' && sMode !== 'bridge') {
      idx.push(s); // reflected frame of a private/passthru/source port: back to it only
      return 0;
    }
    if (p.ethertype === ETH_P_PAUSE) return DropReason.pause;
    const mask = s < 0 ? M_PRIVATE | M_VEPA | M_PASSTHRU | M_BRIDGE : sMode === 'vepa' ? M_VEPA | M_BRIDGE : M_VEPA;
    broadcast(t, dom, s, mask, p.dst, idx);
    return DropReason.noReceiver;
  }
  if (forwardSource(t, p.vlan, p.src, idx)) return 0;
  let target = dom.passthru >= 0 ? dom.passthru : t.lookup(p.vlan, p.dst);
  if (target < 0 && dom.passthru < 0 && fdb) {
    target = learned(t, fdb, p.vlan, p.dst);
    if (target < 0) {
      // learning mode floods unknown unicast like a bridge
      broadcast(t, dom, -1, M_PRIVATE | M_VEPA | M_BRIDGE, p.dst, idx);
      return DropReason.unknownUnicast;
    }
  }
  if (target < 0 || t.entries[target]!.mode === 'source') return DropReason.unknownUnicast;
  idx.push(target);
  return 0;
}
