import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatLinkTable } from '../../src/cli/link.ts';
import { Words } from '../../src/cli/words.ts';
import { formatRoute } from '../../src/cli/route.ts';
import { run as linkRun } from '../../src/cli/link.ts';
import type { LinkInfo } from '../../src/devices/index.ts';

test('Words: integers and on/off are checked', () => {
  const w = new Words(['12', 'on', 'x', 'maybe']);
  assert.equal(w.int('mtu'), 12);
  assert.equal(w.onOff('promisc'), true);
  assert.throws(() => w.int('mtu'), /Expected an integer for mtu but received "x"/);
  assert.throws(() => w.onOff('promisc'), /Expected "on" or "off" for promisc/);
  assert.throws(() => w.next('name'), /Expected a value for name/);
});

test('link table: one row per link with macvlan details', () => {
  const base = { type: 1, flags: ['BROADCAST', 'MULTICAST', 'UP'], up: true, lowerUp: true, operstate: 'UP', promiscuity: 0, mtu: 1500 };
  const links: LinkInfo[] = [
    { ...base, name: 'up0', ifindex: 2, kind: 'veth', mac: '02:00:00:00:00:01', parentIndex: 7, netnsId: 0 },
    {
      ...base,
      name: 'src0',
      ifindex: 3,
      kind: 'macvlan',
      mac: '02:00:00:00:00:02',
      parent: 'up0',
      parentIndex: 2,
      macvlan: { mode: 'source', nopromisc: false, nodst: true, flags: 2, sourceMacs: ['02:aa:00:00:00:01'], macaddrCount: 1 },
    },
  ];
  const lines = formatLinkTable(links, new Map([[0, 'peerns']])).trimEnd().split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[0], /^IDX\s+NAME\s+KIND\s+PARENT\s+MODE\s+MAC\s+MTU\s+STATE\s+FLAGS\s+MASTER\s+SOURCE-MACS$/);
  assert.match(lines[1], /^2\s+up0\s+veth\s+if7@peerns\s+-\s+02:00:00:00:00:01\s+1500\s+UP\s+/);
  assert.match(lines[2], /^3\s+src0\s+macvlan\s+up0\s+source,nodst\s+02:00:00:00:00:02\s+1500\s+UP\s+\S+\s+-\s+02:aa:00:00:00:01$/);
});

test('route lines read like ip route', () => {
  assert.equal(
    formatRoute({ family: 'inet', dst: '10.0.36.192/27', dstLen: 27, dev: 'shim0', table: 254, protocol: 3, scope: 'link', type: 1, flags: [] }),
    '10.0.36.192/27 dev shim0 scope link',
  );
  assert.equal(
    formatRoute({ family: 'inet', dst: 'default', dstLen: 0, via: '10.0.0.1', dev: 'eth0', table: 254, protocol: 3, scope: 'global', type: 1, metric: 5, flags: [] }),
    'default via 10.0.0.1 dev eth0 metric 5',
  );
});

test('link CLI rejects bad words before touching the kernel', async () => {
  const netns = 'mdx-no-such-namespace-for-sure';
  await assert.rejects(linkRun(['-n', netns, 'add', 'mv0', 'type', 'macvlan', 'link', 'p0', 'mode', 'hub']), /for mode but received "hub"/);
  await assert.rejects(linkRun(['-n', netns, 'add', 'mv0', 'type', 'macvlan']), /Expected a parent device/);
  await assert.rejects(linkRun(['-n', netns, 'add', 'v0', 'type', 'veth']), /Expected the name of the other end for peer name/);
  await assert.rejects(linkRun(['-n', netns, 'add', 'mv0', 'type', 'macvlan', 'link', 'p0', 'bogus', 'x']), { name: 'UsageError', message: /unknown word "bogus"/ });
  await assert.rejects(linkRun(['-n', netns, 'show', '--jsn']), { name: 'UsageError', message: /unknown option "--jsn"/ });
  await assert.rejects(linkRun(['-n', netns, 'show', 'a', 'b']), { name: 'UsageError' });
  await assert.rejects(linkRun(['-n', netns, 'set', 'mv0', 'promisc', 'yes']), /"on" or "off" for promisc/);
  await assert.rejects(linkRun(['-n', netns, 'set', 'mv0', 'macaddr', 'add', '01:00:00:00:00:01']), /unicast MAC address like 02:00:00:00:00:01 for macaddr add \[0\]/);
});

test('options before the object, as ip reads them: prefixes, one or two dashes, values', async () => {
  const { parseLeadingOptions, extractOptions } = await import('../../src/cli/options.ts');
  const a = parseLeadingOptions(['-j', '-s', '-s', '-d', '-n', 'ns1', 'link', 'show', '-j'], 'u');
  assert.deepEqual(a.rest, ['link', 'show', '-j']);
  assert.equal(a.opts.json, true);
  assert.equal(a.opts.stats, 2);
  assert.equal(a.opts.details, true);
  assert.equal(a.opts.netns, 'ns1');
  const b = parseLeadingOptions(['-json', '--details', '-statistics', '-netns', 'x', '-p', '-6', 'addr'], 'u');
  assert.deepEqual(b.rest, ['addr']);
  assert.deepEqual([b.opts.json, b.opts.details, b.opts.stats, b.opts.netns, b.opts.pretty, b.opts.family], [true, true, 1, 'x', true, 'inet6']);
  assert.equal(parseLeadingOptions(['-V'], 'u').opts.version, true);
  assert.equal(parseLeadingOptions(['--version'], 'u').opts.version, true);
  assert.equal(parseLeadingOptions(['-f', 'inet', 'route'], 'u').opts.family, 'inet');
  assert.throws(() => parseLeadingOptions(['--jsn', 'link'], 'u'), { name: 'UsageError', message: /unknown option "--jsn"/ });
  assert.throws(() => parseLeadingOptions(['-x'], 'u'), { name: 'UsageError', message: /unknown option "-x"/ });
  assert.throws(() => parseLeadingOptions(['-n'], 'u'), { name: 'UsageError', message: /option "-n" needs a value/ });
  assert.throws(() => parseLeadingOptions(['-f', 'link'], 'u'), { name: 'UsageError' });
  // After the object (the older form), the words keep their order; `--` ends the options.
  const c = extractOptions(['show', 'mv0', '--json', '-n', 'ns2', '--', '-odd'], 'u');
  assert.deepEqual(c.rest, ['show', 'mv0', '-odd']);
  assert.deepEqual([c.opts.json, c.opts.netns], [true, 'ns2']);
  assert.throws(() => extractOptions(['show', '-z'], 'u'), { name: 'UsageError' });
});

test('ip -j shapes: link keys, M-DOWN, link_index across namespaces, details, stats', async () => {
  const { linkToIpJson, routeToIpJson, addressToIpJson } = await import('../../src/cli/ip-json.ts');
  const stats = { rxPackets: 1, txPackets: 2, rxBytes: 3, txBytes: 4, rxErrors: 0, txErrors: 0, rxDropped: 5, txDropped: 0, multicast: 0, collisions: 0, rxOverErrors: 0, txCarrierErrors: 0 };
  const parent: LinkInfo = { type: 1, name: 'c0', ifindex: 4, flags: ['BROADCAST', 'MULTICAST'], up: false, lowerUp: false, operstate: 'DOWN', promiscuity: 0, mtu: 1500 };
  const mv: LinkInfo = {
    type: 1, name: 'mv0', ifindex: 5, flags: ['BROADCAST', 'MULTICAST'], up: false, lowerUp: false, operstate: 'DOWN', promiscuity: 0, mtu: 1500,
    qdisc: 'noop', linkmode: 0, group: 0, txQueueLen: 1000, mac: '4a:08:37:e9:b3:1f', broadcast: 'ff:ff:ff:ff:ff:ff',
    parentIndex: 4, parent: 'c0', kind: 'macvlan', minMtu: 68, maxMtu: 65535, allmulti: 0, numTxQueues: 1, numRxQueues: 1, stats,
    macvlan: { mode: 'bridge', nopromisc: false, nodst: false, flags: 0, sourceMacs: [], macaddrCount: 0, bcQueueLen: 1000, bcQueueLenUsed: 1000 },
  };
  const byIndex = new Map([[4, parent], [5, mv]]);
  assert.deepEqual(linkToIpJson(mv, byIndex), {
    ifindex: 5, link: 'c0', ifname: 'mv0', flags: ['BROADCAST', 'MULTICAST', 'M-DOWN'], mtu: 1500, qdisc: 'noop', operstate: 'DOWN',
    linkmode: 'DEFAULT', group: 'default', txqlen: 1000, link_type: 'ether', address: '4a:08:37:e9:b3:1f', broadcast: 'ff:ff:ff:ff:ff:ff',
  });
  const d = linkToIpJson(mv, byIndex, { details: true, stats: 1 });
  assert.deepEqual(d.linkinfo, { info_kind: 'macvlan', info_data: { mode: 'bridge', bcqueuelen: 1000, usedbcqueuelen: 1000 } });
  assert.deepEqual([d.promiscuity, d.allmulti, d.min_mtu, d.max_mtu, d.num_tx_queues], [0, 0, 68, 65535, 1]);
  assert.deepEqual(d.stats64, { rx: { bytes: 3, packets: 1, errors: 0, dropped: 5, over_errors: 0, multicast: 0 }, tx: { bytes: 4, packets: 2, errors: 0, dropped: 0, carrier_errors: 0, collisions: 0 } });
  const veth = { ...parent, name: 'a0', ifindex: 2, parentIndex: 2, netnsId: 0, type: 772 };
  const v = linkToIpJson(veth, byIndex);
  assert.equal(v.link_index, 2);
  assert.equal(v.link_netnsid, 0);
  assert.equal(v.link, undefined);
  assert.equal(v.link_type, 'loopback');

  assert.deepEqual(
    routeToIpJson({ family: 'inet', dst: '10.9.0.0/24', dstLen: 24, dev: 'a0', table: 254, protocol: 2, scope: 'link', type: 1, prefsrc: '10.9.0.1', flags: ['linkdown'] }),
    { dst: '10.9.0.0/24', dev: 'a0', protocol: 'kernel', scope: 'link', prefsrc: '10.9.0.1', flags: ['linkdown'] },
  );
  assert.deepEqual(
    routeToIpJson({ family: 'inet6', dst: 'fd00::1', dstLen: 128, dev: 'a0', table: 255, protocol: 2, scope: 'global', type: 2, metric: 0, flags: [], pref: 'medium' }),
    { type: 'local', dst: 'fd00::1', dev: 'a0', table: 'local', protocol: 'kernel', metric: 0, flags: [], pref: 'medium' },
  );
  assert.deepEqual(
    addressToIpJson({ ifindex: 2, family: 'inet6', address: 'fd00::1', prefixLen: 64, cidr: 'fd00::1/64', scope: 'global', flags: ['nodad', 'permanent'], validLifetime: 4294967295, preferredLifetime: 4294967295 }),
    { family: 'inet6', local: 'fd00::1', prefixlen: 64, scope: 'global', nodad: true, valid_life_time: 4294967295, preferred_life_time: 4294967295 },
  );
});

test('addr: an address without a prefix is a host address', async () => {
  const { hostCidr } = await import('../../src/cli/addr.ts');
  assert.equal(hostCidr('10.0.0.1'), '10.0.0.1/32');
  assert.equal(hostCidr('fd00::1'), 'fd00::1/128');
  assert.equal(hostCidr('10.0.0.1/24'), '10.0.0.1/24');
  assert.throws(() => hostCidr('10.0.0.300'), /Expected an address with prefix length/);
});

test('link show filters: type KIND, type KIND_slave, master, up', async () => {
  const { parseLinkFilter, matchesLinkFilter } = await import('../../src/cli/link.ts');
  const l = { type: 1, name: 'p0', ifindex: 3, kind: 'veth', slaveKind: 'bridge', master: 'br0', flags: [], up: true, lowerUp: true, operstate: 'UP', promiscuity: 0, mtu: 1500 } satisfies LinkInfo;
  assert.deepEqual(parseLinkFilter(['type', 'macvlan', 'up']), { kind: 'macvlan', up: true });
  assert.deepEqual(parseLinkFilter(['dev', 'x', 'master', 'br0']), { name: 'x', master: 'br0' });
  assert.equal(matchesLinkFilter(l, { kind: 'veth' }), true);
  assert.equal(matchesLinkFilter(l, { kind: 'macvlan' }), false);
  assert.equal(matchesLinkFilter(l, { kind: 'bridge_slave' }), true);
  assert.equal(matchesLinkFilter(l, { master: 'br1' }), false);
  assert.equal(matchesLinkFilter({ ...l, up: false }, { up: true }), false);
});
