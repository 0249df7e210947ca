/**
 * Learning mode (explicit, off by default): source MACs seen on a port are learned (FDB with
 * ageing), so frames from the uplink to a MAC *behind* a port reach it; unknown unicast is flooded.
 * Without learning the same frames are dropped as unknown unicast (macvlan behaviour).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withLab } from '../../src/lab/index.ts';
import { Switch } from '../../src/dataplane/index.ts';
import { PacketPort } from '../../src/io/index.ts';
import { parseMac, writeMac } from '../../src/dataplane/mac.ts';
import { needsRoot } from '../support.ts';

const PORT_MAC = '02:6d:64:00:07:01';
const BEHIND = '02:6d:64:00:07:b1'; // a host behind port p1 (e.g. a VM bridged inside the endpoint)
const EXT = '02:6d:64:00:07:ee';
const ET = 0x88b8;

function frame(dst: string, src: string, id: number): Uint8Array {
  const f = new Uint8Array(60);
  writeMac(f, 0, parseMac(dst, 'dst'));
  writeMac(f, 6, parseMac(src, 'src'));
  f[12] = ET >> 8;
  f[13] = ET & 0xff;
  new DataView(f.buffer).setUint32(14, id);
  return f;
}

function ids(p: PacketPort): number[] {
  const out: number[] = [];
  for (let b = p.tryRecv(); b; b = p.tryRecv()) {
    for (let i = 0; i < b.length; i++) {
      const f = b.frame(i);
      if (f.length >= 18 && f[12] === ET >> 8 && f[13] === (ET & 0xff)) out.push(new DataView(f.buffer, f.byteOffset).getUint32(14));
    }
    b.release();
  }
  return out;
}

for (const learning of [false, true]) {
  test(`learning ${learning ? 'on' : 'off'}: frames to a MAC behind a port`, { skip: needsRoot, timeout: 90_000 }, async () => {
    await withLab(async (lab) => {
      const sw = await lab.addNamespace('sw');
      const trunk = await lab.addNamespace('trunk');
      const ns1 = await lab.addNamespace('ns1');
      const ns2 = await lab.addNamespace('ns2');
      for (const ns of [sw, trunk, ns1, ns2]) await ns.run('sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
      await lab.addVeth({ ns: sw, name: 'up0' }, { ns: trunk, name: 't0' });
      await lab.addVeth({ ns: sw, name: 'p1' }, { ns: ns1, name: 'e1' });
      await lab.addVeth({ ns: sw, name: 'p2' }, { ns: ns2, name: 'e2' });
      const s = new Switch({ uplink: 'up0', netns: sw.name, learning });
      s.addPort({ name: 'p1', mac: PORT_MAC, mode: 'vepa', backend: { kind: 'packet', ifname: 'p1' } });
      s.addPort({ name: 'p2', mac: '02:6d:64:00:07:02', mode: 'vepa', backend: { kind: 'packet', ifname: 'p2' } });
      await s.start();
      const t0 = PacketPort.open({ ifname: 't0', netns: trunk.name });
      const e1 = PacketPort.open({ ifname: 'e1', netns: ns1.name });
      const e2 = PacketPort.open({ ifname: 'e2', netns: ns2.name });
      try {
        await new Promise((r) => setTimeout(r, 100));
        t0.send([frame(BEHIND, EXT, 1)]); // before anything was learned
        await new Promise((r) => setTimeout(r, 100));
        e1.send([frame(EXT, BEHIND, 2)]); // BEHIND speaks through p1
        await new Promise((r) => setTimeout(r, 100));
        t0.send([frame(BEHIND, EXT, 3)]);
        await new Promise((r) => setTimeout(r, 250));
        const at1 = ids(e1);
        const at2 = ids(e2);
        assert.ok(ids(t0).includes(2), 'port transmit reached the uplink');
        if (learning) {
          assert.deepEqual(at1.sort(), [1, 3], 'unknown flooded (1), then learned behind p1 (3)');
          assert.deepEqual(at2, [1], 'only the unknown-unicast flood reached p2');
        } else {
          assert.deepEqual([at1, at2], [[], []], 'macvlan semantics: unknown unicast dropped');
          assert.equal(s.counters().drops.unknownUnicast, 2);
        }
      } finally {
        await Promise.all([t0.close(), e1.close(), e2.close()]);
        await s.stop();
      }
    });
  });
}
