/**
 * Scenario 2 (VLAN sub-interfaces as parents) from examples/scenario2-vlans.yaml on the userspace
 * data plane: macdemuxd runs one engine switch per host uplink; same-VLAN endpoints on two hosts
 * reach each other, the frames carry their 802.1Q tag on the wire, different VLANs are isolated
 * even with addresses in one subnet; engine counters reach the API and /metrics; a port's mode
 * changes live; SIGTERM stops the engine (forwarding stops) and teardown restores the hosts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Lab } from '../../src/lab/index.ts';
import { apiRequest } from '../../src/service/control-client.ts';
import { listNetns } from '../../src/service/netns.ts';
import { needsRoot } from '../support.ts';
import { cli, DaemonProcess, labConfig, nsDump, ping, removeNamespacesWithPrefix, tcpExchange, tempDir } from './service-helpers.ts';

test('scenario 2: VLAN networks on the userspace data plane: same VLAN reaches across hosts, different VLANs isolated', { skip: needsRoot }, async () => {
  const lab = await Lab.create();
  const dir = tempDir('s2');
  const state = join(dir, 'state');
  let d: DaemonProcess | undefined;
  try {
    const h1 = await lab.addNamespace('host1');
    const h2 = await lab.addNamespace('host2');
    await lab.addVeth({ ns: h1, name: 'eth0' }, { ns: h2, name: 'eth0' });
    const before = { h1: nsDump(h1.name), h2: nsDump(h2.name) };
    const cfg = labConfig('scenario2-vlans.yaml', lab.prefix, dir);
    d = new DaemonProcess(['--config', cfg, '--state-dir', state, '--metrics', '127.0.0.1:0']);
    await d.event('daemon.ready', 60_000);
    const metrics = (await d.event('metrics.listening')).address as string;
    const ns = (n: string) => `${lab.prefix}-${n}`;

    // Same VLAN, two hosts: reachable.
    assert.ok(ping(ns('h1-c10'), '172.10.0.11', 2), 'VLAN 10: host1 -> host2');
    assert.ok(ping(ns('h2-c20'), '172.20.0.10', 2), 'VLAN 20: host2 -> host1');
    assert.ok(ping(ns('h2-c99'), '172.99.0.1', 2), 'VLAN 99: host2 -> host1 (allocated address)');

    // On the wire the frames carry their VLAN tag.
    // tcpdump is installed by scripts/ensure-system-deps.sh; a capture that does not start fails here.
    const dump = h2.spawn('tcpdump', ['-l', '-c', '1', '-eni', 'eth0', 'vlan 20 and icmp']);
    let wire = '';
    let errText = '';
    dump.stdout!.on('data', (b: Buffer) => (wire += b.toString()));
    const exited = new Promise<void>((r) => dump.on('close', () => r()));
    await new Promise<void>((resolve, reject) => {
      let started = false;
      const fail = (why: string) => !started && (clearTimeout(t), reject(new Error(`tcpdump did not start (${why}): ${errText.trim()}`)));
      const t = setTimeout(() => fail('no "listening on" within 10 s'), 10_000);
      dump.on('error', (e) => fail(e.message));
      dump.on('exit', (code) => fail(`exit ${code}`));
      dump.stderr!.on('data', (b: Buffer) => {
        errText += b.toString();
        if (!started && errText.includes('listening on')) {
          started = true;
          clearTimeout(t);
          resolve();
        }
      });
    });
    assert.ok(ping(ns('h1-c20'), '172.20.0.11', 1));
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    dump.kill();
    assert.match(wire, /802\.1Q.*vlan 20.*172\.20\.0\.10 > 172\.20\.0\.11/, `tagged frame on the wire, got: ${wire}`);

    // Different VLANs are isolated even when the addresses share a subnet: give the VLAN-10
    // endpoint an address in VLAN 20's subnet; it still cannot reach VLAN 20.
    await h1.run('ip', ['-n', ns('h1-c10'), 'addr', 'add', '172.20.0.50/24', 'dev', 'eth0']);
    assert.ok(!ping(ns('h1-c10'), '172.20.0.11', 2, 1), 'VLAN 10 endpoint cannot reach VLAN 20');
    await h1.run('ip', ['-n', ns('h1-c10'), 'addr', 'del', '172.20.0.50/24', 'dev', 'eth0']);

    // Engine counters through the API and the metrics.
    const c = (await apiRequest(join(state, 'macdemuxd.sock'), 'GET', '/counters')).body as any;
    const p10 = c.ports.find((p: any) => p.port === 'h1-net10');
    assert.equal(p10.dataplane, 'userspace');
    assert.ok(p10.rxPackets > 0 && p10.txPackets > 0, JSON.stringify(p10));
    assert.equal(c.switches.length, 2);
    assert.ok(c.switches.every((s: any) => s.rxFrames > 0));
    const text = await (await fetch(`http://${metrics}/metrics`)).text();
    assert.match(text, /macdemux_port_tx_packets_total\{network="mac_net10",port="h1-net10",dataplane="userspace"\} [1-9]/);
    assert.match(text, /macdemux_switch_rx_frames_total\{uplink="[^"]+host1:eth0"\} [1-9]/);
    assert.match(text, /macdemux_engine_batch_frames\{uplink="[^"]+",worker="0"\} \d/);
    assert.match(text, /macdemux_switch_drops_total\{uplink="[^"]+",reason="unknownVlan"\} \d/);

    // Live mode change on a userspace port (bridge -> vepa): still reaches the other host.
    const r = await apiRequest(join(state, 'macdemuxd.sock'), 'PATCH', '/ports/h1-net10', { mode: 'vepa' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal((r.body as any).mode, 'vepa');
    assert.ok(ping(ns('h1-c10'), '172.10.0.11', 1), 'vepa port reaches the wire');

    // SIGTERM: the engine stops (no forwarding), the kernel side (veths, namespaces) stays.
    assert.equal(await d.stop('SIGTERM'), 0);
    assert.ok(listNetns().includes(ns('h1-c10')));
    assert.ok(!ping(ns('h1-c10'), '172.10.0.11', 1, 1), 'no forwarding without the engine');

    // Teardown restores both hosts.
    const down = cli(['down', cfg, '--state-dir', state]);
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(listNetns().filter((n) => n.startsWith(`${lab.prefix}-h`) && !n.endsWith('host1') && !n.endsWith('host2')), []);
    assert.deepEqual(nsDump(h1.name), before.h1);
    assert.deepEqual(nsDump(h2.name), before.h2);
  } finally {
    await d?.stop('SIGKILL');
    spawnSync(process.execPath, [join(import.meta.dirname, '..', '..', 'bin', 'macdemux.js'), 'down', '--state-dir', state]);
    await removeNamespacesWithPrefix(lab.prefix);
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('scenario 5 on the userspace data plane: the host shim (a veth into the engine) reaches the endpoints', { skip: needsRoot }, async () => {
  const lab = await Lab.create();
  const dir = tempDir('s5u');
  const state = join(dir, 'state');
  let d: DaemonProcess | undefined;
  try {
    const host = await lab.addNamespace('host');
    const lan = await lab.addNamespace('lan');
    await lab.addVeth({ ns: host, name: 'eth0' }, { ns: lan, name: 'eth0', addresses: ['10.0.36.254/24'] });
    const before = nsDump(host.name);
    const cfg = labConfig('scenario5-shim.yaml', lab.prefix, dir, (doc) => {
      doc.networks[0].dataplane = 'userspace';
    });
    d = new DaemonProcess(['--config', cfg, '--state-dir', state, '--metrics', 'off']);
    await d.event('daemon.ready', 60_000);
    assert.match(await host.ip(['route', 'show', '10.0.36.192/27']), /dev mac0/);
    assert.ok(ping(host.name, '10.0.36.192', 2), 'host -> web1 through the shim port');
    assert.ok(ping(host.name, '10.0.36.200', 1), 'host -> db1 through the shim port');
    assert.match(await host.ip(['-6', 'route', 'show', 'fd00:36::100/120']), /dev mac0/);
    assert.ok(ping(host.name, 'fd00:36::100', 2), 'host -> web1 over IPv6 through the shim port');
    assert.equal(await tcpExchange(`${lab.prefix}-web1`, host.name, 'fd00:36::100'), 'fd00:36::100 <- fd00:36::223', 'TCP host -> web1 over IPv6');
    assert.ok(ping(`${lab.prefix}-web2`, '10.0.36.254', 1), 'web2 -> the router on the wire');
    assert.ok(ping(`${lab.prefix}-web1`, '10.0.36.193', 1), 'web1 -> web2 (bridge mode, switched in the engine)');
    const ports = (await apiRequest(join(state, 'macdemuxd.sock'), 'GET', '/ports')).body as any[];
    assert.deepEqual(ports.map((p) => p.name).sort(), ['db1', 'macnet36.shim', 'web1', 'web2']);
    assert.equal(await d.stop('SIGTERM'), 0);
    assert.equal(cli(['down', cfg, '--state-dir', state]).code, 0);
    assert.deepEqual(nsDump(host.name), before);
  } finally {
    await d?.stop('SIGKILL');
    spawnSync(process.execPath, [join(import.meta.dirname, '..', '..', 'bin', 'macdemux.js'), 'down', '--state-dir', state]);
    await removeNamespacesWithPrefix(lab.prefix);
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});
