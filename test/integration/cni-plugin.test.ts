/**
 * `macdemux-cni` driven as libcni drives it (exec with the CNI environment, config on stdin), in
 * lab namespaces: ADD/CHECK/DEL/VERSION/STATUS/GC with host-local and static IPAM; DEL twice, with
 * an empty CNI_NETNS, after the master is gone; the spec's error codes; and side by side with
 * Debian's reference macvlan plugin on the same config: results of the same shape.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, type Namespace } from '../../src/lab/index.ts';
import { needsRoot } from '../support.ts';
import { tempDir } from './container-helpers.ts';
import { cniBinDir, execPlugin, REFERENCE_PLUGINS, shapeOf } from './cni-helpers.ts';

describe('macdemux-cni with a libcni-like client', { skip: needsRoot, timeout: 120_000 }, () => {
  let lab: Lab;
  let host: Namespace;
  let peer: Namespace;
  let ctr: Namespace[];
  let bin: string;
  let plugin: string;
  let dir: string;
  let path: string[];

  const conf = (over: Record<string, unknown> = {}, version = '1.0.0'): Record<string, any> => ({
    cniVersion: version,
    name: 'mdnet',
    type: 'macdemux-cni',
    master: 'eth0',
    mode: 'bridge',
    dataDir: join(dir, 'attach'),
    ipam: { type: 'host-local', dataDir: join(dir, 'ipam'), ranges: [[{ subnet: '10.66.0.0/24', gateway: '10.66.0.1', rangeStart: '10.66.0.10' }]], routes: [{ dst: '0.0.0.0/0' }] },
    ...over,
  });
  const leases = () => (existsSync(join(dir, 'ipam', 'mdnet')) ? readdirSync(join(dir, 'ipam', 'mdnet')).filter((f) => /^\d/.test(f)) : []);
  const attachments = () => (existsSync(join(dir, 'attach', 'mdnet')) ? readdirSync(join(dir, 'attach', 'mdnet')) : []);
  const cni = (cmd: string, c: object, a: { containerId?: string; netns?: string; ifname?: string; args?: string } = {}) => execPlugin(plugin, cmd, c, host.name, a, path);

  before(async () => {
    lab = await Lab.create();
    host = await lab.addNamespace('cnihost');
    peer = await lab.addNamespace('cnipeer');
    await lab.addVeth({ ns: host, name: 'eth0' }, { ns: peer, name: 'wire', addresses: ['10.66.0.1/24'] });
    ctr = [await lab.addNamespace('c1'), await lab.addNamespace('c2'), await lab.addNamespace('c3')];
    bin = cniBinDir();
    plugin = join(bin, 'macdemux-cni');
    path = [bin, REFERENCE_PLUGINS];
    dir = tempDir('cni');
  });
  after(async () => {
    await lab?.destroy();
  });

  it('VERSION lists 1.0.0 and 1.1.0', () => {
    const r = cni('VERSION', { cniVersion: '1.0.0' });
    assert.equal(r.code, 0, r.stdout);
    assert.ok(r.json.supportedVersions.includes('1.0.0') && r.json.supportedVersions.includes('1.1.0'));
    assert.equal(r.json.cniVersion, '1.0.0');
  });

  it('ADD two containers: macvlans on the master, addresses from host-local, default route; they ping each other and the wire', async () => {
    const r1 = cni('ADD', conf(), { containerId: 'ctr1', netns: `/run/netns/${ctr[0]!.name}` });
    assert.equal(r1.code, 0, r1.stdout + r1.stderr);
    const r2 = cni('ADD', conf(), { containerId: 'ctr2', netns: `/run/netns/${ctr[1]!.name}`, args: 'IgnoreUnknown=1;MAC=02:66:00:00:00:02' });
    assert.equal(r2.code, 0, r2.stdout + r2.stderr);
    assert.equal(r1.json.cniVersion, '1.0.0');
    assert.deepEqual(r1.json.interfaces, [{ name: 'eth0', mac: r1.json.interfaces[0].mac, sandbox: `/run/netns/${ctr[0]!.name}` }]);
    assert.equal(r1.json.ips[0].address, '10.66.0.10/24');
    assert.equal(r1.json.ips[0].gateway, '10.66.0.1');
    assert.equal(r1.json.ips[0].interface, 0);
    assert.equal(r2.json.interfaces[0].mac, '02:66:00:00:00:02', 'CNI_ARGS MAC honoured');
    const link = JSON.parse(await ctr[0]!.run('ip', ['-d', '-j', 'link', 'show', 'eth0']))[0];
    assert.equal(link.linkinfo.info_kind, 'macvlan');
    assert.equal(link.linkinfo.info_data.mode, 'bridge');
    assert.match(await ctr[0]!.run('ip', ['route']), /default via 10\.66\.0\.1 dev eth0/);
    assert.ok(await ctr[0]!.ping('10.66.0.11', { count: 2 }), 'c1 reaches c2 (bridge mode)');
    assert.ok(await ctr[1]!.ping('10.66.0.1', { count: 2 }), 'c2 reaches the wire');
    assert.equal(leases().length, 2);
    assert.equal(attachments().length, 2);
  });

  it('CHECK passes against prevResult and fails with the reason when the interface drifted', async () => {
    const add = cni('ADD', conf(), { containerId: 'ctr3', netns: `/run/netns/${ctr[2]!.name}` });
    assert.equal(add.code, 0, add.stdout);
    const prev = add.json;
    const ok = cni('CHECK', conf({ prevResult: prev }), { containerId: 'ctr3', netns: `/run/netns/${ctr[2]!.name}` });
    assert.equal(ok.code, 0, ok.stdout);
    await ctr[2]!.ip(['addr', 'flush', 'dev', 'eth0']);
    const bad = cni('CHECK', conf({ prevResult: prev }), { containerId: 'ctr3', netns: `/run/netns/${ctr[2]!.name}` });
    assert.equal(bad.code, 1);
    assert.match(bad.json.msg, /lacks address 10\.66\.0\.12\/24/);
    const noPrev = cni('CHECK', conf(), { containerId: 'ctr3', netns: `/run/netns/${ctr[2]!.name}` });
    assert.equal(noPrev.json.code, 7);
  });

  it('GC (1.1) removes attachments the runtime no longer has: lease freed, interface gone', async () => {
    const before = leases().length;
    const gc = cni('GC', conf({ 'cni.dev/valid-attachments': [{ containerID: 'ctr1', ifname: 'eth0' }, { containerID: 'ctr2', ifname: 'eth0' }] }, '1.1.0'));
    assert.equal(gc.code, 0, gc.stdout);
    assert.equal(leases().length, before - 1, 'ctr3 lease released');
    assert.deepEqual(attachments().sort(), ['ctr1-eth0.json', 'ctr2-eth0.json']);
    assert.ok(!(await ctr[2]!.links()).includes('eth0'), 'ctr3 interface removed');
  });

  it('STATUS (1.1): ready with the master, code 50 without; refused at 1.0.0', async () => {
    assert.equal(cni('STATUS', conf({}, '1.1.0')).code, 0);
    const missing = cni('STATUS', conf({ master: 'nosuch0' }, '1.1.0'));
    assert.equal(missing.json.code, 50);
    assert.equal(cni('STATUS', conf()).json.code, 1);
  });

  it('errors carry the spec codes', () => {
    const netns = `/run/netns/${ctr[2]!.name}`;
    const a = { containerId: 'e1', netns };
    assert.equal(cni('ADD', conf({}, '9.9.9'), a).json.code, 1, 'incompatible version');
    assert.equal(cni('ADD', conf({ master: undefined }), a).json.code, 7, 'no master');
    const nodev = cni('ADD', conf({ master: 'nosuch0' }), a);
    assert.equal(nodev.json.code, 7);
    assert.match(nodev.json.msg, /master "nosuch0" does not exist/);
    assert.equal(cni('ADD', conf(), { containerId: 'e1' }).json.code, 4, 'no CNI_NETNS');
    assert.equal(cni('ADD', conf(), { containerId: 'e1', netns: '/run/netns/does-not-exist' }).json.code, 3);
    assert.equal(cni('ADD', conf({ mode: 'sideways' }), a).json.code, 7);
    const exec = execPlugin(plugin, 'ADD', {}, host.name, a, path);
    assert.equal(exec.json.code, 1, 'no cniVersion');
    assert.equal(leases().length, 2, 'failed ADDs allocated nothing');
  });

  it('static IPAM with CNI_ARGS IP, then DEL twice and DEL with an empty CNI_NETNS (containerd) succeed', async () => {
    const netns = `/run/netns/${ctr[2]!.name}`;
    // The address comes from the runtime (CNI_ARGS IP=, as podman's --ip sends it) through static IPAM.
    const st = conf({ ipam: { type: 'static', routes: [{ dst: '0.0.0.0/0' }] } });
    const args = 'IgnoreUnknown=1;IP=10.66.0.77/24;GATEWAY=10.66.0.1';
    const add = cni('ADD', st, { containerId: 'ctr9', netns, args });
    assert.equal(add.code, 0, add.stdout);
    assert.equal(add.json.ips[0].address, '10.66.0.77/24');
    assert.ok(await ctr[2]!.ping('10.66.0.1'));
    for (let i = 0; i < 2; i++) {
      const del = cni('DEL', { ...st, prevResult: add.json }, { containerId: 'ctr9', netns, args });
      assert.equal(del.code, 0, del.stdout);
    }
    assert.ok(!(await ctr[2]!.links()).includes('eth0'));
    const del0 = cni('DEL', conf(), { containerId: 'ctr2', netns: '' });
    assert.equal(del0.code, 0, del0.stdout);
    assert.equal(leases().length, 1, 'ctr2 lease released without a netns');
  });

  it('DEL after the master is deleted succeeds and frees the address; nothing is left', async () => {
    await host.ip(['link', 'del', 'eth0']);
    const del = cni('DEL', conf(), { containerId: 'ctr1', netns: `/run/netns/${ctr[0]!.name}` });
    assert.equal(del.code, 0, del.stdout);
    assert.deepEqual(leases(), []);
    assert.deepEqual(attachments(), []);
    assert.ok(!existsSync(join(dir, 'attach', 'mdnet')), 'no directory left behind');
    await lab.addVeth({ ns: host, name: 'eth0' }, { ns: peer, name: 'wire', addresses: ['10.66.0.1/24'] });
  });

  it("side by side with Debian's reference macvlan plugin: the same config gives results of the same shape", async () => {
    const ref: Record<string, any> = { ...conf(), type: 'macvlan', name: 'refnet' };
    const ours = { ...conf(), name: 'oursnet' };
    ref.ipam = { ...ref.ipam, dataDir: join(dir, 'ipam-ref') };
    const r = execPlugin(join(REFERENCE_PLUGINS, 'macvlan'), 'ADD', ref, host.name, { containerId: 'ref1', netns: `/run/netns/${ctr[0]!.name}` }, path);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const o = cni('ADD', ours, { containerId: 'ours1', netns: `/run/netns/${ctr[1]!.name}` });
    assert.equal(o.code, 0, o.stdout);
    assert.deepEqual(shapeOf(o.json), shapeOf(r.json));
    assert.deepEqual(o.json.routes, r.json.routes);
    assert.equal(o.json.ips[0].gateway, r.json.ips[0].gateway);
    // Both configured the container alike: address, default route, macvlan mode.
    const show = async (ns: Namespace) => {
      const l = JSON.parse(await ns.run('ip', ['-d', '-j', 'link', 'show', 'eth0']))[0];
      return { kind: l.linkinfo.info_kind, mode: l.linkinfo.info_data.mode, up: l.flags.includes('UP'), route: /default via 10\.66\.0\.1/.test(await ns.run('ip', ['route'])) };
    };
    assert.deepEqual(await show(ctr[1]!), await show(ctr[0]!));
    assert.equal(execPlugin(join(REFERENCE_PLUGINS, 'macvlan'), 'DEL', ref, host.name, { containerId: 'ref1', netns: `/run/netns/${ctr[0]!.name}` }, path).code, 0);
    assert.equal(cni('DEL', ours, { containerId: 'ours1', netns: `/run/netns/${ctr[1]!.name}` }).code, 0);
  });
});
