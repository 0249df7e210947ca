import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { systemError, check, hasCapability, InvalidArgumentError, describeErrno } from '../../src/errors.ts';
import { native } from '../../src/native.ts';

test('systemError carries code, errno, syscall and interface name', () => {
  const e = systemError(-17, 'RTM_NEWLINK', { what: 'macvlan', ifname: 'mv1', op: 'create' });
  assert.equal(e.code, 'EEXIST');
  assert.equal(e.errno, 17);
  assert.equal(e.syscall, 'RTM_NEWLINK');
  assert.equal(e.ifname, 'mv1');
  assert.equal(e.message, 'macvlan "mv1": create failed: EEXIST (File exists)');
});

test('EPERM names the missing capability; with the capability held it says so instead', () => {
  for (const [syscall, cap] of [['socket', 'CAP_NET_RAW'], ['RTM_NEWLINK', 'CAP_NET_ADMIN'], ['setns', 'CAP_SYS_ADMIN']]) {
    const m = systemError(-13, syscall).message;
    if (hasCapability(cap)) {
      assert.doesNotMatch(m, /needs CAP/, `${syscall} as a holder of ${cap}`);
      assert.match(m, new RegExp(`this process has ${cap}: the denial comes from elsewhere`));
    } else assert.match(m, new RegExp(`needs ${cap}`));
  }
  // Under a process without capabilities (uid 65534) the hint names what is missing.
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', process.execPath, '--import', 'tsx', '-e',
    `import('${new URL('../../src/errors.ts', import.meta.url).href}').then((m) => console.log(m.systemError(-13, 'setns').message))`], { encoding: 'utf8' });
  if (r.status === 0) assert.match(r.stdout, /needs CAP_SYS_ADMIN/);
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
