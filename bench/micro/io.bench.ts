/**
 * Packet I/O micro benchmarks (benchmark.js where the operation is synchronous):
 * - JS delivery, synchronous: one native call fills N frame descriptors (as PacketPort.recv does
 *   over a ring block) and JS makes a zero-copy view of each frame; batch 1, 16, 64, 256.
 * - JS delivery, thread hop: a native thread hands batches of N frames to JS through a
 *   ThreadSafeFunction (as the port's poll thread does); frames/s reaching the JS callback.
 * - TX ring fill: PacketPort.send(batch of N 60-byte frames) into a veth (one kick per batch).
 * - RX ring drain: native generator at full speed -> veth -> PacketPort.tryRecv() in JS, frames/s
 *   delivered to JS (the ring decides the batch size), next to the native sink on the same veth.
 * The last two need root (lab namespaces); the others run anywhere the addon is built.
 */
import { userInfo } from 'node:os';
import { native } from '../../src/native.ts';
import { Lab } from '../../src/lab/index.ts';
import { PacketPort, openSink, startGenerator } from '../../src/io/index.ts';
import { runSuite, type MicroContext, type MicroResult } from '../micro-suite.ts';

interface BenchNative {
  ioBenchBatch(desc: Uint32Array, n: number, frameLen: number): number;
  ioBenchTsfnStart(n: number, cb: (n: number) => void): object;
  ioBenchTsfnStop(h: object): void;
}

const BATCHES = [1, 16, 64, 256];
const MAC_A = '02:00:00:00:be:01';
const MAC_B = '02:00:00:00:be:02';

function frame60(): Uint8Array {
  const f = new Uint8Array(60);
  f.set([2, 0, 0, 0, 0xbe, 2, 2, 0, 0, 0, 0xbe, 1, 0x88, 0xb6]);
  return f;
}

/** Sum one byte of every frame so the views are really made and read. */
let sink = 0;

function syncDelivery(ctx: MicroContext): MicroResult[] {
  const n = native() as unknown as BenchNative;
  const ring = new ArrayBuffer(256 * 128);
  const desc = new Uint32Array(256 * 4);
  const out: MicroResult[] = [];
  for (const batch of BATCHES) {
    const r = runSuite(
      {
        [`JS delivery, sync call + views, batch ${batch}`]: () => {
          const c = n.ioBenchBatch(desc, batch, 60);
          for (let i = 0; i < c; i++) sink += new Uint8Array(ring, desc[i * 4]!, desc[i * 4 + 1]!)[0]!;
        },
      },
      batch,
      ctx,
    );
    out.push(...r);
  }
  return out;
}

async function tsfnDelivery(ctx: MicroContext): Promise<MicroResult[]> {
  const n = native() as unknown as BenchNative;
  const ring = new ArrayBuffer(256 * 128);
  const out: MicroResult[] = [];
  const ms = ctx.quick ? 300 : 1500;
  for (const batch of BATCHES) {
    let frames = 0;
    const h = n.ioBenchTsfnStart(batch, (c) => {
      for (let i = 0; i < c; i++) sink += new Uint8Array(ring, i * 128, 60)[0]!;
      frames += c;
    });
    const t0 = process.hrtime.bigint();
    await new Promise((r) => setTimeout(r, ms));
    n.ioBenchTsfnStop(h);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    const perSecond = frames / s;
    out.push({ name: `JS delivery, native thread -> TSFN, batch ${batch}`, perSecond, nsPer: 1e9 / perSecond, unit: 'frame' });
  }
  return out;
}

async function ringBenches(ctx: MicroContext): Promise<MicroResult[]> {
  const out: MicroResult[] = [];
  const lab = await Lab.create();
  try {
    const a = await lab.addNamespace('iba');
    const b = await lab.addNamespace('ibb');
    await lab.addVeth({ ns: a, name: 'ba0', mac: MAC_A }, { ns: b, name: 'bb0', mac: MAC_B });
    // TX ring fill: send() batches into the veth (the peer has no listener; frames are dropped by its stack).
    const tx = PacketPort.open({ ifname: 'ba0', netns: a.name, rx: false, txFrameCount: 1024 });
    try {
      for (const batch of BATCHES) {
        const frames = Array.from({ length: batch }, frame60);
        out.push(
          ...runSuite(
            {
              [`TX ring fill: send(${batch} x 60 B) + 1 kick`]: () => {
                if (tx.send(frames) < batch) tx.send(frames); // ring full: retry once (counted)
              },
            },
            batch,
            ctx,
          ),
        );
      }
      out[out.length - 1]!.note = `txBackpressure ${tx.counters.get('txBackpressure')}`;
    } finally {
      await tx.close();
    }
    // RX ring drain into JS: generator at max on ba0, PacketPort on bb0 drained with tryRecv().
    const ms = ctx.quick ? 500 : 2000;
    {
      const rx = PacketPort.open({ ifname: 'bb0', netns: b.name, tx: false, blockCount: 16, retireTovMs: 1 });
      const gen = startGenerator({ ifname: 'ba0', netns: a.name, templates: [{ dst: MAC_B, src: MAC_A, size: 60 }], durationMs: ms + 200, cpu: 0 });
      await new Promise((r) => setTimeout(r, 100));
      const c0 = rx.counters.get('rxPackets');
      const t0 = process.hrtime.bigint();
      let frames = 0;
      let batches = 0;
      while (Number(process.hrtime.bigint() - t0) < ms * 1e6) {
        const bt = rx.tryRecv();
        if (!bt) continue;
        batches++;
        for (let i = 0; i < bt.length; i++) sink += bt.frame(i)[0]!;
        frames += bt.length;
      }
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      rx.updateStats();
      const g = await gen.stop();
      const perSecond = frames / s;
      out.push({
        name: 'RX ring drain to JS (tryRecv + views), gen max',
        perSecond,
        nsPer: 1e9 / perSecond,
        unit: 'frame',
        note: `avg batch ${(frames / Math.max(1, batches)).toFixed(0)}, kernel drops ${rx.counters.get('rxDrops')}, generator ${(g.sent / (g.elapsedNs / 1e9) / 1e6).toFixed(2)} Mpps, ring rx ${(rx.counters.get('rxPackets') - c0)}`,
      });
      await rx.close();
    }
    {
      const sk = openSink({ ifname: 'bb0', netns: b.name, cpu: 1 });
      const gen = startGenerator({ ifname: 'ba0', netns: a.name, templates: [{ dst: MAC_B, src: MAC_A, size: 60 }], durationMs: ms, cpu: 0 });
      const g = await gen.done;
      await new Promise((r) => setTimeout(r, 50));
      const st = await sk.close();
      const perSecond = st.packets / (g.elapsedNs / 1e9);
      out.push({
        name: 'RX ring drain, native sink thread, gen max',
        perSecond,
        nsPer: 1e9 / perSecond,
        unit: 'frame',
        note: `generator ${(g.sent / (g.elapsedNs / 1e9) / 1e6).toFixed(2)} Mpps, kernel drops ${st.kernelDrops}`,
      });
    }
  } finally {
    await lab.destroy();
  }
  return out;
}

export async function run(ctx: MicroContext): Promise<MicroResult[]> {
  const out = [...syncDelivery(ctx), ...(await tsfnDelivery(ctx))];
  if (userInfo().uid === 0) out.push(...(await ringBenches(ctx)));
  else out.push({ name: 'ring benches skipped (need root)', perSecond: 0, nsPer: 0, unit: 'frame' });
  if (sink === -1) console.log(sink); // keep the reads alive
  return out;
}
