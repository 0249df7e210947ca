/**
 * `macdemux network ...` in Docker's words against a running macdemuxd in a lab: create two
 * networks on a Docker-style VLAN parent (eth0.30: VLAN 30 on eth0, userspace data plane) on two
 * "hosts" joined by a veth, connect a namespace to each, ping across, ls and
 * inspect in docker's shapes, disconnect, rm; ls/inspect from the state directory with no daemon.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab } from '../../src/lab/index.ts';
import { needsRoot } from '../support.ts';
import { cli, DaemonProcess, ping, removeNamespacesWithPrefix, tempDir } from './service-helpers.ts';

test('network create/connect/inspect/ls/disconnect/rm through the daemon; ls/inspect without it', { skip: needsRoot, timeout: 180_000 }, async () => {
  const lab = await Lab.create();
  const dir = tempDir('netcli');
  const state = join(dir, 'state');
  const cfg = join(dir, 'empty.yaml');
  let d: DaemonProcess | undefined;
  try {
    const h1 = await lab.addNamespace('host1');
    const h2 = await lab.addNamespace('host2');
    await lab.addVeth({ ns: h1, name: 'eth0' }, { ns: h2, name: 'eth0' });
    writeFileSync(cfg, 'version: 1\nnetworks: []\n');
    d = new DaemonProcess(['--config', cfg, '--state-dir', state, '--metrics', 'off']);
    await d.event('daemon.ready', 60_000);
    const s = ['--state-dir', state];
    const ok = (args: string[]) => {
      const r = cli(['network', ...args, ...s]);
      assert.equal(r.code, 0, `macdemux network ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    const a = `${lab.prefix}-a`;
    const b = `${lab.prefix}-b`;

    const id = ok(['create', '-d', 'macvlan', '--subnet', '10.30.0.0/24', '--gateway', '10.30.0.254', '-o', `parent=${h1.name}:eth0.30`, 'net30a']).trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    ok(['create', '--subnet=10.30.0.0/24', '-o', `parent=${h2.name}:eth0.30`, '-o', 'macvlan_mode=bridge', 'net30b']);
    ok(['connect', '--ip', '10.30.0.10', 'net30a', a]);
    ok(['connect', '--ip', '10.30.0.11', '--mac-address', '02:42:0a:1e:00:0b', 'net30b', b]);
    assert.ok(ping(a, '10.30.0.11', 2), 'VLAN 30 across the two hosts');

    const ls = ok(['ls']).trimEnd().split('\n');
    assert.match(ls[0]!, /^NETWORK ID\s+NAME\s+DRIVER\s+SCOPE$/);
    assert.match(ls.find((l) => /\bnet30a\b/.test(l)) ?? '', new RegExp(`^${id.slice(0, 12)}\\s+net30a\\s+macdemux\\s+local$`));
    assert.equal(ok(['ls', '-q']).trim().split('\n').length, 2);
    const [ins] = JSON.parse(ok(['inspect', 'net30b'])) as any[];
    assert.equal(ins.Name, 'net30b');
    assert.equal(ins.Driver, 'macdemux');
    assert.equal(ins.Scope, 'local');
    assert.deepEqual(ins.Options, { parent: `${h2.name}:eth0.30`, macvlan_mode: 'bridge' });
    assert.deepEqual(ins.IPAM.Config, [{ Subnet: '10.30.0.0/24' }]);
    const members = Object.values(ins.Containers) as any[];
    assert.deepEqual(members.map((m) => [m.Name, m.IPv4Address, m.MacAddress]), [[b, '10.30.0.11/24', '02:42:0a:1e:00:0b']]);

    // Refusals: a name taken (409), a kernel network on a VLAN parent (the reason), bad words (exit 2).
    const dup = cli(['network', 'create', '--subnet', '10.31.0.0/24', '-o', `parent=${h1.name}:eth0.31`, 'net30a', ...s]);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /a network named "net30a" already exists/);
    const nok = cli(['network', 'create', '-d', 'macvlan', '--subnet', '10.32.0.0/24', '-o', `parent=${h1.name}:eth0.32`, '-o', 'macvlan_mode=private', 'k32', ...s]);
    assert.equal(nok.code, 0, nok.stderr); // macvlan on a VLAN parent: the userspace engine serves it
    const usage = cli(['network', 'create', '--subnt', '10.0.0.0/24', 'x', ...s]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /unknown option "--subnt"/);
    ok(['rm', 'k32']);

    ok(['disconnect', 'net30a', a]);
    assert.ok(!ping(a, '10.30.0.11', 1, 1), 'disconnected');
    const [after] = JSON.parse(ok(['inspect', 'net30a'])) as any[];
    assert.deepEqual(after.Containers, {});

    // Without the daemon: the state directory answers ls and inspect.
    assert.equal(await d.stop('SIGTERM'), 0);
    d = undefined;
    const offline = ok(['ls']);
    assert.match(offline, /\bnet30a\s+macdemux\s+local\b/);
    assert.match(offline, /\bnet30b\s+macdemux\s+local\b/);
    const [off] = JSON.parse(ok(['inspect', 'net30b'])) as any[];
    assert.equal((Object.values(off.Containers) as any[])[0].IPv4Address, '10.30.0.11/24');
    const rmOffline = cli(['network', 'rm', 'net30b', ...s]);
    assert.equal(rmOffline.code, 1, 'rm needs the daemon');

    // Restarted, the daemon brings the API networks back; rm removes them.
    d = new DaemonProcess(['--config', cfg, '--state-dir', state, '--metrics', 'off', '--teardown-on-exit']);
    await d.event('daemon.ready', 60_000);
    ok(['rm', 'net30a', 'net30b']);
    assert.equal(ok(['ls', '-q']).trim(), '');
  } finally {
    await d?.stop('SIGTERM');
    await lab.destroy();
    await removeNamespacesWithPrefix(lab.prefix);
  }
});
