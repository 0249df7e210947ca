/**
 * Forwarded Mpps of the macdemux engine with a 2-port and a 4096-port table, next to the Linux bridge
 * (static FDB entries), in one run on the same topology:
 *
 *   gen ns: g0 ══ up0 :sw ns: [forwarder] : p1 ══ e1 (sink ns s1), p2 ══ e2 (sink ns s2)
 *
 * The generator (trafgen-like TX ring, pinned to CPU 0) sends 64-byte frames to the two sink MACs at
 * full speed; the engine worker is pinned to CPU 1. "forwarded" is what arrived at e1 + e2 (kernel rx_packets), per second. With 4096
 * ports, the 4094 extra ports are JS ports that receive nothing (the table lookup is what grows).
 * "macdemux-js-ports": the two MACs are JS ports; forwarded = frames that reached the JS handlers.
 * "-txring" runs transmit to the ports through the AF_PACKET TX ring instead of sendmmsg. The worker's
 * CPU time per frame (from /proc thread stats) is less sensitive to other load than Mpps.
 *
 * Usage: node --import tsx bench/engine-ports.ts [--duration S] [--runs N] [--json FILE]
 */
import { writeFileSync } from 'node:fs';
import { withLab, type Namespace } from '../src/lab/index.ts';
import { Switch } from '../src/dataplane/index.ts';
import { formatMac } from '../src/dataplane/mac.ts';
import { startGenerator } from '../src/io/index.ts';
import { CLK_TCK, workerTicks } from '../src/measure/worker-ticks.ts';

const M1 = '02:6d:64:00:05:01';
const M2 = '02:6d:64:00:05:02';
const SRC = '02:6d:64:00:05:ee';

interface Result {
  forwarder: string;
  run: number;
  generatedMpps: number;
  forwardedMpps: number;
  lossPct: number;
  /** CPU time of the engine's worker thread per forwarded frame (macdemux only). */
  workerUsPerPkt?: number;
}

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}

async function rx(ns: Namespace, ifname: string): Promise<number> {
  return (await ns.linkStats(ifname)).rxPackets;
}

async function measure(
  gen: Namespace,
  sinks: Namespace[],
  durationMs: number,
): Promise<{ generatedMpps: number; forwardedMpps: number; lossPct: number }> {
  const before = await Promise.all(sinks.map((ns, i) => rx(ns, `e${i + 1}`)));
  const g = startGenerator({
    ifname: 'g0',
    netns: gen.name,
    templates: [
      { dst: M1, src: SRC, size: 60 },
      { dst: M2, src: SRC, size: 60 },
    ],
    durationMs,
    cpu: 0,
  });
  const gs = await g.done;
  await new Promise((r) => setTimeout(r, 200));
  const after = await Promise.all(sinks.map((ns, i) => rx(ns, `e${i + 1}`)));
  const got = after.reduce((a, v, i) => a + v - before[i]!, 0);
  const secs = gs.elapsedNs / 1e9;
  return { generatedMpps: gs.sent / secs / 1e6, forwardedMpps: got / secs / 1e6, lossPct: gs.sent > 0 ? (100 * (gs.sent - got)) / gs.sent : 0 };
}

async function main(): Promise<void> {
  const durationMs = Number(arg('--duration', '3')) * 1000;
  const runs = Number(arg('--runs', '1'));
  const jsonOut = process.argv.includes('--json') ? arg('--json', '') : '';
  const results: Result[] = [];
  await withLab(async (lab) => {
    const quiet = async (s: string): Promise<Namespace> => {
      const ns = await lab.addNamespace(s);
      await ns.run('sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
      return ns;
    };
    const gen = await quiet('gen');
    const sw = await quiet('sw');
    const s1 = await quiet('s1');
    const s2 = await quiet('s2');
    await lab.addVeth({ ns: gen, name: 'g0', offloads: false }, { ns: sw, name: 'up0', offloads: false });
    await lab.addVeth({ ns: sw, name: 'p1', offloads: false }, { ns: s1, name: 'e1', mac: M1, offloads: false });
    await lab.addVeth({ ns: sw, name: 'p2', offloads: false }, { ns: s2, name: 'e2', mac: M2, offloads: false });
    // The sinks drop the frames in their stack (other-host / unknown ethertype): counted at rx_packets.

    for (let run = 1; run <= runs; run++) {
      // Linux bridge with static FDB entries.
      await sw.ip(['link', 'add', 'br0', 'type', 'bridge', 'stp_state', '0']);
      for (const d of ['up0', 'p1', 'p2']) await sw.ip(['link', 'set', d, 'master', 'br0']);
      await sw.ip(['link', 'set', 'br0', 'up']);
      await sw.run('bridge', ['fdb', 'add', M1, 'dev', 'p1', 'master', 'static']);
      await sw.run('bridge', ['fdb', 'add', M2, 'dev', 'p2', 'master', 'static']);
      results.push({ forwarder: 'linux-bridge', run, ...(await measure(gen, [s1, s2], durationMs)) });
      await sw.ip(['link', 'del', 'br0']);

      for (const [ports, txRing] of [[2, false], [2, true], [4096, false]] as const) {
        const s = new Switch({ uplink: 'up0', netns: sw.name, backend: 'packet', maxPorts: 8191, portTxCopy: !txRing, cpus: [1] });
        s.addPort({ name: 'p1', mac: M1, mode: 'bridge', backend: { kind: 'packet', ifname: 'p1' } });
        s.addPort({ name: 'p2', mac: M2, mode: 'bridge', backend: { kind: 'packet', ifname: 'p2' } });
        s.addPorts(
          Array.from({ length: ports - 2 }, (_, k) => ({
            name: `j${k + 2}`,
            mac: formatMac(0x026d64100000 + k + 2),
            mode: 'bridge' as const,
            backend: { kind: 'js' as const, onFrames: () => {} },
          })),
        );
        await s.start();
        try {
          const ticks0 = workerTicks();
          const m = await measure(gen, [s1, s2], durationMs);
          const ticks = workerTicks() - ticks0;
          const c = s.counters();
          const tx = Object.values(c.ports).reduce((a, p) => a + p.txPackets, 0);
          const workerUsPerPkt = tx > 0 ? (ticks * 1e6) / CLK_TCK / tx : 0;
          results.push({ forwarder: `macdemux-${ports}-ports${txRing ? '-txring' : ''}`, run, ...m, workerUsPerPkt });
          process.stderr.write(
            `  macdemux ${ports} ports${txRing ? ' (TX ring)' : ''}: worker ${workerUsPerPkt.toFixed(2)} us CPU/frame, engine rx ${c.rxFrames}, forwarded ${c.forwarded}, ` +
              `tx dropped ${c.workers.reduce((a, w) => a + w.txDropped, 0)}, drops ${JSON.stringify(Object.fromEntries(Object.entries(c.drops).filter(([, v]) => v > 0)))}\n`,
          );
        } finally {
          await s.stop();
        }
      }
      // The same two MACs as JS ports: frames delivered to JS handlers in batches.
      {
        const s = new Switch({ uplink: 'up0', netns: sw.name, backend: 'packet', cpus: [1] });
        let jsFrames = 0;
        for (const mac of [M1, M2]) s.addPort({ name: mac, mac, mode: 'bridge', backend: { kind: 'js', onFrames: (b) => (jsFrames += b.count) } });
        await s.start();
        try {
          const g = startGenerator({ ifname: 'g0', netns: gen.name, templates: [{ dst: M1, src: SRC, size: 60 }, { dst: M2, src: SRC, size: 60 }], durationMs, cpu: 0 });
          const gs = await g.done;
          await new Promise((r) => setTimeout(r, 300));
          const secs = gs.elapsedNs / 1e9;
          results.push({ forwarder: 'macdemux-js-ports', run, generatedMpps: gs.sent / secs / 1e6, forwardedMpps: jsFrames / secs / 1e6, lossPct: (100 * (gs.sent - jsFrames)) / gs.sent });
        } finally {
          await s.stop();
        }
      }
    }
  });
  process.stdout.write('forwarder                 run  generated Mpps  forwarded Mpps  loss %  worker us/frame\n');
  for (const r of results) {
    process.stdout.write(
      `${r.forwarder.padEnd(25)} ${String(r.run).padStart(3)}  ${r.generatedMpps.toFixed(3).padStart(14)}  ${r.forwardedMpps.toFixed(3).padStart(14)}  ${r.lossPct.toFixed(1).padStart(6)}  ${r.workerUsPerPkt !== undefined ? r.workerUsPerPkt.toFixed(2).padStart(15) : '              -'}\n`,
    );
  }
  const avg = (f: string) => {
    const rs = results.filter((r) => r.forwarder === f);
    return rs.reduce((a, r) => a + r.forwardedMpps, 0) / rs.length;
  };
  const bridge = avg('linux-bridge');
  const two = avg('macdemux-2-ports');
  const many = avg('macdemux-4096-ports');
  process.stdout.write(
    `\nmacdemux 2 ports / bridge: ${(two / bridge).toFixed(2)}x; 4096 ports / bridge: ${(many / bridge).toFixed(2)}x; ` +
      `4096 vs 2 ports: ${(((many - two) / two) * 100).toFixed(1)}%\n`,
  );
  if (jsonOut) writeFileSync(jsonOut, `${JSON.stringify({ durationMs, results }, null, 2)}\n`);
}

await main();
