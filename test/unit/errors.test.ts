import { test } from 'node:test';
import assert from 'node:assert/strict';
import { systemError, check, InvalidArgumentError, describeErrno } from '../../src/errors.ts';
import { native } from '../../src/native.ts';

test('systemError carries code, errno, syscall and interface name', () => {
  const e = systemError(-17, 'RTM_NEWLINK', { what: 'macvlan', ifname: 'mv1', op: 'create' });
  assert.equal(e.code, 'EEXIST');
  assert.equal(e.errno, 17);
  assert.equal(e.syscall, 'RTM_NEWLINK');
  assert.equal(e.ifname, 'mv1');
  assert.equal(e.message, 'macvlan "mv1": create failed: EEXIST (File exists)');
});

test('EPERM names the missing capability', () => {
  assert.match(systemError(-1, 'socket', { ifname: 'veth0' }).message, /needs CAP_NET_RAW/);
  assert.match(systemError(-1, 'RTM_NEWLINK').message, /needs CAP_NET_ADMIN/);
});

test('check passes counts through and throws on -errno', () => {
  assert.equal(check(5, 'recv'), 5);
  assert.throws(() => check(-19, 'bind', { ifname: 'x' }), { code: 'ENODEV', syscall: 'bind' });
  assert.deepEqual(describeErrno(2)[0], 'ENOENT');
});

test('InvalidArgumentError names the field and the reason', () => {
  const e = new InvalidArgumentError('ports[1].mac', 'a unicast MAC address', 'zz');
  assert.equal(e.message, 'Expected a unicast MAC address for ports[1].mac but received "zz"');
  assert.equal(e.field, 'ports[1].mac');
});

test('native addon loads and reports a missing namespace as ENOENT', () => {
  const n = native();
  assert.equal(n.netnsCheck('/run/netns/macdemux-does-not-exist'), -2);
  assert.equal(n.closeFd(-1), -9);
});
