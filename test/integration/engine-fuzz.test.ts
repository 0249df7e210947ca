/**
 * Robustness: random garbage (random bytes, random lengths, random VLAN tags, 802.1Q/802.1ad
 * EtherTypes, multicast sources, pause frames) into the uplink and into a port, at the same time,
 * under live mode changes. The engine must not crash, every frame must be accounted for
 * (rx = forwarded + drops by reason), and it must still forward afterwards.
 * Backend 'packet', named: this tests the AF_PACKET ring engine (the default, 'auto', takes the
 * tc fast path on a veth uplink with one worker).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withLab } from '../../src/lab/index.ts';
import { Switch, type MacvlanMode } from '../../src/dataplane/index.ts';
import { PacketPort } from '../../src/io/index.ts';
import { writeMac, parseMac } from '../../src/dataplane/mac.ts';
import { needsRoot, seededRandom as rng } from '../support.ts';

const MACS = ['02:6d:64:00:08:01', '02:6d:64:00:08:02'];

function garbage(r: () => number, n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  const own = MACS.map((m) => parseMac(m, 'mac'));
  for (let i = 0; i < n; i++) {
    const len = 14 + Math.floor(r() * 1501);
    const f = new Uint8Array(len);
    for (let k = 0; k < Math.min(len, 64); k++) f[k] = Math.floor(r() * 256);
    const k = r();
    if (k < 0.3) writeMac(f, 0, own[Math.floor(r() * own.length)]!);
    else if (k < 0.45) f.fill(0xff, 0, 6);
    if (r() < 0.3) writeMac(f, 6, own[Math.floor(r() * own.length)]!);
    const t = r();
    if (t < 0.2) {
      f[12] = 0x81;
      f[13] = 0x00;
    } else if (t < 0.3) {
      f[12] = 0x88;
      f[13] = 0xa8;
    } else if (t < 0.35) {
      f[12] = 0x88;
      f[13] = 0x08;
    }
    out.push(f);
  }
  return out;
}

test('garbage frames into uplink and port under live changes: no crash, counters add up', { skip: needsRoot, timeout: 120_000 }, async () => {
  await withLab(async (lab) => {
    const sw = await lab.addNamespace('sw');
    const trunk = await lab.addNamespace('trunk');
    const ns1 = await lab.addNamespace('ns1');
    const ns2 = await lab.addNamespace('ns2');
    for (const ns of [sw, trunk, ns1, ns2]) await ns.run('sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    await lab.addVeth({ ns: sw, name: 'up0' }, { ns: trunk, name: 't0' });
    await lab.addVeth({ ns: sw, name: 'p1' }, { ns: ns1, name: 'e1', mac: MACS[0]!, addresses: ['10.81.0.1/24'] });
    await lab.addVeth({ ns: sw, name: 'p2' }, { ns: ns2, name: 'e2', mac: MACS[1]!, addresses: ['10.81.0.2/24'] });
    const s = new Switch({ uplink: 'up0', netns: sw.name, workers: 2, backend: 'packet' });
    s.addPort({ name: 'p1', mac: MACS[0]!, mode: 'bridge', backend: { kind: 'packet', ifname: 'p1' } });
    s.addPort({ name: 'p2', mac: MACS[1]!, mode: 'bridge', backend: { kind: 'packet', ifname: 'p2' } });
    await s.start();
    const t0 = PacketPort.open({ ifname: 't0', netns: trunk.name, rx: false });
    const e1 = PacketPort.open({ ifname: 'e1', netns: ns1.name, rx: false });
    const r = rng(0xf00d);
    let sent = 0;
    try {
      const modes: MacvlanMode[] = ['private', 'vepa', 'bridge', 'source'];
      for (let round = 0; round < 20; round++) {
        sent += await t0.sendAll(garbage(r, 1000), { timeoutMs: 10_000 });
        sent += await e1.sendAll(garbage(r, 500), { timeoutMs: 10_000 });
        s.setPortMode('p2', modes[round % 4]!);
      }
      s.setPortMode('p2', 'bridge');
      await new Promise((res) => setTimeout(res, 300));
      assert.equal(await ns1.ping('10.81.0.2', { count: 2, timeoutS: 2 }), true, 'still forwarding after the garbage');
    } finally {
      await Promise.all([t0.close(), e1.close()]);
      await s.stop();
    }
    const c = s.counters();
    const drops = Object.values(c.drops).reduce((a, v) => a + v, 0);
    assert.equal(sent, 30_000);
    assert.equal(c.rxFrames, c.forwarded + drops, `rx ${c.rxFrames} = forwarded ${c.forwarded} + drops ${JSON.stringify(c.drops)}`);
    const ringDrops = c.uplink.ringDrops + c.ports.p1!.ringDrops;
    assert.ok(c.rxFrames + ringDrops >= sent * 0.95, `engine saw ${c.rxFrames} (+${ringDrops} ring drops) of ${sent}`);
    assert.ok(c.drops.malformed! > 0 && c.drops.unknownUnicast! > 0 && c.drops.unknownVlan! > 0, JSON.stringify(c.drops));
  });
});
