/**
 * `macdemux demo`: build a lab (generator, switch, N endpoints), push traffic through the userspace
 * engine with a live per-port view, then through the kernel's Linux bridge on the same lab, and
 * compare. Everything is torn down at the end, on error and on Ctrl-C.
 */
import { Lab } from '../lab/index.ts';
import { Switch } from '../dataplane/index.ts';
import { cpuDelta, sampleCpu } from '../measure/cpu.ts';
import { LinkCounterPool } from '../measure/link-counters.ts';
import { startTraffic, type GeneratorKind, type RunningTraffic } from '../measure/traffic.ts';
import { withMainThreadOn } from '../measure/affinity.ts';
import { buildDemoLab, type DemoLab } from './topology.ts';
import { LiveView, type LiveSnapshot } from './live-view.ts';

export interface DemoOptions {
  /** Endpoint namespaces (ports). */
  ports: number;
  /** Seconds of traffic per forwarder. */
  seconds: number;
  /** Frame size on the wire (FCS included). */
  frameSize: number;
  /** Where the live view goes (default stderr). */
  out?: NodeJS.WriteStream;
  /** Turn the live view off. */
  quiet?: boolean;
  /** Aborts the demo early (Ctrl-C); teardown still runs. */
  signal?: AbortSignal;
}

/** One forwarder's run. */
export interface DemoPhase {
  forwarder: 'macdemux' | 'linux-bridge';
  status: 'ok' | 'skipped' | 'failed';
  reason?: string;
  seconds: number;
  offeredPps: number;
  fwdPps: number;
  lossRatio: number;
  /** Busy CPU of all cores (generator included) per forwarded packet. */
  cpuNsPerPacket: number | null;
  perPort: Array<{ port: string; mac: string; pps: number; packets: number; drops: number }>;
}

export interface DemoResult {
  date: string;
  ports: number;
  frameSize: number;
  generator: GeneratorKind | null;
  lab: string;
  phases: DemoPhase[];
  /** macdemux fwd pps / bridge fwd pps (null when one of them did not run). */
  ratioVsBridge: number | null;
  notes: string[];
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = (): void => {
      clearTimeout(t);
      resolve();
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

function skippedPhase(forwarder: DemoPhase['forwarder'], status: 'skipped' | 'failed', reason: string): DemoPhase {
  return { forwarder, status, reason, seconds: 0, offeredPps: 0, fwdPps: 0, lossRatio: 0, cpuNsPerPacket: null, perPort: [] };
}

/**
 * Drive traffic through whatever forwards in `dl.sw` right now, with the live view, and measure.
 * `drops(port)` gives a port's drop count so far (engine counters or kernel counters).
 */
async function drive(
  forwarder: DemoPhase['forwarder'],
  dl: DemoLab,
  generator: GeneratorKind,
  opts: DemoOptions,
  drops: (port: string) => number,
  view: LiveView,
): Promise<DemoPhase> {
  const pool = new LinkCounterPool();
  const offered = (): number => {
    const c = pool.read(dl.gen.ns.name, dl.gen.ifname);
    return c.txPackets + c.txDropped;
  };
  const perPort = (): number[] => dl.endpoints.map((e) => pool.read(e.ns.name, e.ifname).rxPackets);
  const warmupMs = 300;
  let traffic: RunningTraffic | undefined;
  try {
    const off0 = offered();
    const port0 = perPort();
    const drop0 = dl.endpoints.map((e) => drops(e.port));
    traffic = await startTraffic(generator, {
      netns: dl.gen.ns.name,
      ifname: dl.gen.ifname,
      src: dl.gen.mac,
      dsts: dl.endpoints.map((e) => e.mac),
      frameSize: opts.frameSize,
      ratePps: 0,
      durationMs: warmupMs + opts.seconds * 1000 + 200,
      cpu: 0,
    });
    await sleep(warmupMs, opts.signal);
    const t1 = process.hrtime.bigint();
    const cpu1 = sampleCpu();
    const offW = offered();
    const portW = perPort();
    let lastT = t1;
    let lastOff = offW;
    let lastPorts = portW;
    const endAt = Date.now() + opts.seconds * 1000;
    while (Date.now() < endAt && !opts.signal?.aborted) {
      await sleep(Math.min(250, endAt - Date.now()), opts.signal);
      const now = process.hrtime.bigint();
      const dt = Number(now - lastT) / 1e9;
      if (dt <= 0) continue;
      const off = offered();
      const ports = perPort();
      const snap: LiveSnapshot = {
        title: forwarder === 'macdemux' ? 'macdemux (userspace engine)' : 'Linux bridge (kernel)',
        elapsedS: Number(now - t1) / 1e9,
        totalS: opts.seconds,
        offeredPps: (off - lastOff) / dt,
        lost: Math.max(0, off - off0 - ports.reduce((a, v, i) => a + v - port0[i]!, 0)),
        ports: dl.endpoints.map((e, i) => ({
          port: e.port,
          mac: e.mac,
          pps: (ports[i]! - lastPorts[i]!) / dt,
          drops: drops(e.port) - drop0[i]!,
        })),
      };
      view.update(snap);
      lastT = now;
      lastOff = off;
      lastPorts = ports;
    }
    const t2 = process.hrtime.bigint();
    const cpu2 = sampleCpu();
    const offE = offered();
    const portE = perPort();
    await traffic.stop();
    await sleep(200);
    const offEnd = offered();
    const portEnd = perPort();
    view.finish();
    const dt = Number(t2 - t1) / 1e9 || 1;
    const fwdWindow = portE.reduce((a, v, i) => a + v - portW[i]!, 0);
    const sent = offEnd - off0;
    const got = portEnd.reduce((a, v, i) => a + v - port0[i]!, 0);
    return {
      forwarder,
      status: 'ok',
      seconds: Math.round(dt * 10) / 10,
      offeredPps: (offE - offW) / dt,
      fwdPps: fwdWindow / dt,
      lossRatio: sent > 0 ? Math.max(0, 1 - got / sent) : 0,
      cpuNsPerPacket: fwdWindow > 0 ? cpuDelta(cpu1, cpu2).busyNs / fwdWindow : null,
      perPort: dl.endpoints.map((e, i) => ({
        port: e.port,
        mac: e.mac,
        pps: (portE[i]! - portW[i]!) / dt,
        packets: portEnd[i]! - port0[i]!,
        drops: drops(e.port) - drop0[i]!,
      })),
    };
  } finally {
    if (traffic) await traffic.stop().catch(() => undefined);
    pool.close();
  }
}

/** Run the demo. */
export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const notes: string[] = [];
  // The native generator: frames carry sequence numbers, and it is part of every build.
  const generator: GeneratorKind = 'native';
  const result: DemoResult = {
    date: new Date().toISOString(),
    ports: opts.ports,
    frameSize: opts.frameSize,
    generator,
    lab: '',
    phases: [],
    ratioVsBridge: null,
    notes,
  };
  const view = new LiveView(opts.out ?? process.stderr, !opts.quiet);
  const lab = await Lab.create();
  result.lab = lab.prefix;
  try {
    const dl = await buildDemoLab(lab, opts.ports);

    // 1. The userspace engine.
    if (!opts.signal?.aborted) {
      let sw: Switch | undefined;
      try {
        // The benchmark's fast configuration: worker on CPU 1 (the generator has CPU 0), TX rings bypass the qdisc.
        sw = new Switch({ uplink: dl.uplink, netns: dl.sw.name, name: 'demo', qdiscBypass: true, cpus: [1] });
        for (const e of dl.endpoints) sw.addPort({ name: e.port, mac: e.mac, mode: 'bridge', backend: { kind: 'packet', ifname: e.port } });
        const started = sw;
        // Engine threads inherit the main thread's affinity: start them on CPU 1 (the generator has CPU 0).
        await withMainThreadOn(1, () => started.start());
        const s = sw;
        const drops = (port: string): number => {
          const c = s.counters().ports[port];
          return c ? c.txDropped : 0;
        };
        result.phases.push(await drive('macdemux', dl, generator, opts, drops, view));
        const b = s.backend();
        if (b) notes.push(`macdemux backend: ${b.backend} (${b.reason})`);
        const c = s.counters();
        const reasons = Object.entries(c.drops).filter(([, v]) => v > 0);
        if (reasons.length) notes.push(`macdemux drops by reason: ${reasons.map(([k, v]) => `${k}=${v}`).join(', ')}`);
      } catch (err) {
        result.phases.push(skippedPhase('macdemux', 'failed', (err as Error).message.split('\n')[0]!));
      } finally {
        await sw?.stop().catch(() => undefined);
      }
    }

    // 2. The Linux bridge on the same lab, static FDB entries for the endpoints.
    if (!opts.signal?.aborted) {
      try {
        await lab.addBridge(dl.sw, 'br0', { ports: [dl.uplink, ...dl.endpoints.map((e) => e.port)] });
        await dl.sw.exec('sysctl', ['-qw', 'net.bridge.bridge-nf-call-iptables=0', 'net.bridge.bridge-nf-call-ip6tables=0', 'net.bridge.bridge-nf-call-arptables=0']);
        for (const e of dl.endpoints) await dl.sw.bridge(['fdb', 'add', e.mac, 'dev', e.port, 'master', 'static']);
        const pool = new LinkCounterPool();
        const drops = (port: string): number => pool.read(dl.sw.name, port).txDropped;
        try {
          result.phases.push(await drive('linux-bridge', dl, generator, opts, drops, view));
        } finally {
          pool.close();
        }
      } catch (err) {
        result.phases.push(skippedPhase('linux-bridge', 'failed', (err as Error).message.split('\n')[0]!));
      }
    }
  } finally {
    view.finish();
    await lab.destroy();
  }
  const md = result.phases.find((p) => p.forwarder === 'macdemux' && p.status === 'ok');
  const br = result.phases.find((p) => p.forwarder === 'linux-bridge' && p.status === 'ok');
  if (md && br && br.fwdPps > 0) result.ratioVsBridge = Math.round((md.fwdPps / br.fwdPps) * 100) / 100;
  if (opts.signal?.aborted) notes.push('interrupted: the run was cut short and the lab torn down');
  return result;
}
