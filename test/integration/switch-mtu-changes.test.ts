/**
 * The switch's frame limit follows MTU changes made while it runs:
 * - an uplink deleted and re-created with MTU 9000 (the link watch re-attaches it): a switch
 *   whose limit follows the uplink takes the new MTU, so a 9000-byte ping crosses;
 * - a daemon reload that changes a userspace network's `mtu` (and `backend`) reaches its running
 *   switch: a 9000-byte ping that crossed stops crossing at `mtu: 1500` (counted `oversized`),
 *   and crosses again at `mtu: 9000`.
 * - an MTU changed in place (`ip link set DEV mtu N`: same device, same ifindex): the link watch
 *   sees RTM_NEWLINK with the new IFLA_MTU and re-attaches the device (the rings check frames
 *   against the MTU they read at open), and a limit that follows the uplink takes the new MTU.
 *   Jumbo pings and 1700-byte ones (a frame that fits a 2 KiB TX ring slot, so the ring's own MTU
 *   check decides) cross after raising the uplink and the port's devices to 9000, and jumbo ones
 *   stop crossing (counted oversized) after lowering the uplink again.
 * Jumbo pings are `ping -s 8972 -M do` (a 9000-byte IP packet, never fragmented).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab } from '../../src/lab/index.ts';
import { Switch } from '../../src/dataplane/index.ts';
import type { SwitchLinkEvent } from '../../src/dataplane/index.ts';
import { apiRequest } from '../../src/service/control-client.ts';
import { needsRoot } from '../support.ts';
import { cli, DaemonProcess, removeNamespacesWithPrefix, tempDir } from './service-helpers.ts';

function pingSize(ns: string, addr: string, size: number, count = 2): boolean {
  return spawnSync('ip', ['netns', 'exec', ns, 'ping', '-c', String(count), '-W', '2', '-s', String(size), '-M', 'do', addr]).status === 0;
}

function jumboPing(ns: string, addr: string, count = 2): boolean {
  return pingSize(ns, addr, 8972, count);
}

async function until(pred: () => boolean, ms: number): Promise<boolean> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > ms) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

test('an uplink re-created with MTU 9000: the frame limit follows, a 9000-byte ping crosses the switch', { skip: needsRoot, timeout: 60_000 }, async () => {
  const lab = await Lab.create();
  let s: Switch | undefined;
  try {
    const sw = await lab.addNamespace('sw');
    const far = await lab.addNamespace('far');
    const ep = await lab.addNamespace('ep');
    const FAR = '02:6d:64:00:1c:01'; // the same on the re-created device (the endpoint's neighbour entry stays right)
    await lab.addVeth({ ns: sw, name: 'up0' }, { ns: far, name: 'f0', mac: FAR, addresses: ['10.94.0.1/24'] });
    const [, e0] = await lab.addVeth({ ns: sw, name: 'pp0', mtu: 9000 }, { ns: ep, name: 'e0', mtu: 9000, addresses: ['10.94.0.2/24'] });
    s = new Switch({ uplink: 'up0', netns: sw.name });
    s.addPort({ name: 'ep', mac: e0.mac, mode: 'bridge', backend: { kind: 'packet', ifname: 'pp0' } });
    const events: SwitchLinkEvent[] = [];
    s.on('link', (e: SwitchLinkEvent) => events.push(e));
    await s.start();
    assert.ok(spawnSync('ip', ['netns', 'exec', ep.name, 'ping', '-c', '1', '-W', '2', '10.94.0.1']).status === 0, 'ping through the switch');

    await sw.ip(['link', 'del', 'up0']);
    await lab.addVeth({ ns: sw, name: 'up0', mtu: 9000 }, { ns: far, name: 'f0', mac: FAR, mtu: 9000, addresses: ['10.94.0.1/24'] });
    assert.ok(await until(() => events.some((e) => e.role === 'uplink' && e.state === 'reattached'), 10_000), `uplink re-attached (${JSON.stringify(events)})`);
    const before = s.counters().drops.oversized ?? 0;
    assert.ok(jumboPing(ep.name, '10.94.0.1'), `a 9000-byte ping crosses after the re-create (drops ${JSON.stringify(s.counters().drops)})`);
    assert.equal(s.counters().drops.oversized ?? 0, before, 'nothing dropped as oversized');
  } finally {
    await s?.stop();
    await lab.destroy();
  }
});

test('daemon reload: a userspace network\'s mtu and backend changes reach the running switch', { skip: needsRoot, timeout: 120_000 }, async () => {
  const lab = await Lab.create();
  const dir = tempDir('mtu');
  const state = join(dir, 'state');
  let d: DaemonProcess | undefined;
  try {
    const sw = await lab.addNamespace('sw');
    const far = await lab.addNamespace('far');
    await lab.addVeth({ ns: sw, name: 'up0', mtu: 9000 }, { ns: far, name: 'f0', mtu: 9000, addresses: ['10.95.0.1/24'] });
    const epNs = `${lab.prefix}-ep1`;
    const cfg = join(dir, 'mtu.json');
    const write = (extra: Record<string, unknown>) =>
      writeFileSync(cfg, JSON.stringify({
        version: 1,
        networks: [{ name: 'jn', parent: { netns: sw.name, dev: 'up0' }, dataplane: 'userspace', subnet: '10.95.0.0/24', ...extra, endpoints: [{ name: 'ep1', netns: epNs, ip: '10.95.0.2' }] }],
      }));
    write({});
    const socket = join(state, 'macdemuxd.sock');
    d = new DaemonProcess(['--config', cfg, '--state-dir', state, '--metrics', 'off']);
    await d.event('daemon.ready', 60_000);
    // the endpoint's devices are the user's to size (the switch only forwards)
    const port = ((await apiRequest(socket, 'GET', '/ports')).body as any[]).find((p) => p.name === 'ep1');
    spawnSync('ip', ['-n', epNs, 'link', 'set', 'eth0', 'mtu', '9000']);
    spawnSync('ip', ['-n', sw.name, 'link', 'set', port.switchIfname, 'mtu', '9000']);
    const oversized = async () => ((await apiRequest(socket, 'GET', '/counters')).body as any).switches[0].drops.oversized ?? 0;
    assert.ok(jumboPing(epNs, '10.95.0.1'), 'a 9000-byte ping crosses (the limit follows the uplink\'s MTU 9000)');
    const backend = async () => ((await apiRequest(socket, 'GET', '/counters')).body as any).switches[0] as { backend: string; backendReason: string };
    assert.equal((await backend()).backend, 'tc', 'no backend in the config: auto, the tc fast path on this veth parent');
    assert.match((await backend()).backendReason, /^auto: "up0" is a veth device with one worker/);

    write({ mtu: 1500 });
    let at = d.mark();
    const r1 = await apiRequest(socket, 'POST', '/reload');
    assert.equal(r1.status, 200, JSON.stringify(r1.body));
    await d.waitFor((l) => l.event === 'switch.restarting' && /mtu uplink -> 1500/.test(l.reason), 10_000, 'switch restart (mtu)', at);
    const o1 = await oversized();
    assert.ok(!jumboPing(epNs, '10.95.0.1', 1), 'with mtu: 1500 the 9000-byte ping no longer crosses');
    assert.ok((await oversized()) > o1, 'and the switch counts it oversized');
    assert.ok(spawnSync('ip', ['netns', 'exec', epNs, 'ping', '-c', '1', '-W', '2', '10.95.0.1']).status === 0, 'small frames still cross');

    write({ mtu: 9000, backend: 'packet' });
    at = d.mark();
    const r2 = await apiRequest(socket, 'POST', '/reload');
    assert.equal(r2.status, 200, JSON.stringify(r2.body));
    await d.waitFor((l) => l.event === 'switch.restarting' && /backend auto -> packet, mtu 1500 -> 9000/.test(l.reason), 10_000, 'switch restart (backend, mtu)', at);
    assert.ok(jumboPing(epNs, '10.95.0.1'), 'with mtu: 9000 it crosses again');
    const named = await backend();
    assert.equal(named.backend, 'packet', 'backend: packet in the config');
    assert.equal(named.backendReason, 'requested');
  } finally {
    await d?.stop();
    cli(['down', '--state-dir', state]);
    await removeNamespacesWithPrefix(lab.prefix);
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

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
    assert.ok(jumboPing(ep.name, '10.96.0.1'), `a 9000-byte ping crosses after the in-place change (drops ${JSON.stringify(s.counters().drops)})`);
    assert.ok(pingSize(ep.name, '10.96.0.1', 1700), `a 1728-byte ping crosses too (uplink ${JSON.stringify(s.counters().uplink)})`);
    assert.equal(s.counters().drops.oversized ?? 0, before, 'nothing dropped as oversized');
    assert.ok(!events.some((e) => e.state === 'reattach-failed'), JSON.stringify(events));

    // the uplink back to 1500: the limit follows down (the port's devices keep 9000, so the
    // endpoint's jumbo frames still reach the switch, which must drop them)
    events.length = 0;
    await sw.ip(['link', 'set', 'dev', 'up0', 'mtu', '1500']);
    assert.ok(await until(() => events.some((e) => e.role === 'uplink' && e.state === 'mtu' && e.mtu === 1500), 10_000), JSON.stringify(events));
    assert.ok(!jumboPing(ep.name, '10.96.0.1', 1), 'with the uplink at 1500 a 9000-byte ping no longer crosses');
    assert.ok((s.counters().drops.oversized ?? 0) > before, `and the switch counts it oversized (${JSON.stringify(s.counters().drops)})`);
    assert.ok(pingSize(ep.name, '10.96.0.1', 56), 'small frames still cross');
  } finally {
    await s?.stop();
    await lab.destroy();
  }
});
