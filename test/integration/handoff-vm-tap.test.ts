/**
 * fd hand-off of a userspace VM port: macdemuxd (`--handoff-socket`) attaches fresh queues of the
 * daemon-made vnet_hdr multiqueue tap and sends them with SCM_RIGHTS to an unprivileged launcher
 * (examples/vm/qemu-handoff.py run as nobody, the tap's owner). The launcher execs a stand-in
 * hypervisor on the received fds 3 and 4 (test/integration/hypervisor-on-fds.py) that writes ICMP
 * echoes after virtio_net_hdrs; the veth endpoint of the same network answers through the engine.
 * While it holds the queues a second launcher is refused (EBUSY: one hypervisor per tap), as are
 * another uid and more queues than the endpoint has; once it exits the tap can be handed off again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab } from '../../src/lab/index.ts';
import { Daemon } from '../../src/service/daemon.ts';
import { vmTapInfo } from '../../src/devices/vm-tap.ts';
import { needsRoot } from '../support.ts';
import { removeNamespacesWithPrefix, tempDir } from './service-helpers.ts';

const LAUNCHER = fileURLToPath(new URL('../../examples/vm/qemu-handoff.py', import.meta.url));
const HYPERVISOR = fileURLToPath(new URL('./hypervisor-on-fds.py', import.meta.url));
const PYTHON = '/usr/bin/python3';
const NOBODY = 65534;
const VM_MAC = '02:6d:64:00:1b:01';
const EP_MAC = '02:6d:64:00:1b:02';
const VM_IP = '10.93.0.5';
const EP_IP = '10.93.0.3';

/** The launcher as `uid`, asking for `queues` queues of vm1, exec'ing the stand-in hypervisor. */
function launch(socket: string, uid: number, queues: number): ChildProcess {
  return spawn('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', PYTHON, LAUNCHER, '--socket', socket, '--endpoint', 'vm1', '--queues', String(queues), '--', PYTHON, HYPERVISOR, 'fds=@', 'mac=@', EP_MAC, VM_IP, EP_IP], { stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Resolves with the first stdout line (or the exit, with stderr) of a launched process. */
function firstLine(p: ChildProcess): Promise<{ line?: string; code?: number | null; stderr: string }> {
  let out = '';
  let err = '';
  p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((res) => {
    p.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) res({ line: out.split('\n')[0], stderr: err });
    });
    p.on('exit', (code) => res({ code, stderr: err }));
  });
}

function exited(p: ChildProcess): Promise<number | null> {
  return p.exitCode !== null ? Promise.resolve(p.exitCode) : new Promise((r) => p.on('exit', (c) => r(c)));
}

test('hand-off of a userspace VM port: nobody receives 2 fresh queue fds, echoes cross the engine on them; a second launcher gets EBUSY until the first exits', { skip: needsRoot, timeout: 180_000 }, async () => {
  const lab = await Lab.create();
  const dir = tempDir('hovm');
  chmodSync(dir, 0o755); // nobody reaches the hand-off socket
  const handoff = join(dir, 'handoff.sock');
  const procs: ChildProcess[] = [];
  let daemon: Daemon | undefined;
  try {
    const sw = await lab.addNamespace('sw');
    const far = await lab.addNamespace('far');
    await lab.addVeth({ ns: sw, name: 'up0' }, { ns: far, name: 'f0' });
    const epNs = `${lab.prefix}-ep1`;
    const cfg = join(dir, 'vm.json');
    writeFileSync(cfg, JSON.stringify({
      version: 1,
      networks: [{
        name: 'vmnet', parent: { netns: sw.name, dev: 'up0' }, mode: 'bridge', dataplane: 'userspace', subnet: '10.93.0.0/24',
        endpoints: [
          { name: 'vm1', mac: VM_MAC, ip: VM_IP, vm: { tap: 'thv1', queues: 2, owner: NOBODY, group: NOBODY } },
          { name: 'ep1', netns: epNs, mac: EP_MAC, ip: EP_IP },
        ],
      }],
    }));
    daemon = new Daemon({ configPath: cfg, stateDir: join(dir, 'state'), metrics: false, handoffSocket: handoff, teardownOnExit: true });
    await daemon.start();
    assert.equal((await vmTapInfo('thv1', sw.name))?.queuesAttached, 0, 'no queue attached before the hand-off');
    // the guest does not answer ARP: the endpoint knows its MAC
    spawnSync('ip', ['-n', epNs, 'neigh', 'replace', VM_IP, 'lladdr', VM_MAC, 'dev', 'eth0', 'nud', 'permanent']);

    const first = launch(handoff, NOBODY, 2);
    procs.push(first);
    const r1 = await firstLine(first);
    assert.equal(r1.line, `reply ok uid=${NOBODY} queues=2`, `the hypervisor on the handed-off fds reached the endpoint and back: ${r1.stderr}`);
    assert.equal((await vmTapInfo('thv1', sw.name))?.queuesAttached, 2, 'the hand-off attached two fresh queues');

    // while it holds them: a second launcher of the same uid is refused, nothing half-attached
    const second = launch(handoff, NOBODY, 2);
    procs.push(second);
    const r2 = await firstLine(second);
    assert.equal(r2.code, 1, `refused: ${r2.line ?? ''} ${r2.stderr}`);
    assert.match(r2.stderr, /thv1 .*is in use: 2 hypervisor queue\(s\) attached already.*\(EBUSY\)/);
    const one = launch(handoff, NOBODY, 1);
    procs.push(one);
    assert.match((await firstLine(one)).stderr, /is in use/, 'one queue is refused too');
    assert.equal((await vmTapInfo('thv1', sw.name))?.queuesAttached, 2, 'the refused requests attached nothing');

    // another uid, and more queues than vm.queues
    const other = launch(handoff, 4242, 2);
    procs.push(other);
    assert.match((await firstLine(other)).stderr, /uid 4242 .* may not take this endpoint's queues/);

    first.stdin!.end();
    assert.equal(await exited(first), 0);
    assert.equal((await vmTapInfo('thv1', sw.name))?.queuesAttached, 0, 'the queues detach when the hypervisor exits');
    const three = launch(handoff, NOBODY, 3);
    procs.push(three);
    assert.match((await firstLine(three)).stderr, /has 2 queue\(s\) \(vm\.queues\); asked for 3 \(EINVAL\)/);

    // the tap is free again: a new hypervisor, with one queue of the multiqueue tap this time
    const again = launch(handoff, NOBODY, 1);
    procs.push(again);
    const r3 = await firstLine(again);
    assert.equal(r3.line, `reply ok uid=${NOBODY} queues=1`, r3.stderr);
    again.stdin!.end();
    assert.equal(await exited(again), 0);
  } finally {
    for (const p of procs) if (p.exitCode === null && p.pid) p.kill();
    await daemon?.stop();
    await removeNamespacesWithPrefix(lab.prefix);
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});
