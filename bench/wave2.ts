/**
 * The issue-9 bars that `macdemux bench` does not report, side by side in one run, as one Markdown
 * table (bridge / kernel macvlan / macdemux, and the ratio to the bridge) plus JSON:
 *
 * 1. ping RTT gen -> sink 1 through each forwarder (iputils ping -i 0.01, median and p99);
 * 2. all-core CPU ns per forwarded packet (/proc/stat) at 50% of the bridge's maximum 64-byte rate;
 * 3. busy host: one `sh` busy loop per core at normal priority, offered load 50% of the bridge's
 *    maximum measured without hogs, loss per forwarder (and macdemux with `realtime: true`);
 * 4. flap / delete / replace of the macdemux switch's uplink and port: idle worker CPU ticks/s after
 *    each event and the time from the device being back until a ping passes again;
 * 5. TCP with Linux's default veth offloads (bench/tcp-offloads.ts), 1 and 4 streams.
 *
 * Rows 1-4 use the bench's testbeds (bench/scenarios, 2 sinks, 64-byte frames, veth offloads off as in
 * the 64-byte rows of `macdemux bench`) and its generator (pinned to CPU 0, forwarder threads to CPU 1).
 *
 * Also one-way latency (native generator and sink, p50/p99) at 50% of the bridge's maximum, and
 * each forwarder's 64-byte maximum (the >= 1.25x bridge bar) in the same run, twice:
 * - step `max`: with the native skb generator (AF_PACKET TX into g0), whose maximum also sets the
 *   50% loads above. On a slow VM it tops out below every kernel forwarder's ceiling (0.25-0.37 Mpps),
 *   so that row compares generators; it is kept, labelled, for earlier runs.
 * - step `live`: with the live-frame XDP generator (bench/live-frames.ts; BPF_PROG_RUN with
 *   BPF_F_TEST_XDP_LIVE_FRAMES, pinned to CPU 0; skbs built by up0's NAPI, as from a NIC driver),
 *   which offers 1-2 Mpps. The bar is judged on this row where the kernel supports it, by a measure
 *   that depends on where the forwarding runs (liveTable): per second the generator ran for
 *   forwarders in its softirq (bridge, macvlan, macdemux tc/XDP backends; they slow it), per second
 *   of the worker's CPU time for the packet backend's worker on CPU 1 (it does not). A "generator alone" row gives the
 *   generator's own cost; the Switch's default backend gets a live row of its own next to the
 *   macdemux column's (the scenario's backend, or --switch's).
 *
 * Usage (root): node --import tsx bench/wave2.ts [--quick] [--bridge-max PPS] [--json FILE]
 *   [--only bridge,macdemux] [--skip max,live,ping,latency,half,busy,links,realtime,tcp] [--switch JSON]
 * (`npm run bench:wave2`). JSON defaults to docs/bench/wave2.json (live rows: `forwarders[].maxLoadLive`,
 * `liveBareGenerator`, the judged summary `liveMaxLoad`). --only/--skip run a subset (to compare receive settings quickly); --switch
 * adds macdemux Switch options (e.g. '{"spinUs":0}', '{"backend":"packet"}'); without it the macdemux column runs the
 * Switch's default backend ('auto': the tc fast path on this veth uplink).
 * macdemux's worker counters (mode switches, per-ring drops, rollovers, sleeps) are printed per trial.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Lab, type Namespace } from '../src/lab/index.ts';
import { chooseGenerator, type GeneratorKind } from '../src/measure/traffic.ts';
import { describeMachine } from './machine.ts';
import { Progress, fmtPps } from './progress.ts';
import { SCENARIOS } from './scenarios/index.ts';
import { DEFAULT_BACKEND } from './scenarios/macdemux.ts';
import { genCidr, GEN_MAC, sinkCidr, sinkIp, sinkMac, type Testbed } from './testbed.ts';
import { tcpWithOffloads, type TcpOffloadsRow } from './tcp-offloads.ts';
import { measureLatency } from './latency.ts';
import type { SwitchOptions } from '../src/dataplane/index.ts';
import { TestbedCounters, runTrial, type TrialResult } from './trial.ts';
import { CLK_TCK, workerTicks } from '../src/measure/worker-ticks.ts';
import { forwardingNsPerFrame, judgedBy, judgedPps, measureLiveFrames, withXdpInput, type LiveFramesResult } from './live-frames.ts';

type Fwd = 'bridge' | 'macvlan' | 'macdemux';
const FORWARDERS: Fwd[] = ['bridge', 'macvlan', 'macdemux'];
const STEPS = ['max', 'live', 'ping', 'latency', 'half', 'busy', 'links', 'realtime', 'tcp'] as const;
type Step = (typeof STEPS)[number];
const SINKS = 2;
const FORWARDER_CPU = 1;

interface Options {
  quick: boolean;
  bridgeMaxPps: number | null;
  json: string;
  pingCount: number;
  warmupMs: number;
  measureMs: number;
  idleMs: number;
  tcpSeconds: number;
  /** Live-frame generator runs at maximum load: frames per run, runs (median reported). */
  liveFrames: number;
  liveReps: number;
  only: Fwd[];
  skip: Set<Step>;
  switchOptions: Partial<SwitchOptions> | undefined;
}

function parseArgs(argv: string[]): Options {
  const quick = argv.includes('--quick');
  const val = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    if (i < 0) return undefined;
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`${name} needs a value`);
    return v;
  };
  const bm = val('--bridge-max');
  const bridgeMaxPps = bm === undefined ? null : Number(bm);
  if (bridgeMaxPps !== null && !(Number.isFinite(bridgeMaxPps) && bridgeMaxPps > 0)) throw new Error(`--bridge-max: a rate in packets/s > 0, not ${bm}`);
  for (const a of argv) if (a.startsWith('--') && !['--quick', '--bridge-max', '--json', '--only', '--skip', '--switch'].includes(a)) throw new Error(`unknown option ${a}`);
  const list = <T extends string>(name: string, all: readonly T[]): T[] | undefined => {
    const v = val(name);
    if (v === undefined) return undefined;
    const xs = v.split(',').filter((x) => x !== '');
    for (const x of xs) if (!all.includes(x as T)) throw new Error(`${name}: one of ${all.join(', ')}, not ${x}`);
    return xs as T[];
  };
  const sw = val('--switch');
  let switchOptions: Partial<SwitchOptions> | undefined;
  if (sw !== undefined) {
    const parsed: unknown = JSON.parse(sw);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error(`--switch: a JSON object of Switch options, not ${sw}`);
    switchOptions = parsed as Partial<SwitchOptions>;
  }
  return {
    quick,
    bridgeMaxPps,
    json: val('--json') ?? 'docs/bench/wave2.json',
    pingCount: quick ? 100 : 200,
    warmupMs: quick ? 250 : 400,
    measureMs: quick ? 800 : 2000,
    idleMs: quick ? 1000 : 2000,
    tcpSeconds: quick ? 1 : 3,
    liveFrames: quick ? 1_000_000 : 2_000_000,
    liveReps: 3,
    only: list('--only', FORWARDERS) ?? FORWARDERS,
    skip: new Set(list('--skip', STEPS) ?? []),
    switchOptions,
  };
}

/** Median and p99 (nearest rank) of a sample. */
function percentiles(xs: number[]): { p50: number; p99: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
  return { p50: at(0.5), p99: at(0.99) };
}

/** Row 1: per-reply RTTs of `ping -i 0.01` (lines `... time=0.051 ms`), in microseconds. */
async function pingRtt(ns: Namespace, addr: string, count: number): Promise<{ p50: number; p99: number; replies: number; sent: number }> {
  await ns.ping(addr, { count: 1, timeoutS: 2 }); // ARP resolved before the measured echoes
  const r = await ns.exec('ping', ['-n', '-i', '0.01', '-c', String(count), '-W', '1', addr], { timeoutMs: 60_000 });
  const rtts = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]) * 1000);
  if (rtts.length === 0) throw new Error(`no ping reply from ${addr}: ${r.stdout.trim().split('\n').pop()}`);
  return { ...percentiles(rtts), replies: rtts.length, sent: count };
}

/** One `sh` busy loop per core at normal priority (nice 0); kill() ends each by its PID. */
function startHogs(): { pids: number[]; kill(): void } {
  const procs: ChildProcess[] = cpus().map(() => spawn('nice', ['-n', '0', 'sh', '-c', 'while :; do :; done'], { stdio: 'ignore' }));
  const pids = procs.map((p) => p.pid).filter((p): p is number => p !== undefined);
  return {
    pids,
    kill() {
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    },
  };
}

/** Build a scenario's primary variant on a fresh lab, run `fn`, tear everything down. */
async function withTestbed<T>(
  name: Fwd | 'generator',
  realtime: boolean,
  switchOptions: Partial<SwitchOptions> | undefined,
  fn: (tb: Testbed, c: TestbedCounters) => Promise<T>,
): Promise<T> {
  const lab = await Lab.create();
  const tmp = mkdtempSync(join(tmpdir(), 'macdemux-wave2-'));
  let tb: Testbed | undefined;
  let counters: TestbedCounters | undefined;
  try {
    const sc = SCENARIOS[name];
    tb = await sc.build({ lab, variant: sc.variants[0]!, ports: SINKS, sinks: SINKS, forwarderCpu: FORWARDER_CPU, tmpDir: tmp, realtime, ...(switchOptions ? { switchOptions } : {}) });
    counters = new TestbedCounters(tb);
    return await fn(tb, counters);
  } finally {
    counters?.close();
    if (tb) await tb.stop().catch(() => undefined);
    await lab.destroy().catch(() => undefined);
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Time from now until one echo of `ns` -> `addr` is answered (50 ms attempts), or null after `maxMs`. */
async function msUntilPing(ns: Namespace, addr: string, maxMs = 10_000): Promise<number | null> {
  const t0 = Date.now();
  while (Date.now() - t0 < maxMs) {
    const r = await ns.exec('ping', ['-n', '-c', '1', '-W', '0.05', addr], { timeoutMs: 5000 });
    if (r.code === 0) return Date.now() - t0;
  }
  return null;
}

/** Worker CPU ticks/s over `ms` with no traffic. */
async function idleTicksPerSecond(ms: number): Promise<number> {
  const a = workerTicks();
  await sleep(ms);
  return ((workerTicks() - a) * 1000) / ms;
}

interface LinkEventResult {
  event: string;
  /** Worker ticks/s while the device was down or absent. */
  idleWhileGone: number;
  /** Worker ticks/s once traffic passed again (no traffic during the window). */
  idleAfter: number;
  /** Device back -> first ping answered, ms (null: not within 10 s). */
  recoveryMs: number | null;
}

/**
 * Row 4 on the macdemux testbed: gen g0 ══ up0 [switch] p1 ══ s0 (sink 1). Each event takes a device
 * away (down, or deleted), measures the idle worker, brings it back (up, or re-created with the same
 * name, MAC and address), times the first ping answered, then measures the idle worker again.
 */
async function linkEvents(tb: Testbed, idleMs: number, progress: Progress): Promise<LinkEventResult[]> {
  const sink = tb.sinks[0]!;
  const gen = tb.gen;
  const target = sinkIp(1);
  if ((await msUntilPing(gen.ns, target, 5000)) === null) throw new Error('baseline ping through the switch failed');
  const addUplink = () => tb.lab.addVeth({ ns: gen.ns, name: gen.ifname, mac: GEN_MAC, addresses: [genCidr()], offloads: false }, { ns: tb.sw, name: 'up0', offloads: false });
  const addPort = () => tb.lab.addVeth({ ns: sink.ns, name: sink.ifname, mac: sinkMac(1), addresses: [sinkCidr(1)], offloads: false }, { ns: tb.sw, name: 'p1', offloads: false });
  const events: { event: string; take(): Promise<void>; give(): Promise<void> }[] = [
    { event: 'uplink flap', take: () => tb.sw.ip(['link', 'set', 'up0', 'down']).then(() => undefined), give: () => tb.sw.ip(['link', 'set', 'up0', 'up']).then(() => undefined) },
    { event: 'port flap', take: () => tb.sw.ip(['link', 'set', 'p1', 'down']).then(() => undefined), give: () => tb.sw.ip(['link', 'set', 'p1', 'up']).then(() => undefined) },
    { event: 'port delete + replace', take: () => tb.sw.ip(['link', 'del', 'p1']).then(() => undefined), give: () => addPort().then(() => undefined) },
    { event: 'uplink delete + replace', take: () => tb.sw.ip(['link', 'del', 'up0']).then(() => undefined), give: () => addUplink().then(() => undefined) },
  ];
  const out: LinkEventResult[] = [];
  for (const e of events) {
    progress.status(`[link events] ${e.event}`);
    await e.take();
    await sleep(300);
    const idleWhileGone = await idleTicksPerSecond(idleMs);
    await e.give();
    const recoveryMs = await msUntilPing(gen.ns, target);
    const idleAfter = await idleTicksPerSecond(idleMs);
    out.push({ event: e.event, idleWhileGone, idleAfter, recoveryMs });
    progress.line(`[link events] ${e.event}: idle ${idleWhileGone.toFixed(1)} ticks/s while gone, ${idleAfter.toFixed(1)} after; traffic again ${recoveryMs ?? '>10000'} ms after the device was back`);
  }
  return out;
}

interface PerForwarder {
  /** macdemux-default: the Switch's default backend (live row only; the macdemux column is the scenario's backend or --switch's). */
  name: Fwd | 'macdemux-realtime' | 'macdemux-default';
  ping?: { p50: number; p99: number; replies: number; sent: number };
  /** One-way latency (us) at 50% of the bridge's maximum, native generator -> native sinks. */
  latency?: { offeredPps: number; p50: number; p99: number; p999: number; samples: number };
  /** 64-byte maximum with the native skb generator (AF_PACKET TX into g0; generator-bound on a slow VM). */
  maxLoad?: Pick<TrialResult, 'offeredPps' | 'fwdPps' | 'lossRatio' | 'cpuNsPerPacket'>;
  /** 64-byte maximum with the live-frame XDP generator (bench/live-frames.ts), or why it did not run. */
  maxLoadLive?: LiveFramesResult | { error: string };
  halfLoad?: Pick<TrialResult, 'offeredPps' | 'fwdPps' | 'lossRatio' | 'cpuNsPerPacket'>;
  busy?: Pick<TrialResult, 'offeredPps' | 'fwdPps' | 'lossRatio' | 'sent' | 'forwarded'>;
  error?: string;
}

const pick = (t: TrialResult) => ({ offeredPps: t.offeredPps, fwdPps: t.fwdPps, lossRatio: t.lossRatio, cpuNsPerPacket: t.cpuNsPerPacket });

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const progress = new Progress();
  const choice = chooseGenerator('auto');
  if (choice.kind === null) throw new Error(`no traffic generator: ${choice.notes.join('; ')}`);
  const generator: GeneratorKind = choice.kind;
  const trial = (tb: Testbed, c: TestbedCounters, ratePps: number, tag: string) =>
    runTrial(tb, c, generator, { frameSize: 64, ratePps, warmupMs: opts.warmupMs, measureMs: opts.measureMs }, (o, f) =>
      progress.status(`${tag} offered ${fmtPps(o)} forwarded ${fmtPps(f)}`));

  const rows: PerForwarder[] = [];
  let bridgeMax = opts.bridgeMaxPps;
  let links: LinkEventResult[] | string = 'not run';
  const stepWanted = (st: Step) => !opts.skip.has(st);
  // Counter changes over a trial, e.g. "rxModeSwitches +2 rxV2Drops +0 ... rxMode 3".
  const diag = async <T>(tb: Testbed, tag: string, f: () => Promise<T>): Promise<T> => {
    const before = tb.diagnostics?.();
    const ticks0 = before ? workerTicks() : 0;
    const r = await f();
    const after = tb.diagnostics?.();
    // The workers' own CPU (their threads' utime + stime): unlike all-core /proc/stat, not inflated by other work on a shared machine.
    const workerMs = before ? ((workerTicks() - ticks0) * 1000) / CLK_TCK : 0;
    if (before && after)
      progress.line(`${tag} counters: ${Object.keys(after).map((k) => (k === 'rxMode' ? `${k} ${after[k]}` : `${k} +${after[k]! - (before[k] ?? 0)}`)).join(' ')} workerCpuMs +${workerMs.toFixed(0)}`);
    return r;
  };
  // 64-byte maximum with the live-frame generator: GRO on up0 for the run (veth NAPI), then off again.
  const liveMax = async (tb: Testbed, tag: string): Promise<LiveFramesResult | { error: string }> => {
    progress.status(`${tag} ${opts.liveReps} x ${opts.liveFrames} frames`);
    try {
      const r = await diag(tb, tag, () => withXdpInput(tb, () => measureLiveFrames(tb, opts.liveFrames, opts.liveReps)));
      progress.line(
        `${tag} ${r.placement}${r.backend ? ` (${r.backend})` : ''}: offered ${fmtPps(r.offeredPps)}, forwarded ${fmtPps(r.fwdPps)}, ${fmtPps(r.fwdCpuPps)} per generator CPU-s` +
          `${r.fwdWorkerCpuPps !== null ? `, ${fmtPps(r.fwdWorkerCpuPps)} per worker CPU-s (worker ${(100 * (r.workerCpuShare ?? 0)).toFixed(0)}% of a core)` : ''}; judged ${fmtPps(judgedPps(r))} ${judgedBy(r)}`,
      );
      return r;
    } catch (err) {
      const error = (err as Error).message.split('\n')[0]!;
      progress.line(`${tag} not measured: ${error}`);
      return { error };
    }
  };
  // The bare generator into up0 (nothing forwards): its cost per frame, which the softirq forwarders' rate includes.
  // The macdemux column: the Switch's default backend ('auto'), unless --switch names options.
  const macdemuxOptions = opts.switchOptions ?? DEFAULT_BACKEND;
  let liveBare: LiveBare = 'not run';
  if (stepWanted('live'))
    await withTestbed('generator', false, undefined, async (tb) => (liveBare = await liveMax(tb, '[generator alone, live frames]'))).catch((err: Error) => {
      liveBare = { error: err.message.split('\n')[0]! };
    });
  if (opts.only.includes('bridge') === false && bridgeMax === null) throw new Error('--only without bridge needs --bridge-max');
  for (const name of FORWARDERS.filter((f) => opts.only.includes(f))) {
    const row: PerForwarder = { name };
    rows.push(row);
    try {
      await withTestbed(name, false, name === 'macdemux' ? macdemuxOptions : undefined, async (tb, c) => {
        if (name === 'bridge' && bridgeMax === null) {
          const t = await trial(tb, c, 0, '[bridge max]');
          row.maxLoad = pick(t);
          bridgeMax = t.fwdPps;
          progress.line(`[bridge max] ${fmtPps(t.fwdPps)} forwarded (offered ${fmtPps(t.offeredPps)})`);
        }
        if (!bridgeMax) throw new Error('no bridge maximum');
        const bm = bridgeMax;
        if (stepWanted('max') && !row.maxLoad) {
          const t = await diag(tb, `[${name} max]`, () => trial(tb, c, 0, `[${name} max]`));
          row.maxLoad = pick(t);
          progress.line(`[${name} max] ${fmtPps(t.fwdPps)} forwarded (offered ${fmtPps(t.offeredPps)})`);
        }
        if (stepWanted('live')) row.maxLoadLive = await liveMax(tb, `[${name} max, live frames]`);
        if (stepWanted('ping')) {
          const p = await diag(tb, `[${name} ping]`, () => pingRtt(tb.gen.ns, sinkIp(1), opts.pingCount));
          row.ping = p;
          progress.line(`[${name} ping] RTT p50 ${p.p50.toFixed(0)} us p99 ${p.p99.toFixed(0)} us (${p.replies}/${p.sent})`);
        }
        if (stepWanted('latency') && generator === 'native') {
          const l = await diag(tb, `[${name} latency]`, () =>
            measureLatency(tb, c, { frameSize: 64, ratePps: bm / 2, loadPct: 50, warmupMs: opts.warmupMs, measureMs: opts.measureMs }, (o, f) =>
              progress.status(`[${name} latency @50% of bridge max] offered ${fmtPps(o)} forwarded ${fmtPps(f)}`)));
          if (l) {
            row.latency = { offeredPps: l.offeredPps, p50: l.p50, p99: l.p99, p999: l.p999, samples: l.samples };
            progress.line(`[${name} one-way latency @ ${fmtPps(l.offeredPps)}] p50 ${l.p50.toFixed(1)} us p99 ${l.p99.toFixed(1)} us p99.9 ${l.p999.toFixed(1)} us (${l.samples} samples)`);
          }
        }
        if (stepWanted('half')) {
          const half = await diag(tb, `[${name} 50%]`, () => trial(tb, c, bm / 2, `[${name} 50%]`));
          row.halfLoad = pick(half);
          progress.line(`[${name} 50% of bridge max] ${fmtPps(half.fwdPps)} cpu ${half.cpuNsPerPacket?.toFixed(0) ?? '-'} ns/pkt loss ${(half.lossRatio * 100).toFixed(3)}%`);
        }
        if (stepWanted('busy')) {
          const hogs = startHogs();
          try {
            await sleep(200);
            const b = await diag(tb, `[${name} busy host]`, () => trial(tb, c, bm / 2, `[${name} busy host]`));
            row.busy = { offeredPps: b.offeredPps, fwdPps: b.fwdPps, lossRatio: b.lossRatio, sent: b.sent, forwarded: b.forwarded };
            progress.line(`[${name} busy host, ${hogs.pids.length} hogs] offered ${fmtPps(b.offeredPps)} loss ${(b.lossRatio * 100).toFixed(3)}%`);
          } finally {
            hogs.kill();
          }
        }
        if (name === 'macdemux' && stepWanted('links')) {
          try {
            links = await linkEvents(tb, opts.idleMs, progress);
          } catch (err) {
            links = (err as Error).message;
            progress.line(`[link events] failed: ${links}`);
          }
        }
      });
    } catch (err) {
      row.error = (err as Error).message.split('\n')[0]!;
      progress.line(`[${name}] failed: ${row.error}`);
    }
  }
  // With --switch, the macdemux column is that configuration: the Switch's default backend's live maximum next to it.
  if (stepWanted('live') && opts.only.includes('macdemux') && opts.switchOptions) {
    const row: PerForwarder = { name: 'macdemux-default' };
    rows.push(row);
    try {
      await withTestbed('macdemux', false, DEFAULT_BACKEND, async (tb) => (row.maxLoadLive = await liveMax(tb, '[macdemux (default backend) max, live frames]')));
    } catch (err) {
      row.error = (err as Error).message.split('\n')[0]!;
    }
  }
  // Busy host with the engine's workers at SCHED_FIFO.
  const rt: PerForwarder = { name: 'macdemux-realtime' };
  if (stepWanted('realtime') && opts.only.includes('macdemux')) rows.push(rt);
  try {
    if (!bridgeMax) throw new Error('no bridge maximum');
    const rate = bridgeMax / 2;
    if (rows.includes(rt)) await withTestbed('macdemux', true, macdemuxOptions, async (tb, c) => {
      const hogs = startHogs();
      try {
        await sleep(200);
        const b = await diag(tb, '[macdemux realtime busy host]', () => trial(tb, c, rate, '[macdemux realtime busy host]'));
        rt.busy = { offeredPps: b.offeredPps, fwdPps: b.fwdPps, lossRatio: b.lossRatio, sent: b.sent, forwarded: b.forwarded };
        progress.line(`[macdemux realtime busy host] offered ${fmtPps(b.offeredPps)} loss ${(b.lossRatio * 100).toFixed(3)}%`);
      } finally {
        hogs.kill();
      }
    });
  } catch (err) {
    rt.error = (err as Error).message.split('\n')[0]!;
    progress.line(`[macdemux realtime] failed: ${rt.error}`);
  }
  let tcp: TcpOffloadsRow[] | string = 'not run';
  if (stepWanted('tcp')) try {
    progress.status(`[TCP with offloads] iperf3 ${opts.tcpSeconds} s x 2 per forwarder`);
    tcp = await tcpWithOffloads(opts.tcpSeconds);
    for (const r of tcp) progress.line(`[TCP with offloads] ${r.name}: 1 stream ${r.p1.toFixed(2)} Gbit/s, 4 streams ${r.p4.toFixed(2)} Gbit/s`);
  } catch (err) {
    tcp = (err as Error).message.split('\n')[0]!;
    progress.line(`[TCP with offloads] failed: ${tcp}`);
  }
  progress.done();

  const report = {
    date: new Date(started).toISOString(),
    command: `node --import tsx bench/wave2.ts ${process.argv.slice(2).join(' ')}`.trim(),
    machine: describeMachine(),
    options: { ...opts, generator, sinks: SINKS, frameSize: 64, forwarderCpu: FORWARDER_CPU, generatorCpu: 0, hogs: cpus().length },
    bridgeMaxPps: bridgeMax,
    forwarders: rows,
    liveBareGenerator: liveBare,
    liveMaxLoad: liveSummary(rows, liveBare),
    linkEvents: links,
    tcpWithOffloads: tcp,
    durationS: Math.round((Date.now() - started) / 100) / 10,
  };
  mkdirSync(dirname(opts.json), { recursive: true });
  writeFileSync(opts.json, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(markdown(report.bridgeMaxPps, rows, links, tcp) + '\n\n' + liveTable(rows, liveBare, opts.switchOptions) + `\n(${report.durationS} s; JSON in ${opts.json})\n`);
}

const f0 = (x: number | null | undefined): string => (x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(0));
const verdict = (ok: boolean | null | undefined): string => (ok === undefined ? '' : ok === null ? 'n/a' : ok ? 'met' : 'missed');
const pct = (x: number | undefined): string => (x === undefined ? 'n/a' : `${(x * 100).toFixed(3)}%`);

/** One Markdown table: a row per bar, a column per forwarder, the ratio macdemux/bridge and the bar. */
function markdown(bridgeMax: number | null, rows: PerForwarder[], links: LinkEventResult[] | string, tcp: TcpOffloadsRow[] | string): string {
  const by = (n: PerForwarder['name']) => rows.find((r) => r.name === n);
  const [br, mv, md, rt] = [by('bridge'), by('macvlan'), by('macdemux'), by('macdemux-realtime')];
  const ratio = (m: number | null | undefined, b: number | null | undefined): string => (m == null || b == null || b === 0 ? 'n/a' : `${(m / b).toFixed(2)}x`);
  const le = (a: number | null | undefined, b: number | null | undefined, k: number): boolean | null => (a == null || b == null ? null : a <= k * b);
  const lines: string[] = [];
  const row = (label: string, b: string, m: string, d: string, r: string, bar: string, ok: boolean | null | undefined) =>
    lines.push(`| ${label} | ${b} | ${m} | ${d} | ${r} | ${bar} | ${verdict(ok)} |`);
  lines.push('| row | bridge | kernel macvlan | macdemux | macdemux / bridge | bar | this run |', '|---|---:|---:|---:|---:|---|---|');
  // The bar is judged on the live-frame row where it ran (liveTable explains the measure); the skb
  // generator's row stays, labelled, for comparison with earlier runs (generator-bound on a slow VM).
  const live = (r?: PerForwarder) => measured(r?.maxLoadLive);
  const lj = (r?: PerForwarder) => (live(r) ? judgedPps(live(r)!) : undefined);
  const judgedLive = lj(md) !== undefined && lj(br) !== undefined;
  const mx = (r?: PerForwarder) => r?.maxLoad?.fwdPps;
  row('64-byte forwarded at max load, skb generator (pps)', f0(mx(br)), f0(mx(mv)), f0(mx(md)), ratio(mx(md), mx(br)), judgedLive ? 'see live row' : '>= 1.25x',
    judgedLive ? undefined : mx(md) == null || mx(br) == null ? null : mx(md)! >= 1.25 * mx(br)!);
  const by2 = (r?: PerForwarder) => (live(r) ? `${f0(judgedPps(live(r)!))} ${judgedBy(live(r)!)}` : 'n/a');
  row('64-byte max load, live XDP frames: frames forwarded per CPU-s of the forwarding CPU (table below)', by2(br), by2(mv), by2(md), ratio(lj(md), lj(br)), '>= 1.25x',
    judgedLive ? lj(md)! >= 1.25 * lj(br)! : null);
  row('ping RTT p50 (us)', f0(br?.ping?.p50), f0(mv?.ping?.p50), f0(md?.ping?.p50), ratio(md?.ping?.p50, br?.ping?.p50), '<= 2x', le(md?.ping?.p50, br?.ping?.p50, 2));
  row('ping RTT p99 (us)', f0(br?.ping?.p99), f0(mv?.ping?.p99), f0(md?.ping?.p99), ratio(md?.ping?.p99, br?.ping?.p99), '<= 2x', le(md?.ping?.p99, br?.ping?.p99, 2));
  const lat50 = `at 50% of bridge max (${fmtPps(bridgeMax === null ? null : bridgeMax / 2)})`;
  row(`one-way latency p50 (us) ${lat50}`, f0(br?.latency?.p50), f0(mv?.latency?.p50), f0(md?.latency?.p50), ratio(md?.latency?.p50, br?.latency?.p50), '', undefined);
  row(`one-way latency p99 (us) ${lat50}`, f0(br?.latency?.p99), f0(mv?.latency?.p99), f0(md?.latency?.p99), ratio(md?.latency?.p99, br?.latency?.p99), '<= 2x', le(md?.latency?.p99, br?.latency?.p99, 2));
  const cpu = (r?: PerForwarder) => r?.halfLoad?.cpuNsPerPacket;
  row(`CPU ns/pkt, all cores, at 50% of bridge max (${fmtPps(bridgeMax === null ? null : bridgeMax / 2)})`, f0(cpu(br)), f0(cpu(mv)), f0(cpu(md)), ratio(cpu(md), cpu(br)), '<= 1.2x', le(cpu(md), cpu(br), 1.2));
  const half = (r?: PerForwarder) => (r?.halfLoad ? `${fmtPps(r.halfLoad.fwdPps)}, loss ${pct(r.halfLoad.lossRatio)}` : 'n/a');
  row('... forwarded at that load', half(br), half(mv), half(md), '', '', undefined);
  // The generator shares the CPUs with the hogs: the rate it reached is shown next to the loss.
  const loss = (r?: PerForwarder) => r?.busy?.lossRatio;
  const busy = (r?: PerForwarder) => (r?.busy ? `${pct(r.busy.lossRatio)} @ ${fmtPps(r.busy.offeredPps)}` : 'n/a');
  row(`busy host loss @ offered (${cpus().length} hogs, target 50% of bridge max)`, busy(br), busy(mv), busy(md), '', '<= bridge', le(loss(md), loss(br), 1));
  row('busy host loss, macdemux `realtime: true`', '', '', busy(rt), '', '<= bridge', le(loss(rt), loss(br), 1));
  if (links === 'not run') {
    // --skip links, or macdemux not in --only
  } else if (typeof links === 'string') row('flap/delete/replace', '', '', `failed: ${links}`, '', '', null);
  else
    for (const e of links) {
      const idle = Math.max(e.idleWhileGone, e.idleAfter);
      row(`${e.event}: idle worker ticks/s (gone / after)`, '', '', `${e.idleWhileGone.toFixed(1)} / ${e.idleAfter.toFixed(1)}`, '', `< 5 (${CLK_TCK}/s = a core)`, idle < 5);
      row(`${e.event}: device back -> traffic (ms)`, '', '', e.recoveryMs === null ? '> 10000' : String(e.recoveryMs), '', '< 1000', e.recoveryMs !== null && e.recoveryMs < 1000);
    }
  if (tcp === 'not run') {
    // --skip tcp
  } else if (typeof tcp === 'string') row('TCP with offloads', '', '', `failed: ${tcp}`, '', '', null);
  else {
    // The TCP step runs its own switches (bench/tcp-offloads.ts), not the macdemux column's: one row
    // per backend, the tc fast path being what the default ('auto') picks on this veth uplink.
    const t = (n: TcpOffloadsRow['name']) => tcp.find((r) => r.name === n);
    for (const [k, label] of [['p1', '1 stream'], ['p4', '4 streams']] as const)
      for (const [name, backend] of [['macdemux-tc', 'tc fast path = default backend'], ['macdemux', 'packet backend']] as const) {
        const [b, m, d] = [t('bridge')?.[k], t('macvlan')?.[k], t(name)?.[k]];
        if (d === undefined) continue;
        const ok = b === undefined ? null : d >= 0.8 * b;
        row(`TCP with offloads, ${label} (Gbit/s), macdemux ${backend}`, b?.toFixed(2) ?? 'n/a', m?.toFixed(2) ?? 'n/a', d.toFixed(2), ratio(d, b), '>= 0.8x', ok);
      }
  }
  for (const r of rows) if (r.error) lines.push('', `${r.name}: failed: ${r.error}`);
  return lines.join('\n');
}

type LiveBare = LiveFramesResult | { error: string } | 'not run';
const measured = (l: PerForwarder['maxLoadLive']): LiveFramesResult | undefined => (l && !('error' in l) ? l : undefined);
const finite = (x: number): number | null => (Number.isFinite(x) ? x : null);

/** The live-frame rows' judged rates, ratios to the bridge (by rate and by CPU cost) and bar verdicts. */
function liveVerdicts(rows: PerForwarder[], bare: LiveBare) {
  const b = typeof bare === 'object' ? measured(bare) : undefined;
  const bareNs = b ? 1e9 / b.offeredCpuPps : NaN;
  const br = measured(rows.find((r) => r.name === 'bridge')?.maxLoadLive);
  const bridgeNs = br ? forwardingNsPerFrame(br, bareNs) : NaN;
  return {
    bareNs,
    rows: rows.flatMap((r) => {
      const l = measured(r.maxLoadLive);
      if (!l) return [];
      const xBridge = finite(br ? judgedPps(l) / judgedPps(br) : NaN);
      const ns = finite(forwardingNsPerFrame(l, bareNs));
      const isMd = r.name === 'macdemux' || r.name === 'macdemux-default';
      return [{ name: r.name, live: l, judgedPps: judgedPps(l), judgedBy: judgedBy(l), xBridge, forwardingNsPerFrame: ns, xBridgeByCost: ns === null ? null : finite(bridgeNs / ns), ...(isMd ? { barMet: xBridge === null ? null : xBridge >= 1.25 } : {}) }];
    }),
  };
}

/** liveVerdicts for the JSON (the measurements themselves are in forwarders[].maxLoadLive). */
function liveSummary(rows: PerForwarder[], bare: LiveBare) {
  if (bare === 'not run') return 'not run';
  const v = liveVerdicts(rows, bare);
  return {
    bar: "macdemux's judged rate >= 1.25x the bridge's (frames forwarded per CPU-s of the forwarding CPU)",
    bareGeneratorNsPerFrame: finite(v.bareNs),
    rows: v.rows.map(({ live, ...rest }) => ({ ...rest, placement: live.placement, backend: live.backend ?? null })),
  };
}

/**
 * The 64-byte maximum with the live-frame generator, a row per forwarder, and how the bar is judged.
 *
 * Fairness: the generator runs as fast as it can on CPU 0. A forwarder that runs in its softirq
 * (bridge, macvlan, macdemux's tc/XDP backends) does its work inline in the generator's run, so it
 * slows the generator: its maximum is what it forwards per second the generator ran (test.duration;
 * robust to other tasks on a shared machine; it includes the generator's own cost, shown by the bare
 * generator's row). A forwarder that runs in its own thread (the packet backend's worker, pinned to
 * CPU 1) does not slow the generator, which then offers more than the worker can take: its maximum
 * is what it forwards per second of the worker's CPU time, the same measure for the CPU that does
 * the forwarding (its wall rate beside it: on the shared VM that halves between runs when other
 * tasks take CPU 1). Judging it per generator CPU-s would credit it with the generator's speed;
 * judging everything per wall second would judge the machine's noise. Neither charges the other
 * core's share (the generator's cost for the softirq forwarders, the ring copy on CPU 0 for the
 * worker): the last columns charge every forwarder all its CPU on both cores beyond the bare
 * generator's, per frame forwarded.
 */
function liveTable(rows: PerForwarder[], bare: LiveBare, switchOptions: Partial<SwitchOptions> | undefined): string {
  if (bare === 'not run') return '';
  const lines: string[] = [];
  const label = (n: PerForwarder['name']): string =>
    n === 'macdemux' ? (switchOptions ? `macdemux ${JSON.stringify(switchOptions)}` : 'macdemux (default backend)') : n === 'macdemux-default' ? 'macdemux (default backend)' : n === 'macvlan' ? 'kernel macvlan' : n;
  const v = liveVerdicts(rows, bare);
  const k = (x: number | null) => (x === null || !Number.isFinite(x) ? '-' : fmtPps(x));
  const x = (r: number | null) => (r === null ? 'n/a' : `${r.toFixed(2)}x`);
  lines.push(
    '| 64 B max load, live XDP frames (1 destination) | runs in | offered | forwarded /s | forwarded per generator CPU-s | forwarded per worker CPU-s | worker CPU | loss | judged rate | x bridge | bar >= 1.25x | CPU ns/frame beyond the bare generator | bridge ns / this ns |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|',
  );
  if ('error' in bare) lines.push(`| generator alone | - | not measured: ${bare.error} |`);
  else lines.push(`| generator alone (nothing on up0) | softirq | ${k(bare.offeredPps)} | - | ${k(bare.offeredCpuPps)} sent | - | - | - | - | - | | ${f0(v.bareNs)} (its own) | |`);
  for (const r of rows) if (r.maxLoadLive && 'error' in r.maxLoadLive) lines.push(`| ${label(r.name)} | - | not measured: ${r.maxLoadLive.error} |`);
  for (const r of v.rows) {
    const l = r.live;
    // A thread forwarder that forwarded all it was offered was not saturated: its rate is a lower bound.
    const bound = l.placement === 'thread' && l.lossRatio < 0.001 ? ' (all offered: a lower bound)' : '';
    const ok = r.barMet === undefined ? '' : verdict(r.barMet);
    lines.push(
      `| ${label(r.name)} | ${l.placement}${l.backend ? ` (${l.backend})` : ''} | ${k(l.offeredPps)} | ${k(l.fwdPps)} | ${l.placement === 'softirq' ? k(l.fwdCpuPps) : `(${k(l.fwdCpuPps)})`} | ${k(l.fwdWorkerCpuPps)} | ${l.workerCpuShare === null ? '-' : `${(100 * l.workerCpuShare).toFixed(0)}%`} | ${pct(l.lossRatio)} | ${k(r.judgedPps)} ${r.judgedBy}${bound} | ${x(r.xBridge)} | ${ok} | ${f0(r.forwardingNsPerFrame)} | ${x(r.xBridgeByCost)} |`,
    );
  }
  lines.push(
    '',
    'Judged rate: frames forwarded per second of the CPU that forwards them. A forwarder in the generator\'s softirq on CPU 0 (bridge, macvlan, tc and XDP',
    'backends) slows the generator: per second the generator ran (the kernel\'s test.duration; includes the generator\'s own cost, row "generator alone").',
    'One in its own thread (packet backend, worker pinned to CPU 1) does not slow the generator, which offers it more than it takes: per second of the',
    'worker\'s CPU time (its wall rate and, in parentheses, its per-generator-CPU-s figure, which is not its cost, beside it). Neither counts time other tasks held the CPU;',
    'their cache and memory traffic still count (bridge 0.60-0.77 M per CPU-s across runs on the shared VM): compare ratios within one run.',
    'CPU ns/frame: all CPU of both cores beyond the bare generator\'s, per frame forwarded (generator CPU-s less the bare generator\'s cost per frame sent,',
    'plus worker CPU); the bare path (XDP frame, up0\'s NAPI builds the skb, the stack drops it) is what every path also does, the sink\'s stack dropping',
    'the frame at the end. The softirq rates include the generator\'s cost, which pulls their ratio towards 1; the last column is the ratio of the costs alone.',
  );
  return lines.join('\n');
}

await main();
