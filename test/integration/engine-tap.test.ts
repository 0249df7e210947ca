/**
 * Tap backend: a port whose frames go to a tun/tap device queue (what a VM's hypervisor would hold).
 * The engine creates tap "vm0" in the switch namespace; the test moves it into ns1 (the fd stays
 * attached), gives it an address, and ns1 pings ns2 (behind an AF_PACKET port) through the engine.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withLab } from '../../src/lab/index.ts';
import { Switch } from '../../src/dataplane/index.ts';
import { needsRoot } from '../support.ts';

test('a tap-backed port talks to a packet-backed port (bridge mode)', { skip: needsRoot, timeout: 90_000 }, async () => {
  await withLab(async (lab) => {
    const sw = await lab.addNamespace('sw');
    const wire = await lab.addNamespace('wire');
    const ns1 = await lab.addNamespace('ns1');
    const ns2 = await lab.addNamespace('ns2');
    await lab.addVeth({ ns: sw, name: 'up0' }, { ns: wire, name: 'w0' });
    await lab.addVeth({ ns: sw, name: 'p2' }, { ns: ns2, name: 'e2', mac: '02:6d:64:00:06:02', addresses: ['10.80.0.2/24'] });
    const s = new Switch({ uplink: 'up0', netns: sw.name });
    s.addPort({ name: 'vm', mac: '02:6d:64:00:06:01', mode: 'bridge', backend: { kind: 'tap', ifname: 'vm0', queues: 2 } });
    s.addPort({ name: 'p2', mac: '02:6d:64:00:06:02', mode: 'bridge', backend: { kind: 'packet', ifname: 'p2' } });
    await s.start();
    try {
      await sw.ip(['link', 'set', 'vm0', 'netns', ns1.name]);
      await ns1.ip(['link', 'set', 'vm0', 'address', '02:6d:64:00:06:01']);
      await ns1.ip(['addr', 'add', '10.80.0.1/24', 'dev', 'vm0']);
      await ns1.ip(['link', 'set', 'vm0', 'up']);
      await ns1.run('ethtool', ['-K', 'vm0', 'tx', 'off', 'gso', 'off', 'tso', 'off'], { timeoutMs: 20_000 }).catch(() => '');
      assert.equal(await ns1.ping('10.80.0.2', { count: 3, timeoutS: 2 }), true, 'tap port reaches the packet port');
      const c = s.counters();
      assert.ok(c.ports.vm!.rxPackets > 0 && c.ports.vm!.txPackets > 0, JSON.stringify(c.ports.vm));
    } finally {
      await s.stop();
    }
  });
});

test('a macvtap-backed port (passthru macvtap on a veth to a host namespace) reaches a packet port', { skip: needsRoot, timeout: 90_000 }, async () => {
  await withLab(async (lab) => {
    const sw = await lab.addNamespace('sw');
    const wire = await lab.addNamespace('wire');
    const ns1 = await lab.addNamespace('ns1');
    const ns2 = await lab.addNamespace('ns2');
    const X = '02:6d:64:00:06:11';
    await lab.addVeth({ ns: sw, name: 'up0' }, { ns: wire, name: 'w0' });
    await lab.addVeth({ ns: sw, name: 'lv' }, { ns: ns1, name: 'lp', mac: X, addresses: ['10.82.0.1/24'] });
    await lab.addVeth({ ns: sw, name: 'p2' }, { ns: ns2, name: 'e2', mac: '02:6d:64:00:06:12', addresses: ['10.82.0.2/24'] });
    // passthru: the macvtap takes every frame of lv (and its transmit goes out lv), like a VM's NIC
    await sw.ip(['link', 'add', 'link', 'lv', 'name', 'mvt0', 'type', 'macvtap', 'mode', 'passthru']);
    await sw.ip(['link', 'set', 'mvt0', 'up']);
    const s = new Switch({ uplink: 'up0', netns: sw.name });
    s.addPort({ name: 'vm', mac: X, mode: 'bridge', backend: { kind: 'tap', ifname: 'mvt0' } });
    s.addPort({ name: 'p2', mac: '02:6d:64:00:06:12', mode: 'bridge', backend: { kind: 'packet', ifname: 'p2' } });
    await s.start();
    try {
      assert.equal(await ns1.ping('10.82.0.2', { count: 3, timeoutS: 2 }), true, 'host behind the macvtap reaches the packet port');
      const c = s.counters();
      assert.ok(c.ports.vm!.rxPackets > 0 && c.ports.vm!.txPackets > 0, JSON.stringify(c.ports.vm));
    } finally {
      await s.stop();
    }
  });
});
