/**
 * The XDP backend's refusals and choices on real devices: another XDP program on the uplink is
 * refused with a clear error (one program per device), 'auto' never picks XDP on a veth and says why,
 * and a stopped switch leaves no program attached. Jumbo MTU: the program is multi-buffer
 * ("xdp.frags"), so it attaches at MTU 9000 and `ping -s 8972 -M do` crosses it both ways.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withLab } from '../../src/lab/index.ts';
import { Switch } from '../../src/dataplane/index.ts';
import { XdpProgram } from '../../src/dataplane/xdp-program.ts';
import { XDP_STAT } from '../../src/dataplane/xdp-program.ts';
import { needsRoot } from '../support.ts';

const xdpAttached = async (run: (cmd: string, args: string[]) => Promise<string>, dev: string) =>
  /\bxdp\b/.test(await run('ip', ['-d', 'link', 'show', dev]));

test('XDP backend: refusals, auto choice, detach on stop', { skip: needsRoot, timeout: 60_000 }, async () => {
  await withLab(async (lab) => {
    const ns = await lab.addNamespace('xb');
    await lab.addVeth({ ns, name: 'upl' }, { ns, name: 'wire' });
    await lab.addVeth({ ns, name: 'p1' }, { ns, name: 'e1' });
    const run = (cmd: string, args: string[]) => ns.run(cmd, args);
    const port = { name: 'port1', mac: '02:6d:64:00:0b:01', backend: { kind: 'packet' as const, ifname: 'p1' } };

    // another program already on the uplink
    const other = XdpProgram.load();
    other.attach('upl', { netns: ns.path });
    const s1 = new Switch({ uplink: 'upl', netns: ns.path, backend: 'xdp' });
    s1.addPort(port);
    await assert.rejects(s1.start(), /another XDP program is attached/);
    other.close();
    assert.equal(await xdpAttached(run, 'upl'), false, 'closing the program detached it');

    // auto on a veth: never XDP (the tc fast path with one worker, the rings with more), with the reason
    const s3 = new Switch({ uplink: 'upl', netns: ns.path, backend: 'auto', workers: 2 });
    s3.addPort(port);
    await s3.start();
    assert.equal(s3.backend()?.backend, 'packet');
    assert.match(s3.backend()!.reason, /veth device/);
    assert.equal(await xdpAttached(run, 'upl'), false, 'no XDP program on a veth under auto');
    await s3.stop();

    // xdp: attached while running, gone after stop
    const s4 = new Switch({ uplink: 'upl', netns: ns.path, backend: 'xdp' });
    s4.addPort(port);
    await s4.start();
    assert.equal(s4.backend()?.xdpState, 'native');
    assert.equal(await xdpAttached(run, 'upl'), true);
    await s4.stop();
    assert.equal(await xdpAttached(run, 'upl'), false, 'stop detached the program');
  });
});

test('XDP backend at MTU 9000: the multi-buffer program attaches, jumbo pings cross it both ways', { skip: needsRoot, timeout: 90_000 }, async () => {
  await withLab(async (lab) => {
    const sw = await lab.addNamespace('sw');
    const wire = await lab.addNamespace('wire');
    const ns1 = await lab.addNamespace('ns1');
    await lab.addVeth({ ns: sw, name: 'up0', mtu: 9000 }, { ns: wire, name: 'w0', mtu: 9000, addresses: ['10.94.0.9/24'] });
    await lab.addVeth({ ns: sw, name: 'p1', mtu: 9000 }, { ns: ns1, name: 'e1', mac: '02:6d:64:00:0f:01', mtu: 9000, addresses: ['10.94.0.1/24'] });
    await ns1.run('ethtool', ['-K', 'e1', 'gro', 'on']); // NAPI for the devmap redirect into p1
    const s = new Switch({ uplink: 'up0', netns: sw.name, backend: 'xdp', mtu: 9000 });
    s.addPort({ name: 'p1', mac: '02:6d:64:00:0f:01', mode: 'bridge', backend: { kind: 'packet', ifname: 'p1' } });
    await s.start();
    try {
      assert.equal(s.backend()?.xdpState, 'native');
      const jumbo = async (from: typeof ns1, to: string) => (await from.exec('ping', ['-c', '3', '-W', '2', '-s', '8972', '-M', 'do', to], { timeoutMs: 20_000 })).code === 0;
      const before = s.xdpStats()!;
      assert.equal(await jumbo(wire, '10.94.0.1'), true, 'wire -> ns1, 9000-byte packets through the XDP program');
      assert.equal(await jumbo(ns1, '10.94.0.9'), true, 'ns1 -> wire');
      const after = s.xdpStats()!;
      // The 9014-byte echo requests from the wire were redirected in the kernel (multi-buffer frames).
      assert.ok(after[XDP_STAT.forwarded]! - before[XDP_STAT.forwarded]! >= 3, `XDP forwarded the jumbo frames: ${after.join(',')}`);
      assert.ok(after[XDP_STAT.rxBytes]! - before[XDP_STAT.rxBytes]! >= 3 * 9014, `their whole length counted: ${after.join(',')}`);
    } finally {
      await s.stop();
    }
  });
});
