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
 * kernel forwarder, and macdemux's XDP path, runs in the generator's softirq on CPU 0, so the second
 * is the inverse of the path's cost per frame and holds on a loaded machine where wall time does not.
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
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab } from '../src/lab/index.ts';
import { LinkCounterPool } from '../src/measure/link-counters.ts';
import { openSink } from '../src/io/index.ts';
import { SCENARIOS } from './scenarios/index.ts';
import type { Testbed } from './testbed.ts';
import { GEN_MAC, sinkMac } from './testbed.ts';
import type { ScenarioName } from './types.ts';

const here = dirname(fileURLToPath(import.meta.url));
const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(name);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
};
const FRAMES = Number(arg('--frames', '3000000'));
const REPS = Number(arg('--reps', '3'));
const LATENCY_S = Number(arg('--latency-s', '3'));
const RATE = Number(arg('--rate', '0'));
const FORWARDERS: ScenarioName[] = arg('--only', 'bridge,macvlan,ovs,macdemux,macdemux-xdp').split(',') as ScenarioName[];

function generate(netns: string, count: number, ratePps = 0): { ns: number; runNs: number } {
  const args = [join(here, 'xdp-gen.ts'), netns, 'g0', String(count), sinkMac(1), GEN_MAC, '60', ...(ratePps > 0 ? [String(ratePps)] : [])];
  const out = execFileSync('taskset', ['-c', '0', process.execPath, '--import', 'tsx', ...args], { encoding: 'utf8' });
  const r = JSON.parse(out) as { ns?: number; runNs?: number; errno?: number };
  if (r.ns === undefined) throw new Error(`XDP generator failed: errno ${r.errno}`);
  return { ns: r.ns, runNs: r.runNs ?? NaN };
}

const median = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;

/** Build the forwarder's testbed, run fn on it, tear it down; a string says why it is unavailable. */
async function withTestbed<T>(name: ScenarioName, fn: (tb: Testbed) => Promise<T>): Promise<T | string> {
  const sc = SCENARIOS[name];
  const why = await sc.unavailable('default');
  if (why) return why;
  const lab = await Lab.create();
  const tmp = mkdtempSync(join(tmpdir(), 'mdx-xdpin-'));
  try {
    const tb = await sc.build({ lab, variant: 'default', ports: 1, sinks: 1, forwarderCpu: 1, tmpDir: tmp });
    try {
      await tb.sw.exec('ethtool', ['-K', 'up0', 'gro', 'on'], { timeoutMs: 30_000 });
      await tb.prepare?.();
      return await fn(tb);
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
async function latency(name: ScenarioName, ratePps: number): Promise<Latency | string> {
  return withTestbed(name, async (tb) => {
    const s = tb.sinks[0]!;
    const sink = openSink({ ifname: s.ifname, netns: s.ns.name, blockSize: 8192, blockCount: 512, retireTovMs: 1 });
    try {
      generate(tb.gen.ns.name, Math.ceil(ratePps / 2), ratePps);
      await new Promise((res) => setTimeout(res, 100));
      sink.reset();
      const count = Math.ceil(ratePps * LATENCY_S);
      const { ns } = generate(tb.gen.ns.name, count, ratePps);
      await new Promise((res) => setTimeout(res, 300));
      const st = sink.stats();
      return { offered: count / (ns / 1e9), p50: st.latencyUs.p50, p99: st.latencyUs.p99, p999: st.latencyUs.p999, samples: st.packets, lost: count - st.packets };
    } finally {
      await sink.close();
    }
  });
}

/**
 * offered/fwd: per second of wall time. cpuFwd: frames forwarded per second the generator's runs were
 * on CPU 0 (the kernel's test.duration), i.e. the inverse of the whole in-softirq path's cost per frame,
 * which other tasks on a loaded machine do not distort; meaningful for forwarders that finish in that
 * softirq (kernel ones, macdemux's XDP path), not for one that forwards on another CPU.
 */
interface Rate {
  offered: number;
  fwd: number;
  cpuFwd: number;
}

/** Forwarders whose work all happens in the generator's softirq (cpuFwd is their cost). */
const IN_SOFTIRQ = new Set<ScenarioName>(['bridge', 'macvlan', 'ovs', 'macdemux-xdp']);

async function measure(name: ScenarioName): Promise<Rate | string> {
  return withTestbed(name, async (tb) => {
    const pool = new LinkCounterPool();
    const fwd = () => pool.readSum(tb.countAt).rxPackets + (tb.forwarded ? tb.forwarded() : 0);
    generate(tb.gen.ns.name, 200_000); // warm-up (and a learning bridge learns nothing: static FDB)
    const offered: number[] = [];
    const rates: number[] = [];
    const cpuRates: number[] = [];
    for (let r = 0; r < REPS; r++) {
      const before = fwd();
      const { ns, runNs } = generate(tb.gen.ns.name, FRAMES);
      await new Promise((res) => setTimeout(res, 300)); // drain
      offered.push(FRAMES / (ns / 1e9));
      rates.push((fwd() - before) / (ns / 1e9));
      cpuRates.push((fwd() - before) / (runNs / 1e9));
    }
    return { offered: median(offered), fwd: median(rates), cpuFwd: IN_SOFTIRQ.has(name) ? median(cpuRates) : NaN };
  });
}

const results = new Map<ScenarioName, Rate | string>();
for (const name of FORWARDERS) {
  results.set(name, await measure(name));
  const r = results.get(name)!;
  process.stderr.write(`${name}: ${typeof r === 'string' ? `skipped: ${r}` : `offered ${(r.offered / 1e6).toFixed(3)} Mpps, forwarded ${(r.fwd / 1e6).toFixed(3)} Mpps, ${(r.cpuFwd / 1e6).toFixed(3)} M per CPU-s`}\n`);
}
const ref = (n: ScenarioName, k: 'fwd' | 'cpuFwd' = 'fwd') => {
  const r = results.get(n);
  return typeof r === 'object' ? r[k] : NaN;
};
const m = (v: number) => (Number.isFinite(v) ? (v / 1e6).toFixed(3) : '-');
const x = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : '-');
console.log('| forwarder (XDP-frame input, 64 B, 1 sink) | offered Mpps | forwarded Mpps | x macvlan | x bridge | forwarded M per CPU-s | x macvlan | x bridge |');
console.log('|---|---|---|---|---|---|---|---|');
for (const [n, r] of results) {
  if (typeof r === 'string') console.log(`| ${n} | - | skipped: ${r} | - | - | - | - | - |`);
  else
    console.log(
      `| ${n} | ${m(r.offered)} | ${m(r.fwd)} | ${x(r.fwd / ref('macvlan'))} | ${x(r.fwd / ref('bridge'))} | ${m(r.cpuFwd)} | ${x(r.cpuFwd / ref('macvlan', 'cpuFwd'))} | ${x(r.cpuFwd / ref('bridge', 'cpuFwd'))} |`,
    );
}

if (LATENCY_S > 0) {
  const rate = RATE > 0 ? RATE : Math.round(ref('bridge') * 0.5);
  if (!(rate > 0)) {
    console.log('\nlatency: skipped (no bridge rate measured; give --rate PPS)');
  } else {
    const lats = new Map<ScenarioName, Latency | string>();
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
