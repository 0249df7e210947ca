/**
 * Endpoints for container runtimes (macdemux-cni's userspace pods): the netns may be the path the
 * runtime made (never created by the daemon), and the endpoint may bring the addresses its IPAM
 * allocated, on a network without a subnet of its own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, validateConfig } from '../../src/service/config.ts';
import { desiredState } from '../../src/service/desired.ts';

function issues(doc: unknown): string[] {
  try {
    validateConfig(doc);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.path}: ${i.reason}`);
    throw err;
  }
  return [];
}

const net = (endpoints: unknown[], extra: Record<string, unknown> = {}) => ({ networks: [{ name: 'pods', parent: 'node:eth0', dataplane: 'userspace', ...extra, endpoints }] });

test('netns by path: /run/netns/X, /var/run/netns/X, /proc/PID/ns/net accepted; other paths refused', () => {
  for (const p of ['/run/netns/cni-1234', '/var/run/netns/x', '/proc/4242/ns/net'])
    assert.deepEqual(issues(net([{ name: 'a', netns: p, vlan: 10 }])), [], p);
  for (const p of ['/tmp', '/run/netns/../../etc/passwd', '/proc/self/ns/net', '/proc/0/ns/net', 'a/b'])
    assert.equal(issues(net([{ name: 'a', netns: p }])).length, 1, p);
});

test('addresses: kept as given on a network without a subnet; refused with a subnet or with ip', () => {
  const cfg = validateConfig(net([{ name: 'a', netns: '/proc/1/ns/net', addresses: ['10.77.0.10/24', 'fd00::5/64'] }]));
  assert.deepEqual(cfg.networks[0]!.endpoints[0]!.addresses, ['10.77.0.10/24', 'fd00::5/64']);
  assert.match(issues(net([{ name: 'a', netns: 'x', addresses: ['10.77.0.10/24'] }], { subnet: '10.77.0.0/24' })).join(), /has its own subnet/);
  assert.equal(issues(net([{ name: 'a', netns: 'x', addresses: ['10.77.0.10/33'] }])).length, 1);
  assert.equal(issues(net([{ name: 'a', netns: 'x', addresses: ['nope'] }])).length, 1);
  assert.equal(issues(net([{ name: 'a', netns: 'x', addresses: '10.0.0.1/24' }])).length, 1);
});

test('a path netns is never a namespace to create, and its endpoint has no link while the path is gone', () => {
  const cfg = validateConfig(net([{ name: 'a', netns: `/proc/${process.pid}/ns/net` }, { name: 'b', netns: '/run/netns/macdemux-test-gone-ns' }, { name: 'c', netns: 'made' }]));
  const leases = { pods: { a: { mac: '02:00:00:00:00:0a' }, b: { mac: '02:00:00:00:00:0b' }, c: { mac: '02:00:00:00:00:0c' } } };
  const d = desiredState(cfg, leases as never);
  assert.deepEqual(d.namespaces, ['made']);
  assert.deepEqual(d.links.filter((l) => l.role === 'endpoint').map((l) => l.endpoint).sort(), ['a', 'c']);
});
