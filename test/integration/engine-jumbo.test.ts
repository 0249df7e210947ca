/**
 * Jumbo frames: with maxFrameLen raised and 9000-byte MTUs, a 4000-byte frame from the uplink reaches
 * its port intact (port TX sends frames above the 2 KiB batch cell on their own), and one above
 * maxFrameLen is dropped as oversized. MTU 9000 end to end: `ping -s 8972 -M do` (a 9014-byte frame,
 * do not fragment) crosses the switch port to port and through the uplink, with the limit given as
 * `mtu: 9000` (the CLI's --mtu) and with the default that follows the uplink's MTU.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withLab } from '../../src/lab/index.ts';
import { Switch } from '../../src/dataplane/index.ts';
import { PacketPort } from '../../src/io/index.ts';
import { parseMac, writeMac } from '../../src/dataplane/mac.ts';
import { needsRoot } from '../support.ts';

const M = '02:6d:64:00:09:01';

function frame(len: number, fill: number): Uint8Array {
  const f = new Uint8Array(len);
  writeMac(f, 0, parseMac(M, 'dst'));
  writeMac(f, 6, parseMac('02:6d:64:00:09:ee', 'src'));
  f[12] = 0x88;
  f[13] = 0xb9;
  f.fill(fill, 14);
  return f;
}

test('jumbo frames through the engine', { skip: needsRoot, timeout: 60_000 }, async () => {
  await withLab(async (lab) => {
    const sw = await lab.addNamespace('sw');
    const trunk = await lab.addNamespace('trunk');
    const ns1 = await lab.addNamespace('ns1');
    await lab.addVeth({ ns: sw, name: 'up0', mtu: 9000 }, { ns: trunk, name: 't0', mtu: 9000 });
    await lab.addVeth({ ns: sw, name: 'p1', mtu: 9000 }, { ns: ns1, name: 'e1', mac: M, mtu: 9000 });
    // the ring engine's TX of frames above the batch cell: backend 'packet' (auto would take tc on veth)
    const s = new Switch({ uplink: 'up0', netns: sw.name, backend: 'packet', maxFrameLen: 6014, ring: { blockSize: 1 << 20, blockCount: 4 }, portRing: { blockSize: 1 << 18, blockCount: 4 } });
    s.addPort({ name: 'p1', mac: M, mode: 'bridge', backend: { kind: 'packet', ifname: 'p1' } });
    await s.start();
    const t0 = PacketPort.open({ ifname: 't0', netns: trunk.name, rx: false, txFrameSize: 16384 });
    const e1 = PacketPort.open({ ifname: 'e1', netns: ns1.name, tx: false, frameSize: 16384 });
    try {
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(await t0.sendAll([frame(4000, 0xa5), frame(100, 0x11), frame(7000, 0x5a)]), 3);
      await new Promise((r) => setTimeout(r, 300));
      const got: Uint8Array[] = [];
      for (let b = e1.tryRecv(); b; b = e1.tryRecv()) {
        for (let i = 0; i < b.length; i++) {
          const f = b.frame(i);
          if (f[12] === 0x88 && f[13] === 0xb9) got.push(f.slice());
        }
        b.release();
      }
      assert.deepEqual(got.map((f) => f.length), [4000, 100], 'the 4000-byte frame arrived, in order; 7000 > maxFrameLen did not');
      assert.ok(got[0]!.subarray(14).every((v) => v === 0xa5), 'payload intact');
      assert.equal(s.counters().drops.oversized, 1);
    } finally {
      await Promise.all([t0.close(), e1.close()]);
      await s.stop();
    }
  });
});

test('MTU 9000: ping -s 8972 -M do through the switch (mtu option and the uplink-MTU default)', { skip: needsRoot, timeout: 90_000 }, async () => {
  await withLab(async (lab) => {
    const sw = await lab.addNamespace('sw');
    const wire = await lab.addNamespace('wire');
    const ns1 = await lab.addNamespace('ns1');
    const ns2 = await lab.addNamespace('ns2');
    await lab.addVeth({ ns: sw, name: 'up0', mtu: 9000 }, { ns: wire, name: 'w0', mtu: 9000, addresses: ['10.85.0.9/24'] });
    await lab.addVeth({ ns: sw, name: 'p1', mtu: 9000 }, { ns: ns1, name: 'e1', mac: '02:6d:64:00:0d:01', mtu: 9000, addresses: ['10.85.0.1/24'] });
    await lab.addVeth({ ns: sw, name: 'p2', mtu: 9000 }, { ns: ns2, name: 'e2', mac: '02:6d:64:00:0d:02', mtu: 9000, addresses: ['10.85.0.2/24'] });
    const jumboPing = async (from: typeof ns1, to: string): Promise<boolean> => {
      const r = await from.exec('ping', ['-c', '2', '-W', '2', '-s', '8972', '-M', 'do', to], { timeoutMs: 15_000 });
      return r.code === 0;
    };
    for (const limit of [{ mtu: 9000 }, {}]) {
      const s = new Switch({ uplink: 'up0', netns: sw.name, ...limit });
      s.addPort({ name: 'p1', mac: '02:6d:64:00:0d:01', mode: 'bridge', backend: { kind: 'packet', ifname: 'p1' } });
      s.addPort({ name: 'p2', mac: '02:6d:64:00:0d:02', mode: 'bridge', backend: { kind: 'packet', ifname: 'p2' } });
      await s.start();
      try {
        const what = JSON.stringify(limit);
        assert.equal(await jumboPing(ns1, '10.85.0.2'), true, `${what}: port to port`);
        assert.equal(await jumboPing(ns1, '10.85.0.9'), true, `${what}: through the uplink`);
        assert.equal(await jumboPing(wire, '10.85.0.2'), true, `${what}: from the wire`);
        assert.equal(s.counters().drops.oversized, 0);
      } finally {
        await s.stop();
      }
    }
    // And the limit holds: with mtu 1500 the same ping is dropped as oversized.
    const s = new Switch({ uplink: 'up0', netns: sw.name, mtu: 1500 });
    s.addPort({ name: 'p1', mac: '02:6d:64:00:0d:01', mode: 'bridge', backend: { kind: 'packet', ifname: 'p1' } });
    s.addPort({ name: 'p2', mac: '02:6d:64:00:0d:02', mode: 'bridge', backend: { kind: 'packet', ifname: 'p2' } });
    await s.start();
    try {
      assert.equal(await jumboPing(ns1, '10.85.0.2'), false, 'mtu 1500: the 9014-byte frame does not pass');
      assert.ok(s.counters().drops.oversized! > 0, 'counted as oversized');
    } finally {
      await s.stop();
    }
  });
});
