/**
 * Optional parts of macdemux that the demo and the benchmark use when they are present: the native
 * packet I/O (generator, sink: src/io) and the demux engine (Switch: src/dataplane). They are loaded
 * lazily so that a build without one of them still runs the kernel baselines and reports the missing
 * part as "skipped: <reason>" instead of failing or faking numbers.
 *
 * The types below are the TEAM.md contracts, restated so this file compiles before those modules land.
 */
import { pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';

const srcDir = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Statistics of the native generator. */
export interface GeneratorStats {
  sent: number;
  bytes: number;
  backpressure: number;
  elapsedNs: number;
}
/** A running native generator. */
export interface NativeGenerator {
  done: Promise<GeneratorStats>;
  stop(): Promise<GeneratorStats>;
  stats(): GeneratorStats;
}
/** Options of the native generator (src/io startGenerator). */
export interface GeneratorOptions {
  ifname: string;
  netns?: string;
  templates: Array<{ dst: string; src: string; vlan?: number; size: number }>;
  ratePps?: number;
  count?: number;
  durationMs?: number;
  cpu?: number;
}
/** Statistics of the native sink. */
export interface SinkStats {
  packets: number;
  bytes: number;
  perDst: Record<string, number>;
  lost: number;
  reordered: number;
  duplicates: number;
  malformed: number;
  latencyUs: { p50: number; p99: number; p999: number };
  /** Frames without the test payload. */
  other?: number;
  /** Frames the kernel dropped because the ring was full. */
  kernelDrops?: number;
}
/** A running native sink. */
export interface NativeSink {
  stats(): SinkStats;
  reset(): void;
  close(): Promise<SinkStats>;
}
/** The parts of src/io this package uses. */
export interface IoModule {
  startGenerator(opts: GeneratorOptions): NativeGenerator;
  openSink(opts: { ifname: string; netns?: string; promisc?: boolean; cpu?: number; blockSize?: number; blockCount?: number; retireTovMs?: number }): NativeSink;
}

export type MacvlanMode = 'private' | 'vepa' | 'bridge' | 'passthru' | 'source';
/** A batch of frames handed to a JS port; only its frame count is used here. */
export type FrameBatchLike = unknown;
export interface PortSpec {
  name: string;
  mac: string;
  mode?: MacvlanMode;
  vlan?: number;
  sourceMacs?: string[];
  backend:
    | { kind: 'packet'; ifname: string }
    | { kind: 'tap'; ifname: string; queues?: number }
    | { kind: 'js'; onFrames(batch: FrameBatchLike): void };
}
/** The engine's switch (src/dataplane Switch). */
export interface SwitchLike {
  addPort(p: PortSpec): void;
  removePort(name: string): void;
  setPortMode(name: string, mode: MacvlanMode): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  counters(): SwitchCountersLike;
}
/** Counters of one port (subset of src/dataplane PortCounters). */
export interface PortCountersLike {
  rxPackets: number;
  txPackets: number;
  txDropped: number;
  rxDropped: number;
}
/** Counter snapshot (subset of src/dataplane SwitchCounters). */
export interface SwitchCountersLike {
  uplink: PortCountersLike;
  ports: Record<string, PortCountersLike>;
  rxFrames: number;
  forwarded: number;
  drops: Record<string, number>;
}
export interface SwitchOptions {
  uplink: string;
  netns?: string;
  workers?: number;
  learning?: boolean;
  name?: string;
  [extra: string]: unknown;
}
/** The parts of src/dataplane this package uses. */
export interface DataplaneModule {
  Switch: new (opts: SwitchOptions) => SwitchLike;
}

/** A loaded optional module, or the reason it is not available. */
export type Optional<T> = { ok: true; mod: T } | { ok: false; reason: string };

const cache = new Map<string, Optional<unknown>>();

async function loadOptional<T>(rel: string, check: (m: Record<string, unknown>) => string | null): Promise<Optional<T>> {
  const hit = cache.get(rel);
  if (hit) return hit as Optional<T>;
  const file = join(srcDir, rel);
  let result: Optional<T>;
  if (!existsSync(file)) {
    result = { ok: false, reason: `src/${rel} is not in this build yet` };
  } else {
    try {
      const m = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
      const missing = check(m);
      result = missing ? { ok: false, reason: `src/${rel}: ${missing}` } : { ok: true, mod: m as T };
    } catch (err) {
      result = { ok: false, reason: `src/${rel} failed to load: ${(err as Error).message.split('\n')[0]}` };
    }
  }
  cache.set(rel, result);
  return result;
}

/** The native packet I/O module (generator and sink), or why it is unavailable. */
export function loadIo(): Promise<Optional<IoModule>> {
  return loadOptional<IoModule>('io/index.ts', (m) => {
    const missing = ['startGenerator', 'openSink'].filter((k) => typeof m[k] !== 'function');
    return missing.length ? `does not export ${missing.join(', ')} yet` : null;
  });
}

/** The demux engine module (Switch), or why it is unavailable. */
export function loadDataplane(): Promise<Optional<DataplaneModule>> {
  return loadOptional<DataplaneModule>('dataplane/index.ts', (m) =>
    typeof m.Switch === 'function' ? null : 'does not export Switch yet',
  );
}
