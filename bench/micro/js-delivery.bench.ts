/**
 * Batch delivery to JS: frames a JS port injects into the engine, switched (bridge mode, port to
 * port) to a second JS port whose callback receives them in batches. Measures frames per second
 * that reach the JS callback (one thread-safe-function hop per batch). The same JS thread injects
 * (copying into the engine queue) and receives, so the figure is the round trip JS -> engine -> JS,
 * a lower bound of pure delivery (bench macdemux-js measures delivery from the wire). Needs root (the switch's
 * uplink is a veth in a lab namespace; no traffic uses it).
 */
import { userInfo } from 'node:os';
import { Lab } from '../../src/lab/index.ts';
import { Switch, type SwitchFrameBatch } from '../../src/dataplane/index.ts';
import { batchFrameCount } from '../scenarios/macdemux.ts';
import type { MicroContext, MicroResult } from '../micro-suite.ts';

const A = '02:6d:64:05:00:01';
const B = '02:6d:64:05:00:02';

function batch(n: number): { data: Uint8Array; offsets: Uint32Array; lengths: Uint32Array; count: number; frame(i: number): Uint8Array } {
  const data = new Uint8Array(n * 60);
  const offsets = new Uint32Array(n);
  const lengths = new Uint32Array(n).fill(60);
  const dst = B.split(':').map((h) => parseInt(h, 16));
  const src = A.split(':').map((h) => parseInt(h, 16));
  for (let i = 0; i < n; i++) {
    offsets[i] = i * 60;
    data.set(dst, i * 60);
    data.set(src, i * 60 + 6);
    data[i * 60 + 12] = 0x88;
    data[i * 60 + 13] = 0xb5;
  }
  return { data, offsets, lengths, count: n, frame: (i) => data.slice(i * 60, i * 60 + 60) };
}

export async function run(ctx: MicroContext): Promise<MicroResult[]> {
  if (userInfo().uid !== 0) throw new Error('needs root (the switch opens an AF_PACKET uplink in a lab namespace)');
  const lab = await Lab.create();
  const results: MicroResult[] = [];
  try {
    const ns = await lab.addNamespace('micro');
    await lab.addVeth({ ns, name: 'up0' }, { ns, name: 'peer0' });
    for (const size of [64, 256]) {
      let received = 0;
      let batches = 0;
      const sw = new Switch({ uplink: 'up0', netns: ns.name, name: 'micro-js', backend: 'packet' });
      sw.addPort({ name: 'a', mac: A, mode: 'bridge', backend: { kind: 'js', onFrames: () => {} } });
      sw.addPort({ name: 'b', mac: B, mode: 'bridge', backend: { kind: 'js', onFrames: (b: SwitchFrameBatch) => {
        received += batchFrameCount(b);
        batches++;
      } } });
      await sw.start();
      const inject = (sw as unknown as { inject(port: string, frames: unknown): number }).inject.bind(sw);
      try {
        const b = batch(size);
        const ms = ctx.quick ? 500 : 2000;
        const t0 = process.hrtime.bigint();
        let injected = 0;
        const deadline = Date.now() + ms;
        while (Date.now() < deadline) {
          for (let k = 0; k < 64; k++) injected += inject('a', b);
          // Let the thread-safe-function callbacks run.
          await new Promise((r) => setImmediate(r));
        }
        await new Promise((r) => setTimeout(r, 100));
        const secs = Number(process.hrtime.bigint() - t0) / 1e9;
        const perSecond = received / secs;
        results.push({
          name: `JS port -> engine -> JS port, inject batches of ${size}`,
          perSecond,
          nsPer: 1e9 / perSecond,
          unit: 'frame',
          note: `${received} of ${injected} injected frames delivered in ${batches} batches (${(received / Math.max(1, batches)).toFixed(0)}/batch)`,
        });
      } finally {
        await sw.stop();
      }
    }
  } finally {
    await lab.destroy();
  }
  return results;
}
