/**
 * Forwarding rate with XDP-frame input, every forwarder in the same run: the generator
 * (bench/xdp-gen.ts, BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES, pinned to CPU 0) sends 64-byte
 * frames out of g0 as XDP frames, so they reach the uplink up0 the way a NIC driver running XDP
 * delivers them; each forwarder (bench/scenarios, one sink) forwards them to s0, whose rx_packets
 * count what came out. Next to the skb-input benchmark (`macdemux bench`), which uses an AF_PACKET
 * generator.
 *
 * Two rates per forwarder: per second of wall time, and per second the generator's runs spent on
 * CPU 0 (the kernel's BPF_PROG_RUN duration, which stops while the task is rescheduled): every
 * kernel forwarder, and macdemux's tc and XDP backends, run in the generator's softirq on CPU 0, so
 * the second is the inverse of the path's cost per frame and holds on a loaded machine where wall
 * time does not; macdemux's packet backend forwards in its worker on CPU 1, so its second rate is
 * per second of the worker's CPU time instead (bench/live-frames.ts).
 *
 * Rows: bridge, macvlan, ovs, `macdemux` (the Switch's default backend, whatever it resolves to on a
 * veth uplink: printed in the "runs in" column), `macdemux-packet` (backend 'packet': AF_PACKET rings
 * and the worker), `macdemux-tc` (backend 'tc': the tc ingress program redirects known unicast in the
 * kernel), `macdemux-xdp` (the XDP backend on the uplink).
 *
 * Then latency, side by side: every forwarder gets the same paced load, 50% of the bridge's maximum
 * from the first pass (or --rate PPS), frames stamped with their send time by the generator program;
 * the native sink on the sink interface reports one-way latency (send time to the kernel's receive
 * timestamp there) as p50/p99/p999.
 *
 *   node --import tsx bench/xdp-input.ts [--frames N] [--reps R] [--only a,b] [--latency-s S] [--rate PPS]
 *   (--latency-s 0: no latency pass)
 *
 * XDP frames into a veth need NAPI on the receiving end (drivers/net/veth.c veth_xdp_xmit): GRO is
 * turned on on up0 for every forwarder (an XDP program there provides it too).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SwitchOptions } from '../src/dataplane/index.ts';
import { Lab } from '../src/lab/index.ts';
import { openSink } from '../src/io/index.ts';
import { generateLive, judgedBy, judgedPps, measureLiveFrames, withXdpInput, type LiveFramesResult } from './live-frames.ts';
import { SCENARIOS } from './scenarios/index.ts';
import { DEFAULT_BACKEND } from './scenarios/macdemux.ts';
import type { Testbed } from './testbed.ts';
import type { ScenarioName } from './types.ts';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(name);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
};
const FRAMES = Number(arg('--frames', '3000000'));
const REPS = Number(arg('--reps', '3'));
const LATENCY_S = Number(arg('--latency-s', '3'));
const RATE = Number(arg('--rate', '0'));
/** A row: a scenario of bench/scenarios, with Switch options for the macdemux backends. */
interface Row {
  scenario: ScenarioName;
  switchOptions?: Partial<SwitchOptions>;
}
const ROWS: Record<string, Row> = {
  bridge: { scenario: 'bridge' },
  macvlan: { scenario: 'macvlan' },
  ovs: { scenario: 'ovs' },
  macdemux: { scenario: 'macdemux', switchOptions: DEFAULT_BACKEND },
  'macdemux-packet': { scenario: 'macdemux', switchOptions: { backend: 'packet' } },
  'macdemux-tc': { scenario: 'macdemux', switchOptions: { backend: 'tc' } },
  'macdemux-xdp': { scenario: 'macdemux-xdp' },
};
const FORWARDERS: string[] = arg('--only', 'bridge,macvlan,ovs,macdemux,macdemux-packet,macdemux-tc,macdemux-xdp').split(',');
for (const f of FORWARDERS) if (!(f in ROWS)) throw new Error(`--only: one of ${Object.keys(ROWS).join(', ')}, not ${f}`);

/** Build the forwarder's testbed, run fn on it, tear it down; a string says why it is unavailable. */
async function withTestbed<T>(name: string, fn: (tb: Testbed) => Promise<T>): Promise<T | string> {
  const row = ROWS[name]!;
  const sc = SCENARIOS[row.scenario];
  const why = await sc.unavailable('default');
  if (why) return why;
  const lab = await Lab.create();
  const tmp = mkdtempSync(join(tmpdir(), 'mdx-xdpin-'));
  try {
    const tb = await sc.build({ lab, variant: 'default', ports: 1, sinks: 1, forwarderCpu: 1, tmpDir: tmp, ...(row.switchOptions ? { switchOptions: row.switchOptions } : {}) });
    try {
      await tb.prepare?.();
      return await withXdpInput(tb, () => fn(tb));
    } finally {
      await tb.stop();
    }
  } finally {
    await lab.destroy();
    rmSync(tmp, { recursive: true, force: true });
  }
}

interface Latency {
  offered: number;
  p50: number;
  p99: number;
  p999: number;
  samples: number;
  lost: number;
}

/** One-way latency at ratePps: a 0.5 s warm-up, then LATENCY_S seconds measured. */
async function latency(name: string, ratePps: number): Promise<Latency | string> {
  return withTestbed(name, async (tb) => {
    const s = tb.sinks[0]!;
    const sink = openSink({ ifname: s.ifname, netns: s.ns.name, blockSize: 8192, blockCount: 512, retireTovMs: 1 });
    try {
      generateLive(tb.gen.ns.name, Math.ceil(ratePps / 2), ratePps);
      await new Promise((res) => setTimeout(res, 100));
      sink.reset();
      const count = Math.ceil(ratePps * LATENCY_S);
      const { ns } = generateLive(tb.gen.ns.name, count, ratePps);
      await new Promise((res) => setTimeout(res, 300));
      const st = sink.stats();
      return { offered: count / (ns / 1e9), p50: st.latencyUs.p50, p99: st.latencyUs.p99, p999: st.latencyUs.p999, samples: st.packets, lost: count - st.packets };
    } finally {
      await sink.close();
    }
  });
}

const results = new Map<string, LiveFramesResult | string>();
for (const name of FORWARDERS) {
  const r = await withTestbed(name, (tb) => measureLiveFrames(tb, FRAMES, REPS));
  results.set(name, r);
  process.stderr.write(
    `${name}: ${typeof r === 'string' ? `skipped: ${r}` : `${where(r)}: offered ${(r.offeredPps / 1e6).toFixed(3)} Mpps, forwarded ${(r.fwdPps / 1e6).toFixed(3)} Mpps, ${(r.fwdCpuPps / 1e6).toFixed(3)} M per generator CPU-s${r.fwdWorkerCpuPps !== null && Number.isFinite(r.fwdWorkerCpuPps) ? `, ${(r.fwdWorkerCpuPps / 1e6).toFixed(3)} M per worker CPU-s` : ''}`}\n`,
  );
}
/** Where the forwarding ran: softirq (kernel, tc, XDP) or the engine's worker thread, and the backend. */
function where(r: LiveFramesResult): string {
  return `${r.placement}${r.backend ? ` (${r.backend})` : ''}`;
}
const ref = (n: string, k: 'fwd' | 'cpuFwd' = 'fwd') => {
  const r = results.get(n);
  return typeof r === 'object' ? (k === 'fwd' ? r.fwdPps : judgedPps(r)) : NaN;
};
const m = (v: number | null) => (v !== null && Number.isFinite(v) ? (v / 1e6).toFixed(3) : '-');
const x = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : '-');
console.log('| forwarder (XDP-frame input, 64 B, 1 sink) | runs in | offered Mpps | forwarded Mpps | x macvlan | x bridge | forwarded M per CPU-s | x macvlan | x bridge |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const [n, r] of results) {
  if (typeof r === 'string') console.log(`| ${n} | - | - | skipped: ${r} | - | - | - | - | - |`);
  else
    console.log(
      `| ${n} | ${where(r)} | ${m(r.offeredPps)} | ${m(r.fwdPps)} | ${x(r.fwdPps / ref('macvlan'))} | ${x(r.fwdPps / ref('bridge'))} | ${m(judgedPps(r))} ${judgedBy(r)} | ${x(judgedPps(r) / ref('macvlan', 'cpuFwd'))} | ${x(judgedPps(r) / ref('bridge', 'cpuFwd'))} |`,
    );
}
console.log(
  '\n"per CPU-s": per second of the CPU that forwards: the generator\'s on CPU 0 for forwarders in its softirq, the engine worker\'s on CPU 1 for the packet backend (bench/live-frames.ts).',
);

if (LATENCY_S > 0) {
  const rate = RATE > 0 ? RATE : Math.round(ref('bridge') * 0.5);
  if (!(rate > 0)) {
    console.log('\nlatency: skipped (no bridge rate measured; give --rate PPS)');
  } else {
    const lats = new Map<string, Latency | string>();
    for (const name of FORWARDERS) {
      const r = await latency(name, rate);
      lats.set(name, r);
      process.stderr.write(`${name}: latency ${typeof r === 'string' ? `skipped: ${r}` : `p50 ${r.p50.toFixed(1)} p99 ${r.p99.toFixed(1)} us (${r.samples} samples)`}\n`);
    }
    const bridgeP99 = (() => {
      const b = lats.get('bridge');
      return typeof b === 'object' ? b.p99 : NaN;
    })();
    console.log(`\n| forwarder (XDP-frame input, 64 B, ${(rate / 1e6).toFixed(3)} Mpps = ${RATE > 0 ? 'given rate' : "50% of the bridge's maximum"}) | offered Mpps | p50 us | p99 us | p999 us | samples | not received | p99 x bridge |`);
    console.log('|---|---|---|---|---|---|---|---|');
    for (const [n, r] of lats) {
      if (typeof r === 'string') console.log(`| ${n} | - | skipped: ${r} | - | - | - | - | - |`);
      else console.log(`| ${n} | ${(r.offered / 1e6).toFixed(3)} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.p999.toFixed(1)} | ${r.samples} | ${r.lost} | ${(r.p99 / bridgeP99).toFixed(2)} |`);
    }
  }
}
