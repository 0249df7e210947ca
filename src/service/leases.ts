/**
 * Address and MAC leases of every endpoint, persisted in `<state-dir>/leases.json` with atomic
 * writes (tmp + fsync + rename + fsync dir). Leases are planned and committed *before* any address
 * is configured, and released only *after* the endpoint's device is gone, so a crash at any point
 * loses no lease and never hands one address to two endpoints.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { readJsonFile, removeStaleTemporaries, writeFileAtomic } from './atomic-file.ts';
import type { EndpointConfig, NetworkConfig } from './config.ts';
import { formatIp, parseIp } from './ipaddr.ts';
import { IpPool, PoolExhaustedError } from './ipam.ts';

/** One endpoint's lease. */
export interface Lease {
  /** IPv4 address (no prefix), when the network has an IPv4 subnet. */
  ipv4?: string;
  /** IPv6 address (no prefix), when the network has an IPv6 subnet. */
  ipv6?: string;
  /** The endpoint's MAC (configured, or generated once and then kept). */
  mac: string;
}

/** network name -> endpoint name -> lease. */
export type LeaseTable = Record<string, Record<string, Lease>>;

const FILE = 'leases.json';

/** The persisted lease table of one state directory. */
export class LeaseStore {
  private table: LeaseTable;
  private constructor(
    readonly path: string,
    table: LeaseTable,
  ) {
    this.table = table;
  }

  /** Load `<dir>/leases.json` (empty when absent; a corrupt file throws rather than losing leases). */
  static async open(dir: string): Promise<LeaseStore> {
    await removeStaleTemporaries(dir, FILE);
    const raw = (await readJsonFile(join(dir, FILE))) as { version?: number; leases?: LeaseTable } | undefined;
    const table: LeaseTable = {};
    for (const [net, eps] of Object.entries(raw?.leases ?? {})) {
      table[net] = {};
      for (const [ep, l] of Object.entries(eps)) {
        if (l && typeof l.mac === 'string') table[net][ep] = { ...l };
      }
    }
    return new LeaseStore(join(dir, FILE), table);
  }

  /** A copy of the whole table. */
  all(): LeaseTable {
    return structuredClone(this.table);
  }

  get(network: string, endpoint: string): Lease | undefined {
    const l = this.table[network]?.[endpoint];
    return l ? { ...l } : undefined;
  }

  /** Replace the table and persist it atomically (no write when nothing changed). */
  async commit(next: LeaseTable): Promise<boolean> {
    const clean: LeaseTable = {};
    for (const [n, eps] of Object.entries(next)) if (Object.keys(eps).length) clean[n] = eps;
    if (JSON.stringify(clean) === JSON.stringify(this.table)) return false;
    await writeFileAtomic(this.path, `${JSON.stringify({ version: 1, leases: clean }, null, 2)}\n`);
    this.table = structuredClone(clean);
    return true;
  }
}

/** What {@link planLeases} decided. */
export interface LeasePlan {
  /** Leases of every declared endpoint plus (kept until their devices are gone) the stale ones. */
  table: LeaseTable;
  /** Stale leases (endpoint or network no longer declared): network -> endpoint names. */
  stale: Record<string, string[]>;
  /** Human-readable changes, e.g. `mac_net1/alpine3: ipv4 172.16.86.2 (new)`. */
  changes: string[];
}

/** A locally administered unicast MAC derived from the names (stable across runs). */
export function derivedMac(network: string, endpoint: string, attempt = 0): string {
  const h = createHash('sha256').update(`${network}\0${endpoint}\0${attempt}`).digest();
  const b = [0x02, h[0], h[1], h[2], h[3], h[4]];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/**
 * Plan the leases for the declared networks given the current table. Keeps every still-valid
 * lease, honours fixed addresses (a dynamic lease that collides with a newly fixed address moves),
 * allocates the lowest free address for the rest; stale leases stay reserved (see LeasePlan.stale).
 * Throws PoolExhaustedError when a range is full.
 */
export function planLeases(networks: NetworkConfig[], current: LeaseTable): LeasePlan {
  const table: LeaseTable = {};
  const stale: Record<string, string[]> = {};
  const changes: string[] = [];
  const declared = new Map(networks.map((n) => [n.name, new Set(n.endpoints.map((e) => e.name))]));
  const macsInUse = new Set<string>();
  for (const eps of Object.values(current)) for (const l of Object.values(eps)) macsInUse.add(l.mac);
  for (const n of networks) for (const e of n.endpoints) if (e.mac) macsInUse.add(e.mac);

  // Stale leases (kept for now).
  for (const [net, eps] of Object.entries(current)) {
    const names = declared.get(net);
    for (const [ep, l] of Object.entries(eps)) {
      if (names?.has(ep)) continue;
      (table[net] ??= {})[ep] = { ...l };
      (stale[net] ??= []).push(ep);
    }
  }

  for (const n of networks) {
    const shim = (n.hostShim?.ips ?? []).map((addr) => ({ addr, why: `the host shim's address` }));
    const pools = {
      ipv4: n.ipv4 ? new IpPool(n.ipv4, shim.filter((s) => s.addr.family === 4)) : undefined,
      ipv6: n.ipv6 ? new IpPool(n.ipv6, shim.filter((s) => s.addr.family === 6)) : undefined,
    };
    const out: Record<string, Lease> = (table[n.name] ??= {});
    for (const key of ['ipv4', 'ipv6'] as const) {
      const pool = pools[key];
      if (!pool) continue;
      const fixedOf = (e: EndpointConfig) => (key === 'ipv4' ? e.ip : e.ipv6);
      const used = new Set<bigint>();
      // Stale leases of this network still hold their addresses.
      for (const ep of stale[n.name] ?? []) {
        const a = parseIp(out[ep]?.[key] ?? '');
        if (a) used.add(a.value);
      }
      for (const e of n.endpoints) {
        const f = fixedOf(e);
        if (f) used.add(f.value);
      }
      const assigned = new Map<string, string>();
      // Pass 1: fixed addresses, and still-valid dynamic leases.
      for (const e of n.endpoints) {
        const f = fixedOf(e);
        const prev = current[n.name]?.[e.name]?.[key];
        if (f) {
          const reason = pool.rejectFixed(f);
          if (reason) throw new Error(`network "${n.name}" endpoint "${e.name}": fixed ${key} ${reason}`);
          assigned.set(e.name, formatIp(f));
          if (prev !== formatIp(f)) changes.push(`${n.name}/${e.name}: ${key} ${formatIp(f)} (fixed${prev ? `, was ${prev}` : ''})`);
          continue;
        }
        const a = prev ? parseIp(prev) : undefined;
        if (a && pool.allocatable(a) && !used.has(a.value)) {
          used.add(a.value);
          assigned.set(e.name, formatIp(a));
        }
      }
      // Pass 2: allocate for the rest, in config order. `used` only grows here, so the lowest free
      // address is never below the previous one: resume the walk there (linear in the endpoints).
      let next: bigint | undefined;
      for (const e of n.endpoints) {
        if (assigned.has(e.name)) continue;
        const a = pool.allocate(used, next);
        if (!a) throw new PoolExhaustedError(n.name, pool, e.name);
        used.add(a.value);
        next = a.value + 1n;
        assigned.set(e.name, formatIp(a));
        const prev = current[n.name]?.[e.name]?.[key];
        changes.push(`${n.name}/${e.name}: ${key} ${formatIp(a)} (${prev ? `moved from ${prev}` : 'new'})`);
      }
      for (const [ep, ip] of assigned) (out[ep] ??= { mac: '' })[key] = ip;
    }
    for (const e of n.endpoints) {
      const l = (out[e.name] ??= { mac: '' });
      const prevMac = current[n.name]?.[e.name]?.mac;
      let mac = e.mac ?? prevMac;
      if (!mac) {
        for (let i = 0; ; i++) {
          mac = derivedMac(n.name, e.name, i);
          if (!macsInUse.has(mac)) break;
        }
        macsInUse.add(mac);
      }
      if (mac !== prevMac) changes.push(`${n.name}/${e.name}: mac ${mac}${prevMac ? ` (was ${prevMac})` : ''}`);
      l.mac = mac;
      // Order keys for a stable file.
      out[e.name] = { ...(l.ipv4 ? { ipv4: l.ipv4 } : {}), ...(l.ipv6 ? { ipv6: l.ipv6 } : {}), mac: l.mac };
    }
  }
  return { table, stale, changes };
}

/** The table without the given stale leases (after their devices are gone). */
export function withoutStale(table: LeaseTable, stale: Record<string, string[]>): LeaseTable {
  const out = structuredClone(table);
  for (const [net, eps] of Object.entries(stale)) {
    for (const ep of eps) if (out[net]) delete out[net][ep];
    if (out[net] && Object.keys(out[net]).length === 0) delete out[net];
  }
  return out;
}
