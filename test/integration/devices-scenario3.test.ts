/**
 * Scenario 3 (docs/scenarios.md) on kernel devices created by the devices API:
 * parent = veth "up0" in a host namespace whose peer "wp0" is in a wire namespace; macvlans are
 * created straight into ns1/ns2 (targetNetns). Bridge mode: ports reach each other and the wire;
 * private: ports are isolated; vepa: ports reach each other only when the wire side is a Linux
 * bridge with hairpin on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { needsRoot } from '../support.ts';
import { withLab, type Lab, type Namespace } from '../../src/lab/index.ts';
import { addAddress, createMacvlan, deleteLink, setBridgePort, type MacvlanMode } from '../../src/devices/index.ts';

interface Topo {
  host: Namespace;
  wire: Namespace;
  ns1: Namespace;
  ns2: Namespace;
}

/** host:up0 <-> wire:wp0, wp0 enslaved to a bridge br0 (10.77.0.254/24) in the wire namespace. */
async function topology(lab: Lab): Promise<Topo> {
  const host = await lab.addNamespace('host');
  const wire = await lab.addNamespace('wire');
  const ns1 = await lab.addNamespace('ns1');
  const ns2 = await lab.addNamespace('ns2');
  await lab.addVeth({ ns: host, name: 'up0' }, { ns: wire, name: 'wp0' });
  await lab.addBridge(wire, 'br0', { ports: ['wp0'], addresses: ['10.77.0.254/24'] });
  return { host, wire, ns1, ns2 };
}

/** Two macvlans of `mode` on host:up0, created directly in ns1/ns2 with .1 and .2. */
async function ports(t: Topo, mode: MacvlanMode): Promise<void> {
  for (const [i, ns] of [t.ns1, t.ns2].entries()) {
    const link = await createMacvlan(
      { name: 'eth0', parent: 'up0', mode, targetNetns: ns.name, up: true, mac: `02:77:00:00:00:0${i + 1}` },
      { netns: t.host.name },
    );
    assert.equal(link.macvlan?.mode, mode);
    assert.equal(link.up, true);
    await addAddress('eth0', `10.77.0.${i + 1}/24`, { netns: ns.name });
  }
}

async function removePorts(t: Topo): Promise<void> {
  await deleteLink('eth0', { netns: t.ns1.name });
  await deleteLink('eth0', { netns: t.ns2.name });
  // Forget the old neighbours so the next mode starts clean.
  await t.wire.ip(['neigh', 'flush', 'dev', 'br0']);
}

const yes = { count: 3, timeoutS: 2 };
const no = { count: 2, timeoutS: 1 };

test('scenario 3 on kernel macvlans: bridge, private and vepa (with and without hairpin)', { skip: needsRoot }, async () => {
  await withLab(async (lab) => {
    const t = await topology(lab);

    // bridge: port <-> port directly in the kernel, and both reach the wire.
    await ports(t, 'bridge');
    assert.equal(await t.ns1.ping('10.77.0.2', yes), true, 'bridge: ns1 -> ns2');
    assert.equal(await t.ns2.ping('10.77.0.1', yes), true, 'bridge: ns2 -> ns1');
    assert.equal(await t.ns1.ping('10.77.0.254', yes), true, 'bridge: ns1 -> wire');
    assert.equal(await t.wire.ping('10.77.0.2', yes), true, 'bridge: wire -> ns2');
    await removePorts(t);

    // private: isolated from each other, not from the wire; hairpin does not change that
    // (the reflected ARP broadcast goes back to its sender only).
    await ports(t, 'private');
    assert.equal(await t.ns1.ping('10.77.0.254', yes), true, 'private: ns1 -> wire');
    assert.equal(await t.ns1.ping('10.77.0.2', no), false, 'private: ns1 -/-> ns2');
    await setBridgePort('wp0', { hairpin: true }, { netns: t.wire.name });
    assert.equal(await t.ns1.ping('10.77.0.2', no), false, 'private + hairpin: ns1 -/-> ns2');
    await setBridgePort('wp0', { hairpin: false }, { netns: t.wire.name });
    await removePorts(t);

    // vepa: port -> port goes out to the wire; only a hairpinning bridge sends it back.
    await ports(t, 'vepa');
    assert.equal(await t.ns1.ping('10.77.0.254', yes), true, 'vepa: ns1 -> wire');
    assert.equal(await t.ns1.ping('10.77.0.2', no), false, 'vepa without hairpin: ns1 -/-> ns2');
    await setBridgePort('wp0', { hairpin: true }, { netns: t.wire.name });
    assert.equal(await t.ns1.ping('10.77.0.2', yes), true, 'vepa with hairpin: ns1 -> ns2');
    assert.equal(await t.ns2.ping('10.77.0.1', yes), true, 'vepa with hairpin: ns2 -> ns1');
  });
});

test('private + hairpin: unicast is reflected and delivered when ARP is bypassed (kernel fact, section 1.7)', { skip: needsRoot }, async () => {
  await withLab(async (lab) => {
    const t = await topology(lab);
    await ports(t, 'private');
    await setBridgePort('wp0', { hairpin: true }, { netns: t.wire.name });
    // Static neighbours: no broadcast needed, only unicast crosses the hairpin.
    await t.ns1.ip(['neigh', 'replace', '10.77.0.2', 'lladdr', '02:77:00:00:00:02', 'dev', 'eth0', 'nud', 'permanent']);
    await t.ns2.ip(['neigh', 'replace', '10.77.0.1', 'lladdr', '02:77:00:00:00:01', 'dev', 'eth0', 'nud', 'permanent']);
    // The wire bridge must know where both MACs are (learned from traffic to the wire).
    assert.equal(await t.ns1.ping('10.77.0.254', yes), true);
    assert.equal(await t.ns2.ping('10.77.0.254', yes), true);
    // The kernel's unicast receive path has no mode check: private A -> private B works via the hairpin.
    assert.equal(await t.ns1.ping('10.77.0.2', yes), true, 'private unicast via hairpin is delivered');
    await setBridgePort('wp0', { hairpin: false }, { netns: t.wire.name });
    assert.equal(await t.ns1.ping('10.77.0.2', no), false, 'and not without the hairpin');
  });
});
