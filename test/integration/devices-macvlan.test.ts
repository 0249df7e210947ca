/**
 * macvlan/macvtap through the devices API, checked against `ip -d -j link show` (an independent
 * oracle): every mode, passthru with and without nopromisc, source lists, error paths.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { needsRoot } from '../support.ts';
import { withLab, type Lab, type Namespace } from '../../src/lab/index.ts';
import {
  changeMacvlan,
  createBridge,
  createMacvlan,
  deleteLink,
  getLink,
  listLinks,
  setLink,
  setSourceMacs,
  type MacvlanMode,
} from '../../src/devices/index.ts';
import { MacdemuxSystemError } from '../../src/errors.ts';
import { ipLink, ipLinkExists } from './netlink-helpers.ts';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

async function hostWithParent(lab: Lab, parentMtu = 1500): Promise<Namespace> {
  const host = await lab.addNamespace('host');
  const wire = await lab.addNamespace('wire');
  await lab.addVeth({ ns: host, name: 'up0', mtu: parentMtu }, { ns: wire, name: 'wp0', mtu: parentMtu });
  return host;
}

const sortedMacs = (a: string[] | undefined): string[] => [...(a ?? [])].sort();

for (const kind of ['macvlan', 'macvtap'] as const) {
  test(`${kind}: every non-passthru mode, with MAC, MTU and bcqueuelen, matches ip -d -j link show`, { skip: needsRoot }, async () => {
    await withLab(async (lab) => {
      const host = await hostWithParent(lab, 1500);
      const netns = host.name;
      const parent = await ipLink(host, 'up0');
      const modes: MacvlanMode[] = ['private', 'vepa', 'bridge', 'source'];
      for (const [i, mode] of modes.entries()) {
        const name = `${kind.slice(0, 4)}${i}`;
        const mac = `02:00:00:00:0${i}:0${kind === 'macvlan' ? 1 : 2}`;
        const created = await createMacvlan({ name, parent: 'up0', kind, mode, mac, mtu: 1400 - i, up: true, bcQueueLen: 2000 + i }, { netns });
        const ip = await ipLink(host, name);
        assert.equal(ip.linkinfo?.info_kind, kind);
        assert.equal(ip.linkinfo?.info_data?.mode, mode);
        assert.equal(ip.address, mac);
        assert.equal(ip.mtu, 1400 - i);
        assert.equal(ip.link, 'up0');
        assert.ok(ip.flags.includes('UP'));
        assert.equal(ip.linkinfo?.info_data?.bcqueuelen, 2000 + i);
        // Our decoded view agrees with the oracle.
        assert.equal(created.kind, kind);
        assert.equal(created.ifindex, ip.ifindex);
        assert.equal(created.macvlan?.mode, mode);
        assert.equal(created.mac, mac);
        assert.equal(created.mtu, ip.mtu);
        assert.equal(created.parent, 'up0');
        assert.equal(created.parentIndex, parent.ifindex);
        assert.equal(created.up, true);
        assert.equal(created.operstate, ip.operstate);
        assert.equal(created.macvlan?.bcQueueLen, 2000 + i);
        assert.equal(created.macvlan?.bcQueueLenUsed, ip.linkinfo?.info_data?.usedbcqueuelen);
      }
      // The effective queue length is the max of all requests on the port.
      const last = await getLink(`${kind.slice(0, 4)}3`, { netns });
      assert.equal(last.macvlan?.bcQueueLenUsed, 2003);
      // listLinks sees them all, with parents resolved.
      const listed = (await listLinks({ netns })).filter((l) => l.kind === kind);
      assert.deepEqual(listed.map((l) => l.macvlan?.mode).sort(), [...modes].sort());
      assert.ok(listed.every((l) => l.parent === 'up0'));
      // Mode changes between the non-passthru modes, flags toggles.
      await changeMacvlan(`${kind.slice(0, 4)}0`, { mode: 'bridge', nodst: true }, { netns });
      const changed = await ipLink(host, `${kind.slice(0, 4)}0`);
      assert.equal(changed.linkinfo?.info_data?.mode, 'bridge');
      assert.equal(changed.linkinfo?.info_data?.nodst, true);
      await changeMacvlan(`${kind.slice(0, 4)}0`, { nodst: false }, { netns });
      assert.equal((await ipLink(host, `${kind.slice(0, 4)}0`)).linkinfo?.info_data?.nodst, undefined);
      // Out of passthru is refused by the kernel; into passthru too.
      await assert.rejects(changeMacvlan(`${kind.slice(0, 4)}0`, { mode: 'passthru' }, { netns }), { code: 'EINVAL', syscall: 'RTM_NEWLINK' });
      for (let i = 0; i < modes.length; i++) await deleteLink(`${kind.slice(0, 4)}${i}`, { netns });
      assert.equal(await ipLinkExists(host, `${kind.slice(0, 4)}0`), false);
    });
  });

  test(`${kind}: passthru with and without nopromisc; a second passthru is EINVAL`, { skip: needsRoot }, async () => {
    await withLab(async (lab) => {
      const host = await hostWithParent(lab);
      const netns = host.name;
      const parent = await ipLink(host, 'up0');
      assert.equal(parent.promiscuity, 0);
      const pt = await createMacvlan({ name: 'pt0', parent: 'up0', kind, mode: 'passthru', up: true }, { netns });
      let ip = await ipLink(host, 'pt0');
      assert.equal(ip.linkinfo?.info_data?.mode, 'passthru');
      assert.equal(ip.address, parent.address, 'passthru inherits the lower MAC');
      assert.equal(pt.mac, parent.address);
      assert.equal((await ipLink(host, 'up0')).promiscuity, 1, 'passthru up makes the lower device promiscuous');
      // A second device on a passthru port is refused.
      const second = await createMacvlan({ name: 'pt1', parent: 'up0', kind, mode: 'passthru' }, { netns }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(second instanceof MacdemuxSystemError);
      assert.equal(second.code, 'EINVAL');
      assert.equal(second.ifname, 'pt1');
      assert.match(second.message, new RegExp(`^${kind} "pt1": create failed: EINVAL`));
      if (second.kernelMessage) assert.ok(second.message.endsWith(second.kernelMessage));
      await assert.rejects(createMacvlan({ name: 'br1', parent: 'up0', kind, mode: 'bridge' }, { netns }), { code: 'EINVAL' });
      await deleteLink('pt0', { netns });
      assert.equal((await ipLink(host, 'up0')).promiscuity, 0);

      await createMacvlan({ name: 'pt2', parent: 'up0', kind, mode: 'passthru', nopromisc: true, up: true }, { netns });
      ip = await ipLink(host, 'pt2');
      assert.equal(ip.linkinfo?.info_data?.mode, 'passthru');
      assert.equal(ip.linkinfo?.info_data?.nopromisc, true);
      assert.equal((await getLink('pt2', { netns })).macvlan?.nopromisc, true);
      assert.equal((await ipLink(host, 'up0')).promiscuity, 0, 'nopromisc leaves the lower device alone');
      // Toggling the flag live adjusts the promiscuity count at once.
      await changeMacvlan('pt2', { nopromisc: false }, { netns });
      assert.equal((await ipLink(host, 'up0')).promiscuity, 1);
      await deleteLink('pt2', { netns });
    });
  });
}

test('source mode: allow-list add/del/set/flush and nodst match ip -d -j link show', { skip: needsRoot }, async () => {
  await withLab(async (lab) => {
    const host = await hostWithParent(lab);
    const netns = host.name;
    const A = '02:00:00:00:aa:01';
    const B = '02:00:00:00:aa:02';
    const C = '02:00:00:00:aa:03';
    const D = '02:00:00:00:aa:04';
    const made = await createMacvlan({ name: 'src0', parent: 'up0', mode: 'source', nodst: true, sourceMacs: [A, B] }, { netns });
    assert.deepEqual(sortedMacs(made.macvlan?.sourceMacs), [A, B]);
    const check = async (expected: string[]): Promise<void> => {
      const ip = await ipLink(host, 'src0');
      assert.deepEqual(sortedMacs(ip.linkinfo?.info_data?.macaddr_data), [...expected].sort());
      assert.equal(ip.linkinfo?.info_data?.macaddr_count ?? 0, expected.length);
      const ours = await getLink('src0', { netns });
      assert.deepEqual(sortedMacs(ours.macvlan?.sourceMacs), [...expected].sort());
      assert.equal(ours.macvlan?.macaddrCount, expected.length);
    };
    assert.equal((await ipLink(host, 'src0')).linkinfo?.info_data?.nodst, true);
    await check([A, B]);
    await setSourceMacs('src0', 'add', [C, D], { netns });
    await check([A, B, C, D]);
    await setSourceMacs('src0', 'add', [C], { netns }); // adding an existing entry is a no-op
    await check([A, B, C, D]);
    await setSourceMacs('src0', 'del', [A, C], { netns });
    await check([B, D]);
    await setSourceMacs('src0', 'del', [A], { netns }); // deleting an absent entry is ignored by the kernel
    await check([B, D]);
    await setSourceMacs('src0', 'set', [C.toUpperCase()], { netns });
    await check([C]);
    await setSourceMacs('src0', 'flush', [], { netns });
    await check([]);
    // The list belongs to source mode only.
    await createMacvlan({ name: 'brg0', parent: 'up0', mode: 'bridge' }, { netns });
    await assert.rejects(setSourceMacs('brg0', 'add', [A], { netns }), { code: 'EINVAL', ifname: 'brg0' });
    // Not a macvlan at all.
    await createBridge({ name: 'br0' }, { netns });
    await assert.rejects(setSourceMacs('br0', 'add', [A], { netns }), { errno: 95, message: /br0.*is a bridge/ });
  });
});

test('error paths: missing parent, duplicate name, kernel extended-ack text', { skip: needsRoot }, async () => {
  await withLab(async (lab) => {
    const host = await hostWithParent(lab);
    const netns = host.name;
    await assert.rejects(createMacvlan({ name: 'mv0', parent: 'nosuch0', mode: 'bridge' }, { netns }), (e: unknown) => {
      assert.ok(e instanceof MacdemuxSystemError);
      assert.equal(e.code, 'ENODEV');
      assert.equal(e.ifname, 'mv0');
      assert.match(e.message, /^macvlan "mv0": create failed: ENODEV .*parent device "nosuch0" does not exist/);
      return true;
    });
    // Parent by ifindex that does not exist.
    await assert.rejects(createMacvlan({ name: 'mv0', parent: 9999, mode: 'bridge' }, { netns }), { code: 'ENODEV' });
    await createMacvlan({ name: 'mv1', parent: 'up0', mode: 'bridge' }, { netns });
    await assert.rejects(createMacvlan({ name: 'mv1', parent: 'up0', mode: 'bridge' }, { netns }), (e: unknown) => {
      assert.ok(e instanceof MacdemuxSystemError);
      assert.equal(e.code, 'EEXIST');
      assert.equal(e.errno, 17);
      assert.equal(e.syscall, 'RTM_NEWLINK');
      assert.equal(e.ifname, 'mv1');
      assert.match(e.message, /^macvlan "mv1": create failed: EEXIST \(/);
      return true;
    });
    // MTU above the lower device's: EINVAL from macvlan_common_newlink.
    await assert.rejects(createMacvlan({ name: 'mv2', parent: 'up0', mtu: 9000 }, { netns }), { code: 'EINVAL' });
    // The kernel's extended-ack text is carried through.
    await assert.rejects(createBridge({ name: 'br9', numTxQueues: 5000 }, { netns }), (e: unknown) => {
      assert.ok(e instanceof MacdemuxSystemError);
      assert.equal(e.code, 'EINVAL');
      assert.equal(e.kernelMessage, 'Invalid number of transmit queues');
      assert.match(e.message, /^bridge "br9": create failed: EINVAL \(.*\): Invalid number of transmit queues$/);
      return true;
    });
    await assert.rejects(deleteLink('nosuch0', { netns }), { code: 'ENODEV', message: /^link "nosuch0": delete failed: ENODEV/ });
    await assert.rejects(getLink('nosuch0', { netns }), { code: 'ENODEV', syscall: 'RTM_GETLINK' });
    // A busy MAC: creating succeeds, bringing it up is EADDRINUSE (macvlan_open).
    const mv1 = await getLink('mv1', { netns });
    await createMacvlan({ name: 'mv3', parent: 'up0', mode: 'bridge', mac: mv1.mac as string }, { netns });
    await setLink('mv1', { up: true }, { netns });
    await assert.rejects(setLink('mv3', { up: true }, { netns }), { code: 'EADDRINUSE', ifname: 'mv3' });
  });
});

test('bclim (IFLA_MACVLAN_BC_CUTOFF): set at create and by change; the kernel reports it only when not 1', { skip: needsRoot }, async () => {
  await withLab(async (lab) => {
    const host = await hostWithParent(lab);
    const netns = host.name;
    const made = await createMacvlan({ name: 'bc0', parent: 'up0', mode: 'bridge', bcCutoff: -1 }, { netns });
    assert.equal(made.macvlan?.bcCutoff, -1);
    // Port-wide, last writer wins: a second device on the same port sees it too.
    const other = await createMacvlan({ name: 'bc1', parent: 'up0', mode: 'bridge' }, { netns });
    assert.equal(other.macvlan?.bcCutoff, -1);
    await changeMacvlan('bc1', { bcCutoff: 1 }, { netns });
    assert.equal((await getLink('bc0', { netns })).macvlan?.bcCutoff, undefined);
    await changeMacvlan('bc0', { bcQueueLen: 0 }, { netns });
    assert.equal((await ipLink(host, 'bc0')).linkinfo?.info_data?.bcqueuelen, 0);
  });
});

const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

test('without CAP_NET_ADMIN the kernel says EPERM and the message names the capability', { skip: needsRoot || (!SETPRIV && 'setpriv not installed') }, async () => {
  await withLab(async (lab) => {
    const ns = await lab.addNamespace('perm');
    await lab.addVeth({ ns, name: 'up0' }, { ns: await lab.addNamespace('wire'), name: 'wp0' });
    const devices = fileURLToPath(new URL('../../src/devices/index.ts', import.meta.url));
    const script = `
      import { createMacvlan } from ${JSON.stringify(devices)};
      try { await createMacvlan({ name: 'mv0', parent: 'up0', mode: 'bridge' }, { netns: ${JSON.stringify(ns.name)} }); console.log('{}'); }
      catch (e) { console.log(JSON.stringify({ message: e.message, code: e.code, syscall: e.syscall, ifname: e.ifname })); }`;
    // Root without CAP_NET_ADMIN (it keeps CAP_SYS_ADMIN, so it can still enter the namespace).
    const out = await new Promise<string>((resolve, reject) => {
      execFile(
        SETPRIV as string,
        ['--bounding-set=-net_admin', '--inh-caps=-net_admin', process.execPath, '--import', 'tsx', '--input-type=module', '-e', script],
        { timeout: 30_000 },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}: ${stderr}`)) : resolve(stdout)),
      );
    });
    const e = JSON.parse(out.trim().split('\n').pop() as string) as { message: string; code: string; syscall: string; ifname: string };
    assert.equal(e.code, 'EPERM');
    assert.equal(e.syscall, 'RTM_NEWLINK');
    assert.equal(e.ifname, 'mv0');
    assert.match(e.message, /^macvlan "mv0": create failed: EPERM .*needs CAP_NET_ADMIN/);
    assert.equal(await ipLinkExists(ns, 'mv0'), false);
  });
});
