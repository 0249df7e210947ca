/**
 * The CreateNetwork request of libnetwork's remote driver API, validated into a network record.
 * dockerd 20.10 sends the `-o` values as strings under `com.docker.network.generic`, the gateway
 * and aux addresses with the pool's prefix (`172.16.86.1/24`), and never `--ip-range` (its own IPAM
 * applies that when it picks addresses).
 */
import { InvalidArgumentError } from '../../errors.ts';
import { MACVLAN_MODES, type MacvlanMode } from '../../net/index.ts';
import { formatIp, parseCidr } from '../../devices/validate.ts';
import { parseParent, type ParentSpec } from '../../net/index.ts';

/** Where an endpoint's frames are switched. */
export type Dataplane = 'kernel' | 'userspace';

/** A network as the plugin keeps it (persisted in the state dir). */
export interface NetworkRecord {
  id: string;
  parent: ParentSpec;
  mode: MacvlanMode;
  dataplane: Dataplane;
  mtu?: number;
  /** IPv4 pool, e.g. 172.16.86.0/24. */
  subnet?: string;
  /** Gateway without prefix (what Join returns). */
  gateway?: string;
  gateway6?: string;
  /** Host shim address (no prefix): the host reaches its containers through it. */
  hostShim?: string;
}

const GENERIC = 'com.docker.network.generic';
const KNOWN = new Set(['parent', 'mode', 'macvlan_mode', 'dataplane', 'host-shim', 'mtu', 'com.docker.network.driver.mtu']);

function stringOpt(o: Record<string, unknown>, key: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new InvalidArgumentError(`-o ${key}`, 'a string', v);
  return v;
}

function bareIp(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  return formatIp(parseCidr(v, field, { allowBare: true }).bytes);
}

/** Validate a CreateNetwork request body into a record (errors name the option). */
export function parseCreateNetwork(body: unknown): NetworkRecord {
  if (!body || typeof body !== 'object') throw new InvalidArgumentError('request', 'a JSON object', body);
  const b = body as Record<string, unknown>;
  const id = b.NetworkID;
  if (typeof id !== 'string' || !/^[0-9a-f]{12,64}$/.test(id)) throw new InvalidArgumentError('NetworkID', 'a hex network id', id);
  const options = (b.Options ?? {}) as Record<string, unknown>;
  const generic = (options[GENERIC] ?? {}) as Record<string, unknown>;
  if (typeof generic !== 'object') throw new InvalidArgumentError(GENERIC, 'an object of -o values', generic);
  for (const k of Object.keys(generic)) {
    if (!KNOWN.has(k)) throw new InvalidArgumentError(`-o ${k}`, `one of ${[...KNOWN].slice(0, 6).join(', ')}`, generic[k]);
  }
  const parentName = stringOpt(generic, 'parent');
  if (parentName === undefined) throw new InvalidArgumentError('-o parent', 'the parent device, e.g. -o parent=eth0 or -o parent=eth0.10', undefined);
  const parent = parseParent(parentName, '-o parent');
  const modeText = stringOpt(generic, 'mode') ?? stringOpt(generic, 'macvlan_mode') ?? 'bridge';
  const modes = MACVLAN_MODES.filter((m) => m !== 'source');
  if (!(modes as readonly string[]).includes(modeText)) throw new InvalidArgumentError('-o mode', `one of ${modes.join(', ')}`, modeText);
  const mode = modeText as MacvlanMode;
  const dpText = stringOpt(generic, 'dataplane') ?? (parent.vlan !== undefined ? 'userspace' : 'kernel');
  if (dpText !== 'kernel' && dpText !== 'userspace') throw new InvalidArgumentError('-o dataplane', '"kernel" or "userspace"', dpText);
  if (dpText === 'kernel' && parent.vlan !== undefined)
    throw new InvalidArgumentError('-o dataplane', `"userspace" for the VLAN parent ${parent.name} (this kernel has no 802.1Q; the engine tags VLANs)`, dpText);
  const mtuText = stringOpt(generic, 'mtu') ?? stringOpt(generic, 'com.docker.network.driver.mtu');
  let mtu: number | undefined;
  if (mtuText !== undefined) {
    mtu = Number(mtuText);
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new InvalidArgumentError('-o mtu', 'an integer 68..65535', mtuText);
  }
  const rec: NetworkRecord = { id, parent, mode, dataplane: dpText, ...(mtu !== undefined ? { mtu } : {}) };
  const v4 = Array.isArray(b.IPv4Data) ? (b.IPv4Data as Record<string, unknown>[]) : [];
  if (v4.length > 1) throw new InvalidArgumentError('--subnet', 'one IPv4 subnet per macdemux network', v4.length);
  if (v4[0]) {
    const pool = v4[0].Pool;
    if (typeof pool === 'string' && pool) {
      parseCidr(pool, '--subnet');
      rec.subnet = pool;
    }
    const gw = bareIp(v4[0].Gateway, '--gateway');
    if (gw) rec.gateway = gw;
  }
  const v6 = Array.isArray(b.IPv6Data) ? (b.IPv6Data as Record<string, unknown>[]) : [];
  if (v6[0]) {
    const gw6 = bareIp(v6[0].Gateway, '--gateway (IPv6)');
    if (gw6) rec.gateway6 = gw6;
  }
  const shim = stringOpt(generic, 'host-shim');
  if (shim !== undefined) {
    const c = parseCidr(shim, '-o host-shim', { allowBare: true });
    if (c.family !== 4) throw new InvalidArgumentError('-o host-shim', 'an IPv4 address in the subnet', shim);
    rec.hostShim = formatIp(c.bytes);
  }
  return rec;
}
