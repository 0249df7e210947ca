/**
 * veth pairs, bridges, link settings, namespace moves, addresses and routes through the devices
 * API, checked against `ip -j` (an independent oracle).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync } from 'node:fs';
import { needsRoot } from '../support.ts';
import { withLab } from '../../src/lab/index.ts';
import {
  addAddress,
  addRoute,
  createBridge,
  createMacvlan,
  createVeth,
  deleteAddress,
  deleteLink,
  deleteRoute,
  getLink,
  listAddresses,
  listLinks,
  listRoutes,
  setBridgePort,
  setLink,
  setMaster,
} from '../../src/devices/index.ts';
import { ipAddrs, ipLink, ipLinkExists, ipRoutes } from './netlink-helpers.ts';

test('veth pair with the peer created in another namespace (by name and by fd)', { skip: needsRoot }, async () => {
  await withLab(async (lab) => {
    const a = await lab.addNamespace('a');
    const b = await lab.addNamespace('b');
    const end = await createVeth(
      { name: 'va0', peer: 'vb0', peerNetns: b.name, mac: '02:00:00:00:0a:01', peerMac: '02:00:00:00:0b:01', mtu: 1400, peerMtu: 1400, up: true, peerUp: true },
      { netns: a.name },
    );
    const ipA = await ipLink(a, 'va0');
    const ipB = await ipLink(b, 'vb0');
    assert.equal(ipA.linkinfo?.info_kind, 'veth');
    assert.equal(ipA.address, '02:00:00:00:0a:01');
    assert.equal(ipB.address, '02:00:00:00:0b:01');
    assert.equal(ipA.mtu, 1400);
    assert.equal(ipB.mtu, 1400);
    assert.ok(ipB.flags.includes('UP'));
    assert.equal(end.kind, 'veth');
    assert.equal(end.parentIndex, ipB.ifindex, 'IFLA_LINK of a veth is the peer');
    assert.equal(end.netnsId, ipA.link_netnsid, 'the peer lives in another namespace');
    assert.equal(end.parent, undefined, 'a peer in another namespace is not resolved by name');
    // Addresses over the pair prove it is wired.
    await addAddress('va0', '10.66.0.1/24', { netns: a.name });
    await addAddress('vb0', '10.66.0.2/24', { netns: b.name });
    assert.equal(await a.ping('10.66.0.2', { count: 2, timeoutS: 2 }), true);

    // Peer namespace given as an open fd.
    const fd = openSync(b.path, 'r');
    try {
      await createVeth({ name: 'va1', peer: 'vb1', peerNetns: { fd } }, { netns: a.name });
    } finally {
      closeSync(fd);
    }
    assert.equal(await ipLinkExists(b, 'vb1'), true);
    assert.equal(await ipLinkExists(a, 'vb1'), false);
    // Deleting one end deletes the pair.
    await deleteLink('va1', { netns: a.name });
    assert.equal(await ipLinkExists(b, 'vb1'), false);
    // targetNetns moves this end only: without peerNetns the peer stays where the request ran.
    const moved = await createVeth({ name: 'vx0', peer: 'vx1', targetNetns: b.name, up: true, peerUp: true }, { netns: a.name });
    assert.equal(moved.name, 'vx0');
    assert.equal(moved.up, true);
    assert.ok((await ipLink(b, 'vx0')).flags.includes('UP'));
    assert.ok((await ipLink(a, 'vx1')).flags.includes('UP'));
    assert.equal(moved.lowerUp, true, 'both ends up: carrier');
  });
});

test('setLink: up/down, MAC, MTU, promisc, rename, master and hairpin vs ip -d -j', { skip: needsRoot }, async () => {
  await withLab(async (lab) => {
    const ns = await lab.addNamespace('s');
    const netns = ns.name;
    await createVeth({ name: 'x0', peer: 'x1' }, { netns });
    await setLink('x0', { up: true, mac: '02:00:00:00:00:77', mtu: 1300, promisc: true }, { netns });
    let ip = await ipLink(ns, 'x0');
    assert.ok(ip.flags.includes('UP'));
    assert.ok(ip.flags.includes('PROMISC'));
    assert.equal(ip.address, '02:00:00:00:00:77');
    assert.equal(ip.mtu, 1300);
    const ours = await getLink('x0', { netns });
    assert.equal(ours.up, true);
    assert.ok(ours.flags.includes('PROMISC'));
    assert.equal(ours.promiscuity, ip.promiscuity);
    await setLink('x0', { up: false, promisc: false }, { netns });
    ip = await ipLink(ns, 'x0');
    assert.ok(!ip.flags.includes('UP'));
    assert.ok(!ip.flags.includes('PROMISC'));
    await setLink('x0', { name: 'renamed0' }, { netns });
    assert.equal(await ipLinkExists(ns, 'renamed0'), true);
    // Bridge, master, hairpin.
    const br = await createBridge({ name: 'br0', up: true }, { netns });
    assert.equal(br.kind, 'bridge');
    await setMaster('x1', 'br0', { netns });
    await setLink('x1', { up: true }, { netns });
    await setBridgePort('x1', { hairpin: true }, { netns });
    ip = await ipLink(ns, 'x1');
    assert.equal(ip.master, 'br0');
    assert.equal(ip.linkinfo?.info_slave_kind, 'bridge');
    assert.equal(ip.linkinfo?.info_slave_data?.hairpin, true);
    const x1 = await getLink('x1', { netns });
    assert.equal(x1.master, 'br0');
    assert.equal(x1.slaveKind, 'bridge');
    await setBridgePort('x1', { hairpin: false }, { netns });
    assert.equal((await ipLink(ns, 'x1')).linkinfo?.info_slave_data?.hairpin, false);
    await setMaster('x1', null, { netns });
    assert.equal((await ipLink(ns, 'x1')).master, undefined);
    await assert.rejects(setMaster('x1', 'nobr0', { netns }), { code: 'ENODEV', message: /master device "nobr0" does not exist/ });
  });
});

test('move links between namespaces: by name, by pid, by fd; create directly in a target namespace', { skip: needsRoot }, async () => {
  await withLab(async (lab) => {
    const host = await lab.addNamespace('host');
    const c1 = await lab.addNamespace('c1');
    const c2 = await lab.addNamespace('c2');
    await lab.addVeth({ ns: host, name: 'up0' }, { ns: await lab.addNamespace('wire'), name: 'wp0' });
    // Create straight into c1 (the parent stays in host).
    const mv = await createMacvlan({ name: 'mv0', parent: 'up0', mode: 'bridge', targetNetns: c1.name, up: true }, { netns: host.name });
    assert.equal(await ipLinkExists(c1, 'mv0'), true);
    assert.equal(await ipLinkExists(host, 'mv0'), false);
    const ip = await ipLink(c1, 'mv0');
    assert.equal(mv.ifindex, ip.ifindex);
    assert.equal(mv.netnsId, ip.link_netnsid, 'the parent is in another namespace');
    assert.equal(ip.linkinfo?.info_data?.mode, 'bridge');
    // Move c1 -> c2 by name.
    await setLink('mv0', { netns: c2.name }, { netns: c1.name });
    assert.equal(await ipLinkExists(c2, 'mv0'), true);
    assert.equal(await ipLinkExists(c1, 'mv0'), false);
    // c2 -> c1 by pid of a process living in c1.
    const sleeper = c1.spawn('sleep', ['30']);
    try {
      await new Promise((r) => setTimeout(r, 200));
      assert.ok(sleeper.pid);
      await setLink('mv0', { netns: { pid: sleeper.pid } }, { netns: c2.name });
      assert.equal(await ipLinkExists(c1, 'mv0'), true);
    } finally {
      sleeper.kill('SIGKILL');
    }
    // c1 -> c2 by an fd we opened.
    const fd = openSync(c2.path, 'r');
    try {
      await setLink('mv0', { netns: { fd } }, { netns: c1.name });
    } finally {
      closeSync(fd);
    }
    assert.equal(await ipLinkExists(c2, 'mv0'), true);
    // Moving into a namespace that does not exist names it.
    await assert.rejects(setLink('mv0', { netns: `${lab.prefix}-nosuch` }, { netns: c2.name }), { code: 'ENOENT', message: /netns/ });
    // listLinks in c2 shows it with a netnsId and no resolved parent name.
    const l = (await listLinks({ netns: c2.name })).find((x) => x.name === 'mv0');
    assert.ok(l && l.netnsId !== undefined && l.parent === undefined);
  });
});

test('addresses IPv4/IPv6 add/del/list and routes add/del vs ip -j; the host shim recipe', { skip: needsRoot }, async () => {
  await withLab(async (lab) => {
    const host = await lab.addNamespace('host');
    const wire = await lab.addNamespace('wire');
    const ctr = await lab.addNamespace('ctr');
    await lab.addVeth({ ns: host, name: 'up0' }, { ns: wire, name: 'wp0' });
    const netns = host.name;
    await setLink('up0', { up: true }, { netns });
    await addAddress('up0', '10.0.36.10/24', { netns });
    await addAddress('up0', 'fd00:36::10/64', { netns, nodad: true });
    await assert.rejects(addAddress('up0', '10.0.36.10/24', { netns }), { code: 'EEXIST', ifname: 'up0' });
    const ours = (await listAddresses('up0', { netns })).filter((a) => a.scope === 'global').map((a) => a.cidr).sort();
    const oracle = (await ipAddrs(host, 'up0')).filter((a) => !a.startsWith('fe80'));
    assert.deepEqual(ours, oracle);
    assert.deepEqual(ours, ['10.0.36.10/24', 'fd00:36::10/64']);
    const v6 = await listAddresses('up0', { netns, family: 'inet6' });
    assert.ok(v6.every((a) => a.family === 'inet6'));
    assert.ok(v6.find((a) => a.address === 'fd00:36::10')?.flags.includes('nodad'));
    await deleteAddress('up0', 'fd00:36::10/64', { netns });
    assert.deepEqual((await ipAddrs(host, 'up0')).filter((a) => !a.startsWith('fe80')), ['10.0.36.10/24']);
    await assert.rejects(deleteAddress('up0', 'fd00:36::10/64', { netns }), { code: 'EADDRNOTAVAIL' });

    // The endpoint: a bridge-mode macvlan in ctr at .193 (inside the containers' range .192/27).
    await createMacvlan({ name: 'eth0', parent: 'up0', mode: 'bridge', targetNetns: ctr.name, up: true }, { netns });
    await addAddress('eth0', '10.0.36.193/24', { netns: ctr.name });
    // Host -> endpoint through the parent does not work (kernel macvlan semantics).
    assert.equal(await host.ping('10.0.36.193', { count: 1, timeoutS: 1 }), false);
    // The shim: a bridge-mode macvlan on the host with a /32 and a route to the range via it.
    await createMacvlan({ name: 'shim0', parent: 'up0', mode: 'bridge', up: true }, { netns });
    await addAddress('shim0', '10.0.36.223/32', { netns });
    await addRoute({ dst: '10.0.36.192/27', dev: 'shim0' }, { netns });
    await assert.rejects(addRoute({ dst: '10.0.36.192/27', dev: 'shim0' }, { netns }), { code: 'EEXIST' });
    const routes = await listRoutes({ netns, family: 'inet' });
    const shimRoute = routes.find((r) => r.dst === '10.0.36.192/27');
    assert.equal(shimRoute?.dev, 'shim0');
    assert.equal(shimRoute?.scope, 'link');
    assert.deepEqual(
      routes.map((r) => [r.dst, r.dev ?? '-', r.via ?? '-'].join(' ')).sort(),
      await ipRoutes(host),
    );
    assert.equal(await host.ping('10.0.36.193', { count: 3, timeoutS: 2 }), true, 'host reaches the endpoint via the shim');
    // Gateway route and default route, IPv6 route, then delete.
    await addRoute({ dst: '192.168.50.0/24', via: '10.0.36.1', metric: 50 }, { netns });
    await addRoute({ dst: 'default', via: '10.0.36.1' }, { netns });
    await addAddress('up0', 'fd00:37::1/64', { netns, nodad: true });
    await addRoute({ dst: 'fd00:99::/48', via: 'fd00:37::2' }, { netns });
    const withGw = await listRoutes({ netns });
    assert.equal(withGw.find((r) => r.dst === '192.168.50.0/24')?.via, '10.0.36.1');
    assert.equal(withGw.find((r) => r.dst === '192.168.50.0/24')?.metric, 50);
    assert.equal(withGw.find((r) => r.dst === 'default' && r.family === 'inet')?.via, '10.0.36.1');
    assert.equal(withGw.find((r) => r.dst === 'fd00:99::/48')?.via, 'fd00:37::2');
    assert.deepEqual(
      withGw.filter((r) => r.family === 'inet').map((r) => [r.dst, r.dev ?? '-', r.via ?? '-'].join(' ')).sort(),
      await ipRoutes(host),
    );
    await deleteRoute({ dst: '192.168.50.0/24', via: '10.0.36.1' }, { netns });
    await deleteRoute({ dst: 'default' }, { netns });
    await deleteRoute({ dst: 'fd00:99::/48' }, { netns });
    await deleteRoute({ dst: '10.0.36.192/27', dev: 'shim0' }, { netns });
    await assert.rejects(deleteRoute({ dst: '10.0.36.192/27', dev: 'shim0' }, { netns }), { code: 'ESRCH' });
    const after = await ipRoutes(host);
    assert.ok(!after.some((r) => r.startsWith('192.168.50.0/24') || r.startsWith('default') || r.startsWith('10.0.36.192/27')));
    assert.equal(await host.ping('10.0.36.193', { count: 1, timeoutS: 1 }), false, 'without the route the shim is not used');
  });
});

test('dumps spanning many datagrams: 300 macvlans and 300 addresses listed exactly as ip sees them', { skip: needsRoot }, async () => {
  await withLab(async (lab) => {
    const ns = await lab.addNamespace('many');
    const netns = ns.name;
    await createVeth({ name: 'p0', peer: 'p1', up: true, peerUp: true }, { netns });
    const batch: string[] = [];
    for (let i = 0; i < 300; i++) {
      batch.push(`link add m${i} link p0 type macvlan mode ${['private', 'vepa', 'bridge', 'source'][i % 4]}`);
      batch.push(`addr add 10.${100 + (i >> 8)}.${i & 255}.1/32 dev p0`);
    }
    await ns.run('ip', ['-batch', '-'], { input: `${batch.join('\n')}\n`, timeoutMs: 60_000 });
    const ours = await listLinks({ netns });
    const oracle = JSON.parse(await ns.ip(['-d', '-j', 'link', 'show'])) as { ifindex: number; ifname: string; linkinfo?: { info_data?: { mode?: string } } }[];
    assert.equal(ours.length, oracle.length);
    assert.ok(ours.length >= 303);
    assert.deepEqual(
      ours.map((l) => `${l.ifindex} ${l.name} ${l.macvlan?.mode ?? '-'}`).sort(),
      oracle.map((l) => `${l.ifindex} ${l.ifname} ${l.linkinfo?.info_data?.mode ?? '-'}`).sort(),
    );
    assert.ok(ours.filter((l) => l.kind === 'macvlan').every((l) => l.parent === 'p0'));
    const addrs = (await listAddresses('p0', { netns, family: 'inet' })).map((a) => a.cidr).sort();
    assert.equal(addrs.length, 300);
    assert.deepEqual(addrs, (await ipAddrs(ns, 'p0')).filter((a) => !a.includes(':')));
  });
});
