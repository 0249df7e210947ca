/**
 * Test traffic for the demo and the benchmark: the native generator (src/io startGenerator, TX ring,
 * frames carry sequence numbers and timestamps), or trafgen (netsniff-ng) when asked for, both
 * pinned to one CPU inside the generator namespace.
 *
 * Frame sizes are quoted as on the wire including the 4-byte FCS (64, 512, 1518, as in RFC 2544);
 * on a veth there is no FCS, so the buffer handed to the kernel is `frameSize - 4` bytes.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGenerator } from '../io/index.ts';

export type GeneratorKind = 'native' | 'trafgen';

/** trafgen process groups still running: killed when this process exits, whatever the reason. */
const liveTrafgen = new Set<number>();
let exitHook = false;
function trackTrafgen(pid: number): void {
  liveTrafgen.add(pid);
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const p of liveTrafgen) {
      try {
        process.kill(-p, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  });
}

/** What to send. */
export interface TrafficSpec {
  /** Namespace of the sending interface. */
  netns: string;
  /** Sending interface (inside netns). */
  ifname: string;
  /** Source MAC of every frame. */
  src: string;
  /** Destination MACs, sent round-robin. */
  dsts: string[];
  /** Frame size on the wire including FCS (64..1518). */
  frameSize: number;
  /** Offered rate in packets per second; 0 = as fast as the generator goes. */
  ratePps: number;
  /** How long to send. */
  durationMs: number;
  /** CPU to pin the generator to (default 0). */
  cpu?: number;
}

/** What a finished run sent. `sent` is null when the tool did not say. */
export interface TrafficResult {
  tool: GeneratorKind;
  sent: number | null;
  elapsedNs: number;
}

/** A generator run in progress. */
export interface RunningTraffic {
  readonly tool: GeneratorKind;
  /** Resolves when the run ends (duration elapsed or stopped). */
  readonly done: Promise<TrafficResult>;
  /** Stop early. */
  stop(): Promise<TrafficResult>;
}

/** Which generator to use, and notes on the other one. */
export interface GeneratorChoice {
  kind: GeneratorKind | null;
  notes: string[];
}

/** True when trafgen is on PATH. */
export function hasTrafgen(): boolean {
  return spawnSync('sh', ['-c', 'command -v trafgen'], { stdio: 'ignore' }).status === 0;
}

/**
 * Pick a generator: `native` (src/io's generator) unless `prefer` says trafgen; `kind` is null when
 * trafgen is asked for and not installed.
 */
export function chooseGenerator(prefer: GeneratorKind | 'auto' = 'auto'): GeneratorChoice {
  const trafgen = hasTrafgen();
  const notes = trafgen ? [] : ['trafgen (netsniff-ng) is not installed'];
  if (prefer === 'trafgen') return { kind: trafgen ? 'trafgen' : null, notes };
  return { kind: 'native', notes };
}

/** Start sending. */
export async function startTraffic(kind: GeneratorKind, spec: TrafficSpec): Promise<RunningTraffic> {
  validate(spec);
  return kind === 'native' ? startNative(spec) : startTrafgen(spec);
}

function validate(spec: TrafficSpec): void {
  if (!Number.isInteger(spec.frameSize) || spec.frameSize < 64 || spec.frameSize > 1518) {
    throw new RangeError(`frameSize: expected an integer 64..1518, received ${spec.frameSize}`);
  }
  if (spec.dsts.length === 0) throw new RangeError('dsts: expected at least one destination MAC');
  if (!(spec.ratePps >= 0)) throw new RangeError(`ratePps: expected >= 0, received ${spec.ratePps}`);
  if (!(spec.durationMs > 0)) throw new RangeError(`durationMs: expected > 0, received ${spec.durationMs}`);
}

function startNative(spec: TrafficSpec): RunningTraffic {
  const gen = startGenerator({
    ifname: spec.ifname,
    netns: spec.netns,
    templates: spec.dsts.map((dst) => ({ dst, src: spec.src, size: spec.frameSize - 4 })),
    ratePps: Math.round(spec.ratePps),
    durationMs: spec.durationMs,
    cpu: spec.cpu ?? 0,
  });
  const wrap = (p: Promise<{ sent: number; elapsedNs: number }>): Promise<TrafficResult> =>
    p.then((s) => ({ tool: 'native' as const, sent: s.sent, elapsedNs: s.elapsedNs }));
  const done = wrap(gen.done);
  return { tool: 'native', done, stop: () => wrap(gen.stop()) };
}

/** trafgen configuration: one packet per destination (sent round-robin), experimental EtherType. */
export function trafgenConfig(src: string, dsts: string[], frameSize: number): string {
  const fill = frameSize - 4 - 14;
  return dsts.map((dst) => `{ eth(da=${dst}, sa=${src}, type=0x88b5), fill(0x00, ${fill}) }`).join('\n') + '\n';
}

function startTrafgen(spec: TrafficSpec): Promise<RunningTraffic> {
  const dir = mkdtempSync(join(tmpdir(), 'macdemux-trafgen-'));
  const cfg = join(dir, 'traffic.cfg');
  writeFileSync(cfg, trafgenConfig(spec.src, spec.dsts, spec.frameSize));
  const cpu = String(spec.cpu ?? 0);
  // --no-sock-mem: do not retune the machine's socket memory sysctls; -Q: do not touch IRQ affinity.
  const args = ['netns', 'exec', spec.netns, 'taskset', '-c', cpu, 'trafgen', '--no-sock-mem', '-Q', '-C',
    '--dev', spec.ifname, '--conf', cfg, '-P', '1'];
  if (spec.ratePps > 0) args.push('-b', `${Math.max(1, Math.round(spec.ratePps))}pps`);
  const started = process.hrtime.bigint();
  const child: ChildProcess = spawn('ip', args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  let exited = false;
  if (child.pid !== undefined) trackTrafgen(child.pid);
  const done = new Promise<TrafficResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      exited = true;
      if (child.pid !== undefined) liveTrafgen.delete(child.pid);
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
      const elapsedNs = Number(process.hrtime.bigint() - started);
      const m = /(\d+)\s+packets outgoing/.exec(out);
      if (!m && code !== 0 && signal === null) {
        reject(new Error(`trafgen failed (exit ${code}): ${out.trim().split('\n').slice(-3).join(' | ')}`));
        return;
      }
      resolve({ tool: 'trafgen', sent: m ? Number(m[1]) : null, elapsedNs });
    });
  });
  const interrupt = (): void => {
    if (exited || child.pid === undefined) return;
    try {
      process.kill(-child.pid, 'SIGINT');
    } catch {
      /* already gone */
    }
  };
  const timer = setTimeout(interrupt, spec.durationMs);
  // Never leave a generator running if the caller forgets it: hard kill 5 s after the deadline.
  const killer = setTimeout(() => {
    if (!exited && child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }, spec.durationMs + 5000);
  killer.unref();
  done.finally(() => clearTimeout(killer)).catch(() => {});
  return Promise.resolve({
    tool: 'trafgen',
    done,
    stop: () => {
      interrupt();
      return done;
    },
  });
}
