/**
 * IP address management for one address family of one network: which addresses may be handed out
 * (within the subnet or its ip-range, never the network/broadcast address, the gateway, an aux
 * address or the host shim's address) and the first free one. Pure functions: persistence is
 * src/service/leases.ts.
 */
import {
  type Cidr,
  type Family,
  type IpAddr,
  cidrContains,
  formatCidr,
  formatIp,
  lastAddress,
  parseIp,
  reservedAddresses,
} from './ipaddr.ts';
import type { IpamConfig } from './config.ts';

/** An address pool: where to allocate from and what never to hand out. */
export class IpPool {
  readonly family: Family;
  readonly subnet: Cidr;
  readonly range: Cidr;
  /** Never allocated, never accepted as a fixed address (network, broadcast, gateway, aux, shim). */
  readonly excluded: Map<bigint, string>;

  constructor(ipam: IpamConfig, extraExcluded: { addr: IpAddr; why: string }[] = []) {
    this.family = ipam.subnet.family;
    this.subnet = ipam.subnet;
    this.range = ipam.ipRange ?? ipam.subnet;
    this.excluded = new Map();
    const reserved = reservedAddresses(ipam.subnet);
    if (reserved[0] !== undefined) this.excluded.set(reserved[0], 'the subnet\'s network address');
    if (reserved[1] !== undefined) this.excluded.set(reserved[1], 'the subnet\'s broadcast address');
    if (ipam.gateway) this.excluded.set(ipam.gateway.value, 'the gateway');
    for (const [name, a] of Object.entries(ipam.auxAddresses)) this.excluded.set(a.value, `aux address "${name}"`);
    for (const x of extraExcluded) this.excluded.set(x.addr.value, x.why);
  }

  /** Why `addr` cannot be used as a fixed address, or undefined when it can (ignores other leases). */
  rejectFixed(addr: IpAddr): string | undefined {
    if (addr.family !== this.family) return `${formatIp(addr)} is not IPv${this.family}`;
    if (!cidrContains(this.subnet, addr)) return `${formatIp(addr)} is outside the subnet ${formatCidr(this.subnet)}`;
    const why = this.excluded.get(addr.value);
    return why ? `${formatIp(addr)} is ${why}` : undefined;
  }

  /** Whether a dynamic lease on `addr` is still valid: inside the range and not excluded. */
  allocatable(addr: IpAddr): boolean {
    return addr.family === this.family && cidrContains(this.range, addr) && !this.excluded.has(addr.value);
  }

  /**
   * The lowest allocatable address of the range not in `used` and not below `from`, or undefined
   * when there is none. Walks past used/excluded addresses from `from`: a caller allocating many
   * addresses passes the last one it got + 1 (everything below is taken), so n allocations cost
   * O(n + used) in all instead of O(n * used).
   */
  allocate(used: ReadonlySet<bigint>, from?: bigint): IpAddr | undefined {
    const end = lastAddress(this.range);
    for (let v = from !== undefined && from > this.range.base ? from : this.range.base; v <= end; v++) {
      if (!used.has(v) && !this.excluded.has(v)) return { family: this.family, value: v };
    }
    return undefined;
  }

  /** Number of addresses the pool can hand out in total. */
  capacity(): bigint {
    const size = lastAddress(this.range) - this.range.base + 1n;
    let excludedInRange = 0n;
    for (const v of this.excluded.keys()) if (cidrContains(this.range, { family: this.family, value: v })) excludedInRange++;
    return size - excludedInRange;
  }
}

/** Error thrown when a pool has no free address. */
export class PoolExhaustedError extends Error {
  readonly code = 'ERR_MACDEMUX_IPAM_EXHAUSTED';
  constructor(network: string, pool: IpPool, endpoint: string) {
    super(
      `network "${network}": no free IPv${pool.family} address in ${formatCidr(pool.range)} for endpoint "${endpoint}" ` +
        `(all ${pool.capacity()} allocatable addresses are leased)`,
    );
    this.name = 'PoolExhaustedError';
  }
}

/** Parse a stored address string back (undefined when it is not one). */
export function storedIp(text: unknown): IpAddr | undefined {
  return typeof text === 'string' ? parseIp(text) : undefined;
}
