/**
 * The port table as the TypeScript side sees it: the same content as the native snapshot
 * (addon/dataplane/port_table.h), used by the reference dispatcher (decide.ts) and serialized for the engine.
 */
import { InvalidArgumentError } from '../errors.ts';
import { MODE_BITS, type MacvlanMode } from './types.ts';
import { writeMac } from './mac.ts';

/** One row of the table. `slot` is the port's stable engine identity (1..maxSlots-1; 0 = uplink). */
export interface TableEntry {
  slot: number;
  mac: number;
  vlan: number;
  mode: MacvlanMode;
  nodst?: boolean;
  sourceMacs?: number[];
  multicastGroups?: number[] | undefined;
}

/** Ports of one VLAN: the flood domain (like the kernel's port->vlans of one lower device). */
export interface VlanDomain {
  vlan: number;
  members: number[]; // indexes into PortTable.entries, in order added
  passthru: number; // index or -1
}

/** Default largest frame accepted (untagged length, without FCS): 1500-byte MTU + 14. */
export const DEFAULT_MAX_FRAME_LEN = 1514;

/** Immutable table of ports with O(1) lookups. Throws InvalidArgumentError on conflicts. */
export class PortTable {
  readonly entries: readonly TableEntry[];
  readonly maxFrameLen: number;
  readonly domains: VlanDomain[] = [];
  /** vlan -> domain index */
  private readonly vlanToDomain = new Map<number, number>();
  /** vlan -> mac -> entry index */
  private readonly byMac = new Map<number, Map<number, number>>();
  /** vlan -> src mac -> source-mode entry indexes */
  private readonly bySource = new Map<number, Map<number, number[]>>();
  private readonly bySlot = new Map<number, number>();
  private readonly groups: (Set<number> | undefined)[] = [];

  constructor(entries: readonly TableEntry[], opts: { maxFrameLen?: number } = {}) {
    this.entries = entries;
    this.maxFrameLen = opts.maxFrameLen ?? DEFAULT_MAX_FRAME_LEN;
    entries.forEach((e, i) => {
      if (!Number.isInteger(e.slot) || e.slot < 1) throw new InvalidArgumentError(`entries[${i}].slot`, 'an integer >= 1', e.slot);
      if (this.bySlot.has(e.slot)) throw new InvalidArgumentError(`entries[${i}].slot`, 'a unique slot', e.slot);
      this.bySlot.set(e.slot, i);
      let d = this.vlanToDomain.get(e.vlan);
      if (d === undefined) {
        d = this.domains.length;
        this.domains.push({ vlan: e.vlan, members: [], passthru: -1 });
        this.vlanToDomain.set(e.vlan, d);
      }
      const dom = this.domains[d] as VlanDomain;
      if (dom.passthru >= 0 || (e.mode === 'passthru' && dom.members.length > 0))
        throw new InvalidArgumentError(`entries[${i}].mode`, `a passthru port to be the only port of VLAN ${e.vlan}`, e.mode);
      if (e.mode === 'passthru') dom.passthru = i;
      dom.members.push(i);
      let macs = this.byMac.get(e.vlan);
      if (!macs) this.byMac.set(e.vlan, (macs = new Map()));
      if (macs.has(e.mac)) throw new InvalidArgumentError(`entries[${i}].mac`, `a MAC not used by another port of VLAN ${e.vlan}`, e.mac);
      macs.set(e.mac, i);
      if (e.mode === 'source') {
        let srcs = this.bySource.get(e.vlan);
        if (!srcs) this.bySource.set(e.vlan, (srcs = new Map()));
        for (const m of e.sourceMacs ?? []) {
          let l = srcs.get(m);
          if (!l) srcs.set(m, (l = []));
          if (!l.includes(i)) l.push(i);
        }
      }
      this.groups.push(e.multicastGroups ? new Set(e.multicastGroups) : undefined);
    });
  }

  /** Entry index owning (vlan, mac), or -1. */
  lookup(vlan: number, mac: number): number {
    return this.byMac.get(vlan)?.get(mac) ?? -1;
  }
  /** Source-mode entry indexes listing src in VLAN vlan (in entry order). */
  sourceMatches(vlan: number, src: number): readonly number[] {
    return this.bySource.get(vlan)?.get(src) ?? EMPTY;
  }
  /** Domain of a VLAN, or undefined. */
  domainOf(vlan: number): VlanDomain | undefined {
    const d = this.vlanToDomain.get(vlan);
    return d === undefined ? undefined : this.domains[d];
  }
  /** Entry index of a slot, or -1. */
  indexOfSlot(slot: number): number {
    return this.bySlot.get(slot) ?? -1;
  }
  /** Whether entry i accepts multicast group g (true when it declared no groups). */
  acceptsGroup(i: number, g: number): boolean {
    const s = this.groups[i];
    return s === undefined || s.has(g);
  }

  /** Serialized form for the native engine (layout documented in addon/dataplane/port_table.h). */
  encode(): Uint8Array {
    let size = 16;
    for (const e of this.entries)
      size += 20 + 6 * ((e.mode === 'source' ? (e.sourceMacs?.length ?? 0) : 0) + (e.multicastGroups?.length ?? 0));
    const buf = new Uint8Array(size);
    const dv = new DataView(buf.buffer);
    dv.setUint32(0, 0x5458444d, true);
    dv.setUint32(4, 1, true);
    dv.setUint32(8, this.entries.length, true);
    dv.setUint32(12, this.maxFrameLen, true);
    let o = 16;
    for (const e of this.entries) {
      const srcs = e.mode === 'source' ? (e.sourceMacs ?? []) : [];
      const grps = e.multicastGroups ?? [];
      dv.setUint32(o, e.slot, true);
      writeMac(buf, o + 4, e.mac);
      dv.setUint16(o + 10, e.vlan, true);
      buf[o + 12] = MODE_BITS[e.mode];
      buf[o + 13] = (e.nodst ? 1 : 0) | (e.multicastGroups ? 2 : 0);
      dv.setUint16(o + 14, srcs.length, true);
      dv.setUint16(o + 16, grps.length, true);
      o += 20;
      for (const m of srcs) {
        writeMac(buf, o, m);
        o += 6;
      }
      for (const g of grps) {
        writeMac(buf, o, g);
        o += 6;
      }
    }
    return buf;
  }
}

const EMPTY: readonly number[] = Object.freeze([]);
