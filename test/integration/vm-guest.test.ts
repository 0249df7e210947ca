/**
 * A real guest (Debian's stock kernel, busybox initramfs, QEMU virtio-net with its default offloads:
 * vnet_hdr on, 2 queues) on every path macdemux documents for VMs, in one boot: Linux bridge + tap
 * (the baseline), kernel macvtap through the character device macdemux makes, and the macdemux VM
 * port on the userspace switch, and the same VM port made by macdemuxd from a config `vm:` endpoint on
 * a `dataplane: userspace` network. Per NIC: ping, ping6, MTU 9000 ping, TCP download and upload
 * checked by SHA-256 on both ends, 2 queues. QEMU runs unprivileged (setpriv) in the lab's `hv`
 * namespace, so the taps' and node's owner/group are what lets it in.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needsRoot } from '../support.ts';
import { withLab } from '../../src/lab/index.ts';
import { Daemon } from '../../src/service/daemon.ts';
import { controlHandlers } from '../../src/service/control-handlers.ts';
import { execCommand } from '../../src/lab/index.ts';
import { runGuest, type GuestNic, type GuestResult } from '../support/vm/guest.ts';
import { PeerServer } from '../support/vm/peer.ts';
import { assertNicChecks } from '../support/vm/checks.ts';
import { ALL_CHECKS, bridgePath, JUMBO, macvtapNic, nicAddresses, peerVeth, startSwitch, vmLab, vmPortPath } from '../support/vm/paths.ts';
import { vmTapInfo } from '../../src/devices/vm-tap.ts';

process.env.MACDEMUX_LOG_LEVEL ??= 'warn'; // the daemon's info lines would bury the TAP output
const PORT = 5001;
const BYTES = 4 * 1024 * 1024;
/** An unprivileged uid:gid for QEMU (nobody:nogroup on Debian). */
const QEMU_USER = { uid: 65534, gid: 65534 };
/** Debian's python3 (a PATH lookup may find a user's shim that nobody cannot run). */
const PYTHON = '/usr/bin/python3';
const LAUNCHER = fileURLToPath(new URL('../../examples/vm/qemu-handoff.py', import.meta.url));

test('real guest: bridge + tap, kernel macvtap (macdemuxd node + fd hand-off to unprivileged QEMU), macdemux VM port, QEMU defaults', { skip: needsRoot, timeout: 540_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mdx-vm-'));
  chmodSync(dir, 0o755); // QEMU (nobody) reaches the hand-off socket
  try {
    await withLab(async (lab) => {
      const l = await vmLab(lab);
      const bridge = await bridgePath(lab, l, { queues: 2, ifname: 'eth0', user: QEMU_USER });

      // kernel macvtap as a macdemuxd `vm:` endpoint; QEMU gets its queues through the fd hand-off
      const up = await peerVeth(lab, l, 12);
      // and a userspace network whose `vm:` endpoint is a VM port of the daemon's own switch
      const up14 = await peerVeth(lab, l, 14);
      const handoff = join(dir, 'handoff.sock');
      const cfg = join(dir, 'macdemux.json');
      writeFileSync(cfg, JSON.stringify({
        version: 1,
        networks: [{
          name: 'vmnet', parent: { netns: l.hv.name, dev: up }, mode: 'bridge', dataplane: 'kernel', subnet: '10.12.0.0/24',
          endpoints: [{ name: 'vm1', mac: '52:54:00:00:12:02', vm: { tap: 'mvt12', queues: 2, owner: QEMU_USER.uid, group: QEMU_USER.gid } }],
        }, {
          name: 'vmnet14', parent: { netns: l.hv.name, dev: up14 }, mode: 'bridge', dataplane: 'userspace', mtu: JUMBO, subnet: '10.14.0.0/24',
          endpoints: [{ name: 'vm2', mac: '52:54:00:00:14:02', vm: { tap: 'tapd14', queues: 2, owner: QEMU_USER.uid, group: QEMU_USER.gid } }],
        }],
      }));
      const stateDir = join(dir, 'state');
      const daemon = new Daemon({ configPath: cfg, stateDir, metrics: false, handoffSocket: handoff, teardownOnExit: true });
      await daemon.start();
      let result: { r: GuestResult; peer: PeerServer; nics: GuestNic[]; switchCode: number | null; switchErr: string };
      try {
        const node = daemon.chardev('vm1');
        assert.ok(node, 'the daemon made a character device for vm1');
        assert.equal(node.path, join(stateDir, 'dev', l.hv.name, 'mvt12'), 'named by namespace and interface, under the state directory');
        const st = statSync(node.path);
        assert.ok(st.isCharacterDevice());
        assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [QEMU_USER.uid, QEMU_USER.gid, 0o660]);
        const ports = (await controlHandlers(daemon).ports()) as { name: string; chardev?: { path: string }; vm?: unknown }[];
        assert.equal(ports.find((p) => p.name === 'vm1')?.chardev?.path, node.path, 'the API reports the node');
        // another unprivileged user is refused (SO_PEERCRED against vm.owner / vm.group)
        const denied = await execCommand('setpriv', ['--reuid=4242', '--regid=4242', '--clear-groups', PYTHON, LAUNCHER, '--socket', handoff, '--endpoint', 'vm1', '--queues', '2', '--', 'true']);
        assert.notEqual(denied.code, 0);
        assert.match(denied.stderr, /uid 4242 .* may not take this endpoint's queues/);
        const macvtap: GuestNic = { ...(await macvtapNic(l, { queues: 2, ifname: 'eth1', node: node.path })), netdev: 'tap,fds=@,vhost=off' };
        delete macvtap.open;

        const vm2 = ports.find((p) => p.name === 'vm2') as { vm?: { tap: string; queues: number; qemu: string } } | undefined;
        assert.equal(vm2?.vm?.tap, 'tapd14', 'the API reports the daemon\'s VM tap');
        assert.match(vm2.vm.qemu, /ifname=tapd14,.*queues=2/);
        const daemonPort: GuestNic = {
          netdev: 'tap,ifname=tapd14,script=no,downscript=no,vhost=off,queues=2',
          mac: '52:54:00:00:14:02',
          queues: 2,
          ifname: 'eth3',
          ...nicAddresses(14),
          mtu: JUMBO,
          checks: ALL_CHECKS,
        };

        const { nic: vmport, sw } = await vmPortPath(lab, l, { queues: 2, ifname: 'eth2', user: QEMU_USER, extra: ['--state-dir', join(dir, 'switch-state')] });
        const peer = await PeerServer.start(l.peer, PORT);
        const nics = [bridge, macvtap, vmport, daemonPort];
        const launcher = [PYTHON, LAUNCHER, '--socket', handoff, '--endpoint', 'vm1', '--queues', '2', '--'];
        const r = await runGuest({ ns: l.hv, nics, port: PORT, bytes: BYTES, user: QEMU_USER, launcher, timeoutMs: 360_000, logFile: join(dir, 'console.log') });
        peer.stop();
        const switchCode = await sw.stop();
        result = { r, peer, nics, switchCode, switchErr: sw.stderr() };
      } finally {
        await daemon.stop();
      }
      assert.equal(existsSync(join(stateDir, 'dev', l.hv.name, 'mvt12')), false, 'teardown removes the node');
      assert.equal(await vmTapInfo('tapd14', l.hv.name), undefined, 'teardown removes the daemon\'s VM tap');
      const { r, peer, nics } = result;
      t.diagnostic(`guest ${r.accel}: boot ${r.bootMs} ms, all checks ${r.totalMs} ms`);
      // no early assert on r.done: each path reports its own markers (a missing one fails with the console)
      if (!r.done) t.diagnostic(`guest did not finish its checks within the timeout (${r.totalMs} ms)`);
      const rates = result.switchErr.split('\n').filter((x) => /uplink rx/.test(x));
      t.diagnostic(`switch (last): ${rates.at(-1) ?? '(no rate line)'}`);
      await t.test('Linux bridge + tap (baseline)', () => assertNicChecks(r, nics[0]!, peer, BYTES));
      await t.test('kernel macvtap, queues handed to unprivileged QEMU by macdemuxd', () => assertNicChecks(r, nics[1]!, peer, BYTES));
      await t.test('macdemux VM port from a macdemuxd config vm: endpoint (userspace network)', () => assertNicChecks(r, nics[3]!, peer, BYTES));
      await t.test('macdemux VM port on the userspace switch', async () => {
        assert.equal(result.switchCode, 0, result.switchErr.slice(-2000));
        assertNicChecks(r, nics[2]!, peer, BYTES);
        // the VM tap outlives the switch (no --teardown-on-exit): a restarted switch with the same port
        // (same queues: a multi_queue tap refuses a one-queue port) finds the guest's NIC
        const tap = await vmTapInfo('tapvm', l.hv.name);
        assert.ok(tap?.vnetHdr && tap.multiQueue && tap.persist, 'tapvm is still there, vnet_hdr + multi_queue + persist');
        assert.equal(tap.owner, QEMU_USER.uid);
        assert.equal(tap.group, QEMU_USER.gid);
        const again = await startSwitch(l, ['--uplink', 'up13', '--port', `vm:tapvm,mac=${nics[2]!.mac},queues=${nics[2]!.queues},owner=${QEMU_USER.uid},group=${QEMU_USER.gid}`, '--teardown-on-exit', '--state-dir', join(dir, 'switch-state')]);
        assert.match(again.stderr(), /VM tap tapvm ready/, 'a restarted switch adopts the tap');
        assert.equal(await again.stop(), 0, again.stderr());
        assert.equal(await vmTapInfo('tapvm', l.hv.name), undefined, '--teardown-on-exit removes the tap');
      });
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
