/**
 * The Docker network driver with real dockerd: two "hosts" (lab namespaces joined by a wire), each
 * with its own dockerd (private /run/docker) and `macdemux docker-plugin`. The seed's
 * `docker network create -d macdemux ... -o parent=eth0 mac_net1` on both; containers ping across;
 * VLAN parents eth0.10/eth0.20 (userspace engine, tags on the wire); --ip-range/--aux-address and
 * the host shim; a plugin restart keeps networks working; `docker network rm` leaves nothing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, type Namespace } from '../../src/lab/index.ts';
import { needsRoot } from '../support.ts';
import { Daemon, DockerHost, linkNames, until } from './container-helpers.ts';

const SEED = ['--subnet=172.16.86.0/24', '--gateway=172.16.86.1', '-o', 'parent=eth0', 'mac_net1'];

/** `ping` from inside a container (busybox). */
async function cping(h: DockerHost, container: string, ip: string, count = 2): Promise<boolean> {
  const r = await h.docker(['exec', container, 'ping', '-c', String(count), '-W', '2', ip]);
  return r.code === 0;
}

/** Our devices (every name the plugin makes starts with "md"). */
async function pluginLinks(ns: Namespace): Promise<string[]> {
  return (await linkNames(ns.name)).filter((n) => /^md[vchst][0-9a-f]/.test(n));
}

function pluginState(h: DockerHost): { networks: unknown[]; endpoints: unknown[] } {
  return JSON.parse(readFileSync(join(h.pluginStateDir, 'docker-plugin.json'), 'utf8'));
}

describe('docker-plugin with dockerd on two hosts', { skip: needsRoot, timeout: 240_000 }, () => {
  let lab: Lab;
  let ns1: Namespace;
  let ns2: Namespace;
  let h1: DockerHost;
  let h2: DockerHost;

  before(async () => {
    lab = await Lab.create();
    ns1 = await lab.addNamespace('dh1');
    ns2 = await lab.addNamespace('dh2');
    await lab.addVeth({ ns: ns1, name: 'eth0' }, { ns: ns2, name: 'eth0' }); // the wire between the hosts
    h1 = new DockerHost(ns1.name, 'h1');
    h2 = new DockerHost(ns2.name, 'h2');
    await Promise.all([h1.start(), h2.start()]);
  });

  after(async () => {
    await Promise.allSettled([h1?.stop(), h2?.stop()]);
    await lab?.destroy();
  });

  it("the seed's mac_net1 on both hosts: containers at .10 and .11 ping across the wire", async () => {
    await h1.ok(['network', 'create', '-d', 'macdemux', ...SEED]);
    await h2.ok(['network', 'create', '-d', 'macdemux', ...SEED]);
    await h1.ok(['run', '-d', '--name', 'alpine1', '--network', 'mac_net1', '--ip=172.16.86.10', 'bb', 'sleep', '3600']);
    await h2.ok(['run', '-d', '--name', 'alpine2', '--network', 'mac_net1', '--ip=172.16.86.11', 'bb', 'sleep', '3600']);
    const addr = await h1.ok(['exec', 'alpine1', 'ip', 'addr', 'show', 'eth0']);
    assert.match(addr, /inet 172\.16\.86\.10\/24/);
    assert.match(addr, /02:42:ac:10:56:0a/, 'MAC derived from the IP, as Docker does');
    assert.match(await h1.ok(['exec', 'alpine1', 'ip', 'route']), /default via 172\.16\.86\.1 dev eth0/, 'Join gave the gateway');
    assert.ok(await cping(h1, 'alpine1', '172.16.86.11'), 'alpine1 reaches alpine2 across hosts');
    assert.ok(await cping(h2, 'alpine2', '172.16.86.10'), 'alpine2 reaches alpine1');
    // --mac-address is used as given.
    await h2.ok(['run', '-d', '--name', 'm1', '--network', 'mac_net1', '--ip=172.16.86.20', '--mac-address', '02:aa:bb:cc:dd:01', 'bb', 'sleep', '3600']);
    assert.match(await h2.ok(['exec', 'm1', 'ip', 'link', 'show', 'eth0']), /02:aa:bb:cc:dd:01/);
    assert.ok(await cping(h1, 'alpine1', '172.16.86.20'));
    // The kernel dataplane: the container's device is a macvlan on eth0 in bridge mode.
    const inspect = await h1.ok(['network', 'inspect', 'mac_net1', '--format', '{{.Driver}}']);
    assert.equal(inspect, 'macdemux');
  });

  it('bad options are refused with the reason, and nothing is created', async () => {
    const r = await h1.docker(['network', 'create', '-d', 'macdemux', '--subnet=10.99.0.0/24', '-o', 'parent=nosuchdev', 'bad1']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /parent interface nosuchdev does not exist/);
    const r2 = await h1.docker(['network', 'create', '-d', 'macdemux', '--subnet=10.98.0.0/24', '-o', 'parent=eth0', '-o', 'mode=sideways', 'bad2']);
    assert.match(r2.stderr, /-o mode/);
    const r3 = await h1.docker(['network', 'create', '-d', 'macdemux', '--subnet=10.97.0.0/24', '-o', 'parent=eth0', 'dup']);
    assert.match(r3.stderr, /already using parent interface eth0/, 'one network per parent, as Docker macvlan');
    assert.equal((await h1.docker(['network', 'ls', '--filter', 'name=bad', '-q'])).stdout.trim(), '');
  });

  it('VLAN parents eth0.10 / eth0.20: same VLAN reaches across hosts, the other VLAN does not; tags on the wire', async () => {
    const vnet = (vid: number, name: string) => ['network', 'create', '-d', 'macdemux', '--subnet=10.10.0.0/24', '--gateway=10.10.0.1', '-o', `parent=eth0.${vid}`, name];
    await h1.ok(vnet(10, 'vl10'));
    await h1.ok(['run', '-d', '--name', 'a10', '--network', 'vl10', '--ip=10.10.0.10', 'bb', 'sleep', '3600']);
    // Host 2 first has the same subnet on VLAN 20: the same address there is not reachable.
    await h2.ok(vnet(20, 'vl20'));
    await h2.ok(['run', '-d', '--name', 'b20', '--network', 'vl20', '--ip=10.10.0.11', 'bb', 'sleep', '3600']);
    assert.equal(await cping(h1, 'a10', '10.10.0.11', 1), false, 'VLAN 10 does not reach VLAN 20');
    await h2.ok(['rm', '-f', 'b20']);
    await h2.ok(['network', 'rm', 'vl20']);
    await h2.ok(vnet(10, 'vl10'));
    await h2.ok(['run', '-d', '--name', 'b10', '--network', 'vl10', '--ip=10.10.0.11', 'bb', 'sleep', '3600']);
    // Tagged frames on the wire (captured on host 1's eth0 while a10 pings b10).
    const dump = new Daemon('tcpdump', 'nsenter', [`--net=/run/netns/${ns1.name}`, 'tcpdump', '-l', '-n', '-e', '-c', '4', '-i', 'eth0', 'icmp or (vlan and icmp)']);
    await dump.waitFor(/listening on/);
    assert.ok(await cping(h1, 'a10', '10.10.0.11', 3), 'VLAN 10 reaches VLAN 10 on the other host');
    await until(() => dump.child.exitCode !== null, 5000);
    await dump.stop();
    const lines = dump.output.split('\n').filter((l) => /ICMP echo/.test(l));
    assert.ok(lines.length >= 2, `captured echo frames: ${dump.output}`);
    for (const l of lines) assert.match(l, /vlan 10,/, `tagged: ${l}`);
  });

  it('--ip-range and --aux-address: addresses come from the range, the aux address is skipped; the host shim reaches the containers', async () => {
    await h1.ok(['rm', '-f', 'a10']);
    await h1.ok(['network', 'rm', 'vl10']);
    await h1.ok([
      'network', 'create', '-d', 'macdemux', '--subnet=172.16.87.0/24', '--gateway=172.16.87.1', '--ip-range=172.16.87.192/30',
      '--aux-address=host=172.16.87.193', '-o', 'parent=eth0.30', '-o', 'host-shim=172.16.87.193', 'ranged',
    ]);
    await h1.ok(['run', '-d', '--name', 'r1', '--network', 'ranged', 'bb', 'sleep', '3600']);
    await h1.ok(['run', '-d', '--name', 'r2', '--network', 'ranged', 'bb', 'sleep', '3600']);
    const ipOf = async (c: string) => h1.ok(['inspect', c, '--format', '{{(index .NetworkSettings.Networks "ranged").IPAddress}}']);
    const ips = [await ipOf('r1'), await ipOf('r2')];
    for (const ip of ips) {
      assert.match(ip, /^172\.16\.87\.19[2-5]$/, `in the range: ${ip}`);
      assert.notEqual(ip, '172.16.87.193', 'aux address not handed out');
    }
    // The host (the plugin's namespace) reaches its containers through the shim, and back.
    for (const ip of ips) assert.ok(await ns1.ping(ip, { count: 1, timeoutS: 2 }), `host reaches ${ip} via the shim`);
    assert.ok(await cping(h1, 'r1', '172.16.87.193', 1), 'container reaches the host shim');
    // A full range is refused by dockerd's IPAM (not by us): r3 and r4 would need .194/.195 (one left).
    await h1.ok(['run', '-d', '--name', 'r3', '--network', 'ranged', 'bb', 'sleep', '3600']);
    const r4 = await h1.docker(['run', '-d', '--name', 'r4', '--network', 'ranged', 'bb', 'sleep', '3600']);
    assert.notEqual(r4.code, 0, 'range exhausted');
  });

  it('a plugin restart keeps networks and endpoints working (kernel and userspace)', async () => {
    await h1.stopPlugin();
    await h1.startPlugin();
    assert.match(h1.plugin!.output, /state: 2 network\(s\)/);
    assert.ok(await cping(h1, 'alpine1', '172.16.86.11'), 'kernel network still carries traffic');
    assert.ok(await cping(h1, 'r1', (await h1.ok(['inspect', 'r2', '--format', '{{(index .NetworkSettings.Networks "ranged").IPAddress}}'])), 1), 'userspace endpoints re-attached');
    const r1ip = await h1.ok(['inspect', 'r1', '--format', '{{(index .NetworkSettings.Networks "ranged").IPAddress}}']);
    assert.ok(await ns1.ping(r1ip, { count: 1, timeoutS: 2 }), 'shim and its routes still there');
    // New endpoints on networks created before the restart.
    await h1.ok(['run', '-d', '--name', 'after', '--network', 'mac_net1', '--ip=172.16.86.30', 'bb', 'sleep', '3600']);
    assert.ok(await cping(h2, 'alpine2', '172.16.86.30'));
  });

  it('docker network rm leaves nothing behind (devices, routes, plugin state)', async () => {
    for (const h of [h1, h2]) {
      const ids = (await h.ok(['ps', '-aq'])).split(/\s+/).filter(Boolean);
      if (ids.length) await h.ok(['rm', '-f', ...ids]);
      for (const n of ['mac_net1', 'vl10', 'ranged']) {
        const r = await h.docker(['network', 'rm', n]);
        assert.ok(r.code === 0 || /not found|No such network/.test(r.stderr), r.stderr);
      }
    }
    assert.deepEqual(await pluginLinks(ns1), []);
    assert.deepEqual(await pluginLinks(ns2), []);
    assert.deepEqual(pluginState(h1), { version: 1, networks: [], endpoints: [] });
    assert.deepEqual(pluginState(h2), { version: 1, networks: [], endpoints: [] });
    const routes = await ns1.run('ip', ['-4', 'route', 'show']);
    assert.doesNotMatch(routes, /172\.16\.87/);
  });
});
