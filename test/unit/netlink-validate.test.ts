import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../src/errors.ts';
import { formatIp, isNetworkAddress, parseCidr, parseIp } from '../../src/devices/validate.ts';
import { normalizeMac, parseMac, validateIfname, validateMode } from '../../src/net/index.ts';
import { createMacvlan, setSourceMacs, addAddress, addRoute } from '../../src/devices/index.ts';

test('interface names: 1..15 bytes, no "/", ":" or whitespace', () => {
  assert.equal(validateIfname('mv0'), 'mv0');
  assert.equal(validateIfname('a'.repeat(15)), 'a'.repeat(15));
  for (const bad of ['', 'a'.repeat(16), 'a/b', 'a b', 'a:1', '.', '..', 'tab\t', 3, undefined]) {
    assert.throws(() => validateIfname(bad), InvalidArgumentError, String(bad));
  }
  assert.throws(() => validateIfname('x y', 'options.parent'), /for options\.parent but received "x y"/);
});

test('MACs: unicast required for device addresses, normalized to lower case', () => {
  assert.equal(normalizeMac('02:AA:bb:CC:dd:EE'), '02:aa:bb:cc:dd:ee');
  assert.equal(normalizeMac('02-00-00-00-00-01'), '02:00:00:00:00:01');
  assert.deepEqual([...parseMac('02:00:00:00:00:01')], [2, 0, 0, 0, 0, 1]);
  for (const bad of ['01:00:5e:00:00:01', 'ff:ff:ff:ff:ff:ff', '00:00:00:00:00:00', '02:00:00:00:00', '02:00:00:00:00:0g', '0200.0000.0001', '02:00-00:00:00:01']) {
    assert.throws(() => parseMac(bad), InvalidArgumentError, bad);
  }
  assert.deepEqual([...parseMac('01:00:5e:00:00:01', 'mac', { unicast: false })], [1, 0, 0x5e, 0, 0, 1]);
});

test('modes', () => {
  for (const m of ['private', 'vepa', 'bridge', 'passthru', 'source']) assert.equal(validateMode(m), m);
  assert.throws(() => validateMode('Bridge'), /Expected one of private, vepa, bridge, passthru, source for mode/);
});

test('CIDRs and IP formatting (IPv6 in RFC 5952 form like iproute2)', () => {
  assert.deepEqual(parseCidr('10.0.36.223/32'), { family: 4, bytes: Buffer.from([10, 0, 36, 223]), prefixLen: 32 });
  assert.equal(parseCidr('fd00::1/64').prefixLen, 64);
  assert.equal(parseCidr('10.0.0.1', 'c', { allowBare: true }).prefixLen, 32);
  for (const bad of ['10.0.0.1', '10.0.0.1/33', '10.0.0/24', 'fd00::1/129', '10.0.0.1/-1', 'x/1', 'fe80::1%eth0/64']) {
    assert.throws(() => parseCidr(bad), InvalidArgumentError, bad);
  }
  const cases = ['fd00::1', '::', '::1', 'fe80::a:b:c:d', '2001:db8::1:0:0:1', '2001:db8:0:1:1:1:1:1', '1::', '::ffff:10.1.2.3', '2001:db8:1:2:3:4:5:6'];
  for (const c of cases) assert.equal(formatIp(parseIp(c).bytes), c);
  assert.equal(formatIp(parseIp('2001:0db8:0000:0000:0001:0000:0000:0001').bytes), '2001:db8::1:0:0:1');
  assert.equal(formatIp(parseIp('::ffff:1.2.3.4').bytes), '::ffff:1.2.3.4');
  assert.equal(isNetworkAddress(parseCidr('10.0.36.192/27')), true);
  assert.equal(isNetworkAddress(parseCidr('10.0.36.193/27')), false);
  assert.equal(isNetworkAddress(parseCidr('fd00::/64')), true);
});

test('the device API validates before opening any socket (a missing namespace is never reached)', async () => {
  const netns = 'mdx-no-such-namespace-for-sure';
  await assert.rejects(createMacvlan({ name: 'mv0', parent: 'p0', mac: '01:00:00:00:00:01' }, { netns }), {
    name: 'InvalidArgumentError',
    field: 'options.mac',
  });
  await assert.rejects(createMacvlan({ name: 'mv0', parent: 'p0', mode: 'bogus' as never }, { netns }), { field: 'options.mode' });
  await assert.rejects(createMacvlan({ name: 'way-too-long-name0', parent: 'p0' }, { netns }), { field: 'options.name' });
  await assert.rejects(createMacvlan({ name: 'mv0', parent: 'p0', mode: 'bridge', sourceMacs: ['02:00:00:00:00:01'] }, { netns }), {
    field: 'options.sourceMacs',
  });
  await assert.rejects(setSourceMacs('mv0', 'add', ['ff:ff:ff:ff:ff:ff'], { netns }), { field: 'macs[0]' });
  await assert.rejects(setSourceMacs('mv0', 'zap' as never, [], { netns }), { field: 'op' });
  await assert.rejects(addAddress('mv0', '10.0.0.1', { netns }), { field: 'cidr' });
  await assert.rejects(addRoute({ dst: '10.0.36.193/27', dev: 'mv0' }, { netns }), { field: 'route.dst' });
  await assert.rejects(addRoute({ dst: '10.0.36.192/27', via: 'fd00::1' }, { netns }), { field: 'route.via' });
  // And with valid input the namespace is the first thing that fails.
  await assert.rejects(createMacvlan({ name: 'mv0', parent: 'p0' }, { netns }), { code: 'ENOENT', syscall: 'setns' });
});
