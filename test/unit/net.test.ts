/** src/net: the one rule for interface names, MACs, macvlan modes and ring options. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../src/errors.ts';
import {
  IFNAME_MAX,
  formatHwAddr,
  formatMac,
  ifnameProblem,
  isIfname,
  macFromNumber,
  macToNumber,
  normalizeMac,
  parseMac,
  validateIfname,
  validateMode,
  validateRingOptions,
} from '../../src/net/index.ts';

test('interface names: the kernel rule (dev_valid_name), counted in bytes', () => {
  assert.equal(IFNAME_MAX, 15);
  assert.equal(validateIfname('a'.repeat(15)), 'a'.repeat(15));
  assert.equal(validateIfname('eth0.30'), 'eth0.30');
  assert.equal(validateIfname('x%y'), 'x%y'); // the kernel takes '%' (a template only in ip's "name%d")
  assert.throws(() => validateIfname('a'.repeat(16), 'a.name'), (e: unknown) => {
    assert.ok(e instanceof InvalidArgumentError);
    assert.equal(e.field, 'a.name');
    assert.equal(e.message, 'Expected an interface name of 1..15 bytes without "/", ":" or whitespace for a.name but received "aaaaaaaaaaaaaaaa"');
    return true;
  });
  assert.throws(() => validateIfname('é'.repeat(8)), InvalidArgumentError);
  for (const bad of ['', 'a/b', 'a:1', 'a b', 'a\tb', '.', '..', 7, undefined, null]) {
    assert.equal(isIfname(bad), false, String(bad));
    assert.throws(() => validateIfname(bad), InvalidArgumentError, String(bad));
  }
  assert.equal(ifnameProblem('ok0'), undefined);
  assert.match(ifnameProblem('a/b') ?? '', /^expected an interface name .* got "a\/b"$/);
});

test('MACs: colons or dashes, any case; unicast by default; one normal form', () => {
  assert.deepEqual([...parseMac('02:AA:00:00:00:01')], [2, 0xaa, 0, 0, 0, 1]);
  assert.equal(normalizeMac('02-AA-00-00-00-01'), '02:aa:00:00:00:01');
  assert.throws(() => parseMac('01:00:5e:00:00:01'), /Expected a unicast MAC address like 02:00:00:00:00:01 for mac but received "01:00:5e:00:00:01"/);
  assert.throws(() => parseMac('00:00:00:00:00:00'), InvalidArgumentError);
  assert.equal(normalizeMac('FF:FF:FF:FF:FF:FF', 'dst', { unicast: false }), 'ff:ff:ff:ff:ff:ff');
  for (const bad of ['02:00:00:00:00', '02:00:00:00:00:0g', '02:00-00:00:00:00', 2, undefined]) {
    assert.throws(() => parseMac(bad, 'x', { unicast: false }), InvalidArgumentError, String(bad));
  }
  const b = Uint8Array.from([9, 9, 0x02, 0x6d, 0x64, 0, 0, 1]);
  assert.equal(formatMac(b, 2), '02:6d:64:00:00:01');
  assert.equal(formatMac(Uint8Array.from(Array(20).fill(1))).split(':').length, 6);
  assert.equal(formatHwAddr(Uint8Array.from(Array(20).fill(1))).split(':').length, 20);
  const n = macToNumber(parseMac('fe:dc:ba:98:76:54'));
  assert.equal(n, 0xfedcba987654);
  assert.equal(formatMac(macFromNumber(n)), 'fe:dc:ba:98:76:54');
});

test('macvlan modes', () => {
  assert.equal(validateMode('passthru'), 'passthru');
  assert.throws(() => validateMode('hub', 'networks.a.mode'), /Expected one of private, vepa, bridge, passthru, source for networks.a.mode but received "hub"/);
});

test('ring options: one set of names, validated with the option path', () => {
  assert.deepEqual(validateRingOptions({ blockSize: 1 << 18, blockCount: 4, txFrameCount: 512, other: 1 }, 'ring.'), { blockSize: 1 << 18, blockCount: 4, txFrameCount: 512 });
  assert.deepEqual(validateRingOptions(undefined), {});
  assert.throws(() => validateRingOptions({ blockSize: 5000 }, 'ring.'), /Expected a multiple of 4096 for ring.blockSize but received 5000/);
  assert.throws(() => validateRingOptions({ blockCount: 1 }, 'portRing.'), /for portRing.blockCount but received 1/);
  assert.throws(() => validateRingOptions({ qdiscBypass: 'yes' }), /Expected a boolean for qdiscBypass/);
  assert.throws(() => validateRingOptions(5, 'ring.'), /Expected an object of ring options for ring but received 5/);
});
