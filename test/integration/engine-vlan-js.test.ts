/**
 * Userspace VLANs and JS ports through the engine:
 * - ports bound to VLAN n see untagged frames of VLAN n; their transmit is tagged n on the uplink;
 *   tagged frames from the uplink reach only ports of that VLAN; VLANs are isolated.
 * - a JS port receives its frames in batches and injects frames that are switched like any port's.
 * The uplink's other end is a trunk observed/driven with an AF_PACKET port (no 802.1Q module here).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withLab, type Namespace } from '../../src/lab/index.ts';
import { Switch, type SwitchFrameBatch } from '../../src/dataplane/index.ts';
import { PacketPort } from '../../src/io/index.ts';
import { parseMac, writeMac } from '../../src/dataplane/mac.ts';
import { needsRoot } from '../support.ts';

const A = '02:6d:64:00:04:01'; // p1, VLAN 10
const B = '02:6d:64:00:04:02'; // p2, VLAN 10
const C = '02:6d:64:00:04:03'; // p3, VLAN 20
const J = '02:6d:64:00:04:0a'; // JS port, VLAN 10
const EXT = '02:6d:64:00:04:ee';
const ET = 0x88b7;

function frame(dst: string, src: string, id: number, vlan?: number): Uint8Array {
  const f = new Uint8Array(vlan === undefined ? 60 : 64);
  writeMac(f, 0, parseMac(dst, 'dst'));
  writeMac(f, 6, parseMac(src, 'src'));
  let o = 12;
  if (vlan !== undefined) {
    f[12] = 0x81;
    f[14] = vlan >> 8;
    f[15] = vlan & 0xff;
    o = 16;
  }
  f[o] = ET >> 8;
  f[o + 1] = ET & 0xff;
  new DataView(f.buffer).setUint32(o + 2, id);
  return f;
}

/** Ids (and VLAN tag seen, -1 = untagged) of our probe frames a port received. */
function collect(p: PacketPort): Map<number, number> {
  const out = new Map<number, number>();
  for (let b = p.tryRecv(); b; b = p.tryRecv()) {
    for (let i = 0; i < b.length; i++) {
      const f = b.frame(i);
      const dv = new DataView(f.buffer, f.byteOffset, f.length);
      if (f.length >= 20 && dv.getUint16(12) === 0x8100 && dv.getUint16(16) === ET) out.set(dv.getUint32(18), dv.getUint16(14) & 0xfff);
      else if (f.length >= 18 && dv.getUint16(12) === ET) out.set(dv.getUint32(14), -1);
    }
    b.release();
  }
  return out;
}

const settle = () => new Promise((r) => setTimeout(r, 250));

test('userspace VLANs and a JS port through the engine', { skip: needsRoot, timeout: 120_000 }, async () => {
  await withLab(async (lab) => {
    const quiet = async (s: string): Promise<Namespace> => {
      const ns = await lab.addNamespace(s);
      await ns.run('sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
      return ns;
    };
    const sw = await quiet('sw');
    const trunk = await quiet('trunk');
    const ns1 = await quiet('ns1');
    const ns2 = await quiet('ns2');
    const ns3 = await quiet('ns3');
    await lab.addVeth({ ns: sw, name: 'up0' }, { ns: trunk, name: 't0' });
    await lab.addVeth({ ns: sw, name: 'p1' }, { ns: ns1, name: 'e1', mac: A, addresses: ['10.79.0.1/24'] });
    await lab.addVeth({ ns: sw, name: 'p2' }, { ns: ns2, name: 'e2', mac: B, addresses: ['10.79.0.2/24'] });
    await lab.addVeth({ ns: sw, name: 'p3' }, { ns: ns3, name: 'e3', mac: C, addresses: ['10.79.0.3/24'] });
    const s = new Switch({ uplink: 'up0', netns: sw.name });
    s.addPort({ name: 'p1', mac: A, mode: 'bridge', vlan: 10, backend: { kind: 'packet', ifname: 'p1' } });
    s.addPort({ name: 'p2', mac: B, mode: 'bridge', vlan: 10, backend: { kind: 'packet', ifname: 'p2' } });
    s.addPort({ name: 'p3', mac: C, mode: 'bridge', vlan: 20, backend: { kind: 'packet', ifname: 'p3' } });
    const jsGot: Uint8Array[] = [];
    let jsBatches = 0;
    s.addPort({ name: 'js', mac: J, mode: 'bridge', vlan: 10, backend: { kind: 'js', onFrames: (b: SwitchFrameBatch) => {
      jsBatches++;
      for (let i = 0; i < b.count; i++) jsGot.push(b.frame(i));
    } } });
    await s.start();
    const trunkPort = PacketPort.open({ ifname: 't0', netns: trunk.name });
    const e1 = PacketPort.open({ ifname: 'e1', netns: ns1.name });
    const e3 = PacketPort.open({ ifname: 'e3', netns: ns3.name });
    try {
      assert.equal(await ns1.ping('10.79.0.2', { count: 2, timeoutS: 2 }), true, 'same VLAN: ns1 reaches ns2');
      assert.equal(await ns1.ping('10.79.0.3', { count: 2, timeoutS: 1 }), false, 'VLAN 10 and 20 are isolated');
      collect(trunkPort);
      collect(e1);
      collect(e3);

      // port transmit is tagged with the port's VLAN on the uplink
      assert.equal(e1.send([frame(EXT, A, 1)]), 1);
      // tagged frames from the uplink reach only ports of that VLAN, untagged
      trunkPort.send([frame(C, EXT, 2, 20), frame(C, EXT, 3, 10), frame(A, EXT, 4), frame(A, EXT, 5, 10), frame('ff:ff:ff:ff:ff:ff', EXT, 6, 20)]);
      await settle();
      const atTrunk = collect(trunkPort);
      assert.equal(atTrunk.get(1), 10, 'p1 transmit leaves the uplink tagged VLAN 10');
      const at3 = collect(e3);
      const at1 = collect(e1);
      assert.equal(at3.get(2), -1, 'VLAN 20 frame for C reaches p3 untagged');
      assert.equal(at3.has(3), false, 'C in VLAN 10 is nobody');
      assert.equal(at1.has(4), false, 'untagged frames reach no VLAN port');
      assert.equal(at1.get(5), -1, 'VLAN 10 frame for A reaches p1 untagged');
      assert.equal(at3.get(6), -1, 'VLAN 20 broadcast reaches p3');
      assert.equal(at1.has(6), false, 'VLAN 20 broadcast does not reach VLAN 10');
      const c = s.counters();
      assert.ok(c.drops.unknownVlan! >= 1 && c.drops.unknownUnicast! >= 1, JSON.stringify(c.drops));

      // JS port: frames to it arrive in batches; frames it injects are switched (bridge: local + uplink tagged)
      jsGot.length = 0;
      assert.equal(e1.send([frame(J, A, 7)]), 1);
      assert.equal(s.inject('js', [frame('ff:ff:ff:ff:ff:ff', J, 8), frame(A, J, 9)]), 2);
      await settle();
      const ids = jsGot.map((f) => new DataView(f.buffer, f.byteOffset).getUint32(14));
      assert.ok(ids.includes(7), 'JS port received the frame sent to its MAC');
      assert.ok(jsBatches >= 1);
      const at1b = collect(e1);
      assert.equal(at1b.get(8), -1, 'JS broadcast reached bridge port p1');
      assert.equal(at1b.get(9), -1, 'JS unicast to A reached p1 directly');
      assert.equal(collect(trunkPort).get(8), 10, 'JS broadcast also left the uplink tagged 10');
      assert.equal(collect(e3).has(8), false, 'not into VLAN 20');
      assert.ok(s.counters().ports.js!.rxPackets >= 2, 'injected frames counted as rx of the JS port');
    } finally {
      await Promise.all([trunkPort.close(), e1.close(), e3.close()]);
      await s.stop();
    }
  });
});
