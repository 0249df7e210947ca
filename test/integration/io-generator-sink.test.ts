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

test('sink detects loss, reordering and duplicates in crafted sequences', { skip: needsRoot, timeout: 30_000 }, async () => {
  const { PacketPort, TEST_PAYLOAD } = await import('../../src/io/index.ts');
  await withLab(async (lab) => {
    const nsA = await lab.addNamespace('cra');
    const nsB = await lab.addNamespace('crb');
    await lab.addVeth({ ns: nsA, name: 'ca', mac: MAC_A }, { ns: nsB, name: 'cb', mac: MAC_B });
    const sink = openSink({ ifname: 'cb', netns: nsB.name });
    const tx = PacketPort.open({ ifname: 'ca', netns: nsA.name, rx: false });
    try {
      const frame = (stream: number, seq: number, magic: number = TEST_PAYLOAD.magic, size = 60): Uint8Array => {
        const f = new Uint8Array(size);
        const dv = new DataView(f.buffer);
        f.set([2, 0, 0, 0, 0x0b, 1, 2, 0, 0, 0, 0x0a, 1]);
        dv.setUint16(12, TEST_PAYLOAD.etherType);
        if (size >= 14 + TEST_PAYLOAD.size) {
          dv.setUint32(14 + TEST_PAYLOAD.offMagic, magic);
          dv.setUint32(14 + TEST_PAYLOAD.offStream, stream);
          dv.setBigUint64(14 + TEST_PAYLOAD.offSeq, BigInt(seq));
          // timestamp 0: no latency sample
        }
        return f;
      };
      // Stream 7: 0 1 3 2 2 5 -> seq 4 lost, 2 late (reordered), 2 again (duplicate).
      // Stream 8: 10 11 12 (baseline 10, clean). One frame with a wrong magic (other), one short (malformed).
      const seqs = [0, 1, 3, 2, 2, 5];
      const frames = [...seqs.map((q) => frame(7, q)), frame(8, 10), frame(8, 11), frame(8, 12), frame(9, 1, 0x12345678)];
      await tx.sendAll(frames);
      const short = new Uint8Array(30);
      short.set([2, 0, 0, 0, 0x0b, 1, 2, 0, 0, 0, 0x0a, 1, 0x88, 0xb5]);
      await tx.sendAll([short]);
      const deadline = Date.now() + 5000;
      while (sink.stats().packets < frames.length - 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 50));
      const s = await sink.close();
      assert.equal(s.packets, frames.length - 1);
      assert.equal(s.streams, 2);
      assert.equal(s.lost, 1, 'seq 4 of stream 7');
      assert.equal(s.reordered, 1, 'seq 2 after 3');
      assert.equal(s.duplicates, 1, 'second seq 2');
      assert.equal(s.malformed, 1, 'payload cut short');
      assert.ok(s.other >= 1, 'wrong magic is not a test frame');
      assert.equal(s.latencyUs.samples, 0, 'no timestamps, no latency samples');
    } finally {
      await tx.close();
      await sink.close().catch(() => {});
    }
  });
});
