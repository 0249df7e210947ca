import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Words, formatLinkTable, splitGlobals } from '../../src/cli/link.ts';
import { formatRoute } from '../../src/cli/route.ts';
import { run as linkRun } from '../../src/cli/link.ts';
import type { LinkInfo } from '../../src/devices/index.ts';

test('global options are pulled out wherever they appear', () => {
  assert.deepEqual(splitGlobals(['-n', 'ns1', 'show', '--json']), { netns: 'ns1', json: true, rest: ['show'] });
  assert.deepEqual(splitGlobals(['add', 'mv0', '-j']), { json: true, rest: ['add', 'mv0'] });
  assert.deepEqual(splitGlobals(['--netns', '/proc/1/ns/net', 'del', 'x']), { netns: '/proc/1/ns/net', json: false, rest: ['del', 'x'] });
});

test('Words: integers and on/off are checked', () => {
  const w = new Words(['12', 'on', 'x', 'maybe']);
  assert.equal(w.int('mtu'), 12);
  assert.equal(w.onOff('promisc'), true);
  assert.throws(() => w.int('mtu'), /Expected an integer for mtu but received "x"/);
  assert.throws(() => w.onOff('promisc'), /Expected "on" or "off" for promisc/);
  assert.throws(() => w.next('name'), /Expected a value for name/);
});

test('link table: one row per link with macvlan details', () => {
  const base = { flags: ['BROADCAST', 'MULTICAST', 'UP'], up: true, lowerUp: true, operstate: 'UP', promiscuity: 0, mtu: 1500 };
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
  const lines = formatLinkTable(links).trimEnd().split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[0], /^IDX\s+NAME\s+KIND\s+PARENT\s+MODE\s+MAC\s+MTU\s+STATE\s+FLAGS\s+MASTER\s+SOURCE-MACS$/);
  assert.match(lines[1], /^2\s+up0\s+veth\s+if7@nsid0\s+-\s+02:00:00:00:00:01\s+1500\s+UP\s+/);
  assert.match(lines[2], /^3\s+src0\s+macvlan\s+up0\s+source,nodst\s+02:00:00:00:00:02\s+1500\s+UP\s+\S+\s+-\s+02:aa:00:00:00:01$/);
});

test('route lines read like ip route', () => {
  assert.equal(
    formatRoute({ family: 'inet', dst: '10.0.36.192/27', dstLen: 27, dev: 'shim0', table: 254, protocol: 3, scope: 'link', type: 1 }),
    '10.0.36.192/27 dev shim0 scope link',
  );
  assert.equal(
    formatRoute({ family: 'inet', dst: 'default', dstLen: 0, via: '10.0.0.1', dev: 'eth0', table: 254, protocol: 3, scope: 'global', type: 1, metric: 5 }),
    'default via 10.0.0.1 dev eth0 metric 5',
  );
});

test('link CLI rejects bad words before touching the kernel', async () => {
  const netns = 'mdx-no-such-namespace-for-sure';
  await assert.rejects(linkRun(['-n', netns, 'add', 'mv0', 'type', 'macvlan', 'link', 'p0', 'mode', 'hub']), /for mode but received "hub"/);
  await assert.rejects(linkRun(['-n', netns, 'add', 'mv0', 'type', 'macvlan']), /Expected a parent device/);
  await assert.rejects(linkRun(['-n', netns, 'add', 'v0', 'type', 'veth']), /Expected the name of the other end for peer name/);
  await assert.rejects(linkRun(['-n', netns, 'add', 'mv0', 'type', 'macvlan', 'link', 'p0', 'bogus', 'x']), /a known keyword/);
  await assert.rejects(linkRun(['-n', netns, 'set', 'mv0', 'promisc', 'yes']), /"on" or "off" for promisc/);
  await assert.rejects(linkRun(['-n', netns, 'set', 'mv0', 'macaddr', 'add', '01:00:00:00:00:01']), /unicast MAC address like 02:00:00:00:00:01 for macaddr add \[0\]/);
});
