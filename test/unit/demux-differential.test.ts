/**
 * Differential test: random frames through the C++ decision (addon/dataplane/decision.h via decideBatch) and the
 * TypeScript oracle (src/dataplane/decide.ts) must give identical delivery sets and counters.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decide, NO_TCI, UPLINK } from '../../src/dataplane/decide.ts';
import { engineNative, type DecideBatchOut } from '../../src/dataplane/native-types.ts';
import { DROP_REASON_COUNT } from '../../src/dataplane/drop-reasons.ts';
import { makeFrames, makeScenario } from './demux-random.ts';
import { seededRandom as rng } from '../support.ts';

const TOTAL_FRAMES = Number(process.env.MDX_DIFF_FRAMES ?? 1_000_000);
const MAX_SLOTS = 8192;

test(`C++ decision == TypeScript oracle on ${TOTAL_FRAMES} random frames`, () => {
  const nat = engineNative();
  const r = rng(0xdecade);
  const perBatch = 20_000;
  let done = 0;
  let scenarioIdx = 0;
  const totals = { forwarded: 0, dropped: 0, egress: 0, uplinkTx: 0 };
  const reasonSeen = new Set<number>();
  const modesSeen = new Set<string>();
  while (done < TOTAL_FRAMES) {
    const s = makeScenario(r, scenarioIdx++);
    for (const e of s.table.entries) modesSeen.add(e.mode);
    const created = nat.tableCreate(s.table.encode(), MAX_SLOTS);
    assert.ok(created.handle, `tableCreate failed: ${created.message}`);
    const n = Math.min(perBatch, TOTAL_FRAMES - done);
    const b = makeFrames(r, s, n);
    const useTci = scenarioIdx % 2 === 0;
    // Every fourth scenario runs in learning mode with a random learned FDB (remote MACs behind ports,
    // some behind ports of another VLAN or behind removed ports: those must be ignored).
    const learning = scenarioIdx % 4 === 2;
    const fdbMap = new Map<string, number>();
    const fdbTriples: number[] = [];
    if (learning) {
      for (const mac of s.remoteMacs) {
        if (r() < 0.3) continue;
        const vlan = s.vlans[Math.floor(r() * s.vlans.length)]!;
        const slot = r() < 0.1 ? 7777 : s.slots[Math.floor(r() * s.slots.length)] ?? 7777;
        fdbMap.set(`${vlan}:${mac}`, slot);
        fdbTriples.push(vlan, mac, slot);
      }
    }
    const fdb = learning ? { lookup: (vlan: number, mac: number) => fdbMap.get(`${vlan}:${mac}`) } : undefined;
    const out: DecideBatchOut = {
      reasons: new Uint8Array(n),
      uplink: new Uint8Array(n),
      egressCount: new Uint32Array(n),
      egress: new Uint32Array(n * (s.table.entries.length * 2 + 4)),
      drops: new BigUint64Array(DROP_REASON_COUNT),
      forwarded: new BigUint64Array(1),
      txPerSlot: new BigUint64Array(MAX_SLOTS),
    };
    const rc = learning
      ? nat.decideBatch(created.handle!, b.data, b.offsets, b.lengths, b.ingress, useTci ? b.tci : null, out, new Float64Array(fdbTriples))
      : nat.decideBatch(created.handle!, b.data, b.offsets, b.lengths, b.ingress, useTci ? b.tci : null, out);
    assert.equal(rc, n);
    // Oracle.
    const drops = new Array<number>(DROP_REASON_COUNT).fill(0);
    const tx = new Map<number, number>();
    let forwarded = 0;
    let eo = 0;
    for (let i = 0; i < n; i++) {
      const frame = b.data.subarray(b.offsets[i], b.offsets[i]! + b.lengths[i]!);
      const d = decide(s.table, frame, b.ingress[i]!, useTci ? b.tci[i]! : NO_TCI, fdb);
      const cnt = out.egressCount[i]!;
      const nativeEgress = Array.from(out.egress.subarray(eo, eo + cnt)).sort((x, y) => x - y);
      eo += cnt;
      const oracleEgress = [...d.egress].sort((x, y) => x - y);
      if (out.reasons[i] !== d.reason || out.uplink[i] !== (d.uplink ? 1 : 0) || nativeEgress.join() !== oracleEgress.join()) {
        assert.fail(
          `frame ${done + i} (scenario ${scenarioIdx - 1}${learning ? ' learning' : ''}, ingress ${b.ingress[i]}, tci ${b.tci[i]}, ` +
            `bytes ${Buffer.from(frame.subarray(0, 18)).toString('hex')}): native reason=${out.reasons[i]} ` +
            `uplink=${out.uplink[i]} egress=[${nativeEgress}] vs oracle reason=${d.reason} uplink=${d.uplink} ` +
            `egress=[${oracleEgress}]; table=${JSON.stringify(s.table.entries)}`,
        );
      }
      reasonSeen.add(d.reason);
      if (d.reason !== 0) {
        drops[d.reason]!++;
        continue;
      }
      forwarded++;
      for (const e of d.egress) tx.set(e, (tx.get(e) ?? 0) + 1);
      if (d.uplink) tx.set(0, (tx.get(0) ?? 0) + 1);
      totals.egress += d.egress.length;
      if (d.uplink) totals.uplinkTx++;
    }
    assert.deepEqual(Array.from(out.drops, Number), drops, 'drop counters');
    assert.equal(Number(out.forwarded[0]), forwarded, 'forwarded counter');
    for (const [slot, c] of tx) assert.equal(Number(out.txPerSlot[slot]), c, `tx counter of slot ${slot}`);
    const nativeTxTotal = out.txPerSlot.reduce((a, v) => a + v, 0n);
    assert.equal(Number(nativeTxTotal), [...tx.values()].reduce((a, v) => a + v, 0), 'tx totals');
    // rx = forwarded + dropped
    assert.equal(forwarded + drops.reduce((a, v) => a + v, 0), n);
    totals.forwarded += forwarded;
    totals.dropped += n - forwarded;
    done += n;
  }
  // The stream must have exercised every mode and every decision outcome (else the test proves little).
  for (const m of ['private', 'vepa', 'bridge', 'passthru', 'source']) assert.ok(modesSeen.has(m), `mode ${m} exercised`);
  for (const reason of [0, 1, 2, 3, 4, 5, 6, 7, 8]) assert.ok(reasonSeen.has(reason), `outcome ${reason} exercised`);
  assert.ok(totals.egress > 0 && totals.uplinkTx > 0);
});
