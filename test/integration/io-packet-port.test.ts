/**
 * PacketPort (AF_PACKET TPACKET_V3 RX ring + TX ring) between lab namespaces: exact frames,
 * VLAN reinsertion, event and iterator APIs, fanout, BPF, runts, truncation, close during
 * traffic, device deleted under an open port.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { needsRoot } from '../support.ts';
import { withLab, type Lab, type Namespace } from '../../src/lab/index.ts';
import { PacketPort, startGenerator, bpfDstMac, TP_STATUS, formatMac, type FrameBatch } from '../../src/io/index.ts';
import { MacdemuxSystemError } from '../../src/errors.ts';

const MAC_A = '02:00:00:00:0a:01';
const MAC_B = '02:00:00:00:0b:01';
const MAC_X = '02:00:00:00:0e:01';

async function pair(lab: Lab, opts: { mtu?: number } = {}): Promise<{ a: Namespace; b: Namespace }> {
  const a = await lab.addNamespace('pa');
  const b = await lab.addNamespace('pb');
  await lab.addVeth(
    { ns: a, name: 'pa0', mac: MAC_A, ...(opts.mtu ? { mtu: opts.mtu } : {}) },
    { ns: b, name: 'pb0', mac: MAC_B, ...(opts.mtu ? { mtu: opts.mtu } : {}) },
  );
  return { a, b };
}

/** A test frame: dst, src, EtherType 0x88b6, payload bytes derived from seq. */
function makeFrame(dst: string, src: string, size: number, seq: number, vlan?: number): Uint8Array {
  const f = new Uint8Array(size + (vlan !== undefined ? 4 : 0));
  const mac = (s: string, o: number) => s.split(':').forEach((h, i) => (f[o + i] = parseInt(h, 16)));
  mac(dst, 0);
  mac(src, 6);
  let o = 12;
  if (vlan !== undefined) {
    f.set([0x81, 0x00, (vlan >> 8) & 0x0f, vlan & 0xff], 12);
    o = 16;
  }
  f.set([0x88, 0xb6], o);
  const dv = new DataView(f.buffer);
  if (f.length >= o + 6) dv.setUint32(o + 2, seq);
  for (let i = o + 6; i < f.length; i++) f[i] = (seq * 7 + i) & 0xff;
  return f;
}

/** A recv() that timed out stays pending and is reused by the next call (no orphaned waiter eats a batch). */
const pendingRecv = new WeakMap<PacketPort, Promise<FrameBatch | null>>();
async function recvWithin(port: PacketPort, ms: number): Promise<FrameBatch | null | 'timeout'> {
  let p = pendingRecv.get(port);
  if (!p) {
    p = port.recv();
    pendingRecv.set(port, p);
  }
  const r = await Promise.race([p, new Promise<'timeout'>((res) => setTimeout(() => res('timeout'), ms))]);
  if (r !== 'timeout') pendingRecv.delete(port);
  return r;
}

async function collect(port: PacketPort, want: number, timeoutMs = 5000, filter?: (f: Uint8Array) => boolean): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  const deadline = Date.now() + timeoutMs;
  while (out.length < want && Date.now() < deadline) {
    const b = await recvWithin(port, Math.max(1, Math.min(200, deadline - Date.now())));
    if (b === 'timeout' || !b) continue;
    for (const f of b) if (!filter || filter(f)) out.push(f.slice());
  }
  return out;
}

const only88b6 = (f: Uint8Array) => {
  const o = f[12] === 0x81 ? 16 : 12;
  return f[o] === 0x88 && f[o + 1] === 0xb6;
};

test('TX ring -> veth -> RX ring: frames arrive byte-exact, in order, VLAN tags reinserted', { skip: needsRoot, timeout: 30_000 }, async () => {
  await withLab(async (lab) => {
    const { a, b } = await pair(lab);
    const rx = PacketPort.open({ ifname: 'pb0', netns: b.name, tx: false, retireTovMs: 1 });
    const tx = PacketPort.open({ ifname: 'pa0', netns: a.name, rx: false });
    try {
      const frames: Uint8Array[] = [];
      for (let i = 0; i < 3000; i++) frames.push(makeFrame(MAC_B, MAC_A, [60, 61, 200, 1514][i % 4]!, i, i % 5 === 0 ? 100 + (i % 7) : undefined));
      const sent = await tx.sendAll(frames);
      assert.equal(sent, frames.length);
      const got = await collect(rx, frames.length, 8000, only88b6);
      assert.equal(got.length, frames.length);
      for (let i = 0; i < frames.length; i++) assert.deepEqual(got[i], frames[i], `frame ${i}`);
      assert.equal(tx.counters.get('txPackets'), frames.length);
      assert.ok(rx.counters.get('rxPackets') >= frames.length);
      assert.equal(rx.counters.get('rxDrops'), 0);
      const st = await b.linkStats('pb0');
      assert.ok(st.rxPackets >= frames.length);
    } finally {
      await rx.close();
      await tx.close();
    }
  });
});

test('VLAN as metadata; event API and async iterator; counters without a call', { skip: needsRoot, timeout: 30_000 }, async () => {
  await withLab(async (lab) => {
    const { a, b } = await pair(lab);
    const rx = PacketPort.open({ ifname: 'pb0', netns: b.name, tx: false, vlan: 'metadata', retireTovMs: 1 });
    const tx = PacketPort.open({ ifname: 'pa0', netns: a.name, rx: false });
    try {
      const seen: Array<{ len: number; tci: number | undefined; status: number }> = [];
      const done = new Promise<void>((resolve) => {
        rx.on('frames', (batch: FrameBatch) => {
          for (let i = 0; i < batch.length; i++) {
            if (!only88b6(batch.frame(i))) continue;
            seen.push({ len: batch.frameLength(i), tci: batch.vlanTci(i), status: batch.status(i) });
          }
          if (seen.length >= 2) resolve();
        });
      });
      await tx.sendAll([makeFrame(MAC_B, MAC_A, 100, 1, 0x123), makeFrame(MAC_B, MAC_A, 100, 2)]);
      await done;
      assert.equal(seen[0]!.len, 100, 'tag removed from the frame');
      assert.equal((seen[0]!.tci ?? 0) & 0xfff, 0x123);
      assert.ok(seen[0]!.status & TP_STATUS.VLAN_VALID);
      assert.equal(seen[1]!.tci, undefined);
      rx.removeAllListeners('frames');

      // Async iterator over a second port.
      const rx2 = PacketPort.open({ ifname: 'pb0', netns: b.name, tx: false, retireTovMs: 1 });
      try {
        await tx.sendAll([makeFrame(MAC_B, MAC_A, 64, 9)]);
        for await (const batch of rx2) {
          const f = [...batch].find(only88b6);
          if (f) {
            assert.equal(new DataView(f.buffer, f.byteOffset).getUint32(14), 9);
            break;
          }
        }
        assert.ok(rx2.counters.raw instanceof BigUint64Array);
        assert.ok(rx2.counters.get('rxPackets') >= 1);
        assert.ok(rx2.counters.get('rxBlocks') >= 1);
      } finally {
        await rx2.close();
      }
    } finally {
      await rx.close();
      await tx.close();
    }
  });
});

test('batch views are invalid after release; a released batch throws; a view kept past close reads zeros', { skip: needsRoot, timeout: 20_000 }, async () => {
  await withLab(async (lab) => {
    const { a, b } = await pair(lab);
    const rx = PacketPort.open({ ifname: 'pb0', netns: b.name, tx: false, retireTovMs: 1 });
    const tx = PacketPort.open({ ifname: 'pa0', netns: a.name, rx: false });
    try {
      await tx.sendAll([makeFrame(MAC_B, MAC_A, 64, 1)]);
      const batch = await rx.recv();
      assert.ok(batch && batch.length >= 1);
      const kept = batch.frame(0); // a view kept past release and close (misuse, must not crash)
      assert.notEqual(kept[0], 0);
      batch.release();
      assert.throws(() => batch.frame(0), /after release/);
      await rx.close();
      // close() swapped the ring pages for zero pages: the stale view reads zeros, no SIGSEGV.
      assert.equal(kept.reduce((a, v) => a + v, 0), 0);
    } finally {
      await rx.close();
      await tx.close();
    }
  });
});

test('fanout lb splits one interface between two ports; BPF dst-MAC filter', { skip: needsRoot, timeout: 30_000 }, async () => {
  await withLab(async (lab) => {
    const { a, b } = await pair(lab);
    const group = 1000 + (process.pid % 1000);
    // Many small blocks: at this low rate every block retires after 2 ms with a few frames, so the
    // ring's slack in time is blockCount x 2 ms (the JS thread may be slow on a loaded machine).
    const geo = { blockSize: 65536, blockCount: 128, retireTovMs: 2 };
    const p1 = PacketPort.open({ ifname: 'pb0', netns: b.name, tx: false, promisc: true, ...geo, fanout: { group, mode: 'lb' }, filter: bpfDstMac(MAC_X) });
    const p2 = PacketPort.open({ ifname: 'pb0', netns: b.name, tx: false, promisc: true, ...geo, fanout: { group, mode: 'lb' }, filter: bpfDstMac(MAC_X) });
    try {
      let n1 = 0;
      let n2 = 0;
      const countX = (bt: FrameBatch) => {
        let n = 0;
        for (const f of bt) if (formatMac(f) === MAC_X) n++;
        return n;
      };
      p1.on('frames', (bt: FrameBatch) => (n1 += countX(bt)));
      p2.on('frames', (bt: FrameBatch) => (n2 += countX(bt)));
      const gen = startGenerator({
        ifname: 'pa0',
        netns: a.name,
        // Three templates over two lb members so that MAC_X frames reach both members
        // (lb is round-robin before the per-socket filter runs).
        templates: [{ dst: MAC_X, src: MAC_A, size: 60 }, { dst: MAC_X, src: MAC_A, size: 60 }, { dst: MAC_B, src: MAC_A, size: 60 }],
        count: 1500,
        ratePps: 20_000,
        burst: 8,
      });
      await gen.done;
      const deadline = Date.now() + 3000;
      while (n1 + n2 < 1000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      p1.updateStats();
      p2.updateStats();
      const link = await b.linkStats('pb0');
      assert.equal(n1 + n2, 1000, `fanout total ${n1}+${n2} ${JSON.stringify([p1.counters.snapshot(), p2.counters.snapshot(), link])}`);
      assert.ok(n1 > 300 && n2 > 300, `lb split ${n1}/${n2}`);
      assert.equal(p1.counters.get('rxPackets') + p2.counters.get('rxPackets'), 1000, 'filter drops other dst MACs in the kernel');
    } finally {
      await p1.close();
      await p2.close();
    }
  });
});

test('runts counted, oversize frames truncated and counted, frames over the MTU refused and counted', { skip: needsRoot, timeout: 30_000 }, async () => {
  await withLab(async (lab) => {
    const { a, b } = await pair(lab, { mtu: 9000 });
    // One page per block: the largest frame a block holds is 4096 - 48 - 82 bytes.
    const rx = PacketPort.open({ ifname: 'pb0', netns: b.name, tx: false, blockSize: 4096, blockCount: 64, frameSize: 2048, retireTovMs: 1 });
    const tx = PacketPort.open({ ifname: 'pa0', netns: a.name, rx: false, txFrameSize: 16384, txFrameCount: 64 });
    try {
      const runt = makeFrame(MAC_B, MAC_A, 20, 1);
      const big = makeFrame(MAC_B, MAC_A, 8000, 2);
      await tx.sendAll([runt, runt, big]);
      const got = await collect(rx, 3, 5000, only88b6);
      assert.equal(got.length, 3);
      assert.equal(got[0]!.length, 20);
      assert.ok(got[2]!.length < 8000 && got[2]!.length > 3000, `truncated to ${got[2]!.length}`);
      assert.deepEqual(got[2], big.subarray(0, got[2]!.length));
      assert.equal(rx.counters.get('runts'), 2);
      assert.equal(rx.counters.get('truncated'), 1);
      assert.equal(rx.counters.get('malformed'), 0);

      // Over the MTU on the sending side: refused with EMSGSIZE and counted, and the ring keeps
      // going (no slot left in WRONG_FORMAT blocking the frames behind it).
      await a.ip(['link', 'set', 'pa0', 'mtu', '1500']);
      const tx2 = PacketPort.open({ ifname: 'pa0', netns: a.name, rx: false });
      try {
        assert.throws(() => tx2.send([makeFrame(MAC_B, MAC_A, 1515, 3)]), (e: unknown) => e instanceof MacdemuxSystemError && e.code === 'EMSGSIZE' && e.ifname === 'pa0');
        assert.equal(tx2.counters.get('txDropped'), 1);
        assert.equal(tx2.send([makeFrame(MAC_B, MAC_A, 1514, 4), makeFrame(MAC_B, MAC_A, 1514, 5, 7)]), 2, 'MTU + 14, and + 4 with a VLAN tag');
        const after = await collect(rx, 2, 5000, only88b6);
        assert.equal(after.length, 2);
      } finally {
        await tx2.close();
      }
    } finally {
      await rx.close();
      await tx.close();
    }
  });
});

test('close during traffic: no crash, pending recv resolves null, counters stay readable', { skip: needsRoot, timeout: 30_000 }, async () => {
  await withLab(async (lab) => {
    const { a, b } = await pair(lab);
    const rx = PacketPort.open({ ifname: 'pb0', netns: b.name, tx: false, retireTovMs: 1 });
    const gen = startGenerator({ ifname: 'pa0', netns: a.name, templates: [{ dst: MAC_B, src: MAC_A, size: 60 }], ratePps: 100_000, durationMs: 3000 });
    try {
      let frames = 0;
      rx.on('frames', (bt: FrameBatch) => (frames += bt.length));
      await new Promise((r) => setTimeout(r, 300));
      const pending = rx.recv(); // a block may be ready (batch) or not (waits, then null on close)
      await rx.close();
      const r = await pending;
      assert.ok(r === null || r.released, 'a batch handed out before close() is released by it');
      if (r) assert.throws(() => r.frame(0), /after release/);
      assert.ok(frames > 0, 'frames were flowing');
      assert.ok(rx.counters.get('rxPackets') >= frames);
      assert.equal(await rx.recv(), null);
      assert.throws(() => rx.send([makeFrame(MAC_A, MAC_B, 60, 0)]), /closed/);
    } finally {
      await gen.stop();
      await rx.close();
    }
  });
});

test('device deleted under an open port: error event with ENETDOWN/ENODEV, thread exits, no crash', { skip: needsRoot, timeout: 30_000 }, async () => {
  await withLab(async (lab) => {
    const { a, b } = await pair(lab);
    const rx = PacketPort.open({ ifname: 'pb0', netns: b.name, retireTovMs: 1 });
    const gen = startGenerator({ ifname: 'pa0', netns: a.name, templates: [{ dst: MAC_B, src: MAC_A, size: 60 }], ratePps: 20_000, durationMs: 5000 });
    try {
      const errored = new Promise<MacdemuxSystemError>((resolve) => rx.once('error', resolve));
      const pending = rx.recv().then(
        () => rx.recv(),
        (e: unknown) => e,
      );
      await new Promise((r) => setTimeout(r, 200));
      await b.ip(['link', 'del', 'pb0']);
      const err = await Promise.race([errored, new Promise<never>((_, rej) => setTimeout(() => rej(new Error('no error event')), 5000))]);
      assert.ok(err instanceof MacdemuxSystemError);
      assert.ok(['ENETDOWN', 'ENODEV', 'ENXIO'].includes(err.code), err.code);
      assert.equal(err.ifname, 'pb0');
      assert.match(err.message, /pb0/);
      assert.ok(rx.closed);
      const p = await pending;
      assert.ok(p === null || p instanceof Error || typeof p === 'object');
      await assert.rejects(rx.recv(), (e: unknown) => e === err);
      // The generator's peer is gone too: it stops with an error or finishes; it must not hang.
      await gen.stop().catch((e: unknown) => assert.ok(e instanceof MacdemuxSystemError));
    } finally {
      await gen.stop().catch(() => {});
      await rx.close();
    }
  });
});

test('open errors: ENODEV names the interface, bad options name the field', { skip: needsRoot }, async () => {
  await withLab(async (lab) => {
    const ns = await lab.addNamespace('err');
    assert.throws(
      () => PacketPort.open({ ifname: 'nosuch0', netns: ns.name }),
      (e: unknown) => e instanceof MacdemuxSystemError && e.code === 'ENODEV' && e.ifname === 'nosuch0' && /nosuch0/.test(e.message),
    );
    assert.throws(
      () => PacketPort.open({ ifname: 'lo', netns: 'mdx-no-such-netns-x' }),
      (e: unknown) => e instanceof MacdemuxSystemError && e.code === 'ENOENT' && /mdx-no-such-netns-x/.test(e.message),
    );
    assert.throws(() => PacketPort.open({ ifname: 'lo', netns: ns.name, fanout: { group: 1, mode: 'bogus' as 'lb' } }), /fanout.mode/);
  });
});

test('env cleanup hook: a worker thread terminated with open ports, a running generator and sink leaves no thread behind', { skip: needsRoot, timeout: 120_000 }, async () => {
  const { Worker } = await import('node:worker_threads');
  await withLab(async (lab) => {
    const { a, b } = await pair(lab);
    const worker = new Worker(new URL('./fixtures/io-cleanup-worker.mjs', import.meta.url), {
      workerData: { nsA: a.name, nsB: b.name, macA: MAC_A, macB: MAC_B },
    });
    // The worker compiles its TypeScript first: slow under ASan on a loaded machine. On a failure
    // it is terminated too, so that its threads do not keep this file's process alive.
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        worker.once('message', () => resolve());
        worker.once('error', reject);
        timer = setTimeout(() => reject(new Error('worker did not report traffic')), 60_000);
      });
    } catch (err) {
      await worker.terminate();
      throw err;
    } finally {
      clearTimeout(timer);
    }
    const threadsBefore = Number((await import('node:fs')).readdirSync('/proc/self/task').length);
    await worker.terminate(); // env teardown: cleanup hooks stop and join poll, generator and sink threads
    await new Promise((r) => setTimeout(r, 200));
    const threadsAfter = Number((await import('node:fs')).readdirSync('/proc/self/task').length);
    assert.ok(threadsAfter <= threadsBefore - 3, `threads ${threadsBefore} -> ${threadsAfter}`);
    // The main thread still works with the addon afterwards.
    const p = PacketPort.open({ ifname: 'pb0', netns: b.name, tx: false });
    await p.close();
  });
});

test('a ring nobody drains fills up: kernel drops and the freeze are folded into the counters', { skip: needsRoot, timeout: 30_000 }, async () => {
  await withLab(async (lab) => {
    const { a, b } = await pair(lab);
    // 2 blocks of one page: room for a few dozen 60-byte frames.
    const rx = PacketPort.open({ ifname: 'pb0', netns: b.name, tx: false, blockSize: 4096, blockCount: 2, retireTovMs: 1 });
    try {
      const gen = startGenerator({ ifname: 'pa0', netns: a.name, templates: [{ dst: MAC_B, src: MAC_A, size: 60 }], count: 2000, ratePps: 100_000 });
      const g = await gen.done;
      await new Promise((r) => setTimeout(r, 50));
      rx.updateStats();
      let received = 0;
      for (let bt = rx.tryRecv(); bt; bt = rx.tryRecv()) for (const f of bt) if (formatMac(f) === MAC_B) received++;
      const drops = rx.counters.get('rxDrops');
      assert.ok(received > 0 && received < 200, `received ${received}`);
      assert.ok(drops > 0, 'tp_drops counted');
      assert.ok(rx.counters.get('freezes') >= 1, 'tp_freeze_q_cnt counted');
      assert.ok(received + drops >= g.sent && received + drops <= g.sent + 20, `received ${received} + drops ${drops} vs sent ${g.sent}`);
    } finally {
      await rx.close();
    }
  });
});

test('promisc via PACKET_MR_PROMISC is refcounted by the kernel and undone on close', { skip: needsRoot, timeout: 20_000 }, async () => {
  await withLab(async (lab) => {
    const { b } = await pair(lab);
    const promiscuity = async (): Promise<number> => {
      const j = JSON.parse(await b.ip(['-d', '-j', 'link', 'show', 'pb0'])) as Array<{ promiscuity?: number }>;
      return j[0]?.promiscuity ?? -1;
    };
    assert.equal(await promiscuity(), 0);
    const p1 = PacketPort.open({ ifname: 'pb0', netns: b.name, tx: false, promisc: true });
    const p2 = PacketPort.open({ ifname: 'pb0', netns: b.name, tx: false, promisc: true });
    assert.equal(await promiscuity(), 2);
    await p1.close();
    assert.equal(await promiscuity(), 1);
    await p2.close();
    assert.equal(await promiscuity(), 0);
  });
});

test('qdisc bypass TX delivers frames and skips the sender\'s taps; PACKET_IGNORE_OUTGOING hides our own TX', { skip: needsRoot, timeout: 20_000 }, async () => {
  await withLab(async (lab) => {
    const { a, b } = await pair(lab);
    const rx = PacketPort.open({ ifname: 'pb0', netns: b.name, tx: false, retireTovMs: 1 });
    // A tap on the sender's own interface that wants outgoing frames too.
    const tap = PacketPort.open({ ifname: 'pa0', netns: a.name, tx: false, ignoreOutgoing: false, retireTovMs: 1 });
    const tx = PacketPort.open({ ifname: 'pa0', netns: a.name, rx: false, qdiscBypass: true });
    try {
      const frames = Array.from({ length: 100 }, (_, i) => makeFrame(MAC_B, MAC_A, 64, i));
      await tx.sendAll(frames);
      const got = await collect(rx, 100, 5000, only88b6);
      assert.equal(got.length, 100);
      assert.deepEqual(got[99], frames[99]);
      const onTap = await collect(tap, 1, 300, only88b6);
      assert.equal(onTap.length, 0, 'bypassed frames skip dev_queue_xmit_nit');
      // Without bypass the same tap sees them as outgoing; a port with the default
      // PACKET_IGNORE_OUTGOING does not.
      const quiet = PacketPort.open({ ifname: 'pa0', netns: a.name, tx: false, retireTovMs: 1 });
      const tx2 = PacketPort.open({ ifname: 'pa0', netns: a.name, rx: false });
      try {
        await tx2.sendAll(frames.slice(0, 10));
        const seen = await collect(tap, 10, 3000, only88b6);
        assert.equal(seen.length, 10);
        assert.equal((await collect(quiet, 1, 300, only88b6)).length, 0, 'ignoreOutgoing');
      } finally {
        await tx2.close();
        await quiet.close();
      }
    } finally {
      await rx.close();
      await tap.close();
      await tx.close();
    }
  });
});
