/**
 * The CNI plugin's boundary without privileges: network configuration and environment checks with
 * the spec's error codes, VERSION, and error JSON on stdout with exit status 1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { main } from '../../src/plugins/cni/main.ts';
import { parseNetConf, readEnv, versionAtLeast } from '../../src/plugins/cni/config.ts';
import { CniError } from '../../src/plugins/cni/errors.ts';

const conf = (o: Record<string, unknown> = {}) => JSON.stringify({ cniVersion: '1.0.0', name: 'n1', type: 'macdemux-cni', master: 'eth0', ...o });

async function run(env: Record<string, string>, stdin: string): Promise<{ code: number; out: any }> {
  let text = '';
  const code = await main(env, stdin, (s) => (text += s));
  return { code, out: text.trim() ? JSON.parse(text) : undefined };
}

const code = (fn: () => unknown): number => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CniError, String(err));
    return err.code;
  }
  return 0;
};

test('parseNetConf: the reference macvlan keys plus vlan and dataplane', () => {
  const c = parseNetConf(conf({ mode: 'vepa', mtu: 1400, linkInContainer: true, ipam: { type: 'host-local' }, runtimeConfig: { mac: '02:00:00:00:00:09' } }));
  assert.equal(c.mode, 'vepa');
  assert.equal(c.mtu, 1400);
  assert.equal(c.linkInContainer, true);
  assert.equal(c.ipam?.type, 'host-local');
  assert.equal(c.runtimeMac, '02:00:00:00:00:09');
  assert.equal(c.dataplane, 'kernel');
  const v = parseNetConf(conf({ master: 'eth0', vlan: 10 }));
  assert.deepEqual(v.master, { name: 'eth0', dev: 'eth0', vlan: 10 });
  assert.equal(v.dataplane, 'userspace');
  assert.equal(parseNetConf(conf({ master: 'eth0.20' })).master?.vlan, 20);
});

test('parseNetConf / readEnv: the spec error codes', () => {
  assert.equal(code(() => parseNetConf('{')), 6);
  assert.equal(code(() => parseNetConf(conf({ cniVersion: '0.2.0' }))), 1);
  assert.equal(code(() => parseNetConf(conf({ mode: 'x' }))), 7);
  assert.equal(code(() => parseNetConf(conf({ mtu: 10 }))), 7);
  assert.equal(code(() => parseNetConf(conf({ master: 'eth0.10', vlan: 20 }))), 7);
  assert.equal(code(() => parseNetConf(conf({ dataplane: 'gpu' }))), 7);
  assert.equal(code(() => readEnv({ CNI_CONTAINERID: 'c', CNI_IFNAME: 'eth0', CNI_PATH: '/x' }, 'ADD')), 4, 'ADD without CNI_NETNS');
  assert.equal(code(() => readEnv({ CNI_CONTAINERID: 'c', CNI_IFNAME: 'eth0', CNI_PATH: '/x' }, 'DEL')), 0, 'DEL without CNI_NETNS is fine');
  assert.equal(code(() => readEnv({ CNI_CONTAINERID: 'c', CNI_IFNAME: 'a/b', CNI_NETNS: '/n', CNI_PATH: '/x' }, 'ADD')), 4);
  assert.deepEqual(readEnv({ CNI_CONTAINERID: 'c', CNI_IFNAME: 'eth0', CNI_NETNS: '/n', CNI_PATH: '/a:/b', CNI_ARGS: 'IgnoreUnknown=1;IP=10.0.0.5' }, 'ADD').args, { IgnoreUnknown: '1', IP: '10.0.0.5' });
  assert.ok(versionAtLeast('1.1.0', '1.0.0') && !versionAtLeast('0.4.0', '1.0.0') && versionAtLeast('0.4.0', '0.4.0'));
});

test('main: VERSION, unknown commands, errors on stdout with exit status 1', async () => {
  const v = await run({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"0.4.0"}');
  assert.equal(v.code, 0);
  assert.deepEqual(v.out, { cniVersion: '0.4.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
  const u = await run({ CNI_COMMAND: 'FROB' }, conf());
  assert.equal(u.code, 1);
  assert.equal(u.out.code, 4);
  const bad = await run({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c', CNI_IFNAME: 'eth0', CNI_NETNS: '/n', CNI_PATH: '/x' }, conf({ cniVersion: '1.1.0', mode: 'nope' }));
  assert.deepEqual(bad, { code: 1, out: { cniVersion: '1.1.0', code: 7, msg: bad.out.msg } });
  const kernelVlan = await run({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c', CNI_IFNAME: 'eth0', CNI_NETNS: '/n', CNI_PATH: '/x' }, conf({ vlan: 10, dataplane: 'kernel' }));
  assert.equal(kernelVlan.out.code, 7, 'a VLAN needs the userspace data plane (no 802.1Q here)');
  assert.match(kernelVlan.out.msg, /userspace/);
  // vlan implies userspace, which goes to macdemuxd: no daemon at the socket is "try again later".
  const noDaemon = await run({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c', CNI_IFNAME: 'eth0', CNI_NETNS: '/proc/self/ns/net', CNI_PATH: '/x' }, conf({ vlan: 10, socket: '/nonexistent/macdemuxd.sock' }));
  assert.equal(noDaemon.out.code, 11, JSON.stringify(noDaemon.out));
  assert.match(noDaemon.out.msg, /macdemuxd is not reachable/);
  const relSocket = await run({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c', CNI_IFNAME: 'eth0', CNI_NETNS: '/n', CNI_PATH: '/x' }, conf({ dataplane: 'userspace', socket: 'rel.sock' }));
  assert.equal(relSocket.out.code, 7);
});
