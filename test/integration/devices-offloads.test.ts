/**
 * Offloads over ethtool netlink (src/devices/offloads.ts, src/netlink/ethtool.ts) on real veth ends
 * in a lab namespace, checked against the `ethtool` program's own view (`ethtool -k`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { needsRoot } from '../support.ts';
import { withLab, type Namespace } from '../../src/lab/index.ts';
import { getOffloads, setOffloads } from '../../src/devices/index.ts';
import { InvalidArgumentError } from '../../src/errors.ts';

/** `ethtool -k IF` as a map of feature line -> "on"/"off" (with " [fixed]"/" [requested on]" kept). */
async function ethtoolK(ns: Namespace, ifname: string): Promise<Map<string, string>> {
  const out = await ns.run('ethtool', ['-k', ifname]);
  const m = new Map<string, string>();
  for (const line of out.split('\n')) {
    const r = /^\s*([a-z0-9_-]+): (.+)$/.exec(line);
    if (r) m.set(r[1]!, r[2]!);
  }
  return m;
}

test('getOffloads reads what ethtool -k reports; setOffloads changes it; both run in the namespace', { skip: needsRoot }, async () => {
  await withLab(async (lab) => {
    const a = await lab.addNamespace('a');
    const b = await lab.addNamespace('b');
    await lab.addVeth({ ns: a, name: 'va' }, { ns: b, name: 'vb' });

    const k0 = await ethtoolK(a, 'va');
    const s0 = await getOffloads('va', { netns: a.name });
    assert.equal(s0.tx, k0.get('tx-checksumming')!.startsWith('on'));
    assert.equal(s0.tso, k0.get('tcp-segmentation-offload')!.startsWith('on'));
    assert.equal(s0.gso, k0.get('generic-segmentation-offload')!.startsWith('on'));
    assert.equal(s0.gro, k0.get('generic-receive-offload')!.startsWith('on'));
    assert.equal(s0.sg, k0.get('scatter-gather')!.startsWith('on'));
    // every feature ethtool lists as on (and not a group line) is in the active set, by kernel name
    for (const [name, v] of k0) {
      if (v.startsWith('on') && name.includes('-') && !/(checksumming|offload|scatter-gather)$/.test(name)) {
        assert.ok(s0.features.active.has(name), `${name} active per ethtool`);
      }
    }
    assert.equal(s0.tx, true, 'veth default: tx checksum offload on');

    const s1 = await setOffloads('va', { tx: false, gso: false, tso: false, gro: false }, { netns: a.name });
    assert.deepEqual([s1.tx, s1.gso, s1.tso, s1.gro], [false, false, false, false]);
    const k1 = await ethtoolK(a, 'va');
    assert.equal(k1.get('tx-checksumming'), 'off');
    assert.equal(k1.get('generic-segmentation-offload'), 'off');
    assert.equal(k1.get('tcp-segmentation-offload'), 'off');
    assert.equal(k1.get('generic-receive-offload'), 'off');
    assert.equal(k1.get('scatter-gather'), k0.get('scatter-gather'), 'offloads not asked for stay as they were');
    // the peer in the other namespace is untouched
    assert.equal((await ethtoolK(b, 'vb')).get('tx-checksumming'), k0.get('tx-checksumming'));

    const s2 = await setOffloads('va', { gro: true, gso: true }, { netns: a.name });
    assert.deepEqual([s2.gro, s2.gso, s2.tx], [true, true, false]);
    assert.equal((await ethtoolK(a, 'va')).get('generic-receive-offload'), 'on');
  });
});

test('setOffloads: a change the kernel does not apply fails with the features and leaves the device as it was', { skip: needsRoot }, async () => {
  await withLab(async (lab) => {
    const a = await lab.addNamespace('a');
    const b = await lab.addNamespace('b');
    await lab.addVeth({ ns: a, name: 'va' }, { ns: b, name: 'vb' });
    await setOffloads('va', { tx: false, tso: false }, { netns: a.name });
    const before = await ethtoolK(a, 'va');
    assert.equal(before.get('tx-tcp-segmentation'), 'off');
    // TSO needs checksum offload: the kernel keeps it off (net/core/dev.c netdev_fix_features)
    await assert.rejects(setOffloads('va', { tso: true }, { netns: a.name }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'EINVAL');
      assert.match(e.message, /device "va": change offloads failed: EINVAL .*not applied: tx-tcp-segmentation on/);
      return true;
    });
    // the failed call put the wanted state back: ethtool sees the device as it was before
    assert.deepEqual(await ethtoolK(a, 'va'), before);
    // lro is fixed off on veth: asking for off is a no-op, asking for on is refused
    await setOffloads('va', { lro: false }, { netns: a.name });
    await assert.rejects(setOffloads('va', { lro: true }, { netns: a.name }), /turn lro on failed: .*no changeable rx-lro feature/);
  });
});

test('offloads: bad input and missing devices are clear errors', { skip: needsRoot }, async () => {
  await withLab(async (lab) => {
    const a = await lab.addNamespace('a');
    await assert.rejects(getOffloads('nosuch0', { netns: a.name }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'ENODEV');
      assert.match(e.message, /device "nosuch0": read features failed: ENODEV/);
      return true;
    });
    await assert.rejects(setOffloads('lo', { tsx: false } as never, { netns: a.name }), InvalidArgumentError);
    await assert.rejects(setOffloads('lo', { tx: 'off' } as never, { netns: a.name }), /Expected a boolean for offloads.tx/);
    await assert.rejects(setOffloads('lo', {}, { netns: a.name }), /at least one offload/);
    await assert.rejects(getOffloads('bad name!'), InvalidArgumentError);
  });
});
