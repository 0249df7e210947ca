/**
 * A real guest (Debian's stock kernel, busybox initramfs, QEMU virtio-net with its default offloads:
 * vnet_hdr on, 2 queues) on every path macdemux documents for VMs, in one boot: Linux bridge + tap
 * (the baseline), kernel macvtap through the character device macdemux makes, and the macdemux VM
 * port on the userspace switch. Per NIC: ping, ping6, MTU 9000 ping, TCP download and upload
 * checked by SHA-256 on both ends, 2 queues. QEMU runs unprivileged (setpriv) in the lab's `hv`
 * namespace, so the taps' and node's owner/group are what lets it in.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needsRoot } from '../support.ts';
import { withLab } from '../../src/lab/index.ts';
import { makeMacvtapNode } from '../../src/devices/macvtap-node.ts';
import { runGuest } from '../support/vm/guest.ts';
import { PeerServer } from '../support/vm/peer.ts';
import { assertNicChecks } from '../support/vm/checks.ts';
import { JUMBO, bridgePath, macvtapNic, peerVeth, vmLab, vmPortPath } from '../support/vm/paths.ts';
import { vmTapInfo } from '../../src/devices/vm-tap.ts';

const PORT = 5001;
const BYTES = 4 * 1024 * 1024;
/** An unprivileged uid:gid for QEMU (nobody:nogroup on Debian). */
const QEMU_USER = { uid: 65534, gid: 65534 };

test('real guest: bridge + tap, kernel macvtap (macdemux node), macdemux VM port, with QEMU defaults', { skip: needsRoot, timeout: 420_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mdx-vm-'));
  chmodSync(dir, 0o755); // QEMU (nobody) walks to the node
  try {
    await withLab(async (lab) => {
      const l = await vmLab(lab);
      const bridge = await bridgePath(lab, l, { queues: 2, ifname: 'eth0', user: QEMU_USER });

      const up = await peerVeth(lab, l, 12);
      await l.hv.ip(['link', 'add', 'link', up, 'name', 'mvt12', 'address', '52:54:00:00:12:02', 'mtu', String(JUMBO), 'type', 'macvtap', 'mode', 'bridge']);
      await l.hv.ip(['link', 'set', 'dev', 'mvt12', 'up']);
      const node = await makeMacvtapNode({ ifname: 'mvt12', netns: l.hv.name, dir, group: QEMU_USER.gid, mode: 0o660 });
      assert.ok(statSync(node.path).isCharacterDevice());
      assert.equal(statSync(node.path).gid, QEMU_USER.gid);
      const macvtap = await macvtapNic(l, { queues: 2, ifname: 'eth1', node: node.path });

      const { nic: vmport, sw } = await vmPortPath(lab, l, { queues: 2, ifname: 'eth2', user: QEMU_USER });

      const peer = await PeerServer.start(l.peer, PORT);
      const nics = [bridge, macvtap, vmport];
      const r = await runGuest({ ns: l.hv, nics, port: PORT, bytes: BYTES, user: QEMU_USER, logFile: join(dir, 'console.log') });
      peer.stop();
      assert.equal(await sw.stop(), 0, sw.stderr());
      // the VM tap outlives the switch (no --teardown-on-exit): a restarted switch finds the guest's NIC
      const tap = await vmTapInfo('tapvm', l.hv.name);
      assert.ok(tap?.vnetHdr && tap.multiQueue && tap.persist, 'tapvm is still there, vnet_hdr + multi_queue + persist');
      assert.equal(tap.owner, QEMU_USER.uid);
      assert.equal(tap.group, QEMU_USER.gid);
      assert.ok(r.done, `guest did not finish its checks (${r.accel}, ${r.totalMs} ms):\n${r.console.split('\n').slice(-40).join('\n')}`);
      for (const nic of nics) assertNicChecks(r, nic, peer, BYTES);
      console.log(`# guest ${r.accel}: boot ${r.bootMs} ms, all checks ${r.totalMs} ms`);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
