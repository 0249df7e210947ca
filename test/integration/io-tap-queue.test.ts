/**
 * TapQueue: macvtap /dev/tapN queues and tun/tap queues in lab namespaces, with and without the
 * virtio_net_hdr; multiqueue; the fd handed to a child process.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { needsRoot } from '../support.ts';
import { withLab, type Lab, type Namespace } from '../../src/lab/index.ts';
import { PacketPort, TapQueue, type FrameBatch, type TapBatch } from '../../src/io/index.ts';
import { MacdemuxSystemError } from '../../src/errors.ts';

const MAC_LOWER = '02:00:00:00:1a:01';
const MAC_PEER = '02:00:00:00:1b:01';
const MAC_TAP = '02:00:00:00:1c:01';

async function macvtapLab(lab: Lab): Promise<{ a: Namespace; b: Namespace }> {
  const a = await lab.addNamespace('ta');
  const b = await lab.addNamespace('tb');
  await lab.addVeth({ ns: a, name: 'low0', mac: MAC_LOWER }, { ns: b, name: 'peer0', mac: MAC_PEER });
  await a.ip(['link', 'add', 'link', 'low0', 'name', 'mvt0', 'address', MAC_TAP, 'type', 'macvtap', 'mode', 'bridge']);
  await a.ip(['link', 'set', 'mvt0', 'up']);
  return { a, b };
}

function frame(dst: string, src: string, size: number, tag: number): Uint8Array {
  const f = new Uint8Array(size);
  dst.split(':').forEach((h, i) => (f[i] = parseInt(h, 16)));
  src.split(':').forEach((h, i) => (f[6 + i] = parseInt(h, 16)));
  f[12] = 0x88;
  f[13] = 0xb6;
  new DataView(f.buffer).setUint32(14, tag);
  for (let i = 18; i < size; i++) f[i] = (tag + i) & 0xff;
  return f;
}
const tagOf = (f: Uint8Array): number | undefined =>
  f.length >= 18 && f[12] === 0x88 && f[13] === 0xb6 ? new DataView(f.buffer, f.byteOffset, f.byteLength).getUint32(14) : undefined;

/** Ethernet + IPv4 + UDP (dst port 9) from source port sport; enough for the flow dissector. */
function udpFrame(dst: string, src: string, sport: number): Uint8Array {
  const f = new Uint8Array(64);
  dst.split(':').forEach((h, i) => (f[i] = parseInt(h, 16)));
  src.split(':').forEach((h, i) => (f[6 + i] = parseInt(h, 16)));
  const dv = new DataView(f.buffer);
  dv.setUint16(12, 0x0800);
  f.set([0x45, 0, 0, 50, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2], 14);
  let sum = 0;
  for (let i = 14; i < 34; i += 2) sum += dv.getUint16(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  dv.setUint16(24, ~sum & 0xffff);
  dv.setUint16(34, sport);
  dv.setUint16(36, 9);
  dv.setUint16(38, 30);
  return f;
}
const isTestUdp = (f: Uint8Array): boolean => f[12] === 0x08 && f[13] === 0 && f[23] === 17 && f[36] === 0 && f[37] === 9;

/** A recv() that timed out stays pending and is reused by the next call (no orphaned waiter eats a batch). */
const pendingRecv = new WeakMap<TapQueue, Promise<TapBatch | null>>();
async function recvWithin(q: TapQueue, ms: number): Promise<TapBatch | null> {
  let p = pendingRecv.get(q);
  if (!p) {
    p = q.recv();
    pendingRecv.set(q, p);
  }
  const r = await Promise.race([p, new Promise<'timeout'>((res) => setTimeout(() => res('timeout'), ms))]);
  if (r === 'timeout') return null;
  pendingRecv.delete(q);
  return r;
}

async function waitFor<T>(fn: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

function collectPort(port: PacketPort): Map<number, Uint8Array> {
  const seen = new Map<number, Uint8Array>();
  port.on('frames', (b: FrameBatch) => {
    for (const f of b) {
      const t = tagOf(f);
      if (t !== undefined) seen.set(t, f.slice());
    }
  });
  return seen;
}

for (const vnetHdr of [true, false]) {
  test(`macvtap (vnetHdr ${vnetHdr}): write -> peer, peer -> read, byte-exact`, { skip: needsRoot, timeout: 30_000 }, async () => {
    await withLab(async (lab) => {
      const { a, b } = await macvtapLab(lab);
      const q = TapQueue.open({ ifname: 'mvt0', netns: a.name, vnetHdr });
      const peer = PacketPort.open({ ifname: 'peer0', netns: b.name, retireTovMs: 1 });
      try {
        assert.equal(q.vnetHdrSize, vnetHdr ? 10 : 0);
        assert.ok(q.fd >= 0 && q.ifindex > 0);
        // macvtap -> wire -> peer
        const seen = collectPort(peer);
        const out = [1, 2, 3].map((t) => frame(MAC_PEER, MAC_TAP, t === 3 ? 1514 : 60 + t, t));
        assert.equal(q.send(out), 3);
        await waitFor(() => (seen.size >= 3 ? true : undefined));
        for (const f of out) assert.deepEqual(seen.get(tagOf(f)!), f);
        assert.equal(q.counters.get('txPackets'), 3);

        // peer -> wire -> macvtap (dst = macvtap MAC)
        const inbound = [10, 11].map((t) => frame(MAC_TAP, MAC_PEER, 100 * t, t));
        await peer.sendAll(inbound);
        const got = new Map<number, { f: Uint8Array; h: Uint8Array | undefined }>();
        const deadline = Date.now() + 5000;
        while (got.size < 2 && Date.now() < deadline) {
          const batch = await recvWithin(q, 200);
          if (!batch) continue;
          for (let i = 0; i < batch.length; i++) {
            const f = batch.frame(i);
            const t = tagOf(f);
            if (t !== undefined) got.set(t, { f: f.slice(), h: batch.vnetHeader(i)?.slice() });
          }
        }
        assert.equal(got.size, 2);
        for (const f of inbound) {
          const g = got.get(tagOf(f)!)!;
          assert.deepEqual(g.f, f);
          if (vnetHdr) {
            assert.equal(g.h?.length, 10);
            assert.equal(g.h![1], 0, 'gso_type NONE for a plain frame');
          } else assert.equal(g.h, undefined);
        }
        assert.ok(q.counters.get('rxPackets') >= 2);
      } finally {
        await q.close();
        await peer.close();
      }
    });
  });
}

test('macvtap multiqueue: two queues share the traffic; a detached queue gets nothing', { skip: needsRoot, timeout: 30_000 }, async () => {
  await withLab(async (lab) => {
    const { a, b } = await macvtapLab(lab);
    const qs = TapQueue.openQueues({ ifname: 'mvt0', netns: a.name }, 2);
    const peer = PacketPort.open({ ifname: 'peer0', netns: b.name, rx: false });
    try {
      assert.equal(qs.length, 2);
      assert.notEqual(qs[0]!.fd, qs[1]!.fd);
      const counts = [0, 0];
      qs.forEach((q, i) => q.on('frames', (bt) => (counts[i]! += [...bt].filter(isTestUdp).length)));
      // UDP flows with different source ports hash to different queues.
      const frames = Array.from({ length: 200 }, (_, i) => udpFrame(MAC_TAP, MAC_PEER, 1000 + i));
      await peer.sendAll(frames);
      await waitFor(() => (counts[0]! + counts[1]! >= 200 ? true : undefined));
      assert.equal(counts[0]! + counts[1]!, 200);
      assert.ok(counts[0]! > 0 && counts[1]! > 0, `split ${counts}`);

      qs[1]!.setEnabled(false);
      counts[0] = counts[1] = 0;
      await peer.sendAll(frames);
      await waitFor(() => (counts[0]! >= 200 ? true : undefined));
      assert.equal(counts[1], 0);
    } finally {
      for (const q of qs) await q.close();
      await peer.close();
    }
  });
});

test('macvtap fd handed to a child process: the child writes a frame that reaches the peer', { skip: needsRoot, timeout: 30_000 }, async () => {
  await withLab(async (lab) => {
    const { a, b } = await macvtapLab(lab);
    const q = TapQueue.open({ ifname: 'mvt0', netns: a.name, vnetHdr: true });
    const peer = PacketPort.open({ ifname: 'peer0', netns: b.name, tx: false, retireTovMs: 1 });
    try {
      const seen = collectPort(peer);
      const f = frame(MAC_PEER, MAC_TAP, 80, 77);
      const withHdr = new Uint8Array(10 + f.length);
      withHdr.set(f, 10);
      const hex = Buffer.from(withHdr).toString('hex');
      const child = spawn(process.execPath, ['-e', `require('fs').writeSync(3, Buffer.from('${hex}', 'hex'))`], {
        stdio: ['ignore', 'inherit', 'inherit', q.fd],
      });
      const code = await new Promise<number | null>((r) => child.on('exit', r));
      assert.equal(code, 0);
      await waitFor(() => seen.get(77));
      assert.deepEqual(seen.get(77), f);
    } finally {
      await q.close();
      await peer.close();
    }
  });
});

test('tun/tap by name: TUNSETIFF creates the device in the namespace; frames both ways', { skip: needsRoot, timeout: 30_000 }, async () => {
  await withLab(async (lab) => {
    const ns = await lab.addNamespace('tt');
    const q = TapQueue.open({ ifname: 'mdxtap0', netns: ns.name, kind: 'tap', vnetHdr: true, offloads: { csum: true, tso4: true, tso6: true } });
    try {
      const info = await ns.linkInfo('mdxtap0');
      assert.equal(info.ifindex, q.ifindex);
      await ns.ip(['link', 'set', 'mdxtap0', 'address', MAC_LOWER, 'up']);
      const port = PacketPort.open({ ifname: 'mdxtap0', netns: ns.name, retireTovMs: 1 });
      try {
        const seen = collectPort(port);
        // Written to the tap fd = received by the device = seen by a packet socket on it.
        const f = frame(MAC_LOWER, MAC_PEER, 90, 5);
        assert.equal(q.send([f]), 1);
        await waitFor(() => seen.get(5));
        assert.deepEqual(seen.get(5), f);
        // Sent on the device = read from the tap fd.
        const g = frame(MAC_PEER, MAC_LOWER, 70, 6);
        await port.sendAll([g]);
        let got: Uint8Array | undefined;
        const deadline = Date.now() + 5000;
        while (!got && Date.now() < deadline) {
          const bt = await recvWithin(q, 200);
          for (const x of bt ?? []) if (tagOf(x) === 6) got = x.slice();
        }
        assert.deepEqual(got, g);
      } finally {
        await port.close();
      }
    } finally {
      await q.close();
    }
  });
});

test('tap queue errors: not a macvtap, missing interface, bad options', { skip: needsRoot }, async () => {
  await withLab(async (lab) => {
    const ns = await lab.addNamespace('te');
    assert.throws(
      () => TapQueue.open({ ifname: 'nosuch0', netns: ns.name }),
      (e: unknown) => e instanceof MacdemuxSystemError && e.code === 'ENODEV' && /nosuch0/.test(e.message),
    );
    assert.throws(() => TapQueue.open({ ifname: 'lo', netns: ns.name }), (e: unknown) => e instanceof MacdemuxSystemError && e.code === 'ENOTTY');
    assert.throws(() => TapQueue.open({ ifname: 'x', offloads: { tso4: true } }), /offloads.csum/);
    assert.throws(() => TapQueue.open({ ifname: 'x', vnetHdrSize: 11 as 10 }), /vnetHdrSize/);
  });
});

test('macvtap deleted under an open queue: error event ENODEV, recv rejects, no crash', { skip: needsRoot, timeout: 30_000 }, async () => {
  await withLab(async (lab) => {
    const { a } = await macvtapLab(lab);
    const q = TapQueue.open({ ifname: 'mvt0', netns: a.name });
    try {
      const errored = new Promise<MacdemuxSystemError>((resolve) => q.once('error', resolve));
      const pending = q.recv().then(
        () => 'resolved',
        (e: unknown) => e,
      );
      await new Promise((r) => setTimeout(r, 100));
      await a.ip(['link', 'del', 'mvt0']);
      const err = await Promise.race([errored, new Promise<never>((_, rej) => setTimeout(() => rej(new Error('no error event')), 5000))]);
      assert.equal(err.code, 'ENODEV');
      assert.match(err.message, /mvt0/);
      assert.equal(await pending, err);
      assert.ok(q.closed);
      assert.throws(() => q.send([frame(MAC_PEER, MAC_TAP, 60, 1)]), (e: unknown) => e === err);
    } finally {
      await q.close();
    }
  });
});
