/**
 * macdemux-cni with `dataplane: "userspace"` and `vlan` on macdemuxd's engine (the Kubernetes
 * path): a daemon started here serves a userspace network on a node's uplink veth; "pods" (lab
 * namespaces, given by path as a runtime gives CNI_NETNS: /run/netns/X and /proc/PID/ns/net) get
 * engine ports through ADD, addresses from host-local. Same VLAN reaches, the far end of the uplink
 * sees the tag, another VLAN with addresses in the same subnet does not reach; CHECK, a daemon
 * restart (the attachments persist), DEL (twice), GC.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab } from '../../src/lab/index.ts';
import { apiRequest } from '../../src/service/control-client.ts';
import { needsRoot } from '../support.ts';
import { cniBinDir, execPlugin, REFERENCE_PLUGINS } from './cni-helpers.ts';
import { DaemonProcess, ping, removeNamespacesWithPrefix, tempDir } from './service-helpers.ts';

test('macdemux-cni userspace: VLAN pods on macdemuxd ping, tags on the uplink, VLANs isolated, DEL/CHECK/GC, restart keeps them', { skip: needsRoot }, async () => {
  const lab = await Lab.create();
  const dir = tempDir('cniu');
  const state = join(dir, 'state');
  const socket = join(state, 'macdemuxd.sock');
  let d: DaemonProcess | undefined;
  let holder: ReturnType<typeof spawn> | undefined;
  try {
    const node = await lab.addNamespace('node');
    const far = await lab.addNamespace('far');
    await lab.addVeth({ ns: node, name: 'eth0' }, { ns: far, name: 'eth0' });
    const pods = await Promise.all(['pod1', 'pod2', 'pod3'].map((p) => lab.addNamespace(p)));
    // pod2 is named by /proc/PID/ns/net of a process living in it (as a runtime without bind mounts).
    holder = spawn('nsenter', [`--net=/run/netns/${pods[1]!.name}`, 'sleep', '600'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 300));
    const netnsOf = [`/run/netns/${pods[0]!.name}`, `/proc/${holder.pid}/ns/net`, `/var/run/netns/${pods[2]!.name}`];
    const cfg = join(dir, 'macdemuxd.yaml');
    writeFileSync(cfg, `version: 1\nnetworks:\n  - name: pods\n    parent: ${node.name}:eth0\n    dataplane: userspace\n`);
    const start = async () => {
      d = new DaemonProcess(['--config', cfg, '--state-dir', state]);
      await d.event('daemon.ready', 60_000);
    };
    await start();

    const bin = cniBinDir();
    const path = [bin, REFERENCE_PLUGINS];
    const conf = (vlan: number, cniVersion = '1.0.0') => ({
      cniVersion,
      name: `pods${vlan}`,
      type: 'macdemux-cni',
      dataplane: 'userspace',
      network: 'pods',
      vlan,
      socket,
      dataDir: join(dir, 'cni'),
      // One subnet for both VLANs: isolation must come from the tags, not from routing.
      ipam: { type: 'host-local', subnet: '10.77.0.0/24', rangeStart: vlan === 10 ? '10.77.0.10' : '10.77.0.20', rangeEnd: vlan === 10 ? '10.77.0.19' : '10.77.0.29', dataDir: join(dir, 'ipam') },
    });
    const att = (i: number) => ({ containerId: `ctr${i + 1}`, netns: netnsOf[i]!, ifname: 'eth0' });
    const vlans = [10, 10, 20];
    const results = vlans.map((v, i) => {
      const r = execPlugin(join(bin, 'macdemux-cni'), 'ADD', conf(v), node.name, att(i), path);
      assert.equal(r.code, 0, `ADD pod${i + 1}: ${r.stdout}${r.stderr}`);
      return r.json;
    });
    const ip = (i: number) => String(results[i].ips[0].address).split('/')[0]!;
    assert.deepEqual(results.map((_, i) => ip(i)), ['10.77.0.10', '10.77.0.11', '10.77.0.20']);
    assert.equal(results[0].interfaces[0].sandbox, netnsOf[0]);

    const ports = (await apiRequest(socket, 'GET', '/ports')).body as any[];
    assert.equal(ports.length, 3);
    assert.deepEqual(ports.map((p) => p.vlan).sort(), [10, 10, 20]);
    assert.deepEqual(ports.map((p) => p.netns).sort(), [...netnsOf].sort());

    // The far end of the uplink sees pod1's broadcasts tagged with VLAN 10.
    const dump = far.spawn('tcpdump', ['-l', '-c', '1', '-eni', 'eth0', 'vlan 10']);
    let wire = '';
    let err = '';
    dump.stdout!.on('data', (b: Buffer) => (wire += b.toString()));
    const exited = new Promise<void>((r) => dump.on('close', () => r()));
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`tcpdump did not start: ${err}`)), 10_000);
      dump.stderr!.on('data', (b: Buffer) => {
        err += b.toString();
        if (err.includes('listening on')) (clearTimeout(t), resolve());
      });
    });
    assert.ok(ping(pods[0]!.name, ip(1), 2), 'pod1 -> pod2 (VLAN 10)');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    dump.kill();
    assert.match(wire, /802\.1Q.*vlan 10/, `tagged frame on the uplink's far end, got: ${wire}`);
    assert.ok(ping(pods[1]!.name, ip(0), 1), 'pod2 -> pod1');
    assert.ok(!ping(pods[2]!.name, ip(0), 2, 1), 'pod3 (VLAN 20) cannot reach pod1 (VLAN 10), same subnet');

    // CHECK with prevResult.
    const chk = execPlugin(join(bin, 'macdemux-cni'), 'CHECK', { ...conf(10), prevResult: results[0] }, node.name, att(0), path);
    assert.equal(chk.code, 0, chk.stdout);

    // A daemon restart re-creates the persisted attachments.
    assert.equal(await d!.stop('SIGTERM'), 0);
    await start();
    assert.equal(((await apiRequest(socket, 'GET', '/ports')).body as any[]).length, 3);
    assert.ok(ping(pods[0]!.name, ip(1), 3), 'pod1 -> pod2 after a daemon restart');

    // DEL (twice: idempotent) removes the port and frees the address.
    for (let k = 0; k < 2; k++) {
      const del = execPlugin(join(bin, 'macdemux-cni'), 'DEL', { ...conf(10), prevResult: results[0] }, node.name, att(0), path);
      assert.equal(del.code, 0, `DEL #${k + 1}: ${del.stdout}`);
    }
    assert.ok(!existsSync(join(dir, 'ipam', 'pods10', '10.77.0.10')), 'lease freed');
    const left = ((await apiRequest(socket, 'GET', '/ports')).body as any[]).map((p) => p.netns);
    assert.deepEqual(left.sort(), [netnsOf[1], netnsOf[2]].sort());
    assert.ok(!(await pods[0]!.run('ip', ['link', 'show'])).includes('eth0'), 'pod1 has no eth0');
    const chk2 = execPlugin(join(bin, 'macdemux-cni'), 'CHECK', { ...conf(10), prevResult: results[0] }, node.name, att(0), path);
    assert.equal(chk2.code, 1, 'CHECK fails without the port');

    // GC (1.1) of the VLAN-20 network with no valid attachment removes pod3's port.
    const gc = execPlugin(join(bin, 'macdemux-cni'), 'GC', { ...conf(20, '1.1.0'), 'cni.dev/valid-attachments': [] }, node.name, {}, path);
    assert.equal(gc.code, 0, gc.stdout);
    assert.deepEqual(((await apiRequest(socket, 'GET', '/ports')).body as any[]).map((p) => p.netns), [netnsOf[1]]);

    // Refused input: a netns that is not a namespace path.
    const bad = execPlugin(join(bin, 'macdemux-cni'), 'ADD', conf(10), node.name, { containerId: 'bad', netns: '/tmp', ifname: 'eth0' }, path);
    assert.equal(bad.code, 1);
    assert.match(bad.json.msg, /netns/);
    const del2 = execPlugin(join(bin, 'macdemux-cni'), 'DEL', conf(10), node.name, att(1), path);
    assert.equal(del2.code, 0, del2.stdout);
    assert.deepEqual((await apiRequest(socket, 'GET', '/ports')).body, []);
  } finally {
    holder?.kill('SIGKILL');
    await d?.stop('SIGKILL');
    await removeNamespacesWithPrefix(lab.prefix);
    await lab.destroy();
  }
});
