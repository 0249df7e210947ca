/**
 * The service on the kernel data plane, from the shipped example configs in lab namespaces:
 * scenario 1 (a macvlan network across two hosts), scenario 5 (range, aux address, host shim);
 * apply / re-apply / teardown leaves every namespace exactly as it was.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { join } from 'node:path';
import { Lab } from '../../src/lab/index.ts';
import { listNetns } from '../../src/service/netns.ts';
import { needsRoot } from '../support.ts';
import { cli, labConfig, nsDump, ping, removeNamespacesWithPrefix, tcpExchange, tempDir } from './service-helpers.ts';

test('scenario 1: endpoints on two hosts ping each other; re-apply changes nothing; teardown restores the namespaces', { skip: needsRoot }, async () => {
  const lab = await Lab.create();
  const dir = tempDir('s1');
  try {
    const h1 = await lab.addNamespace('host1');
    const h2 = await lab.addNamespace('host2');
    await lab.addVeth({ ns: h1, name: 'eth0' }, { ns: h2, name: 'eth0' }); // the physical wire
    const c1 = labConfig('scenario1-host1.yaml', lab.prefix, dir);
    const c2 = labConfig('scenario1-host2.yaml', lab.prefix, dir);
    const st1 = join(dir, 'state1');
    const st2 = join(dir, 'state2');
    const mine = () => listNetns().filter((n) => n.startsWith(`${lab.prefix}-`)).sort();
    const namespacesBefore = mine();
    const before = { h1: nsDump(h1.name), h2: nsDump(h2.name) };

    const up1 = cli(['up', c1, '--state-dir', st1]);
    assert.equal(up1.code, 0, up1.stderr + up1.stdout);
    const up2 = cli(['up', c2, '--state-dir', st2]);
    assert.equal(up2.code, 0, up2.stderr + up2.stdout);
    const a1 = `${lab.prefix}-alpine1`;
    const a2 = `${lab.prefix}-alpine2`;
    assert.ok(listNetns().includes(a1) && listNetns().includes(a2), 'endpoint namespaces created');
    const addr = JSON.parse((await h1.run('ip', ['-n', a1, '-j', 'addr', 'show', 'eth0'])) || '[]');
    assert.ok(JSON.stringify(addr).includes('172.16.86.10'), 'alpine1 has its fixed IP');
    const link = JSON.parse(await h1.run('ip', ['-n', a1, '-d', '-j', 'link', 'show', 'eth0']))[0];
    assert.equal(link.linkinfo.info_kind, 'macvlan');
    assert.equal(link.linkinfo.info_data.mode, 'bridge');

    // alpine2 (host 2) pings alpine1 (host 1) by IP, across the wire.
    assert.ok(ping(a2, '172.16.86.10', 2), 'alpine2 reaches alpine1');
    assert.ok(ping(a1, '172.16.86.11', 1), 'alpine1 reaches alpine2');

    // Re-apply: nothing to do, nothing recreated (same ifindexes, same addresses).
    const applied = { a1: nsDump(a1), a2: nsDump(a2), h1: nsDump(h1.name) };
    const again = cli(['up', c1, '--state-dir', st1]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /nothing to do/);
    assert.deepEqual(nsDump(a1), applied.a1);
    assert.deepEqual(nsDump(h1.name), applied.h1);

    // Drift is fixed: a removed address comes back, a foreign one on our link goes.
    await h1.run('ip', ['-n', a1, 'addr', 'del', '172.16.86.10/24', 'dev', 'eth0']);
    await h1.run('ip', ['-n', a1, 'addr', 'add', '172.16.86.99/24', 'dev', 'eth0']);
    const fix = cli(['up', c1, '--state-dir', st1]);
    assert.equal(fix.code, 0, fix.stderr);
    assert.match(fix.stdout, /address \+172\.16\.86\.10\/24/);
    assert.match(fix.stdout, /address -172\.16\.86\.99\/24/);
    assert.ok(ping(a2, '172.16.86.10', 1), 'reachable again after the fix');

    // Teardown removes exactly what was created.
    for (const [c, st] of [[c1, st1], [c2, st2]]) {
      const down = cli(['down', c, '--state-dir', st]);
      assert.equal(down.code, 0, down.stderr);
    }
    assert.deepEqual(mine(), namespacesBefore, 'namespaces as before');
    assert.deepEqual(nsDump(h1.name), before.h1, 'host1 links and addresses as before');
    assert.deepEqual(nsDump(h2.name), before.h2, 'host2 links and addresses as before');
    assert.deepEqual(JSON.parse(readFileSync(join(st1, 'leases.json'), 'utf8')).leases, {}, 'leases released');
    // A second teardown is a no-op.
    assert.equal(cli(['down', c1, '--state-dir', st1]).code, 0);
  } finally {
    cli(['down', '--state-dir', join(dir, 'state1')]);
    cli(['down', '--state-dir', join(dir, 'state2')]);
    await removeNamespacesWithPrefix(lab.prefix);
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('scenario 5: addresses from the ip-range skip the aux address; the host shim reaches the endpoints', { skip: needsRoot }, async () => {
  const lab = await Lab.create();
  const dir = tempDir('s5');
  try {
    const host = await lab.addNamespace('host');
    const lan = await lab.addNamespace('lan');
    await lab.addVeth({ ns: host, name: 'eth0' }, { ns: lan, name: 'eth0', addresses: ['10.0.36.254/24'] }); // the LAN with its router
    // 28 more endpoints fill the range exactly, walking past the aux address .223.
    const cfg = labConfig('scenario5-shim.yaml', lab.prefix, dir, (doc) => {
      for (let i = 0; i < 28; i++) doc.networks[0].endpoints.push({ name: `x${i}`, netns: `${lab.prefix}-x${i}` });
    });
    const st = join(dir, 'state');
    const mine = () => listNetns().filter((n) => n.startsWith(`${lab.prefix}-`)).sort();
    const before = { host: nsDump(host.name), namespaces: mine() };
    const up = cli(['up', cfg, '--state-dir', st, '--json']);
    assert.equal(up.code, 0, up.stderr + up.stdout);
    const leases = JSON.parse(up.stdout).leases.macnet36 as Record<string, { ipv4: string; ipv6: string }>;
    assert.equal(leases.web1.ipv4, '10.0.36.192');
    assert.equal(leases.web2.ipv4, '10.0.36.193');
    assert.equal(leases.db1.ipv4, '10.0.36.200');
    const v4 = Object.values(leases).map((l) => l.ipv4);
    assert.equal(new Set(v4).size, v4.length, 'no duplicate addresses');
    assert.ok(!v4.includes('10.0.36.223'), 'the aux address is never allocated');
    for (const ip of v4) {
      const last = Number(ip.split('.')[3]);
      assert.ok(last >= 192 && last <= 223, `${ip} is in 10.0.36.192/27`);
    }
    assert.equal(v4.length, 31, 'the range is exactly full');
    assert.equal(leases.web1.ipv6, 'fd00:36::100');

    // The shim: bridge-mode macvlan on the parent, 10.0.36.223/32, route to the range.
    const shim = JSON.parse(await host.run('ip', ['-n', host.name, '-d', '-j', 'addr', 'show', 'mac0']))[0];
    assert.equal(shim.linkinfo.info_data.mode, 'bridge');
    assert.ok(shim.addr_info.some((a: any) => a.local === '10.0.36.223' && a.prefixlen === 32));
    assert.match(await host.ip(['route', 'show', '10.0.36.192/27']), /dev mac0/);
    // The host reaches its own macvlan endpoints through the shim.
    assert.ok(ping(host.name, '10.0.36.192'), 'host -> web1 via the shim');
    assert.ok(ping(host.name, '10.0.36.200'), 'host -> db1 via the shim');
    // And over IPv6: fd00:36::223/128 on the shim, a route to the IPv6 range through it.
    assert.ok(shim.addr_info.some((a: any) => a.local === 'fd00:36::223' && a.prefixlen === 128));
    assert.match(await host.ip(['-6', 'route', 'show', 'fd00:36::100/120']), /dev mac0/);
    assert.ok(ping(host.name, 'fd00:36::100'), 'host -> web1 over IPv6 via the shim');
    assert.equal(await tcpExchange(`${lab.prefix}-web1`, host.name, 'fd00:36::100'), 'fd00:36::100 <- fd00:36::223', 'TCP host -> web1 over IPv6 from the shim address');
    // And the endpoints reach the router on the wire (the gateway) and each other over IPv6.
    assert.ok(ping(`${lab.prefix}-web1`, '10.0.36.254'), 'web1 -> gateway on the LAN');
    assert.ok(ping(`${lab.prefix}-web2`, 'fd00:36::100'), 'web2 -> web1 over IPv6');

    // Exhaustion: one endpoint more than the range holds is refused, nothing half-applied.
    const full = labConfig('scenario5-shim.yaml', lab.prefix, dir, (doc) => {
      for (let i = 0; i < 29; i++) doc.networks[0].endpoints.push({ name: `x${i}`, netns: `${lab.prefix}-x${i}` });
    });
    const over = cli(['up', full, '--state-dir', st]);
    assert.equal(over.code, 1);
    assert.match(over.stderr, /no free IPv4 address in 10\.0\.36\.192\/27 for endpoint "x28"/);
    assert.ok(!listNetns().includes(`${lab.prefix}-x28`));

    const down = cli(['down', cfg, '--state-dir', st]);
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(nsDump(host.name), before.host, 'host namespace as before (shim and route gone)');
    assert.deepEqual(mine(), before.namespaces);
  } finally {
    cli(['down', '--state-dir', join(dir, 'state')]);
    await removeNamespacesWithPrefix(lab.prefix);
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('VM taps become macvtap devices, source-mode endpoints get their allow-list, passthru keeps the parent MAC, mode changes are fixed in place', { skip: needsRoot }, async () => {
  const lab = await Lab.create();
  const dir = tempDir('tap');
  const st = join(dir, 'state');
  try {
    const host = await lab.addNamespace('host');
    const peer = await lab.addNamespace('peer');
    await lab.addVeth({ ns: host, name: 'eth0' }, { ns: peer, name: 'eth0' });
    await lab.addVeth({ ns: host, name: 'eth1' }, { ns: peer, name: 'eth1' });
    await lab.addVeth({ ns: host, name: 'eth2' }, { ns: peer, name: 'eth2' });
    const write = (mode: string, macs: string[]) => {
      const file = join(dir, 'tap.yaml');
      writeFileSync(
        file,
        stringify({
          networks: [
            { name: 'vms', parent: `${host.name}:eth0`, mode, subnet: '10.5.0.0/24', endpoints: [{ name: 'vm1', tap: 'vm1tap' }, { name: 'c1', netns: `${lab.prefix}-c1` }] },
            { name: 'src', parent: { netns: host.name, dev: 'eth1' }, mode: 'source', endpoints: [{ name: 's1', netns: `${lab.prefix}-s1`, 'source-macs': macs }] },
            { name: 'pt', parent: `${host.name}:eth2`, mode: 'passthru', subnet: '10.6.0.0/24', endpoints: [{ name: 'p1', netns: `${lab.prefix}-p1` }] },
          ],
        }),
      );
      return file;
    };
    const c1 = await lab.addNamespace('c1'); // exists before: used, never removed
    const before = nsDump(host.name);
    const c1Before = nsDump(c1.name);
    let cfg = write('bridge', ['02:00:00:00:00:01', '02:00:00:00:00:02']);
    const up = cli(['up', cfg, '--state-dir', st, '--json']);
    assert.equal(up.code, 0, up.stderr + up.stdout);
    const leases = JSON.parse(up.stdout).leases;
    assert.equal(leases.vms.vm1.ipv4, '10.5.0.1', 'the VM gets a lease (configured by the VM itself)');
    const tap = JSON.parse(await host.ip(['-d', '-j', 'link', 'show', 'vm1tap']))[0];
    assert.equal(tap.linkinfo.info_kind, 'macvtap');
    assert.equal(tap.linkinfo.info_data.mode, 'bridge');
    assert.equal(tap.address, leases.vms.vm1.mac);
    const src = () => JSON.parse(spawnSync('ip', ['-n', `${lab.prefix}-s1`, '-d', '-j', 'link', 'show', 'eth0'], { encoding: 'utf8' }).stdout)[0].linkinfo.info_data;
    assert.equal(src().mode, 'source');
    assert.equal(src().macaddr_count, 2);
    const ifindex = JSON.parse(await host.ip(['-j', 'link', 'show', 'vm1tap']))[0].ifindex;
    // passthru: the port inherits the parent's MAC; the parent's MAC is never changed.
    const pt = JSON.parse(spawnSync('ip', ['-n', `${lab.prefix}-p1`, '-d', '-j', 'link', 'show', 'eth0'], { encoding: 'utf8' }).stdout)[0];
    assert.equal(pt.linkinfo.info_data.mode, 'passthru');
    const eth2Mac = JSON.parse(await host.ip(['-j', 'link', 'show', 'eth2']))[0].address;
    assert.equal(pt.address, eth2Mac);
    // `up` reports the device's real MAC for it (the parent's), not the unused lease MAC.
    assert.equal(leases.pt.p1.mac, eth2Mac, 'up --json: passthru endpoint shows the device MAC');
    const reapply = cli(['up', cfg, '--state-dir', st]).stdout;
    assert.match(reapply, /nothing to do/, 'passthru re-apply is a no-op');
    assert.ok(reapply.includes(`pt/p1: 10.6.0.1 ${eth2Mac}`), `up text output shows the device MAC ${eth2Mac}:\n${reapply}`);

    // Change the mode and the allow-list: fixed in place (same device), not recreated.
    cfg = write('vepa', ['02:00:00:00:00:03']);
    const again = cli(['up', cfg, '--state-dir', st]);
    assert.equal(again.code, 0, again.stderr + again.stdout);
    assert.match(again.stdout, /vm1tap mode bridge -> vepa/);
    assert.match(again.stdout, /source-macs \[02:00:00:00:00:03\]/);
    const tap2 = JSON.parse(await host.ip(['-d', '-j', 'link', 'show', 'vm1tap']))[0];
    assert.equal(tap2.linkinfo.info_data.mode, 'vepa');
    assert.equal(tap2.ifindex, ifindex, 'same device');
    assert.equal(src().macaddr_count, 1);

    assert.equal(cli(['down', cfg, '--state-dir', st]).code, 0);
    assert.deepEqual(nsDump(host.name), before);
    assert.ok(listNetns().includes(c1.name), 'a namespace macdemux did not create is kept');
    assert.deepEqual(nsDump(c1.name), c1Before, '... and left as it was');
    assert.ok(!listNetns().includes(`${lab.prefix}-s1`), 'the namespace it created is removed');
  } finally {
    cli(['down', '--state-dir', st]);
    await removeNamespacesWithPrefix(lab.prefix);
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});
