/**
 * The wiring every scenario shares (perf-anchors.md §4.1):
 *
 *   ns gen: g0 ──veth── up0 (ns sw) ── forwarder ── p1 ──veth── s0 (ns s1)
 *                                                └─ p2 ──veth── s0 (ns s2) ...
 *
 * Fixed MACs and addresses, IPv6 off in every namespace (no ND/MLD noise), offloads off on every veth
 * (no GSO super-frames). A scenario adds its forwarder in `sw` and says where frames are counted.
 */
import { Lab, type Namespace } from '../src/lab/index.ts';
import type { GeneratorKind } from '../src/measure/traffic.ts';

/** The generator's MAC (source of every test frame). */
export const GEN_MAC = '02:6d:64:00:00:01';
/** The generator's address (iperf3 client). */
export const GEN_IP = '10.99.0.1';
const PREFIX_LEN = 16;

const hex = (n: number): string => n.toString(16).padStart(2, '0');

/** MAC of sink i (1-based). */
export function sinkMac(i: number): string {
  return `02:6d:64:01:${hex((i >> 8) & 0xff)}:${hex(i & 0xff)}`;
}
/** Address of sink i (1-based). */
export function sinkIp(i: number): string {
  return `10.99.1.${i}`;
}
/** MAC of extra table entry j (1-based): port-count scaling entries that receive no traffic. */
export function extraMac(j: number): string {
  return `02:6d:64:02:${hex((j >> 8) & 0xff)}:${hex(j & 0xff)}`;
}

/** An interface in a namespace. */
export interface Endpoint {
  ns: Namespace;
  ifname: string;
  mac: string;
  ip?: string;
}

/** Where packets are counted, as (netns name, ifname). */
export interface CountPoint {
  netns: string;
  ifname: string;
}

/** A built scenario, ready for trials. */
export interface Testbed {
  lab: Lab;
  gen: Endpoint;
  sw: Namespace;
  /** Endpoints that receive the traffic (round-robin destinations). */
  sinks: Endpoint[];
  /** Destination MACs of the test frames. */
  dsts: string[];
  /** Count forwarded frames as rx_packets of these interfaces ... */
  countAt: CountPoint[];
  /** ... or with this (cumulative) counter, when the frames end in a ring or a JS port. */
  forwarded?: () => number;
  /** Runs before each trial (e.g. let a learning bridge learn the sinks). */
  prepare?: () => Promise<void>;
  /** Native sinks can be attached to `sinks` for latency. */
  latency: boolean;
  /** iperf3 can run between gen and sinks[0]. */
  tcp: boolean;
  /** Ports (table entries) configured. */
  ports: number;
  /** A native sink already on the path (e.g. the drop-all ring) that can time frames itself. */
  latencySource?: { reset(): void; latency(): { p50: number; p99: number; p999: number; samples: number } };
  /** Use this generator instead of the run's (e.g. trafgen as a cross-check). */
  generatorOverride?: GeneratorKind;
  notes: string[];
  /** Forwarder counters worth printing next to a trial (bench/wave2.ts): cumulative numbers by name. */
  diagnostics?: () => Record<string, number>;
  /** macdemux: the uplink backend in use ('packet', 'tc', 'xdp'; src/dataplane/backend.ts). */
  backend?: () => string | undefined;
  /** Stop the forwarder (the lab is destroyed after). */
  stop(): Promise<void>;
}

/** The namespaces and links of the shared wiring, before a forwarder is added. */
export interface BaseTopology {
  lab: Lab;
  gen: Endpoint;
  sw: Namespace;
  /** The uplink in `sw` (peer of g0). */
  uplink: string;
  /** Sink namespaces (s1..sN). */
  sinkNs: Namespace[];
  /** Sink endpoints (s0 in each sink namespace) when `sinkVeths`, else empty. */
  sinks: Endpoint[];
  /** Switch-side peers of the sink veths (p1..pN in sw). */
  ports: string[];
}

/**
 * The testbed of a forwarder that delivers to the sink veths of `base`: frames are counted as the
 * sinks' rx_packets, native sinks can time them, iperf3 can run through it.
 */
export function sinkVethTestbed(
  base: BaseTopology,
  ports: number,
  rest: Pick<Testbed, 'notes' | 'stop'> & Partial<Pick<Testbed, 'prepare'>>,
): Testbed {
  return {
    lab: base.lab,
    gen: base.gen,
    sw: base.sw,
    sinks: base.sinks,
    dsts: base.sinks.map((s) => s.mac),
    countAt: base.sinks.map((s) => ({ netns: s.ns.name, ifname: s.ifname })),
    latency: true,
    tcp: true,
    ports,
    ...rest,
  };
}

/** Turn IPv6 off in a namespace (all existing and future interfaces). */
export async function disableIpv6(ns: Namespace): Promise<void> {
  await ns.run('sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
}

/** Turn offloads off on an interface (frame-level tests). */
export async function offloadsOff(ns: Namespace, ifname: string): Promise<void> {
  await ns.setOffloads(ifname, { tx: false, gso: false, tso: false, gro: false });
}

/**
 * Build gen + sw (+ sink namespaces). With `sinkVeths`, each sink gets a veth `s0` whose switch-side
 * peer is `p<i>` in sw; without, the sink namespaces are empty (the scenario puts its own device there).
 */
export async function buildBase(lab: Lab, opts: { sinks: number; sinkVeths: boolean }): Promise<BaseTopology> {
  const gen = await lab.addNamespace('gen');
  const sw = await lab.addNamespace('sw');
  const sinkNs: Namespace[] = [];
  for (let i = 1; i <= opts.sinks; i++) sinkNs.push(await lab.addNamespace(`s${i}`));
  for (const ns of [gen, sw, ...sinkNs]) await disableIpv6(ns);
  await lab.addVeth(
    { ns: gen, name: 'g0', mac: GEN_MAC, addresses: [`${GEN_IP}/${PREFIX_LEN}`], offloads: false },
    { ns: sw, name: 'up0', offloads: false },
  );
  const sinks: Endpoint[] = [];
  const ports: string[] = [];
  if (opts.sinkVeths) {
    for (let i = 1; i <= opts.sinks; i++) {
      const ns = sinkNs[i - 1]!;
      await lab.addVeth(
        { ns, name: 's0', mac: sinkMac(i), addresses: [`${sinkIp(i)}/${PREFIX_LEN}`], offloads: false },
        { ns: sw, name: `p${i}`, offloads: false },
      );
      sinks.push({ ns, ifname: 's0', mac: sinkMac(i), ip: sinkIp(i) });
      ports.push(`p${i}`);
    }
  }
  return { lab, gen: { ns: gen, ifname: 'g0', mac: GEN_MAC, ip: GEN_IP }, sw, uplink: 'up0', sinkNs, sinks, ports };
}

/** Address with prefix length, for sink devices a scenario creates itself. */
export function sinkCidr(i: number): string {
  return `${sinkIp(i)}/${PREFIX_LEN}`;
}

/** The generator's address with prefix length (to re-create g0 as buildBase does). */
export function genCidr(): string {
  return `${GEN_IP}/${PREFIX_LEN}`;
}

/** Run `ip -batch` with the given lines inside a namespace (fast bulk creation). */
export async function ipBatch(ns: Namespace, lines: string[]): Promise<void> {
  if (lines.length === 0) return;
  await ns.run('ip', ['-force', '-batch', '-'], { input: lines.join('\n') + '\n', timeoutMs: 300_000 });
}

/** Run `bridge -batch` with the given lines inside a namespace. */
export async function bridgeBatch(ns: Namespace, lines: string[]): Promise<void> {
  if (lines.length === 0) return;
  await ns.run('bridge', ['-force', '-batch', '-'], { input: lines.join('\n') + '\n', timeoutMs: 300_000 });
}
