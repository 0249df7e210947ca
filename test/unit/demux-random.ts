/**
 * Random port tables and frame streams for the differential tests (the C++ decision and the XDP
 * program against the TypeScript oracle): every mode, VLANs, passthru, source lists, declared
 * groups, runts, oversized frames, inline and metadata tags, pause frames, malformed sources.
 */
import { PortTable, type TableEntry } from '../../src/dataplane/port-table.ts';
import { NO_TCI, UPLINK } from '../../src/dataplane/decide.ts';
import { writeMac, BROADCAST_MAC } from '../../src/dataplane/mac.ts';
import type { MacvlanMode } from '../../src/dataplane/types.ts';

export interface Scenario {
  table: PortTable;
  slots: number[];
  ownMacs: number[];
  remoteMacs: number[];
  groups: number[];
  vlans: number[];
}

export function randomUnicastMac(r: () => number): number {
  // locally administered unicast: first byte 0x02 | random even bits
  const b0 = ((Math.floor(r() * 64) << 2) | 0x02) & 0xfe;
  return b0 * 2 ** 40 + Math.floor(r() * 2 ** 40);
}

export function makeScenario(r: () => number, seedIdx: number): Scenario {
  const modes: MacvlanMode[] = ['private', 'vepa', 'bridge', 'source'];
  const vlanChoices = seedIdx % 3 === 0 ? [0] : [0, 10, 20];
  const nPorts = seedIdx % 7 === 6 ? 300 : 1 + Math.floor(r() * 12);
  const remoteMacs = Array.from({ length: 8 }, () => randomUnicastMac(r));
  const groups = [0x01005e000001, 0x333300000001, 0x01005e7f0102, 0x0180c2000001];
  const entries: TableEntry[] = [];
  const ownMacs: number[] = [];
  const used = new Set<string>();
  const passthruVlans = new Set<number>();
  // Some scenarios put a passthru port alone in one VLAN.
  if (seedIdx % 5 === 4) passthruVlans.add(vlanChoices[vlanChoices.length - 1]!);
  let slot = 1 + Math.floor(r() * 50);
  for (const v of passthruVlans) {
    const mac = randomUnicastMac(r);
    entries.push({ slot: slot++, mac, vlan: v, mode: 'passthru' });
    ownMacs.push(mac);
    used.add(`${v}:${mac}`);
  }
  for (let i = 0; i < nPorts; i++) {
    const vlan = vlanChoices[Math.floor(r() * vlanChoices.length)]!;
    if (passthruVlans.has(vlan)) continue;
    // Reuse a MAC in another VLAN sometimes: (vlan, mac) is the key.
    const mac = ownMacs.length > 0 && r() < 0.15 ? ownMacs[Math.floor(r() * ownMacs.length)]! : randomUnicastMac(r);
    if (used.has(`${vlan}:${mac}`)) continue;
    used.add(`${vlan}:${mac}`);
    const mode = modes[Math.floor(r() * modes.length)]!;
    const e: TableEntry = { slot: slot, mac, vlan, mode };
    slot += 1 + Math.floor(r() * 3);
    if (mode === 'source') {
      const pool = [...remoteMacs, ...ownMacs];
      e.sourceMacs = Array.from({ length: 1 + Math.floor(r() * 3) }, () => pool[Math.floor(r() * pool.length)]!);
      e.nodst = r() < 0.3;
    }
    if (r() < 0.2) e.multicastGroups = groups.filter(() => r() < 0.5);
    entries.push(e);
    ownMacs.push(mac);
  }
  const table = new PortTable(entries, { maxFrameLen: 1514 });
  return { table, slots: entries.map((e) => e.slot), ownMacs, remoteMacs, groups, vlans: [...vlanChoices, 30] };
}

export interface Batch {
  data: Uint8Array;
  offsets: Uint32Array;
  lengths: Uint32Array;
  ingress: Uint32Array;
  tci: Uint32Array;
}

export function makeFrames(r: () => number, s: Scenario, n: number): Batch {
  const bufs: Uint8Array[] = [];
  const ingress = new Uint32Array(n);
  const tci = new Uint32Array(n).fill(NO_TCI);
  const pick = <T>(a: T[]): T => a[Math.floor(r() * a.length)]!;
  for (let i = 0; i < n; i++) {
    const fromUplink = r() < 0.6 || s.slots.length === 0;
    ingress[i] = fromUplink ? UPLINK : r() < 0.03 ? 9999 : pick(s.slots);
    const kind = r();
    let dst: number;
    if (kind < 0.35) dst = pick(s.ownMacs.length ? s.ownMacs : s.remoteMacs);
    else if (kind < 0.5) dst = pick(s.remoteMacs);
    else if (kind < 0.7) dst = BROADCAST_MAC;
    else dst = pick(s.groups);
    const srcKind = r();
    let src: number;
    if (srcKind < 0.45) src = pick(s.ownMacs.length ? s.ownMacs : s.remoteMacs); // reflected / own
    else if (srcKind < 0.97) src = pick(s.remoteMacs);
    else src = 0x010000000001; // multicast source: malformed
    const sizeKind = r();
    let len = sizeKind < 0.03 ? Math.floor(r() * 18) : sizeKind < 0.06 ? 1515 + Math.floor(r() * 40) : 60 + Math.floor(r() * 200);
    const tagKind = r();
    const vlan = pick(s.vlans);
    let inline = false;
    if (fromUplink && vlan !== 0) {
      if (tagKind < 0.5) tci[i] = (Math.floor(r() * 8) << 13) | vlan;
      else inline = true;
    } else if (tagKind < 0.02) {
      tci[i] = 4095; // reserved VID
    } else if (tagKind < 0.05) {
      inline = true; // tagged frame from a port (payload) or VLAN 0 priority tag from the uplink
    }
    const f = new Uint8Array(Math.max(0, len));
    if (len >= 6) writeMac(f, 0, dst);
    else for (let k = 0; k < len; k++) f[k] = 0xff;
    if (len >= 12) writeMac(f, 6, src);
    const et = r() < 0.05 ? 0x8808 : 0x0800;
    if (inline && len >= 18) {
      f[12] = r() < 0.8 ? 0x81 : 0x88;
      f[13] = f[12] === 0x81 ? 0x00 : 0xa8;
      const t = fromUplink ? vlan : Math.floor(r() * 4096);
      f[14] = (t >> 8) & 0x0f;
      f[15] = t & 0xff;
      f[16] = et >> 8;
      f[17] = et & 0xff;
    } else if (len >= 14) {
      f[12] = et >> 8;
      f[13] = et & 0xff;
    }
    if (len > 18) for (let k = 18; k < Math.min(len, 40); k++) f[k] = Math.floor(r() * 256);
    bufs.push(f);
    len = f.length;
  }
  const total = bufs.reduce((a, b) => a + b.length, 0);
  const data = new Uint8Array(total);
  const offsets = new Uint32Array(n);
  const lengths = new Uint32Array(n);
  let o = 0;
  bufs.forEach((b, i) => {
    data.set(b, o);
    offsets[i] = o;
    lengths[i] = b.length;
    o += b.length;
  });
  return { data, offsets, lengths, ingress, tci };
}

