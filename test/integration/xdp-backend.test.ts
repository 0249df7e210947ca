/**
 * The XDP backend's refusals and choices on real devices: another XDP program on the uplink is
 * refused with a clear error (one program per device), a jumbo MTU that needs multi-buffer XDP is
 * refused, 'auto' picks AF_PACKET on a veth and says why, and a stopped switch leaves no program
 * attached.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withLab } from '../../src/lab/index.ts';
import { Switch } from '../../src/dataplane/index.ts';
import { XdpProgram } from '../../src/dataplane/xdp-program.ts';
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

    // jumbo MTU on the veth: the peer's MTU needs multi-buffer XDP (drivers/net/veth.c veth_xdp_set)
    await ns.ip(['link', 'set', 'wire', 'mtu', '9000']);
    await ns.ip(['link', 'set', 'upl', 'mtu', '9000']);
    const s2 = new Switch({ uplink: 'upl', netns: ns.path, backend: 'xdp' });
    s2.addPort(port);
    await assert.rejects(s2.start(), /multi-buffer XDP/);
    await ns.ip(['link', 'set', 'upl', 'mtu', '1500']);
    await ns.ip(['link', 'set', 'wire', 'mtu', '1500']);

    // auto on a veth: AF_PACKET, with the reason
    const s3 = new Switch({ uplink: 'upl', netns: ns.path, backend: 'auto' });
    s3.addPort(port);
    await s3.start();
    assert.equal(s3.backend()?.backend, 'packet');
    assert.match(s3.backend()!.reason, /veth device/);
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
