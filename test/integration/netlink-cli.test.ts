/**
 * `macdemux [-n NS] link|addr|route ...` as a child process, compared with `ip -j`.
 */
import { isDeepStrictEqual } from 'node:util';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { needsRoot } from '../support.ts';
import { withLab } from '../../src/lab/index.ts';
import { ipAddrs, ipLink, ipLinkExists, ipRoutes, type IpLink } from './netlink-helpers.ts';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'macdemux.js');

function macdemux(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

async function ok(args: string[]): Promise<string> {
  const r = await macdemux(args);
  assert.equal(r.code, 0, `macdemux ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

test('macdemux link add/set/show/del in a namespace, checked with ip -d -j', { skip: needsRoot }, async () => {
  await withLab(async (lab) => {
    const host = await lab.addNamespace('host');
    const other = await lab.addNamespace('other');
    const n = ['-n', host.name];
    await ok([...n, 'link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'wp0', 'up']);
    await ok([...n, 'link', 'add', 'mv0', 'type', 'macvlan', 'link', 'up0', 'mode', 'bridge', 'address', '02:00:00:00:01:01', 'mtu', '1400', 'bcqueuelen', '1500']);
    await ok([...n, 'link', 'add', 'mt0', 'type', 'macvtap', 'link', 'up0', 'mode', 'vepa']);
    await ok([...n, 'link', 'add', 'src0', 'type', 'macvlan', 'link', 'up0', 'mode', 'source', 'nodst', 'macaddr', 'add', '02:00:00:00:aa:01', '02:00:00:00:aa:02']);
    let ip = await ipLink(host, 'mv0');
    assert.equal(ip.linkinfo?.info_data?.mode, 'bridge');
    assert.equal(ip.address, '02:00:00:00:01:01');
    assert.equal(ip.mtu, 1400);
    assert.equal(ip.link, 'up0');
    assert.equal(ip.linkinfo?.info_data?.bcqueuelen, 1500);
    assert.equal((await ipLink(host, 'mt0')).linkinfo?.info_kind, 'macvtap');
    assert.equal((await ipLink(host, 'mt0')).linkinfo?.info_data?.mode, 'vepa');
    ip = await ipLink(host, 'src0');
    assert.equal(ip.linkinfo?.info_data?.nodst, true);
    assert.deepEqual([...(ip.linkinfo?.info_data?.macaddr_data ?? [])].sort(), ['02:00:00:00:aa:01', '02:00:00:00:aa:02']);

    // set: macaddr ops, mode/flags, up, MAC, MTU, promisc.
    await ok([...n, 'link', 'set', 'src0', 'macaddr', 'del', '02:00:00:00:aa:01', 'macaddr', 'add', '02:00:00:00:aa:03']);
    assert.deepEqual([...((await ipLink(host, 'src0')).linkinfo?.info_data?.macaddr_data ?? [])].sort(), ['02:00:00:00:aa:02', '02:00:00:00:aa:03']);
    await ok([...n, 'link', 'set', 'src0', 'type', 'macvlan', 'macaddr', 'flush']);
    assert.equal((await ipLink(host, 'src0')).linkinfo?.info_data?.macaddr_data, undefined);
    await ok([...n, 'link', 'set', 'mt0', 'mode', 'private', 'up', 'address', '02:00:00:00:02:02', 'mtu', '1300', 'promisc', 'on']);
    ip = await ipLink(host, 'mt0');
    assert.equal(ip.linkinfo?.info_data?.mode, 'private');
    assert.ok(ip.flags.includes('UP') && ip.flags.includes('PROMISC'));
    assert.equal(ip.address, '02:00:00:00:02:02');
    assert.equal(ip.mtu, 1300);

    // show --json agrees with ip, for one link and for all.
    const one = JSON.parse(await ok([...n, '-d', 'link', 'show', 'mv0', '--json'])) as IpLink[];
    assert.equal(one.length, 1);
    assert.equal(one[0].ifname, 'mv0');
    assert.equal(one[0].linkinfo?.info_data?.mode, 'bridge');
    assert.equal(one[0].link, 'up0');
    assert.equal(one[0].address, '02:00:00:00:01:01');
    // The older form (options after the object) still works.
    const all = JSON.parse(await ok(['link', '-n', host.name, 'show', '-j'])) as IpLink[];
    const oracle = JSON.parse(await host.ip(['-j', 'link', 'show'])) as IpLink[];
    assert.deepEqual(all, oracle);
    // Human table: a header and one row per link.
    const table = await ok([...n, 'link', 'show']);
    // The rows end at the first blank line; notes (a macvtap's character device) follow it.
    const lines = table.trim().split('\n\n')[0]!.split('\n');
    assert.match(lines[0], /^IDX\s+NAME\s+KIND\s+PARENT\s+MODE\s+MAC\s+MTU/);
    assert.equal(lines.length, oracle.length + 1, table);
    assert.match(table, /\n\nmt0: character device \d+:\d+ /);
    assert.match(table, /\bmv0\s+macvlan\s+up0\s+bridge\s+02:00:00:00:01:01\s+1400\b/);

    // Create straight into another namespace, then move back; delete.
    await ok([...n, 'link', 'add', 'mv9', 'type', 'macvlan', 'link', 'up0', 'mode', 'bridge', 'netns', other.name]);
    assert.equal(await ipLinkExists(other, 'mv9'), true);
    await ok(['-n', other.name, 'link', 'set', 'mv9', 'netns', host.name]);
    assert.equal(await ipLinkExists(host, 'mv9'), true);
    for (const l of ['mv0', 'mt0', 'src0', 'mv9']) await ok([...n, 'link', 'del', l]);
    assert.equal(await ipLinkExists(host, 'mv0'), false);

    // Errors: exit code 1 and the error on stderr.
    const dup = await macdemux([...n, 'link', 'add', 'up0', 'type', 'bridge']);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /bridge "up0": create failed: EEXIST/);
    const nodev = await macdemux([...n, 'link', 'add', 'mvx', 'type', 'macvlan', 'link', 'nosuch0']);
    assert.equal(nodev.code, 1);
    assert.match(nodev.stderr, /ENODEV.*parent device "nosuch0" does not exist/);
    const badMac = await macdemux([...n, 'link', 'add', 'mvx', 'type', 'macvlan', 'link', 'up0', 'address', '01:00:5e:00:00:01']);
    assert.equal(badMac.code, 1);
    assert.match(badMac.stderr, /Expected a unicast MAC address/);
    const badMode = await macdemux([...n, 'link', 'add', 'mvx', 'type', 'macvlan', 'link', 'up0', 'mode', 'hub']);
    assert.match(badMode.stderr, /Expected one of private, vepa, bridge, passthru, source for mode but received "hub"/);
    assert.equal(await ipLinkExists(host, 'mvx'), false);
    const usage = await macdemux([...n, 'link', 'frobnicate']);
    assert.equal(usage.code, 2);
  });
});

test('macdemux -j link|addr|route show equals ip -j, in a lab namespace', { skip: needsRoot }, async () => {
  await withLab(async (lab) => {
    const host = await lab.addNamespace('host');
    const peer = await lab.addNamespace('peer');
    await lab.addVeth({ ns: host, name: 'up0' }, { ns: peer, name: 'wp0' });
    // No carrier on up0 (its peer down): no IPv6 DAD or MLD, so counters and address flags hold
    // still between our read and ip's.
    await peer.ip(['link', 'set', 'wp0', 'down']);
    const n = ['-n', host.name];
    await host.ip(['link', 'add', 'c0', 'type', 'veth', 'peer', 'name', 'c1']);
    await host.ip(['link', 'add', 'br0', 'type', 'bridge']);
    await host.ip(['link', 'set', 'c1', 'master', 'br0']);
    await host.ip(['link', 'add', 'mv0', 'link', 'c0', 'type', 'macvlan', 'mode', 'bridge']);
    await host.ip(['link', 'add', 'src0', 'link', 'c0', 'type', 'macvlan', 'mode', 'source', 'nodst']);
    await host.ip(['link', 'set', 'src0', 'type', 'macvlan', 'macaddr', 'add', '02:00:00:00:aa:01']);
    await host.ip(['link', 'add', 'mt0', 'link', 'up0', 'type', 'macvtap', 'mode', 'vepa']);
    await host.ip(['link', 'set', 'up0', 'up']);
    await host.ip(['addr', 'add', '10.9.0.1/24', 'dev', 'up0']);
    await host.ip(['addr', 'add', 'fd00:9::1/64', 'dev', 'up0', 'nodad']);
    await host.ip(['route', 'add', '10.8.0.0/16', 'via', '10.9.0.2', 'dev', 'up0', 'onlink']);
    // c0 is down, so its macvlans and its peer show M-DOWN.
    for (const args of [['link', 'show'], ['-s', 'link', 'show'], ['addr', 'show'], ['route', 'show'], ['-6', 'route', 'show'], ['link', 'show', 'dev', 'mv0']]) {
      // A counter can still move between the two reads (a dropped transmit on the carrier-less
      // device): the two must agree on one of a few back-to-back reads.
      let ours: unknown;
      let ip: unknown;
      for (let attempt = 0; attempt < 5; attempt++) {
        ours = JSON.parse(await ok(['-j', ...n, ...args]));
        ip = JSON.parse(await host.ip(['-j', ...args]));
        if (isDeepStrictEqual(ours, ip)) break;
      }
      assert.deepEqual(ours, ip, `macdemux -j ${args.join(' ')}`);
    }
    // With -d, ip prints more than macdemux decodes (bridge options, gso sizes); what macdemux
    // prints must be what ip prints.
    const ours = JSON.parse(await ok(['-d', '-j', ...n, 'link', 'show'])) as Record<string, unknown>[];
    const ip = JSON.parse(await host.ip(['-d', '-j', 'link', 'show'])) as Record<string, unknown>[];
    assert.equal(ours.length, ip.length);
    ours.forEach((l, i) => {
      for (const [k, v] of Object.entries(l)) {
        if (k === 'linkinfo') {
          const li = v as Record<string, unknown>;
          const ipli = ip[i]!.linkinfo as Record<string, unknown>;
          for (const [lk, lv] of Object.entries(li)) assert.deepEqual(lv, ipli[lk], `${String(l.ifname)} linkinfo.${lk}`);
        } else assert.deepEqual(v, ip[i]![k], `${String(l.ifname)} ${k}`);
      }
    });
    assert.ok(ours.some((l) => (l.linkinfo as { info_data?: { macaddr_data?: string[] } } | undefined)?.info_data?.macaddr_data?.[0] === '02:00:00:00:aa:01'));

    // The table names the peer's namespace, as ip's link-netns.
    const table = await ok([...n, 'link', 'show', 'up0']);
    assert.match(table, new RegExp(`\\bup0\\s+veth\\s+if\\d+@${peer.name}\\s`));
    assert.match(await host.ip(['link', 'show', 'up0']), new RegExp(`link-netns ${peer.name}`));
    // type KIND filters.
    const mvs = JSON.parse(await ok(['-j', ...n, 'link', 'show', 'type', 'macvlan'])) as IpLink[];
    assert.deepEqual(mvs.map((l) => l.ifname).sort(), ['mv0', 'src0']);
    const ipMvs = JSON.parse(await host.ip(['-j', 'link', 'show', 'type', 'macvlan'])) as IpLink[];
    assert.deepEqual(mvs, ipMvs);

    // Usage errors: exit 2 with "unknown option"; -s is an option, never a device.
    for (const bad of [[...n, 'link', 'show', '--jsn'], ['--jsn', ...n, 'link', 'show'], [...n, 'link', 'show', '-x'], [...n, 'addr', 'frob'], [...n, 'route', 'show', 'bogus']]) {
      const r = await macdemux(bad);
      assert.equal(r.code, 2, `macdemux ${bad.join(' ')}: ${r.stderr}`);
    }
    assert.match((await macdemux([...n, 'link', 'show', '--jsn'])).stderr, /unknown option "--jsn"/);
    const s = await macdemux([...n, 'link', 'show', '-s']);
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stdout, /RX-BYTES/);
  });
});

test('macdemux addr and route: the host shim, checked with ip -j', { skip: needsRoot }, async () => {
  await withLab(async (lab) => {
    const host = await lab.addNamespace('host');
    const wire = await lab.addNamespace('wire');
    await lab.addVeth({ ns: host, name: 'up0' }, { ns: wire, name: 'wp0' });
    const n = ['-n', host.name];
    await ok([...n, 'link', 'add', 'shim0', 'type', 'macvlan', 'link', 'up0', 'mode', 'bridge', 'up']);
    await ok([...n, 'addr', 'add', '10.0.36.223/32', 'dev', 'shim0']);
    await ok([...n, 'addr', 'add', 'fd00:36::223/128', 'dev', 'shim0', 'nodad']);
    await ok([...n, 'route', 'add', '10.0.36.192/27', 'dev', 'shim0']);
    assert.deepEqual((await ipAddrs(host, 'shim0')).filter((a) => !a.startsWith('fe80')), ['10.0.36.223/32', 'fd00:36::223/128']);
    assert.ok((await ipRoutes(host)).includes('10.0.36.192/27 shim0 -'));
    const addrs = JSON.parse(await ok([...n, '-4', '-j', 'addr', 'show', 'dev', 'shim0'])) as { ifname: string; addr_info: { local: string; prefixlen: number }[] }[];
    assert.deepEqual(addrs.map((l) => [l.ifname, l.addr_info.map((a) => `${a.local}/${a.prefixlen}`)]), [['shim0', ['10.0.36.223/32']]]);
    // A bare address is a host address (/32, /128), as in ip.
    await ok([...n, 'addr', 'add', '10.0.36.224', 'dev', 'shim0']);
    await ok([...n, 'addr', 'add', 'fd00:36::224', 'dev', 'shim0', 'nodad']);
    assert.deepEqual((await ipAddrs(host, 'shim0')).filter((a) => !a.startsWith('fe80')), ['10.0.36.223/32', '10.0.36.224/32', 'fd00:36::223/128', 'fd00:36::224/128']);
    await ok([...n, 'addr', 'del', '10.0.36.224', 'dev', 'shim0']);
    await ok([...n, 'addr', 'del', 'fd00:36::224', 'dev', 'shim0']);
    const routes = await ok([...n, 'route', 'show']);
    assert.match(routes, /^10\.0\.36\.192\/27 dev shim0 scope link$/m);
    await ok([...n, 'route', 'del', '10.0.36.192/27', 'dev', 'shim0']);
    await ok([...n, 'addr', 'del', '10.0.36.223/32', 'dev', 'shim0']);
    assert.deepEqual((await ipAddrs(host, 'shim0')).filter((a) => !a.startsWith('fe80')), ['fd00:36::223/128']);
    assert.ok(!(await ipRoutes(host)).includes('10.0.36.192/27 shim0 -'));
    const again = await macdemux([...n, 'addr', 'del', '10.0.36.223/32', 'dev', 'shim0']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /address "shim0": delete 10\.0\.36\.223\/32 failed: EADDRNOTAVAIL/);
  });
});
