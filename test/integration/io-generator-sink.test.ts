/**
 * Native generator -> veth -> native sink (TPACKET_V3 RX ring) in lab namespaces.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { needsRoot } from '../support.ts';
import { withLab } from '../../src/lab/index.ts';
import { openSink, startGenerator } from '../../src/io/index.ts';

const MAC_A = '02:00:00:00:0a:01';
const MAC_B = '02:00:00:00:0b:01';
const MAC_C = '02:00:00:00:0c:01';

test('1,000,000 frames generator -> veth -> RX ring: none lost, exact counts and bytes, order kept', { skip: needsRoot, timeout: 60_000 }, async () => {
  await withLab(async (lab) => {
    const nsA = await lab.addNamespace('gen');
    const nsB = await lab.addNamespace('snk');
    await lab.addVeth({ ns: nsA, name: 'ga', mac: MAC_A }, { ns: nsB, name: 'gb', mac: MAC_B });
    // 64 MiB of ring: ~0.4 s of slack at this rate if the sink thread is descheduled (shared CI cores).
    const sink = openSink({ ifname: 'gb', netns: nsB.name, promisc: true, blockCount: 64 });
    try {
      const count = 1_000_000;
      const sizes = [60, 128, 1514];
      const gen = startGenerator({
        ifname: 'ga',
        netns: nsA.name,
        templates: [
          { dst: MAC_B, src: MAC_A, size: sizes[0]! },
          { dst: MAC_C, src: MAC_A, size: sizes[1]! },
          { dst: MAC_B, src: MAC_A, size: sizes[2]!, vlan: 42 },
        ],
        ratePps: 250_000,
        count,
      });
      const g = await gen.done;
      assert.equal(g.sent, count);
      // Wait for the sink to see everything that left (block retire timeout is 1 ms).
      const deadline = Date.now() + 5000;
      while (sink.stats().packets < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const s = await sink.close();
      const perTemplate = [0, 1, 2].map((i) => Math.floor(count / 3) + (i < count % 3 ? 1 : 0));
      const expectedBytes = perTemplate.reduce((acc, n, i) => acc + n * sizes[i]!, 0);
      assert.equal(s.kernelDrops, 0, `kernel ring drops: ${JSON.stringify(s)}`);
      assert.equal(s.packets, count);
      assert.equal(s.lost, 0);
      assert.equal(s.reordered, 0);
      assert.equal(s.duplicates, 0);
      assert.equal(s.malformed, 0);
      assert.equal(s.streams, 3);
      assert.equal(s.bytes, expectedBytes);
      assert.equal(g.bytes, expectedBytes + perTemplate[2]! * 4, 'generator bytes include the inline VLAN tag');
      assert.deepEqual(s.perDst, { [MAC_B]: perTemplate[0]! + perTemplate[2]!, [MAC_C]: perTemplate[1]! });
      assert.ok(s.latencyUs.samples === count && s.latencyUs.p50 > 0 && s.latencyUs.p99 >= s.latencyUs.p50);
      assert.ok(s.latencyUs.p999 <= s.latencyUs.max);
      // The kernel receive stamp comes before the sink thread reads the block.
      assert.ok(s.deliveryLatencyUs.p50 >= s.latencyUs.p50, JSON.stringify([s.latencyUs, s.deliveryLatencyUs]));
      const link = await nsB.linkStats('gb');
      assert.ok(link.rxPackets >= count, `veth rx ${link.rxPackets}`);
    } finally {
      await sink.close().catch(() => {});
    }
  });
});
