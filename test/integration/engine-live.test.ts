/**
 * Live reconfiguration under traffic: a generator blasts frames into the uplink while ports are
 * added, removed and re-moded (and JS ports come and go); no crash, no duplicate deliveries, and the
 * counters add up (rx = forwarded + dropped by reason; each port's tx = what its sink received).
 * Backend 'packet', named: this tests the AF_PACKET ring engine (the default, 'auto', takes the
 * tc fast path on a veth uplink with one worker).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withLab } from '../../src/lab/index.ts';
import { Switch, type MacvlanMode } from '../../src/dataplane/index.ts';
import { startGenerator, openSink, type Sink } from '../../src/io/index.ts';
import { needsRoot } from '../support.ts';

const macs = ['02:6d:64:00:01:01', '02:6d:64:00:01:02', '02:6d:64:00:01:03'];
const UNKNOWN = '02:6d:64:00:0f:0f';
const REMOTE = '02:6d:64:00:0e:01';

for (const workers of [1, 2]) {
  test(`live add/remove/mode changes under traffic (${workers} worker${workers > 1 ? 's' : ''})`, { skip: needsRoot, timeout: 120_000 }, async () => {
    await withLab(async (lab) => {
      const sw = await lab.addNamespace('sw');
      await sw.run('sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
      const gen = await lab.addNamespace('gen');
      await lab.addVeth({ ns: gen, name: 'g0' }, { ns: sw, name: 'up0' });
      const sinkNs = [];
      for (let i = 0; i < 3; i++) {
        const ns = await lab.addNamespace(`s${i + 1}`);
        // no IPv6 autoconf/MLD chatter from the endpoints: every frame a sink sees is accounted for
        await ns.run('sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
        await lab.addVeth({ ns: sw, name: `p${i + 1}` }, { ns, name: `e${i + 1}`, mac: macs[i]! });
        sinkNs.push(ns);
      }
      const sinks: Sink[] = sinkNs.map((ns, i) => openSink({ ifname: `e${i + 1}`, netns: ns.name, promisc: true }));
      const s = new Switch({ uplink: 'up0', netns: sw.name, workers, backend: 'packet' });
      const port = (i: number, mode: MacvlanMode) => ({
        name: `p${i + 1}`,
        mac: macs[i]!,
        mode,
        ...(mode === 'source' ? { sourceMacs: [REMOTE] } : {}),
        backend: { kind: 'packet' as const, ifname: `p${i + 1}` },
      });
      for (let i = 0; i < 3; i++) s.addPort(port(i, 'bridge'));
      let jsFrames = 0;
      await s.start();
      let changes = 0;
      try {
        const g = startGenerator({
          ifname: 'g0',
          netns: gen.name,
          templates: [
            { dst: macs[0]!, src: REMOTE, size: 64 },
            { dst: macs[1]!, src: REMOTE, size: 64 },
            { dst: macs[2]!, src: REMOTE, size: 64 },
            { dst: 'ff:ff:ff:ff:ff:ff', src: REMOTE, size: 64 },
            { dst: UNKNOWN, src: REMOTE, size: 64 },
          ],
          ratePps: 0, // as fast as the generator goes: ~1 Mpps on this 2-core VM when it is quiet
          durationMs: 30_000, // stopped below once the changes are made
        });
        const modes: MacvlanMode[] = ['private', 'vepa', 'bridge', 'source'];
        // At least 36 changes and at least 2.8 s of them, all while the generator runs: on a loaded
        // machine each 20 ms pause takes longer, so the count, not the clock, bounds the loop.
        const t0 = Date.now();
        while (changes < 36 || Date.now() - t0 < 2800) {
          const k = changes++ % 6;
          if (k === 0) s.removePort('p3');
          else if (k === 1) s.addPort(port(2, modes[changes % 4]!));
          else if (k === 2) s.setPortMode('p1', modes[changes % 4]!);
          else if (k === 3) s.addPort({ name: 'js', mac: '02:6d:64:00:0a:0a', mode: 'vepa', backend: { kind: 'js', onFrames: (b) => (jsFrames += b.count) } });
          else if (k === 4) s.setPortMode('p2', modes[(changes + 1) % 4]!);
          else s.removePort('js');
          await new Promise((r) => setTimeout(r, 20));
        }
        const gs = await g.stop();
        assert.ok(gs.sent > 10_000, `generator sent ${gs.sent}`);
        await new Promise((r) => setTimeout(r, 300));
      } finally {
        await s.stop();
      }
      const c = s.counters();
      const sinkStats = await Promise.all(sinks.map((k) => k.close()));
      const drops = Object.values(c.drops).reduce((a, v) => a + v, 0);
      assert.ok(changes >= 30, `made ${changes} live changes`);
      assert.ok(c.rxFrames > 10_000, `engine received ${c.rxFrames}`);
      assert.equal(c.rxFrames, c.forwarded + drops, `rx ${c.rxFrames} = forwarded ${c.forwarded} + dropped ${drops} (${JSON.stringify(c.drops)})`);
      // The rest came from the endpoints (IPv6 autoconf/MLD on the sink veths).
      assert.ok(c.uplink.rxPackets <= c.rxFrames && c.uplink.rxPackets > 10_000, `uplink rx ${c.uplink.rxPackets}`);
      assert.ok(c.drops.unknownUnicast! > 0, 'unknown unicast was dropped and counted');
      for (let i = 0; i < 3; i++) {
        const pc = c.ports[`p${i + 1}`];
        if (i === 2) continue; // p3 was removed and re-added: its counters restart
        assert.ok(pc && pc.txPackets > 0, `p${i + 1} transmitted`);
        // what the port sent is what its sink saw (test-payload frames + others, e.g. IPv6 ND flooded from other ports)
        // (frames the sink's own ring had no room for are counted by the kernel as its drops)
        const seen = sinkStats[i]!.packets + sinkStats[i]!.other + sinkStats[i]!.kernelDrops;
        assert.equal(seen, pc!.txPackets, `sink ${i + 1} got every frame port p${i + 1} sent: ${JSON.stringify(sinkStats[i])} vs ${JSON.stringify(pc)}`);
        assert.equal(sinkStats[i]!.duplicates, 0, `no duplicates at sink ${i + 1}`);
      }
      assert.ok(jsFrames > 0, 'JS port received broadcasts while attached');
    });
  });
}
