/**
 * The counters of every port and switch the daemon serves, in the switch's view (rx = from the
 * endpoint): kernel ports from their devices' own counters (turned around: device tx = port rx),
 * userspace ports and switches from the engine. Read by GET /counters and the Prometheus metrics.
 */
import { listLinks, type LinkInfo } from '../devices/index.ts';
import type { DesiredLink } from './desired.ts';
import type { LeaseTable } from './leases.ts';
import type { CounterSnapshot, PortCounterRow } from './metrics.ts';
import type { RateLimitedWarner } from './rate-limit.ts';
import type { SwitchManager } from './userspace.ts';

/** What a snapshot is taken of. */
export interface SnapshotSource {
  links: readonly DesiredLink[];
  switches: SwitchManager;
  leases: LeaseTable;
  networks: number;
  /** Read failures are warned about at most once a while. */
  warner: RateLimitedWarner;
}

/** Take one snapshot. Read failures leave the affected rows out (and are warned about). */
export async function counterSnapshot(src: SnapshotSource): Promise<CounterSnapshot> {
  const ports: PortCounterRow[] = [];
  const byNs = new Map<string, DesiredLink[]>();
  for (const l of src.links) if (!l.port) byNs.set(l.netns ?? '', [...(byNs.get(l.netns ?? '') ?? []), l]);
  for (const [ns, ls] of byNs) {
    let infos: LinkInfo[] = [];
    try {
      infos = await listLinks(ns ? { netns: ns } : {});
    } catch (err) {
      src.warner.warn(`stats:${ns}`, { event: 'stats.failed', netns: ns, err: (err as Error).message }, `cannot read link counters in ${ns || 'own namespace'}: ${(err as Error).message}`);
      continue;
    }
    const byName = new Map(infos.map((i) => [i.name, i]));
    for (const l of ls) {
      const s = byName.get(l.name)?.stats;
      if (!s) continue;
      ports.push({
        port: l.endpoint ?? `${l.network}.shim`,
        network: l.network,
        dataplane: 'kernel',
        rxPackets: s.txPackets,
        rxBytes: s.txBytes,
        txPackets: s.rxPackets,
        txBytes: s.rxBytes,
        rxDropped: s.txDropped,
        txDropped: s.rxDropped,
      });
    }
  }
  const switches: CounterSnapshot['switches'] = [];
  let engine: ReturnType<SwitchManager['counters']> = {};
  const backends = src.switches.backends();
  try {
    engine = src.switches.counters();
  } catch (err) {
    src.warner.warn('engine-counters', { event: 'stats.failed', err: (err as Error).message }, `cannot read engine counters: ${(err as Error).message}`);
  }
  const netOfPort = new Map(src.links.filter((l) => l.port).map((l) => [l.port!.name, l.network]));
  for (const [uplink, c] of Object.entries(engine)) {
    for (const [name, p] of Object.entries(c.ports ?? {})) {
      ports.push({
        port: name,
        network: netOfPort.get(name) ?? '',
        dataplane: 'userspace',
        rxPackets: p.rxPackets,
        rxBytes: p.rxBytes,
        txPackets: p.txPackets,
        txBytes: p.txBytes,
        rxDropped: p.rxDropped,
        txDropped: p.txDropped,
        ringDrops: p.ringDrops,
      });
    }
    const u = c.uplink;
    switches.push({
      uplink,
      rxFrames: c.rxFrames,
      forwarded: c.forwarded,
      drops: c.drops ?? {},
      uplinkPort: { rxPackets: u?.rxPackets ?? 0, rxBytes: u?.rxBytes ?? 0, txPackets: u?.txPackets ?? 0, txBytes: u?.txBytes ?? 0, rxDropped: u?.rxDropped ?? 0, txDropped: u?.txDropped ?? 0 },
      ringDrops: u.ringDrops,
      workers: c.workers ?? [],
      ...(backends[uplink] ? { backend: backends[uplink].backend, backendReason: backends[uplink].reason } : {}),
    });
  }
  const leases: Record<string, number> = {};
  for (const [n, eps] of Object.entries(src.leases)) leases[n] = Object.keys(eps).length;
  return { time: Date.now(), ports, switches, leases, networks: src.networks };
}
