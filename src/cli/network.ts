/**
 * `macdemux network ls|inspect|create|rm|connect|disconnect`: Docker's words and output shapes
 * for the daemon's networks (docker network ...), through its control API. `ls` and `inspect`
 * also read a state directory when no daemon answers (the config recorded in owned.json, the
 * API networks and endpoints, the leases).
 *
 *   macdemux network ls [-q] [--no-trunc]
 *   macdemux network inspect NETWORK...
 *   macdemux network create [-d macvlan|macdemux] [--subnet CIDR] [--gateway IP] [--ip-range CIDR]
 *                           [--aux-address NAME=IP] [--ipv6] [-o parent=DEV[.VLAN]] [-o macvlan_mode=MODE] NETWORK
 *   macdemux network rm NETWORK...
 *   macdemux network connect [--ip IP] [--ip6 IP] [--mac-address MAC] NETWORK NETNS
 *   macdemux network disconnect NETWORK NETNS
 *
 * Common: [--state-dir DIR | --socket PATH]. A container is a network namespace here: `connect`
 * adds an endpoint named after it, with its interface (eth0) in that namespace.
 */
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { readJsonFile } from '../service/atomic-file.ts';
import { DEFAULT_STATE_DIR, UsageError, socketPathFor } from '../service/args.ts';
import { apiRequest } from '../service/control-client.ts';
import { networkView } from '../service/control-handlers.ts';
import { DesiredConfig } from '../service/desired-config.ts';
import type { Lease, LeaseTable } from '../service/leases.ts';
import { table } from './status.ts';

export const NETWORK_USAGE = `usage: macdemux network COMMAND [--state-dir DIR | --socket PATH]
  network ls [-q] [--no-trunc]
  network inspect NETWORK...
  network create [-d macvlan|macdemux] [--subnet CIDR] [--gateway IP] [--ip-range CIDR]
                 [--aux-address NAME=IP] [--ipv6] [-o parent=DEV[.VLAN]] [-o macvlan_mode=MODE] NETWORK
  network rm NETWORK...
  network connect [--ip IP] [--ip6 IP] [--mac-address MAC] NETWORK NETNS
  network disconnect NETWORK NETNS
Driver macvlan is the kernel data plane, macdemux the userspace one; parent eth0.30 is VLAN 30 on
eth0 (userspace). A container is a network namespace (NETNS).
`;
const HINT = 'try "macdemux network help"';

/** Options with a value; repeatable ones collect into lists. */
const VALUE_OPTS: Record<string, string> = {
  '--state-dir': 'state-dir', '--socket': 'socket', '-d': 'driver', '--driver': 'driver', '--subnet': 'subnet',
  '--gateway': 'gateway', '--ip-range': 'ip-range', '--aux-address': 'aux-address', '-o': 'opt', '--opt': 'opt',
  '--ip': 'ip', '--ip6': 'ip6', '--mac-address': 'mac-address',
};
const FLAG_OPTS: Record<string, string> = { '--ipv6': 'ipv6', '-q': 'quiet', '--quiet': 'quiet', '--no-trunc': 'no-trunc', '-f': 'force', '--force': 'force', '-h': 'help', '--help': 'help' };

interface Parsed {
  values: Record<string, string[]>;
  flags: Set<string>;
  positional: string[];
}

/** Docker-style options: `--x V`, `--x=V`, repeatable; unknown ones are usage errors. */
export function parseNetworkArgs(argv: string[]): Parsed {
  const p: Parsed = { values: {}, flags: new Set(), positional: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (!a.startsWith('-') || a === '-') {
      p.positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const key = eq > 0 && a.startsWith('--') ? a.slice(0, eq) : a;
    if (VALUE_OPTS[key]) {
      const v = eq > 0 && a.startsWith('--') ? a.slice(eq + 1) : argv[++i];
      if (v === undefined) throw new UsageError(`option "${key}" needs a value`, HINT);
      (p.values[VALUE_OPTS[key]] ??= []).push(v);
    } else if (FLAG_OPTS[key] && eq < 0) {
      p.flags.add(FLAG_OPTS[key]);
    } else {
      throw new UsageError(`unknown option "${a}"`, HINT);
    }
  }
  return p;
}

/** Docker's 64-hex network id, derived from the name (stable across restarts). */
export function networkId(name: string): string {
  return createHash('sha256').update(`macdemux-network:${name}`).digest('hex');
}

/** The `GET /networks` entry (see networkView). */
export interface NetworkEntry {
  name: string;
  parent: string;
  mode: string;
  dataplane: 'kernel' | 'userspace';
  vlan?: number;
  ipv4?: { subnet: string; gateway?: string; ipRange?: string; auxAddresses?: Record<string, string> };
  ipv6?: { subnet: string; gateway?: string; ipRange?: string; auxAddresses?: Record<string, string> };
  members?: { name: string; netns?: string; mac?: string; ipv4?: string; ipv6?: string }[];
}

function driverOf(n: NetworkEntry): string {
  return n.dataplane === 'userspace' ? 'macdemux' : 'macvlan';
}

/** `docker network inspect`'s object for one network. */
export function dockerInspect(n: NetworkEntry): Record<string, unknown> {
  const ipam = [n.ipv4, n.ipv6].filter((x): x is NonNullable<NetworkEntry['ipv4']> => !!x).map((b) => ({
    Subnet: b.subnet,
    ...(b.ipRange ? { IPRange: b.ipRange } : {}),
    ...(b.gateway ? { Gateway: b.gateway } : {}),
    ...(b.auxAddresses && Object.keys(b.auxAddresses).length ? { AuxiliaryAddresses: b.auxAddresses } : {}),
  }));
  const len = (b: NetworkEntry['ipv4']) => (b ? b.subnet.split('/')[1] : '');
  const containers: Record<string, unknown> = {};
  for (const m of n.members ?? []) {
    containers[networkId(`${n.name}/${m.name}`)] = {
      Name: m.name,
      EndpointID: networkId(`${n.name}/${m.name}/endpoint`),
      MacAddress: m.mac ?? '',
      IPv4Address: m.ipv4 ? `${m.ipv4}/${len(n.ipv4)}` : '',
      IPv6Address: m.ipv6 ? `${m.ipv6}/${len(n.ipv6)}` : '',
    };
  }
  return {
    Name: n.name,
    Id: networkId(n.name),
    Scope: 'local',
    Driver: driverOf(n),
    EnableIPv6: n.ipv6 !== undefined,
    IPAM: { Driver: 'default', Options: {}, Config: ipam },
    Internal: false,
    Attachable: false,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: containers,
    Options: { parent: n.vlan !== undefined ? `${n.parent}.${n.vlan}` : n.parent, macvlan_mode: n.mode },
    Labels: {},
  };
}

/** `docker network ls`'s table. */
export function dockerLs(list: NetworkEntry[], o: { quiet?: boolean; noTrunc?: boolean } = {}): string {
  const id = (n: NetworkEntry) => (o.noTrunc ? networkId(n.name) : networkId(n.name).slice(0, 12));
  if (o.quiet) return list.map((n) => `${id(n)}\n`).join('');
  return `${table(['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE'], list.map((n) => [id(n), n.name, driverOf(n), 'local']))}\n`;
}

/** `network create`'s Docker words as a network of the config file (docs/service.md). */
export function createBody(name: string, p: Parsed): Record<string, unknown> {
  const opts: Record<string, string> = {};
  for (const kv of p.values.opt ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`-o expects KEY=VALUE, not "${kv}"`, HINT);
    opts[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  for (const k of Object.keys(opts)) if (k !== 'parent' && k !== 'macvlan_mode') throw new UsageError(`unknown driver option "${k}" (options: parent, macvlan_mode)`, HINT);
  const driver = p.values.driver?.at(-1) ?? 'macvlan';
  if (driver !== 'macvlan' && driver !== 'macdemux') throw new UsageError(`driver "${driver}" is not one of macvlan (kernel), macdemux (userspace)`, HINT);
  if (!opts.parent) throw new UsageError('network create needs -o parent=DEV (or DEV.VLAN)', HINT);
  const doc: Record<string, unknown> = { name, parent: opts.parent };
  if (opts.macvlan_mode) doc.mode = opts.macvlan_mode;
  // macvlan with a DEV.VLAN parent: the config picks the userspace data plane by itself.
  if (driver === 'macdemux') doc.dataplane = 'userspace';
  const subnets = p.values.subnet ?? [];
  const gateways = p.values.gateway ?? [];
  const ranges = p.values['ip-range'] ?? [];
  const aux: Record<string, string> = {};
  for (const kv of p.values['aux-address'] ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`--aux-address expects NAME=IP, not "${kv}"`, HINT);
    aux[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const isV6 = (s: string) => s.includes(':');
  const block = (v6: boolean): Record<string, unknown> | undefined => {
    const subnet = subnets.find((s) => isV6(s) === v6);
    if (!subnet) return undefined;
    const b: Record<string, unknown> = { subnet };
    const gw = gateways.find((s) => isV6(s) === v6);
    if (gw) b.gateway = gw;
    const r = ranges.find((s) => isV6(s) === v6);
    if (r) b['ip-range'] = r;
    const a = Object.fromEntries(Object.entries(aux).filter(([, ip]) => isV6(ip) === v6));
    if (Object.keys(a).length) b['aux-addresses'] = a;
    return b;
  };
  const v4 = block(false);
  if (v4) Object.assign(doc, v4);
  const v6 = block(true);
  if (v6) doc.ipv6 = v6;
  else if (p.flags.has('ipv6')) throw new UsageError('--ipv6 needs an IPv6 --subnet', HINT);
  return doc;
}

class Client {
  constructor(readonly stateDir: string, readonly socket: string) {}

  async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const r = await apiRequest(this.socket, method, path, body);
    if (r.status >= 200 && r.status < 300) return r.body;
    const e = (r.body as { error?: { message?: string } } | undefined)?.error;
    throw new Error(e?.message ?? `${method} ${path}: HTTP ${r.status}`);
  }

  /** The daemon's networks, or the state directory's when no daemon answers. */
  async networks(): Promise<NetworkEntry[]> {
    try {
      return (await this.call('GET', '/networks')) as NetworkEntry[];
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ECONNREFUSED') throw err;
    }
    const owned = (await readJsonFile(join(this.stateDir, 'owned.json'))) as { config?: string } | undefined;
    if (!owned?.config) throw new Error(`no daemon at ${this.socket} and no applied config recorded in ${this.stateDir} (macdemux up / macdemuxd --state-dir ${this.stateDir})`);
    const desired = await DesiredConfig.load(owned.config, this.stateDir);
    const leases = (((await readJsonFile(join(this.stateDir, 'leases.json'))) as { leases?: LeaseTable } | undefined)?.leases ?? {}) as LeaseTable;
    const get = (network: string, endpoint: string): Lease | undefined => leases[network]?.[endpoint];
    return desired.config.networks.map((n) => networkView(n, { get }, desired.isApiNetwork(n.name)) as unknown as NetworkEntry);
  }
}

function find(list: NetworkEntry[], key: string): NetworkEntry {
  const n = list.find((x) => x.name === key) ?? (key.length >= 3 ? list.find((x) => networkId(x.name).startsWith(key)) : undefined);
  if (!n) throw new Error(`network ${key} not found`);
  return n;
}

/** Entry point: `macdemux network ...`. */
export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === 'help' || sub === '-h' || sub === '--help') {
    process.stdout.write(NETWORK_USAGE);
    return sub === undefined ? 2 : 0;
  }
  const p = parseNetworkArgs(rest);
  if (p.flags.has('help')) {
    process.stdout.write(NETWORK_USAGE);
    return 0;
  }
  const stateDir = resolve(p.values['state-dir']?.at(-1) ?? DEFAULT_STATE_DIR);
  const c = new Client(stateDir, resolve(p.values.socket?.at(-1) ?? socketPathFor(stateDir)));
  const args = p.positional;
  switch (sub) {
    case 'ls':
    case 'list':
      if (args.length) throw new UsageError(`ls takes no arguments, got "${args[0]}"`, HINT);
      process.stdout.write(dockerLs(await c.networks(), { quiet: p.flags.has('quiet'), noTrunc: p.flags.has('no-trunc') }));
      return 0;
    case 'inspect': {
      if (!args.length) throw new UsageError('inspect needs at least one NETWORK', HINT);
      const list = await c.networks();
      process.stdout.write(`${JSON.stringify(args.map((a) => dockerInspect(find(list, a))), null, 4)}\n`);
      return 0;
    }
    case 'create': {
      if (args.length !== 1) throw new UsageError('create takes exactly one NETWORK name', HINT);
      const n = (await c.call('POST', '/networks', createBody(args[0] as string, p))) as NetworkEntry;
      process.stdout.write(`${networkId(n.name)}\n`);
      return 0;
    }
    case 'rm':
    case 'remove': {
      if (!args.length) throw new UsageError('rm needs at least one NETWORK', HINT);
      for (const a of args) {
        await c.call('DELETE', `/networks/${encodeURIComponent(a)}`);
        process.stdout.write(`${a}\n`);
      }
      return 0;
    }
    case 'connect': {
      if (args.length !== 2) throw new UsageError('connect takes NETWORK and NETNS', HINT);
      const [network, netns] = args as [string, string];
      const body: Record<string, unknown> = { network, name: netns, netns };
      if (p.values.ip) body.ip = p.values.ip.at(-1);
      if (p.values.ip6) body.ipv6 = p.values.ip6.at(-1);
      if (p.values['mac-address']) body.mac = p.values['mac-address'].at(-1);
      await c.call('POST', '/endpoints', body);
      return 0;
    }
    case 'disconnect': {
      if (args.length !== 2) throw new UsageError('disconnect takes NETWORK and NETNS', HINT);
      const [network, netns] = args as [string, string];
      const n = find(await c.networks(), network);
      if (!(n.members ?? []).some((m) => m.name === netns)) throw new Error(`${netns} is not connected to network ${n.name}`);
      await c.call('DELETE', `/endpoints/${encodeURIComponent(netns)}`);
      return 0;
    }
    default:
      throw new UsageError(`unknown command "${sub}"`, HINT);
  }
}
