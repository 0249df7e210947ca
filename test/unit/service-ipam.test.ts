/** IPAM pools and lease planning/persistence: ranges, exclusions, fixed IPs, exhaustion, IPv6, atomic store. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../../src/service/config.ts';
import { formatIp, parseCidr, parseIp } from '../../src/service/ipaddr.ts';
import { IpPool, PoolExhaustedError } from '../../src/service/ipam.ts';
import { LeaseStore, planLeases, withoutStale } from '../../src/service/leases.ts';

function net(extra: Record<string, unknown>, endpoints: Record<string, unknown>[]) {
  return validateConfig({ networks: [{ name: 'n', parent: 'h:eth0', ...extra, endpoints }] }).networks;
}
const eps = (n: number, more: Record<string, unknown> = {}) =>
  Array.from({ length: n }, (_, i) => ({ name: `e${i}`, netns: `ns${i}`, ...more }));

test('ipaddr: parse/format round trips, IPv6 compression, host bits', () => {
  for (const s of ['10.0.36.1', '0.0.0.0', '255.255.255.255', '::', '::1', 'fd00:36::10', '2001:db8::1:0:0:1', 'fe80::1:2:3:4'])
    assert.equal(formatIp(parseIp(s)!), s);
  assert.equal(formatIp(parseIp('2001:0db8:0000:0000:0000:0000:0000:0001')!), '2001:db8::1');
  // IPv4-mapped addresses print in mixed notation (RFC 5952 section 5), as iproute2 and src/devices do.
  assert.equal(formatIp(parseIp('::ffff:10.1.2.3')!), '::ffff:10.1.2.3');
  assert.equal(parseIp('010.0.0.1'), undefined);
  assert.equal(parseIp('fe80::1%eth0'), undefined);
  const bad = parseCidr('10.0.0.5/24');
  assert.ok(!bad.ok && /10\.0\.0\.0\/24/.test(bad.reason));
});

test('allocation skips network, gateway, aux and shim addresses and honours the range', () => {
  const networks = net(
    { subnet: '10.0.36.0/24', 'ip-range': '10.0.36.192/27', gateway: '10.0.36.254', 'aux-addresses': { host: '10.0.36.223', x: '10.0.36.193' }, 'host-shim': { name: 'mac0', ip: '10.0.36.194' } },
    eps(3),
  );
  const plan = planLeases(networks, {});
  assert.deepEqual(
    ['e0', 'e1', 'e2'].map((e) => plan.table.n[e].ipv4),
    ['10.0.36.192', '10.0.36.195', '10.0.36.196'],
  );
  const pool = new IpPool(networks[0].ipv4!);
  assert.match(pool.rejectFixed(parseIp('10.0.36.254')!)!, /gateway/);
  assert.match(pool.rejectFixed(parseIp('10.0.36.255')!)!, /broadcast/);
  assert.match(pool.rejectFixed(parseIp('10.0.36.0')!)!, /network address/);
  assert.match(pool.rejectFixed(parseIp('10.0.37.1')!)!, /outside/);
  assert.equal(pool.rejectFixed(parseIp('10.0.36.5')!), undefined);
});

test('whole-subnet allocation starts after the network address and never reaches the broadcast', () => {
  const plan = planLeases(net({ subnet: '192.168.5.0/29', gateway: '192.168.5.1' }, eps(5)), {});
  assert.deepEqual(Object.values(plan.table.n).map((l) => l.ipv4), ['192.168.5.2', '192.168.5.3', '192.168.5.4', '192.168.5.5', '192.168.5.6']);
});

test('exhaustion throws a clear error naming the network, range and endpoint', () => {
  const networks = net({ subnet: '192.168.5.0/29', gateway: '192.168.5.1' }, eps(6));
  assert.throws(() => planLeases(networks, {}), (e: unknown) => {
    assert.ok(e instanceof PoolExhaustedError);
    assert.match(e.message, /network "n": no free IPv4 address in 192\.168\.5\.0\/29 for endpoint "e5" \(all 5 allocatable/);
    return true;
  });
  // a /30 with a gateway leaves one address
  assert.throws(() => planLeases(net({ subnet: '10.9.0.0/30', gateway: '10.9.0.1' }, eps(2)), {}), PoolExhaustedError);
});

test('fixed IPs are honoured; dynamic leases are kept, and moved only when a fixed IP claims them', () => {
  let networks = net({ subnet: '10.1.0.0/24' }, eps(3));
  const p1 = planLeases(networks, {});
  assert.deepEqual(Object.values(p1.table.n).map((l) => l.ipv4), ['10.1.0.1', '10.1.0.2', '10.1.0.3']);
  // re-plan: identical, nothing changes
  const p2 = planLeases(networks, p1.table);
  assert.deepEqual(p2.table, p1.table);
  assert.deepEqual(p2.changes, []);
  // e2 gets fixed .2 -> e1 (dynamic on .2) moves to a free address; e0 keeps .1
  networks = net({ subnet: '10.1.0.0/24' }, [{ name: 'e0', netns: 'a' }, { name: 'e1', netns: 'b' }, { name: 'e2', netns: 'c', ip: '10.1.0.2' }]);
  const p3 = planLeases(networks, p1.table);
  assert.equal(p3.table.n.e0.ipv4, '10.1.0.1');
  assert.equal(p3.table.n.e2.ipv4, '10.1.0.2');
  assert.equal(p3.table.n.e1.ipv4, '10.1.0.3', 'e1 moves to the lowest free address');
  const all = Object.values(p3.table.n).map((l) => l.ipv4);
  assert.equal(new Set(all).size, all.length, 'no duplicates');
  // MACs are kept across plans
  for (const e of ['e0', 'e1', 'e2']) assert.equal(p3.table.n[e].mac, p1.table.n[e].mac);
});

test('removed endpoints keep their lease (reserved) until released', () => {
  const networks = net({ subnet: '10.1.0.0/24' }, eps(2));
  const p1 = planLeases(networks, {});
  const fewer = net({ subnet: '10.1.0.0/24' }, [{ name: 'e1', netns: 'ns1' }, { name: 'e9', netns: 'ns9' }]);
  const p2 = planLeases(fewer, p1.table);
  assert.deepEqual(p2.stale, { n: ['e0'] });
  assert.equal(p2.table.n.e0.ipv4, '10.1.0.1');
  assert.equal(p2.table.n.e9.ipv4, '10.1.0.3', 'the stale address is not reused in the same apply');
  const released = withoutStale(p2.table, p2.stale);
  assert.equal(released.n.e0, undefined);
  const p3 = planLeases(fewer, released);
  assert.equal(p3.table.n.e9.ipv4, '10.1.0.3');
});

test('IPv6: allocation within a range of a /64, skipping the anycast address and gateway', () => {
  const networks = net(
    { subnet: '10.2.0.0/24', ipv6: { subnet: 'fd00:36::/64', gateway: 'fd00:36::1', 'aux-addresses': { r: 'fd00:36::2' } } },
    [...eps(2), { name: 'f', netns: 'f', ipv6: 'fd00:36::3' }],
  );
  const p = planLeases(networks, {});
  assert.deepEqual(['e0', 'e1', 'f'].map((e) => p.table.n[e].ipv6), ['fd00:36::4', 'fd00:36::5', 'fd00:36::3']);
  assert.equal(p.table.n.e0.ipv4, '10.2.0.1');
  const ranged = net({ subnet: 'fd00:1::/64', 'ip-range': 'fd00:1::ff00/126' }, eps(5));
  assert.throws(() => planLeases(ranged, {}), /no free IPv6 address in fd00:1::ff00\/126 for endpoint "e4"/);
  const p2 = planLeases(net({ subnet: 'fd00:1::/64', 'ip-range': 'fd00:1::ff00/126' }, eps(3)), {});
  assert.deepEqual(Object.values(p2.table.n).map((l) => l.ipv6), ['fd00:1::ff00', 'fd00:1::ff01', 'fd00:1::ff02']);
});

test('generated MACs are unicast, locally administered, stable and unique', () => {
  const p = planLeases(net({}, eps(50)), {});
  const macs = Object.values(p.table.n).map((l) => l.mac);
  assert.equal(new Set(macs).size, 50);
  for (const m of macs) assert.equal(parseInt(m.slice(0, 2), 16) & 3, 2);
  assert.deepEqual(planLeases(net({}, eps(50)), {}).table, p.table);
});

test('LeaseStore persists atomically and refuses a corrupt file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mdx-leases-'));
  try {
    const s = await LeaseStore.open(dir);
    assert.deepEqual(s.all(), {});
    const plan = planLeases(net({ subnet: '10.3.0.0/24' }, eps(2)), {});
    assert.equal(await s.commit(plan.table), true);
    assert.equal(await s.commit(plan.table), false, 'no write when unchanged');
    writeFileSync(join(dir, '.leases.json.tmp-1-1'), '{"half');
    const again = await LeaseStore.open(dir);
    assert.deepEqual(again.all(), plan.table);
    assert.deepEqual(readdirSync(dir), ['leases.json'], 'stale temporaries are removed');
    assert.equal(JSON.parse(readFileSync(join(dir, 'leases.json'), 'utf8')).leases.n.e1.ipv4, '10.3.0.2');
    writeFileSync(join(dir, 'leases.json'), '{"version":1,"leas');
    await assert.rejects(LeaseStore.open(dir), /corrupt state file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
