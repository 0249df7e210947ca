/**
 * MTU changed in place (`ip link set DEV mtu N`: same device, same ifindex) while the switch runs:
 * the link watch sees RTM_NEWLINK with the new IFLA_MTU and re-attaches the device (the rings
 * check frames against the MTU they read at open), and a frame limit that follows the uplink takes
 * the new MTU. Jumbo pings (`ping -s 8972 -M do`) and mid-size ones (1700 bytes: a frame that fits
 * a 2 KiB TX ring slot, so the ring's own MTU check decides) cross after raising the uplink and
 * the port's devices to 9000, and stop crossing (counted oversized) after lowering the uplink's again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Lab } from '../../src/lab/index.ts';
import { Switch } from '../../src/dataplane/index.ts';
import type { SwitchLinkEvent } from '../../src/dataplane/index.ts';
import { needsRoot } from '../support.ts';

function pingSize(ns: string, addr: string, size: number, count = 2): boolean {
  return spawnSync('ip', ['netns', 'exec', ns, 'ping', '-c', String(count), '-W', '2', '-s', String(size), '-M', 'do', addr]).status === 0;
}

async function until(pred: () => boolean, ms: number): Promise<boolean> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > ms) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

test('uplink and port MTU raised in place to 9000: the frame limit follows, jumbo and mid-size pings cross; uplink lowered again: they stop', { skip: needsRoot, timeout: 60_000 }, async () => {
  const lab = await Lab.create();
  let s: Switch | undefined;
  try {
    const sw = await lab.addNamespace('sw');
    const far = await lab.addNamespace('far');
    const ep = await lab.addNamespace('ep');
    await lab.addVeth({ ns: sw, name: 'up0' }, { ns: far, name: 'f0', addresses: ['10.96.0.1/24'] });
    const [, e0] = await lab.addVeth({ ns: sw, name: 'pp0' }, { ns: ep, name: 'e0', addresses: ['10.96.0.2/24'] });
    s = new Switch({ uplink: 'up0', netns: sw.name });
    s.addPort({ name: 'ep', mac: e0.mac, mode: 'bridge', backend: { kind: 'packet', ifname: 'pp0' } });
    const events: SwitchLinkEvent[] = [];
    s.on('link', (e: SwitchLinkEvent) => events.push(e));
    await s.start();
    assert.ok(pingSize(ep.name, '10.96.0.1', 56), 'ping through the switch');

    const setMtu = async (mtu: number) => {
      for (const [ns, dev] of [[far, 'f0'], [sw, 'up0'], [sw, 'pp0'], [ep, 'e0']] as const) await ns.ip(['link', 'set', 'dev', dev, 'mtu', String(mtu)]);
    };
    await setMtu(9000);
    assert.ok(await until(() => events.some((e) => e.role === 'uplink' && e.state === 'mtu' && e.mtu === 9000), 10_000), `uplink MTU change seen (${JSON.stringify(events)})`);
    assert.ok(await until(() => events.some((e) => e.role === 'port' && e.state === 'mtu' && e.mtu === 9000), 10_000), `port MTU change seen (${JSON.stringify(events)})`);
    const before = s.counters().drops.oversized ?? 0;
    assert.ok(pingSize(ep.name, '10.96.0.1', 8972), `a 9000-byte ping crosses after the in-place change (drops ${JSON.stringify(s.counters().drops)})`);
    assert.ok(pingSize(ep.name, '10.96.0.1', 1700), `a 1728-byte ping crosses too (uplink ${JSON.stringify(s.counters().uplink)})`);
    assert.equal(s.counters().drops.oversized ?? 0, before, 'nothing dropped as oversized');
    assert.ok(!events.some((e) => e.state === 'reattach-failed'), JSON.stringify(events));

    // the uplink back to 1500: the limit follows down (the port's devices keep 9000, so the
    // endpoint's jumbo frames still reach the switch, which must drop them)
    events.length = 0;
    await sw.ip(['link', 'set', 'dev', 'up0', 'mtu', '1500']);
    assert.ok(await until(() => events.some((e) => e.role === 'uplink' && e.state === 'mtu' && e.mtu === 1500), 10_000), JSON.stringify(events));
    assert.ok(!pingSize(ep.name, '10.96.0.1', 8972, 1), 'with the uplink at 1500 a 9000-byte ping no longer crosses');
    assert.ok((s.counters().drops.oversized ?? 0) > before, `and the switch counts it oversized (${JSON.stringify(s.counters().drops)})`);
    assert.ok(pingSize(ep.name, '10.96.0.1', 56), 'small frames still cross');
  } finally {
    await s?.stop();
    await lab.destroy();
  }
});
