/**
 * Configurations that cannot work are refused with the reason: a host shim named like a tap or an
 * endpoint interface in the parent's namespace, overlapping subnets on one parent, a switch port
 * on the uplink or two ports on one device; and one bad subnet is reported once, not on everything
 * that uses it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkPortDevices } from '../../src/cli/switch.ts';
import { ConfigError, validateConfig } from '../../src/service/config.ts';

function issues(doc: unknown): string[] {
  try {
    validateConfig(doc);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.path}: ${i.reason}`);
    throw err;
  }
  return [];
}

const net = (extra: Record<string, unknown>) => ({ name: 'n', parent: 'h:eth0', subnet: '10.9.0.0/24', ...extra });

test('host shim named like a tap or an endpoint interface in the parent namespace', () => {
  assert.deepEqual(issues({ networks: [net({ 'host-shim': { name: 'vm0', ip: '10.9.0.250' }, endpoints: [{ name: 'v', tap: 'vm0' }] })] }), [
    'networks[0].host-shim.name: vm0 is already used by networks[0].endpoints[0] in namespace h',
  ]);
  assert.deepEqual(issues({ networks: [net({ 'host-shim': { name: 'eth1', ip: '10.9.0.250' }, endpoints: [{ name: 'e', netns: 'h', ifname: 'eth1' }] })] }), [
    'networks[0].host-shim.name: eth1 is already used by networks[0].endpoints[0] in namespace h',
  ]);
  assert.deepEqual(issues({ networks: [net({ 'host-shim': { name: 'eth0', ip: '10.9.0.250' } })] }), ["networks[0].host-shim.name: is the parent's name"]);
  // The same name in another namespace is fine.
  assert.deepEqual(issues({ networks: [net({ 'host-shim': { name: 'eth1', ip: '10.9.0.250' }, endpoints: [{ name: 'e', netns: 'other', ifname: 'eth1' }] })] }), []);
});

test('overlapping subnets on networks sharing a parent', () => {
  const doc = {
    networks: [
      { name: 'a', parent: 'h:eth0', dataplane: 'userspace', vlan: 10, subnet: '10.9.0.0/16', endpoints: [{ name: 'a1', netns: 'a1' }] },
      { name: 'b', parent: 'h:eth0', dataplane: 'userspace', vlan: 20, subnet: '10.9.0.0/24', endpoints: [{ name: 'b1', netns: 'b1' }] },
      { name: 'c', parent: 'h:eth1', subnet: '10.9.0.0/24', endpoints: [{ name: 'c1', netns: 'c1' }] },
    ],
  };
  assert.deepEqual(issues(doc), ['networks[1].subnet: 10.9.0.0/24 overlaps 10.9.0.0/16 of networks[0] "a" on the same parent h:eth0']);
  doc.networks[1].subnet = '10.10.0.0/24';
  assert.deepEqual(issues(doc), []);
});

test('one bad subnet is reported once', () => {
  const got = issues({
    networks: [net({ subnet: '10.9.0.0/33', 'host-shim': { name: 'm0', ip: '10.9.0.250' }, endpoints: [{ name: 'e1', netns: 'x', ip: '10.9.0.5' }] }), { name: 'b', parent: 'h:eth1', subnet: '10.1.0.0/24' }],
  });
  assert.deepEqual(got, ['networks[0].subnet: prefix length "33" is not in 0..32']);
});

test('macdemux switch: a port on the uplink, or two ports on one device, are refused', () => {
  const port = (ifname: string, name: string) => ({ name, mac: '02:00:00:00:00:01', backend: { kind: 'packet' as const, ifname } });
  assert.throws(() => checkPortDevices('eth0', [port('eth0', 'p0')]), /a device other than the uplink eth0/);
  assert.throws(() => checkPortDevices('eth0', [port('v1', 'p0'), port('v1', 'p1')]), /v1 is already port p0; two ports on one device/);
  assert.doesNotThrow(() => checkPortDevices('eth0', [port('v1', 'p0'), port('v2', 'p1')]));
});
