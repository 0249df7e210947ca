/**
 * VM endpoints on a `dataplane: userspace` network of the daemon's config: macdemuxd makes the
 * persistent vnet_hdr multiqueue tap (marked as its own), its switch serves the tap's network
 * device, and the test plays the hypervisor (two queues opened by name on /dev/net/tun with
 * IFF_VNET_HDR | IFF_MULTI_QUEUE, as QEMU does). An ICMP echo from the "guest" to a veth endpoint
 * of the same network is answered back through the engine; the API reports the tap and its QEMU
 * options; one added and deleted through the API comes and goes with its tap; the tap and the path
 * survive a daemon restart; `macdemux down` removes the tap.
 * Also: the CLI switch records and marks the VM taps it creates so `down` removes them, and leaves
 * a tap it merely adopted (made by someone else) alone; VM tap MTUs above the switch's frame limit
 * are refused before anything is made.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab } from '../../src/lab/index.ts';
import { TapQueue } from '../../src/io/index.ts';
import { apiRequest } from '../../src/service/control-client.ts';
import { vmTapInfo } from '../../src/devices/vm-tap.ts';
import { needsRoot } from '../support.ts';
import { cli, DaemonProcess, removeNamespacesWithPrefix, tempDir } from './service-helpers.ts';

const VM_MAC = '02:6d:64:00:1a:01';
const EP_MAC = '02:6d:64:00:1a:02';
const VM_IP = [10, 92, 0, 5];
const EP_IP = [10, 92, 0, 3];
const VNET_HDR_LEN = 10;

function macBytes(s: string): number[] {
  return s.split(':').map((x) => parseInt(x, 16));
}

function csum(b: Uint8Array, from: number, to: number): number {
  let acc = 0;
  for (let i = from; i < to; i += 2) acc += (b[i]! << 8) | (i + 1 < to ? b[i + 1]! : 0);
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  return ~acc & 0xffff;
}

/** vnet header (no offload requested) + an ICMP echo request from the guest to the endpoint. */
function echoRequest(id: number, seq: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(VNET_HDR_LEN + 14 + 20 + 8 + payload.length);
  const dv = new DataView(f.buffer);
  const e = VNET_HDR_LEN;
  f.set(macBytes(EP_MAC), e);
  f.set(macBytes(VM_MAC), e + 6);
  dv.setUint16(e + 12, 0x0800);
  const ip = e + 14;
  f[ip] = 0x45;
  dv.setUint16(ip + 2, 20 + 8 + payload.length);
  f[ip + 8] = 64;
  f[ip + 9] = 1;
  f.set(VM_IP, ip + 12);
  f.set(EP_IP, ip + 16);
  dv.setUint16(ip + 10, csum(f, ip, ip + 20));
  const icmp = ip + 20;
  f[icmp] = 8;
  dv.setUint16(icmp + 4, id);
  dv.setUint16(icmp + 6, seq);
  f.set(payload, icmp + 8);
  dv.setUint16(icmp + 2, csum(f, icmp, f.length));
  return f;
}

/** Sends an echo request on queue 0 and waits for the reply on any queue; returns its payload. */
async function echo(queues: TapQueue[], id: number, payload: Uint8Array): Promise<Uint8Array | undefined> {
  for (let attempt = 0; attempt < 20; attempt++) {
    queues[0]!.send([echoRequest(id, attempt, payload)], true);
    const t0 = Date.now();
    while (Date.now() - t0 < 250) {
      for (const q of queues) {
        for (let b = q.tryRecv(); b && b.length; b = q.tryRecv()) {
          for (let i = 0; i < b.length; i++) {
            const f = b.frame(i);
            if (f.length < 42 || f[12] !== 0x08 || f[13] !== 0x00 || f[23] !== 1 || f[34] !== 0) continue;
            if (new DataView(f.buffer, f.byteOffset).getUint16(38) !== id) continue;
            return f.slice(42);
          }
        }
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  return undefined;
}

function alias(ns: string, dev: string): string | undefined {
  const r = spawnSync('ip', ['-n', ns, '-j', 'link', 'show', 'dev', dev], { encoding: 'utf8' });
  return r.status === 0 ? (JSON.parse(r.stdout)[0]?.ifalias as string | undefined) : undefined;
}

test('daemon config: a vm: endpoint on a userspace network is a marked vnet_hdr tap the switch serves, reported, kept across a restart, removed by down', { skip: needsRoot, timeout: 180_000 }, async () => {
  const lab = await Lab.create();
  const dir = tempDir('vmtap');
  const state = join(dir, 'state');
  let d: DaemonProcess | undefined;
  let queues: TapQueue[] = [];
  try {
    const sw = await lab.addNamespace('sw');
    const far = await lab.addNamespace('far');
    await lab.addVeth({ ns: sw, name: 'up0' }, { ns: far, name: 'f0' });
    const epNs = `${lab.prefix}-ep1`;
    const cfg = join(dir, 'vm.json');
    writeFileSync(cfg, JSON.stringify({
      version: 1,
      networks: [{
        name: 'vmnet', parent: { netns: sw.name, dev: 'up0' }, mode: 'bridge', dataplane: 'userspace', subnet: '10.92.0.0/24',
        endpoints: [
          { name: 'vm1', mac: VM_MAC, ip: VM_IP.join('.'), vm: { tap: 'tvm1', queues: 2, owner: 65534, group: 65534 } },
          { name: 'ep1', netns: epNs, mac: EP_MAC, ip: EP_IP.join('.') },
        ],
      }],
    }));
    const socket = join(state, 'macdemuxd.sock');
    d = new DaemonProcess(['--config', cfg, '--state-dir', state, '--metrics', 'off']);
    await d.event('daemon.ready', 60_000);

    const tap = await vmTapInfo('tvm1', sw.name);
    assert.ok(tap, 'the daemon made tvm1 in the parent\'s namespace');
    assert.ok(tap.vnetHdr && tap.multiQueue && tap.persist, JSON.stringify(tap));
    assert.deepEqual([tap.owner, tap.group], [65534, 65534]);
    assert.match(alias(sw.name, 'tvm1') ?? '', new RegExp(`^macdemux:[0-9a-f]+:${sw.name}/tvm1$`), 'the tap carries the state\'s mark');

    const ports = (await apiRequest(socket, 'GET', '/ports')).body as any[];
    const vm = ports.find((p) => p.name === 'vm1');
    assert.equal(vm?.dataplane, 'userspace');
    assert.equal(vm.switchIfname, 'tvm1');
    assert.deepEqual({ ...vm.vm, qemu: undefined }, { tap: 'tvm1', queues: 2, owner: 65534, group: 65534, qemu: undefined });
    assert.match(vm.vm.qemu, /-netdev tap,id=tvm1,ifname=tvm1,script=no,downscript=no,vhost=off,queues=2 -device virtio-net-pci,netdev=tvm1,mac=02:6d:64:00:1a:01,mq=on/);
    const status = cli(['status', '--state-dir', state]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /vm1: VM tap tvm1 \(netns [^)]+\), 2 queue\(s\), owner 65534, group 65534; QEMU: -netdev tap,id=tvm1,ifname=tvm1/);
    assert.match(status.stdout, /\n {2}backend tc \(auto: "[^"]+" is a veth device with one worker/, 'the switch runs the default backend, and status says which and why');

    // The hypervisor's side: two queues by name, the endpoint answers through the engine.
    spawnSync('ip', ['-n', epNs, 'neigh', 'replace', VM_IP.join('.'), 'lladdr', VM_MAC, 'dev', 'eth0', 'nud', 'permanent']);
    queues = TapQueue.openQueues({ ifname: 'tvm1', netns: sw.name, kind: 'tap', vnetHdr: true }, 2);
    const payload = new Uint8Array(1200).map((_, i) => (i * 13) & 0xff);
    assert.deepEqual(await echo(queues, 0x4d01, payload), payload, 'the veth endpoint answers the guest\'s echo through the switch');
    const c = (await apiRequest(socket, 'GET', '/counters')).body as any;
    const pc = c.ports.find((p: any) => p.port === 'vm1');
    assert.ok(pc.rxPackets >= 1 && pc.txPackets >= 1, JSON.stringify(pc));

    // Through the API: a vm: endpoint added is a marked tap served by the switch; deleted, it goes.
    const added = await apiRequest(socket, 'POST', '/endpoints', { network: 'vmnet', name: 'vm3', vm: { tap: 'tvm3' } });
    assert.equal(added.status, 201, JSON.stringify(added.body));
    assert.equal((added.body as any).vm?.tap, 'tvm3');
    const t3 = await vmTapInfo('tvm3', sw.name);
    assert.ok(t3?.vnetHdr && !t3.multiQueue, JSON.stringify(t3));
    assert.match(alias(sw.name, 'tvm3') ?? '', /^macdemux:[0-9a-f]+:.*\/tvm3$/);
    assert.equal((await apiRequest(socket, 'DELETE', '/endpoints/vm3')).status, 200);
    assert.equal(await vmTapInfo('tvm3', sw.name), undefined, 'an endpoint deleted through the API takes its tap along');

    // Restart: the tap (and the guest's queues on it) survives; the new daemon adopts and serves it.
    assert.equal(await d.stop(), 0);
    d = undefined;
    assert.equal((await vmTapInfo('tvm1', sw.name))?.queuesAttached, 2, 'the tap and the hypervisor\'s queues outlive the daemon');
    d = new DaemonProcess(['--config', cfg, '--state-dir', state, '--metrics', 'off']);
    await d.event('daemon.ready', 60_000);
    assert.deepEqual(await echo(queues, 0x4d02, payload), payload, 'after a restart the same queues reach the endpoint');
    assert.equal(await d.stop(), 0);
    d = undefined;
    for (const q of queues) await q.close();
    queues = [];

    const down = cli(['down', '--state-dir', state]);
    assert.equal(down.code, 0, down.stderr + down.stdout);
    assert.equal(await vmTapInfo('tvm1', sw.name), undefined, 'down removes the VM tap');
    assert.ok(!spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.includes(epNs), 'and the endpoint\'s namespace');

    // vm.mtu above the switch's frame limit (the uplink's MTU 1500 here) is refused before any change.
    writeFileSync(cfg, JSON.stringify({
      version: 1,
      networks: [{ name: 'vmnet', parent: { netns: sw.name, dev: 'up0' }, dataplane: 'userspace', subnet: '10.92.0.0/24', endpoints: [{ name: 'vm1', vm: { tap: 'tvm1', mtu: 9000 } }] }],
    }));
    const up = cli(['up', cfg, '--state-dir', state]);
    assert.notEqual(up.code, 0);
    assert.match(up.stderr + up.stdout, /vm\.mtu 9000 is above the switch's frame limit \(the uplink [^ ]+ has MTU 1500/);
    assert.equal(await vmTapInfo('tvm1', sw.name), undefined, 'nothing was made');
  } finally {
    for (const q of queues) await q.close().catch(() => {});
    await d?.stop();
    if (d === undefined) cli(['down', '--state-dir', state]);
    await removeNamespacesWithPrefix(lab.prefix);
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('CLI switch VM taps: the ones it creates are marked and removed by down, an adopted foreign tap is left alone; mtu above the frame limit is refused', { skip: needsRoot, timeout: 120_000 }, async () => {
  const lab = await Lab.create();
  const dir = tempDir('swtap');
  const state = join(dir, 'state');
  try {
    const sw = await lab.addNamespace('sw');
    const far = await lab.addNamespace('far');
    await lab.addVeth({ ns: sw, name: 'up0' }, { ns: far, name: 'f0' });
    await sw.ip(['tuntap', 'add', 'dev', 'tforeign', 'mode', 'tap', 'vnet_hdr']);

    const tooBig = cli(['switch', '-n', sw.name, '--uplink', 'up0', '--port', 'vm:tbig,mac=02:6d:64:00:1b:09,mtu=9000', '--duration', '1', '--state-dir', state]);
    assert.equal(tooBig.code, 2, tooBig.stderr);
    assert.match(tooBig.stderr, /vm:tbig,mtu=9000 is above the switch's frame limit \(the uplink up0's MTU 1500\)/);
    assert.equal(await vmTapInfo('tbig', sw.name), undefined, 'refused before the tap was made');

    const r = cli(['switch', '-n', sw.name, '--uplink', 'up0', '--port', 'vm:tcli1,mac=02:6d:64:00:1b:01', '--port', 'vm:tforeign,mac=02:6d:64:00:1b:02', '--duration', '1', '--state-dir', state]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /VM tap tcli1 ready \(queues attached: 0; recorded in /);
    assert.match(r.stderr, /VM tap tforeign ready \(queues attached: 0; not recorded: it existed already without macdemux's mark/);
    assert.match(alias(sw.name, 'tcli1') ?? '', /^macdemux:[0-9a-f]+:.*\/tcli1$/);
    assert.equal(alias(sw.name, 'tforeign'), undefined, 'an adopted tap is not marked');
    // a second run adopts its own tap again (still recorded)
    const again = cli(['switch', '-n', sw.name, '--uplink', 'up0', '--port', 'vm:tcli1,mac=02:6d:64:00:1b:01', '--duration', '1', '--state-dir', state]);
    assert.match(again.stderr, /VM tap tcli1 ready \(queues attached: 0; recorded in /);

    const down = cli(['down', '--state-dir', state]);
    assert.equal(down.code, 0, down.stderr + down.stdout);
    assert.equal(await vmTapInfo('tcli1', sw.name), undefined, 'down removes the tap the switch made');
    assert.ok(await vmTapInfo('tforeign', sw.name), 'and leaves the tap someone else made');
  } finally {
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});
