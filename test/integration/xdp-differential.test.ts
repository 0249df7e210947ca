/**
 * Differential test of the XDP backend: random port tables (test/unit/demux-random.ts, the generator
 * of the C++/TypeScript differential test) loaded into the XDP program's maps, random frames from the
 * uplink run through the loaded program with BPF_PROG_RUN, and each verdict compared with the
 * TypeScript oracle (src/dataplane/decide.ts):
 *   - XDP_DROP: the oracle drops it, and the program counted the oracle's reason;
 *   - XDP_REDIRECT: exactly the oracle's delivery, finished in the kernel — one kernel port (the slot's
 *     counter moved; the frame as the port must see it: untagged) or the VLAN's whole flood set
 *     through its flood devmap;
 *   - to the engine, which runs the same Decide — XDP_PASS, or (second half of the stream, with an
 *     AF_XDP socket bound to the queue and registered in the xskmap) XDP_REDIRECT into that socket,
 *     counted as toXsk: allowed for anything, but required to be rare where the kernel can finish
 *     alone — the cases listed in mustFinishInKernel() never go up; with the socket, none is passed.
 * Ports are "kernel devices" at random (in a lab namespace, every one is its lo: BPF_PROG_RUN does
 * not transmit), the rest userspace ports.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withLab } from '../../src/lab/index.ts';
import { decide, NO_TCI, UPLINK, type Delivery } from '../../src/dataplane/decide.ts';
import { DropReason } from '../../src/dataplane/drop-reasons.ts';
import { XdpProgram, XDP_ACTION, XDP_STAT } from '../../src/dataplane/xdp-program.ts';
import { PortTable } from '../../src/dataplane/port-table.ts';
import { makeFrames, makeScenario } from '../unit/demux-random.ts';
import { needsRoot, seededRandom as rng } from '../support.ts';

const TOTAL_FRAMES = Number(process.env.MDX_XDP_DIFF_FRAMES ?? 20_000);
const mac48 = (f: Uint8Array, o: number): number => f.slice(o, o + 6).reduce((a, b) => a * 256 + b, 0);

/** The frame's VLAN and whether the tag is inline (ParseFrame with parseTag, no metadata). */
function vlanOf(f: Uint8Array): { vlan: number; tagged: boolean } {
  const et = f.length >= 14 ? f[12]! * 256 + f[13]! : 0;
  if ((et === 0x8100 || et === 0x88a8) && f.length >= 18) return { vlan: (f[14]! * 256 + f[15]!) & 0xfff, tagged: true };
  return { vlan: 0, tagged: false };
}

/** Where the program must not hand the frame to userspace: it has everything it needs in its maps. */
function mustFinishInKernel(t: PortTable, f: Uint8Array, d: Delivery, kernel: Set<number>, learning: boolean, floodMap: number): boolean {
  if (([DropReason.runt, DropReason.oversized, DropReason.malformed, DropReason.unknownVlan] as number[]).includes(d.reason)) return true;
  if (f.length < 14) return true;
  const { vlan } = vlanOf(f);
  const src = mac48(f, 6);
  if (t.sourceMatches(vlan, src).length > 0) return false;
  const multicast = (f[0]! & 1) === 1;
  if (!multicast) {
    if (learning && t.lookup(vlan, mac48(f, 0)) < 0) return false; // a miss: the engine's FDB decides
    return d.reason !== 0 || (d.egress.length === 1 && kernel.has(d.egress[0]!));
  }
  if (t.lookup(vlan, src) >= 0) return false; // reflection: back to the sender, or a flood without it
  const broadcast = f.subarray(0, 6).every((b) => b === 0xff);
  return broadcast && floodMap >= 0 && d.reason === 0;
}

test(`XDP program == TypeScript oracle on ${TOTAL_FRAMES} random uplink frames (BPF_PROG_RUN)`, { skip: needsRoot }, async () => {
  await withLab(async (lab) => {
    const ns = await lab.addNamespace('xdpdiff');
    const prog = XdpProgram.load();
    try {
      const r = rng(0x5eed_0d1f);
      const seen = { drop: new Set<number>(), unicast: 0, flood: 0, pass: 0, xsk: 0, passOk: 0 };
      let xskBound = false;
      let done = 0;
      let scenarioIdx = 0;
      while (done < TOTAL_FRAMES) {
        if (!xskBound && done >= TOTAL_FRAMES / 2) {
          prog.bindXsk('lo', { netns: ns.path, queue: 0 }); // BPF_PROG_RUN frames arrive on queue 0
          xskBound = true;
        }
        const s = makeScenario(r, scenarioIdx++);
        const learning = scenarioIdx % 4 === 2;
        const kernel = new Set(s.slots.filter(() => r() < 0.75));
        // lo's ifindex is 1 in every namespace
        prog.sync(s.table, (slot) => (kernel.has(slot) ? 1 : 0), { netns: ns.path, learning });
        const n = Math.min(2000, TOTAL_FRAMES - done);
        const b = makeFrames(r, s, n);
        for (let i = 0; i < n; i++) {
          // BPF_PROG_RUN refuses frames shorter than an Ethernet header (net/bpf/test_run.c
          // bpf_test_init), and no device delivers one to XDP either.
          if (b.ingress[i] !== UPLINK || b.lengths[i]! < 14) continue;
          const frame = b.data.slice(b.offsets[i]!, b.offsets[i]! + b.lengths[i]!);
          const d = decide(s.table, frame, UPLINK, NO_TCI, learning ? { lookup: () => undefined } : undefined);
          const { vlan, tagged } = vlanOf(frame);
          const floodMap = prog.floodMapOf(vlan);
          const before = prog.stats();
          const slotBefore = d.egress.length === 1 ? prog.slotTx(d.egress[0]!) : [0, 0];
          const floodBefore = floodMap >= 0 ? prog.floodTx(floodMap) : [0, 0];
          const res = prog.testRun(frame);
          const after = prog.stats();
          const delta = after.map((v, k) => v - before[k]!);
          const ctx = () =>
            `frame ${Buffer.from(frame.subarray(0, 18)).toString('hex')} len ${frame.length} learning=${learning} ` +
            `oracle=${JSON.stringify(d)} action=${res.action} delta=${delta.join(',')} kernel=[${[...kernel]}] ` +
            `table=${JSON.stringify(s.table.entries)}`;
          if (res.action === XDP_ACTION.drop) {
            assert.ok(d.reason !== 0, `XDP dropped a frame the oracle delivers: ${ctx()}`);
            assert.equal(delta[d.reason], 1, `drop reason counted: ${ctx()}`);
            assert.equal(delta[XDP_STAT.rxFrames], 1);
            seen.drop.add(d.reason);
          } else if (res.action === XDP_ACTION.redirect && delta[XDP_STAT.toXsk] === 1) {
            assert.ok(xskBound, ctx());
            assert.equal(delta[XDP_STAT.toUser], 1, ctx());
            assert.equal(delta[XDP_STAT.forwarded], 0, ctx());
            assert.ok(!mustFinishInKernel(s.table, frame, d, kernel, learning, floodMap), `sent to userspace a frame the kernel can finish: ${ctx()}`);
            seen.xsk++;
          } else if (res.action === XDP_ACTION.redirect) {
            assert.equal(d.reason, 0, `XDP redirected a frame the oracle drops: ${ctx()}`);
            assert.equal(d.uplink, false);
            assert.equal(delta[XDP_STAT.forwarded], 1, ctx());
            const out = tagged ? Uint8Array.from([...frame.subarray(0, 12), ...frame.subarray(16)]) : frame;
            assert.deepEqual(res.frame, out, `redirected frame is what the port must see (untagged): ${ctx()}`);
            const slotAfter = d.egress.length === 1 ? prog.slotTx(d.egress[0]!) : [0, 0];
            if (slotAfter[0]! - slotBefore[0]! === 1) {
              assert.ok(kernel.has(d.egress[0]!), ctx());
              assert.equal(slotAfter[1]! - slotBefore[1]!, out.length);
              seen.unicast++;
            } else {
              assert.ok(floodMap >= 0, `redirect that is neither the oracle's port nor a flood: ${ctx()}`);
              const floodAfter = prog.floodTx(floodMap);
              assert.equal(floodAfter[0]! - floodBefore[0]!, 1, ctx());
              const members = s.table.entries.filter((e) => e.vlan === vlan && e.mode !== 'source').map((e) => e.slot);
              assert.deepEqual([...d.egress].sort((x, y) => x - y), members.sort((x, y) => x - y), `flood set: ${ctx()}`);
              assert.ok(members.every((m) => kernel.has(m)), ctx());
              seen.flood++;
            }
          } else {
            assert.equal(res.action, XDP_ACTION.pass, ctx());
            assert.ok(!xskBound, `passed to the stack with an AF_XDP socket on the queue: ${ctx()}`);
            assert.equal(delta[XDP_STAT.toUser], 1, ctx());
            assert.ok(!mustFinishInKernel(s.table, frame, d, kernel, learning, floodMap), `handed to userspace a frame the kernel can finish: ${ctx()}`);
            seen.pass++;
          }
        }
        done += n;
      }
      // A tagged frame cut inside its tag (the random stream rarely makes one).
      const runt = Uint8Array.from([0x02, 1, 2, 3, 4, 5, 0x02, 9, 9, 9, 9, 9, 0x81, 0x00, 0x00, 0x0a]);
      const before = prog.stats();
      assert.equal(prog.testRun(runt).action, XDP_ACTION.drop);
      assert.equal(prog.stats()[DropReason.runt]! - before[DropReason.runt]!, 1, 'runt counted');
      assert.equal(decide(new PortTable([], {}), runt, UPLINK).reason, DropReason.runt, 'oracle: runt');
      // A broadcast to a VLAN whose only port is a source-mode port that does not list the sender.
      const onlySource = new PortTable([{ slot: 1, mac: 0x02000000aa01, vlan: 0, mode: 'source', sourceMacs: [0x02000000bb01] }], {});
      prog.sync(onlySource, () => 1, { netns: ns.path });
      const bc = new Uint8Array(60).fill(0xff, 0, 6);
      bc.set([0x02, 0, 0, 0, 0xcc, 1, 0x08, 0x00], 6);
      assert.equal(decide(onlySource, bc, UPLINK).reason, DropReason.noReceiver, 'oracle: no receiver');
      const b2 = prog.stats();
      assert.equal(prog.testRun(bc).action, XDP_ACTION.drop);
      assert.equal(prog.stats()[DropReason.noReceiver]! - b2[DropReason.noReceiver]!, 1, 'no-receiver counted');
      seen.drop.add(DropReason.noReceiver);
      seen.drop.add(DropReason.runt);
      // The stream must exercise every in-kernel outcome.
      for (const reason of [DropReason.oversized, DropReason.malformed, DropReason.unknownUnicast, DropReason.unknownVlan, DropReason.pause, DropReason.noReceiver])
        assert.ok(seen.drop.has(reason), `drop reason ${reason} exercised`);
      assert.ok(seen.unicast > 100 && seen.flood > 100 && seen.pass > 100 && seen.xsk > 100, JSON.stringify(seen));
    } finally {
      prog.close();
    }
  });
});

/** mdx_ucast_hash (addon/xdp/xdp_maps.h): where a (VLAN, MAC) key's probe sequence in mdx_ucast starts. */
const ucastHash = (key: bigint): number => Number(((key * 0x9e37_79b9_7f4a_7c15n) & 0xffff_ffff_ffff_ffffn) >> 49n);

test('XDP unicast array: keys past its probe sequence are found in mdx_ports; a miss among them is dropped', { skip: needsRoot }, async () => {
  await withLab(async (lab) => {
    const ns = await lab.addNamespace('xdpucast');
    const prog = XdpProgram.load();
    try {
      // Seven random unicast MACs (VLAN 0) whose probe sequences start at the same entry: the first
      // four (ascending) fill MDX_XDP_UCAST_PROBES = 4 entries, the next two are in mdx_ports only,
      // the seventh is no port.
      const r = rng(0x0c011de);
      const byHash = new Map<number, number[]>();
      let macs: number[] = [];
      while (macs.length < 7) {
        const mac = 0x0200_0000_0000 + Math.floor(r() * 0xff_ffff_ffff);
        const h = ucastHash(BigInt(mac));
        const l = byHash.get(h) ?? [];
        if (!l.includes(mac)) l.push(mac);
        byHash.set(h, l);
        if (l.length === 7) macs = l;
      }
      macs.sort((a, b) => a - b);
      const absent = macs.pop()!;
      const table = new PortTable(macs.map((mac, i) => ({ slot: i + 1, mac, vlan: 0, mode: 'bridge' as const })), {});
      prog.sync(table, () => 1, { netns: ns.path }); // every port a kernel device (lo)
      const frame = (dst: number): Uint8Array => {
        const f = new Uint8Array(60);
        for (let i = 0; i < 6; i++) f[i] = Math.floor(dst / 256 ** (5 - i)) % 256;
        f.set([0x02, 0, 0, 0, 0xcc, 1, 0x08, 0x00], 6);
        return f;
      };
      macs.forEach((mac, i) => {
        const before = prog.slotTx(i + 1);
        const d = decide(table, frame(mac), UPLINK);
        assert.deepEqual(d.egress, [i + 1], 'oracle: delivered to its port');
        assert.equal(prog.testRun(frame(mac)).action, XDP_ACTION.redirect, `port ${i + 1} (${i < 4 ? 'in the array' : 'past the probes'})`);
        assert.equal(prog.slotTx(i + 1)[0]! - before[0]!, 1, `slot ${i + 1} counted`);
      });
      const b = prog.stats();
      assert.equal(decide(table, frame(absent), UPLINK).reason, DropReason.unknownUnicast, 'oracle: unknown unicast');
      assert.equal(prog.testRun(frame(absent)).action, XDP_ACTION.drop);
      assert.equal(prog.stats()[DropReason.unknownUnicast]! - b[DropReason.unknownUnicast]!, 1, 'unknown unicast counted');
      // The ports leave: the array forgets them too (the next sync rewrites it).
      prog.sync(new PortTable([{ slot: 9, mac: absent, vlan: 0, mode: 'bridge' }], {}), () => 1, { netns: ns.path });
      const b2 = prog.stats();
      assert.equal(prog.testRun(frame(macs[0]!)).action, XDP_ACTION.drop, 'a removed port is unknown');
      assert.equal(prog.stats()[DropReason.unknownUnicast]! - b2[DropReason.unknownUnicast]!, 1);
      assert.equal(prog.testRun(frame(absent)).action, XDP_ACTION.redirect, 'the new port is found');
    } finally {
      prog.close();
    }
  });
});
