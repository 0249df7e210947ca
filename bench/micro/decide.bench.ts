/**
 * Frame parse and table lookup: the TypeScript oracle (src/dataplane parseFrame / decide, one call
 * per frame) against the native parse+decide (decideBatch: one N-API call per batch of 256), with
 * port tables of 2 and 4096 entries (the lookup is a hash: the per-frame cost should not grow).
 * Frames: 64-byte unicast from the uplink to the table's first two ports, round-robin.
 */
import { engineNative, type DecideBatchOut } from '../../src/dataplane/native-types.ts';
import { decide, parseFrame, NO_TCI, UPLINK } from '../../src/dataplane/decide.ts';
import { PortTable, type TableEntry } from '../../src/dataplane/port-table.ts';
import { DROP_REASON_COUNT } from '../../src/dataplane/drop-reasons.ts';
import { writeMac } from '../../src/dataplane/mac.ts';
import { runSuite, type MicroContext, type MicroResult } from '../micro-suite.ts';

const BATCH = 256;
const MAC_BASE = 0x026d64010000;
const SRC = 0x026d64000001;

function table(ports: number): PortTable {
  const entries: TableEntry[] = [];
  for (let i = 0; i < ports; i++) entries.push({ slot: i + 1, mac: MAC_BASE + i, vlan: 0, mode: 'bridge' });
  return new PortTable(entries);
}

function frames(): { data: Uint8Array; offsets: Uint32Array; lengths: Uint32Array; ingress: Uint32Array; views: Uint8Array[] } {
  const data = new Uint8Array(BATCH * 60);
  const offsets = new Uint32Array(BATCH);
  const lengths = new Uint32Array(BATCH).fill(60);
  const ingress = new Uint32Array(BATCH).fill(UPLINK);
  const views: Uint8Array[] = [];
  for (let i = 0; i < BATCH; i++) {
    const o = i * 60;
    offsets[i] = o;
    writeMac(data, o, MAC_BASE + (i % 2));
    writeMac(data, o + 6, SRC);
    data[o + 12] = 0x88;
    data[o + 13] = 0xb5;
    views.push(data.subarray(o, o + 60));
  }
  return { data, offsets, lengths, ingress, views };
}

export async function run(ctx: MicroContext): Promise<MicroResult[]> {
  const nat = engineNative();
  const f = frames();
  const cases: Record<string, () => void> = {};
  let sink = 0;
  cases['parse: TypeScript parseFrame (per frame)'] = () => {
    for (let i = 0; i < BATCH; i++) {
      const p = parseFrame(f.views[i]!, NO_TCI, false, 1514);
      sink += typeof p === 'number' ? p : p.dst & 1;
    }
  };
  for (const ports of [2, 4096]) {
    const t = table(ports);
    const created = nat.tableCreate(t.encode(), ports + 2);
    if (!created.handle) throw new Error(`tableCreate: ${created.message ?? created.errno}`);
    const handle = created.handle;
    const out: DecideBatchOut = {
      reasons: new Uint8Array(BATCH),
      uplink: new Uint8Array(BATCH),
      egressCount: new Uint32Array(BATCH),
      egress: new Uint32Array(BATCH * 4),
      drops: new BigUint64Array(DROP_REASON_COUNT),
      forwarded: new BigUint64Array(1),
      txPerSlot: new BigUint64Array(ports + 2),
    };
    // Check once that both agree on these frames before timing them.
    nat.decideBatch(handle, f.data, f.offsets, f.lengths, f.ingress, null, out);
    for (let i = 0; i < BATCH; i++) {
      const d = decide(t, f.views[i]!, UPLINK, NO_TCI);
      if (d.egress.length !== 1 || out.egressCount[i] !== 1 || d.egress[0] !== out.egress[i]) throw new Error(`native and oracle disagree on frame ${i}`);
    }
    cases[`parse+lookup: TypeScript oracle decide, ${ports} ports`] = () => {
      for (let i = 0; i < BATCH; i++) sink += decide(t, f.views[i]!, UPLINK, NO_TCI).egress.length;
    };
    cases[`parse+lookup: native decideBatch (${BATCH}/call), ${ports} ports`] = () => {
      sink += nat.decideBatch(handle, f.data, f.offsets, f.lengths, f.ingress, null, out);
    };
  }
  const results = runSuite(cases, BATCH, ctx);
  if (sink === -1) console.log(sink); // keep the work observable
  return results;
}
