/**
 * The service's declarative config: networks like Docker's macvlan driver, with endpoints, IPAM
 * settings, the data plane to use and an optional host shim. Parsed from YAML or JSON and checked
 * by a hand-written schema that is strict (unknown keys are errors) and reports every problem at
 * once, each naming its path (e.g. `networks[0].subnet`) and the reason.
 */
import { BACKEND_CHOICES, type BackendChoice } from '../dataplane/backend.ts';
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import {
  type Cidr,
  type Family,
  type IpAddr,
  cidrContains,
  cidrsOverlap,
  cidrWithin,
  formatCidr,
  formatIp,
  isReserved,
  parseCidr,
  parseIp,
} from './ipaddr.ts';

import { MACVLAN_MODES, isIfname, isMac, isUnicastMac, isVlanParent, normalizeMac, parseParent as parseDockerParent, type MacvlanMode } from '../net/index.ts';

export { MACVLAN_MODES, isIfname, type MacvlanMode };
/** Which data plane carries a network's frames. */
export type Dataplane = 'kernel' | 'userspace';

/** The parent (uplink) interface, optionally inside a network namespace. */
export interface ParentRef {
  /** Namespace name (as in `ip netns`); undefined = the daemon's own namespace. */
  netns?: string;
  dev: string;
}

/** IP settings of one address family of a network. */
export interface IpamConfig {
  subnet: Cidr;
  /** Default gateway handed to endpoints; reserved, never allocated. */
  gateway?: IpAddr;
  /** Allocation range (within the subnet); the whole subnet when absent. */
  ipRange?: Cidr;
  /** Addresses never allocated (Docker's --aux-address), by name. */
  auxAddresses: Record<string, IpAddr>;
}

/** One endpoint: a namespace (with an interface in it) or a VM tap. */
export interface EndpointConfig {
  /** Unique across the whole config; the port's name in the API and metrics. */
  name: string;
  /**
   * Namespace the endpoint's interface lives in: a name (created when missing) or an absolute path
   * of a namespace made by someone else (a container runtime's; never created or removed).
   */
  netns?: string;
  /** Interface name inside `netns` (default `eth0`). */
  ifname: string;
  /**
   * Name of the VM tap in the parent's namespace: kernel data plane, a macvtap device; userspace,
   * a persistent vnet_hdr tap whose network device is the switch port (the hypervisor opens it by name).
   */
  tap?: string;
  /** `vm:` endpoints: who may open the tap's character device / receive its queue fds. */
  vm?: EndpointVm;
  mac?: string;
  ip?: IpAddr;
  ipv6?: IpAddr;
  /**
   * Addresses (ADDR/PREFIX) the endpoint's owner allocated (a CNI IPAM plugin): configured as given,
   * no lease taken from the network's subnet.
   */
  addresses?: string[];
  /** VLAN id (userspace data plane); overrides the network's. */
  vlan?: number;
  /** Source-mode allow list (mode `source` only). */
  sourceMacs?: string[];
}

/** The `vm:` block of an endpoint (`{ tap, queues, owner, group, mode }`; `tap: NAME` is the short form). */
export interface EndpointVm {
  /** Queues the hypervisor opens (the fd hand-off's default; QEMU queues=N). */
  queues: number;
  /** uid that may open the character device / receive the queue fds. */
  owner?: number;
  /** gid whose members may. */
  group?: number;
  /** Permission bits of the character device macdemux makes (default 0600; 0660 with a group). Kernel data plane only. */
  mode: number;
  /**
   * Userspace data plane: the tap's MTU (default: the switch's frame limit, the network's mtu or
   * else the parent's MTU); never above that limit, whose larger frames the switch drops.
   */
  mtu?: number;
}

/** The host shim (scenario 5): a bridge-mode port on the parent with ip/32 (ipv6/128) and a
 * route to each family's range through it. */
export interface HostShimConfig {
  name: string;
  /** One address per family (IPv4 first), each inside that family's subnet. */
  ips: IpAddr[];
}

/** One network. */
export interface NetworkConfig {
  name: string;
  parent: ParentRef;
  mode: MacvlanMode;
  dataplane: Dataplane;
  /** passthru only: do not put the parent in promiscuous mode. */
  nopromisc: boolean;
  /** dataplane userspace: the uplink RX backend (src/dataplane/backend.ts); absent = auto. */
  backend?: BackendChoice;
  ipv4?: IpamConfig;
  ipv6?: IpamConfig;
  /** MTU of the network's frames (userspace data plane: the switch forwards up to mtu + 14
   * bytes; default: the parent's MTU). */
  mtu?: number;
  vlan?: number;
  hostShim?: HostShimConfig;
  endpoints: EndpointConfig[];
}

/** A validated config. */
export interface ServiceConfig {
  version: 1;
  networks: NetworkConfig[];
}

/** One validation problem. */
export interface ConfigIssue {
  /** Path of the offending value, e.g. `networks[0].subnet` (`` for the document). */
  path: string;
  reason: string;
}

/** Thrown when a config is invalid; lists every problem. */
export class ConfigError extends Error {
  readonly code = 'ERR_MACDEMUX_CONFIG';
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[], source?: string) {
    const lines = issues.map((i) => `  ${i.path || '(document)'}: ${i.reason}`);
    super(
      `${source ? `${source}: ` : ''}invalid config (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${lines.join('\n')}`,
    );
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const NETNS_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
/**
 * An endpoint's namespace: a name (created when missing), or the path of a namespace someone else
 * made (a container runtime's CNI_NETNS: /run/netns/X, /var/run/netns/X, /proc/PID/ns/net), never
 * created or removed by the daemon.
 */
const NETNS_REF_RE = /^(?:[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}|\/(?:var\/)?run\/netns\/[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}|\/proc\/[1-9][0-9]{0,9}\/ns\/net)$/;
/** Normalized MAC (lower case, colons) or the reason it is not a unicast MAC (src/net's rule). */
export function checkMac(s: unknown): { mac: string } | { reason: string } {
  if (!isMac(s)) return { reason: `expected a MAC address like "02:42:ac:10:56:0a", got ${show(s)}` };
  const mac = normalizeMac(s, 'mac', { unicast: false });
  if (!isUnicastMac(Buffer.from(mac.replace(/:/g, ''), 'hex'))) {
    return { reason: mac === '00:00:00:00:00:00' ? 'the all-zero MAC is not usable' : `${mac} is a multicast MAC (a port needs a unicast MAC)` };
  }
  return { mac };
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'a map' : `${typeof v} ${show(v)}`;
}

type Obj = Record<string, unknown>;

/** Collects issues while walking the raw document. */
class Checker {
  readonly issues: ConfigIssue[] = [];
  add(path: string, reason: string): void {
    this.issues.push({ path, reason });
  }
  /** A map with only the allowed keys (unknown keys are reported); undefined when not a map. */
  map(v: unknown, path: string, allowed: readonly string[], required: readonly string[] = []): Obj | undefined {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      this.add(path, `expected a map, got ${typeName(v)}`);
      return undefined;
    }
    const o = v as Obj;
    for (const k of Object.keys(o)) {
      if (!allowed.includes(k)) this.add(join(path, k), `unknown key (allowed: ${allowed.join(', ')})`);
    }
    for (const k of required) {
      if (o[k] === undefined || o[k] === null) this.add(join(path, k), 'is required');
    }
    return o;
  }
  string(v: unknown, path: string, re?: RegExp, what?: string): string | undefined {
    if (typeof v !== 'string') {
      this.add(path, `expected ${what ?? 'a string'}, got ${typeName(v)}`);
      return undefined;
    }
    if (re && !re.test(v)) {
      this.add(path, `${show(v)} is not ${what ?? `a string matching ${re}`}`);
      return undefined;
    }
    return v;
  }
  int(v: unknown, path: string, min: number, max: number, what: string): number | undefined {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      this.add(path, `expected ${what} (an integer ${min}..${max}), got ${typeName(v)}`);
      return undefined;
    }
    return v;
  }
  ip(v: unknown, path: string, family?: Family): IpAddr | undefined {
    if (typeof v !== 'string') {
      this.add(path, `expected an IP address, got ${typeName(v)}`);
      return undefined;
    }
    const a = parseIp(v);
    if (!a) {
      this.add(path, `${show(v)} is not an IPv4 or IPv6 address`);
      return undefined;
    }
    if (family && a.family !== family) {
      this.add(path, `${v} is IPv${a.family}, expected an IPv${family} address`);
      return undefined;
    }
    return a;
  }
  cidr(v: unknown, path: string, family?: Family): Cidr | undefined {
    if (typeof v !== 'string') {
      this.add(path, `expected a prefix like "10.0.0.0/24", got ${typeName(v)}`);
      return undefined;
    }
    const r = parseCidr(v);
    if (!r.ok) {
      this.add(path, r.reason);
      return undefined;
    }
    if (family && r.cidr.family !== family) {
      this.add(path, `${v} is IPv${r.cidr.family}, expected an IPv${family} prefix`);
      return undefined;
    }
    return r.cidr;
  }
}

function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}

const TOP_KEYS = ['version', 'networks'] as const;
const NETWORK_KEYS = [
  'name',
  'parent',
  'mode',
  'dataplane',
  'backend',
  'nopromisc',
  'subnet',
  'gateway',
  'ip-range',
  'aux-addresses',
  'ipv6',
  'vlan',
  'mtu',
  'host-shim',
  'endpoints',
] as const;
const IPV6_KEYS = ['subnet', 'gateway', 'ip-range', 'aux-addresses'] as const;
const ENDPOINT_KEYS = ['name', 'netns', 'ifname', 'tap', 'vm', 'mac', 'ip', 'ipv6', 'addresses', 'vlan', 'source-macs'] as const;
const VM_KEYS = ['tap', 'queues', 'owner', 'group', 'mode', 'mtu'] as const;
const SHIM_KEYS = ['name', 'ip', 'ipv6'] as const;
const PARENT_KEYS = ['netns', 'dev'] as const;

function parseParent(c: Checker, v: unknown, path: string): ParentRef | undefined {
  if (typeof v === 'string') {
    const idx = v.indexOf(':');
    const netns = idx >= 0 ? v.slice(0, idx) : undefined;
    const dev = idx >= 0 ? v.slice(idx + 1) : v;
    let ok = true;
    if (netns !== undefined && !NETNS_RE.test(netns)) {
      c.add(path, `namespace ${show(netns)} in ${show(v)} is not a valid namespace name`);
      ok = false;
    }
    if (!isIfname(dev)) {
      c.add(path, `${show(dev)} is not a valid interface name (1-15 characters, no '/', ':' or spaces)`);
      ok = false;
    }
    if (!ok) return undefined;
    return netns !== undefined ? { netns, dev } : { dev };
  }
  const o = c.map(v, path, PARENT_KEYS, ['dev']);
  if (!o) return undefined;
  const dev = o.dev === undefined ? undefined : c.string(o.dev, join(path, 'dev'));
  if (dev !== undefined && !isIfname(dev)) {
    c.add(join(path, 'dev'), `${show(dev)} is not a valid interface name (1-15 characters, no '/', ':' or spaces)`);
    return undefined;
  }
  const netns =
    o.netns === undefined ? undefined : c.string(o.netns, join(path, 'netns'), NETNS_RE, 'a namespace name');
  if (dev === undefined || (o.netns !== undefined && netns === undefined)) return undefined;
  return netns !== undefined ? { netns, dev } : { dev };
}

function parseIpam(
  c: Checker,
  o: Obj,
  path: string,
  family: Family | undefined,
): IpamConfig | undefined {
  if (o.subnet === undefined) {
    for (const k of ['gateway', 'ip-range', 'aux-addresses']) {
      if (o[k] !== undefined) c.add(join(path, k), `needs ${join(path, 'subnet')}`);
    }
    return undefined;
  }
  const subnet = c.cidr(o.subnet, join(path, 'subnet'), family);
  if (!subnet) return undefined;
  const fam = subnet.family;
  const inSubnet = (a: IpAddr | undefined, p: string): IpAddr | undefined => {
    if (!a) return undefined;
    if (!cidrContains(subnet, a)) {
      c.add(p, `${formatIp(a)} is outside the subnet ${formatCidr(subnet)}`);
      return undefined;
    }
    return a;
  };
  const ipam: IpamConfig = { subnet, auxAddresses: {} };
  if (o.gateway !== undefined) {
    const g = inSubnet(c.ip(o.gateway, join(path, 'gateway'), fam), join(path, 'gateway'));
    if (g && isReserved(subnet, g))
      c.add(join(path, 'gateway'), `${formatIp(g)} is the subnet's network or broadcast address`);
    else if (g) ipam.gateway = g;
  }
  if (o['ip-range'] !== undefined) {
    const r = c.cidr(o['ip-range'], join(path, 'ip-range'), fam);
    if (r && !cidrWithin(r, subnet))
      c.add(join(path, 'ip-range'), `${formatCidr(r)} is not within the subnet ${formatCidr(subnet)}`);
    else if (r) ipam.ipRange = r;
  }
  if (o['aux-addresses'] !== undefined) {
    const m = c.map(o['aux-addresses'], join(path, 'aux-addresses'), Object.keys(o['aux-addresses'] ?? {}));
    if (m) {
      for (const [k, v] of Object.entries(m)) {
        const p = join(join(path, 'aux-addresses'), k);
        const a = inSubnet(c.ip(v, p, fam), p);
        if (a) ipam.auxAddresses[k] = a;
      }
    }
  }
  return ipam;
}

/** Deterministic text of a parent, e.g. "host1:eth0" or "eth0". */
export function parentKey(p: ParentRef): string {
  return p.netns ? `${p.netns}:${p.dev}` : p.dev;
}

/**
 * Validate a raw (already parsed) document. Returns the typed config or throws {@link ConfigError}
 * listing every problem.
 */
export function validateConfig(raw: unknown, source?: string): ServiceConfig {
  const c = new Checker();
  const top = c.map(raw, '', TOP_KEYS, ['networks']);
  const networks: NetworkConfig[] = [];
  if (top) {
    if (top.version !== undefined && top.version !== 1) c.add('version', `unsupported version ${show(top.version)} (expected 1)`);
    if (top.networks !== undefined && !Array.isArray(top.networks))
      c.add('networks', `expected a list of networks, got ${typeName(top.networks)}`);
    else if (Array.isArray(top.networks)) {
      top.networks.forEach((n, i) => {
        const net = parseNetwork(c, n, `networks[${i}]`);
        if (net) networks.push(net);
      });
    }
  }
  if (c.issues.length === 0) crossCheck(c, networks);
  if (c.issues.length) throw new ConfigError(c.issues, source);
  return { version: 1, networks };
}

function parseNetwork(c: Checker, v: unknown, path: string): NetworkConfig | undefined {
  const o = c.map(v, path, NETWORK_KEYS, ['name', 'parent']);
  if (!o) return undefined;
  const before = c.issues.length;
  const name = o.name === undefined ? undefined : c.string(o.name, join(path, 'name'), NAME_RE, 'a name ([A-Za-z0-9_.-], up to 64 characters)');
  const parent = o.parent === undefined ? undefined : parseParent(c, o.parent, join(path, 'parent'));
  let mode: MacvlanMode = 'bridge';
  if (o.mode !== undefined) {
    if (typeof o.mode === 'string' && (MACVLAN_MODES as readonly string[]).includes(o.mode)) mode = o.mode as MacvlanMode;
    else c.add(join(path, 'mode'), `expected one of ${MACVLAN_MODES.join(', ')}, got ${typeName(o.mode)}`);
  }
  let dataplane: Dataplane = 'kernel';
  if (o.dataplane !== undefined) {
    if (o.dataplane === 'kernel' || o.dataplane === 'userspace') dataplane = o.dataplane;
    else c.add(join(path, 'dataplane'), `expected "kernel" or "userspace", got ${typeName(o.dataplane)}`);
  }
  // Docker's VLAN parent: "eth0.30" is VLAN 30 on eth0. The kernel here has no 802.1Q, so the
  // userspace engine tags on eth0 (the default data plane for such a parent).
  let parentVlan: number | undefined;
  if (parent && isVlanParent(parent.dev)) {
    const written = parent.dev;
    try {
      const vp = parseDockerParent(written, join(path, 'parent'));
      parent.dev = vp.dev;
      parentVlan = vp.vlan;
      if (o.dataplane === undefined) dataplane = 'userspace';
      else if (dataplane === 'kernel')
        c.add(join(path, 'parent'), `${show(written)} is VLAN ${vp.vlan} on ${vp.dev} (Docker's convention); VLANs need dataplane: userspace (this kernel has no 802.1Q module; macdemux tags in userspace)`);
      if (o.vlan !== undefined && o.vlan !== vp.vlan)
        c.add(join(path, 'vlan'), `${show(o.vlan)} disagrees with the parent ${show(written)} (VLAN ${vp.vlan})`);
    } catch (err) {
      c.add(join(path, 'parent'), (err as Error).message);
    }
  }
  let backend: BackendChoice | undefined;
  if (o.backend !== undefined) {
    if (!(BACKEND_CHOICES as readonly unknown[]).includes(o.backend))
      c.add(join(path, 'backend'), `expected one of ${BACKEND_CHOICES.map((b) => `"${b}"`).join(', ')}, got ${typeName(o.backend)}`);
    else if (dataplane !== 'userspace') c.add(join(path, 'backend'), 'only applies to dataplane: userspace');
    else backend = o.backend as BackendChoice;
  }
  let nopromisc = false;
  if (o.nopromisc !== undefined) {
    if (typeof o.nopromisc !== 'boolean') c.add(join(path, 'nopromisc'), `expected true or false, got ${typeName(o.nopromisc)}`);
    else if (o.nopromisc && mode !== 'passthru') c.add(join(path, 'nopromisc'), 'only applies to mode passthru');
    else nopromisc = o.nopromisc;
  }
  const ipv4 = parseIpam(c, o, path, undefined);
  let ipv6: IpamConfig | undefined;
  if (o.ipv6 !== undefined) {
    const v6 = c.map(o.ipv6, join(path, 'ipv6'), IPV6_KEYS, ['subnet']);
    if (v6) ipv6 = parseIpam(c, v6, join(path, 'ipv6'), 6);
    if (ipv4 && ipv4.subnet.family === 6)
      c.add(join(path, 'subnet'), 'must be IPv4 when the network also has an ipv6 block (put the IPv6 prefix there)');
  }
  // A subnet that failed its own check is reported once: what depends on it is not reported again.
  const subnetInvalid = c.issues.some((i) => i.path === join(path, 'subnet') || i.path === join(join(path, 'ipv6'), 'subnet'));
  // A network with only an IPv6 subnet may write it at the top level: normalize to the ipv6 slot.
  let v4 = ipv4;
  if (ipv4 && ipv4.subnet.family === 6 && !ipv6) {
    ipv6 = ipv4;
    v4 = undefined;
  }
  let vlan: number | undefined = parentVlan;
  if (o.vlan !== undefined && parentVlan === undefined) {
    vlan = c.int(o.vlan, join(path, 'vlan'), 1, 4094, 'a VLAN id');
    if (vlan !== undefined && dataplane !== 'userspace') {
      c.add(join(path, 'vlan'), 'VLANs need dataplane: userspace (this kernel has no 802.1Q module; macdemux tags in userspace)');
    }
  }
  let hostShim: HostShimConfig | undefined;
  if (o['host-shim'] !== undefined) {
    const s = c.map(o['host-shim'], join(path, 'host-shim'), SHIM_KEYS, ['name']);
    if (s) {
      const sname = s.name === undefined ? undefined : c.string(s.name, `${path}.host-shim.name`);
      if (sname !== undefined && !isIfname(sname))
        c.add(`${path}.host-shim.name`, `${show(sname)} is not a valid interface name (1-15 characters)`);
      if (s.ip === undefined && s.ipv6 === undefined) c.add(join(path, 'host-shim'), 'needs ip, ipv6 or both');
      const ips: IpAddr[] = [];
      let ok = true;
      for (const key of ['ip', 'ipv6'] as const) {
        if (s[key] === undefined) continue;
        const where = `${path}.host-shim.${key}`;
        const sip = c.ip(s[key], where, key === 'ipv6' ? 6 : undefined);
        if (!sip) {
          ok = false;
          continue;
        }
        const fam = sip.family === 4 ? v4 : ipv6;
        const before = c.issues.length;
        if (ips.some((x) => x.family === sip.family)) c.add(where, `the shim already has an IPv${sip.family} address (${formatIp(ips[0])})`);
        else if (!fam) {
          if (!subnetInvalid) c.add(where, `needs an IPv${sip.family} subnet on the network`);
        } else if (!cidrContains(fam.subnet, sip)) c.add(where, `${formatIp(sip)} is outside the subnet ${formatCidr(fam.subnet)}`);
        else if (fam.gateway?.value === sip.value) c.add(where, `${formatIp(sip)} is the network's gateway`);
        if (c.issues.length > before || !fam) ok = false;
        else ips.push(sip);
      }
      if (mode === 'passthru') c.add(join(path, 'host-shim'), 'a passthru network has a single port: no room for a host shim');
      ips.sort((a, b) => a.family - b.family);
      if (sname && isIfname(sname) && ok && ips.length) hostShim = { name: sname, ips };
    }
  }
  const endpoints: EndpointConfig[] = [];
  if (o.endpoints !== undefined) {
    if (!Array.isArray(o.endpoints)) c.add(join(path, 'endpoints'), `expected a list of endpoints, got ${typeName(o.endpoints)}`);
    else
      o.endpoints.forEach((e, i) => {
        const ep = parseEndpoint(c, e, `${path}.endpoints[${i}]`, { v4, ipv6, mode, dataplane, subnetInvalid });
        if (ep) endpoints.push(ep);
      });
  }
  if (mode === 'passthru' && dataplane === 'kernel')
    endpoints.forEach((e, i) => {
      if (e.mac) c.add(`${path}.endpoints[${i}].mac`, 'a kernel passthru port inherits the parent\'s MAC (setting one would change the parent)');
    });
  if (mode === 'passthru' && endpoints.length > 1)
    c.add(join(path, 'endpoints'), `a passthru network takes one endpoint (the port owns the parent), got ${endpoints.length}`);
  let mtu: number | undefined;
  if (o.mtu !== undefined) {
    mtu = c.int(o.mtu, join(path, 'mtu'), 68, 65521, 'an MTU');
    if (mtu !== undefined && dataplane !== 'userspace') c.add(join(path, 'mtu'), 'mtu applies to dataplane: userspace (kernel macvlan links take their parent\'s)');
  }
  // A VM tap's MTU above the switch's frame limit would let the guest send frames the switch drops
  // as oversized: refused here when the limit is in the config (else checked against the parent's MTU at apply).
  if (mtu !== undefined)
    endpoints.forEach((e, i) => {
      if (e.vm?.mtu !== undefined && e.vm.mtu > mtu!)
        c.add(`${path}.endpoints[${i}].vm.mtu`, `${e.vm.mtu} is above the network's mtu ${mtu} (the switch's frame limit: larger frames are dropped as oversized); raise the network's mtu or lower this one`);
    });
  if (c.issues.length > before || !name || !parent) return undefined;
  const net: NetworkConfig = { name, parent, mode, dataplane, nopromisc, endpoints };
  if (mtu !== undefined) net.mtu = mtu;
  if (v4) net.ipv4 = v4;
  if (ipv6) net.ipv6 = ipv6;
  if (vlan !== undefined) net.vlan = vlan;
  if (hostShim) net.hostShim = hostShim;
  if (backend) net.backend = backend;
  return net;
}

function parseEndpoint(
  c: Checker,
  v: unknown,
  path: string,
  net: { v4?: IpamConfig; ipv6?: IpamConfig; mode: MacvlanMode; dataplane: Dataplane; subnetInvalid?: boolean },
): EndpointConfig | undefined {
  const o = c.map(v, path, ENDPOINT_KEYS, ['name']);
  if (!o) return undefined;
  const before = c.issues.length;
  const name = o.name === undefined ? undefined : c.string(o.name, join(path, 'name'), NAME_RE, 'a name ([A-Za-z0-9_.-], up to 64 characters)');
  let netns: string | undefined;
  let tap: string | undefined;
  if (o.netns !== undefined)
    netns = c.string(o.netns, join(path, 'netns'), NETNS_REF_RE, 'a namespace name or the path /run/netns/NAME, /var/run/netns/NAME or /proc/PID/ns/net');
  let vm: EndpointVm | undefined;
  let tapValue = o.tap;
  let tapPath = join(path, 'tap');
  if (o.vm !== undefined) {
    const p = join(path, 'vm');
    if (o.tap !== undefined) c.add(join(path, 'tap'), 'is given twice (tap and vm.tap): keep vm.tap');
    const v = c.map(o.vm, p, VM_KEYS, ['tap']);
    if (v) {
      tapValue = v.tap;
      tapPath = join(p, 'tap');
      vm = { queues: v.queues === undefined ? 1 : (c.int(v.queues, join(p, 'queues'), 1, 16, 'a queue count') ?? 1), mode: 0o600 };
      if (v.owner !== undefined) {
        const n = c.int(v.owner, join(p, 'owner'), 0, 0xfffffffe, 'a numeric uid');
        if (n !== undefined) vm.owner = n;
      }
      if (v.group !== undefined) {
        const n = c.int(v.group, join(p, 'group'), 0, 0xfffffffe, 'a numeric gid');
        if (n !== undefined) vm.group = n;
      }
      if (v.mode !== undefined) {
        const m = typeof v.mode === 'string' && /^0?[0-7]{3}$/.test(v.mode) ? parseInt(v.mode, 8) : typeof v.mode === 'number' && Number.isInteger(v.mode) && v.mode >= 0 && v.mode <= 0o777 ? v.mode : undefined;
        if (m === undefined) c.add(join(p, 'mode'), `${show(v.mode)} is not permission bits (e.g. "0660")`);
        else vm.mode = m;
        if (net.dataplane === 'userspace')
          c.add(join(p, 'mode'), 'only applies to dataplane: kernel (a macvtap\'s character device); a userspace VM tap is opened through /dev/net/tun by root, owner or group');
      } else if (vm.group !== undefined) vm.mode = 0o660;
      if (v.mtu !== undefined) {
        const n = c.int(v.mtu, join(p, 'mtu'), 68, 65521, 'an MTU');
        if (n !== undefined && net.dataplane !== 'userspace') c.add(join(p, 'mtu'), 'only applies to dataplane: userspace (a macvtap takes its parent\'s MTU)');
        else if (n !== undefined) vm.mtu = n;
      }
    }
  }
  if (tapValue !== undefined) {
    tap = c.string(tapValue, tapPath);
    if (tap !== undefined && !isIfname(tap)) {
      c.add(tapPath, `${show(tap)} is not a valid interface name (1-15 characters)`);
      tap = undefined;
    }
  }
  if (o.netns === undefined && tapValue === undefined && o.vm === undefined) c.add(path, 'needs either netns (a namespace endpoint) or tap / vm (a VM tap)');
  if (o.netns !== undefined && (o.tap !== undefined || o.vm !== undefined)) c.add(path, `has both netns and ${o.vm !== undefined ? 'vm' : 'tap'}: choose one`);
  let ifname = 'eth0';
  if (o.ifname !== undefined) {
    if (o.tap !== undefined) c.add(join(path, 'ifname'), 'only applies to netns endpoints (a tap endpoint is named by tap)');
    const s = c.string(o.ifname, join(path, 'ifname'));
    if (s !== undefined && !isIfname(s)) c.add(join(path, 'ifname'), `${show(s)} is not a valid interface name (1-15 characters)`);
    else if (s !== undefined) ifname = s;
  }
  let mac: string | undefined;
  if (o.mac !== undefined) {
    const m = checkMac(o.mac);
    if ('reason' in m) c.add(join(path, 'mac'), m.reason);
    else mac = m.mac;
  }
  const fixed = (key: 'ip' | 'ipv6', ipam: IpamConfig | undefined, family: Family): IpAddr | undefined => {
    if (o[key] === undefined) return undefined;
    const p = join(path, key);
    const a = c.ip(o[key], p, family);
    if (!a) return undefined;
    if (!ipam) {
      if (!net.subnetInvalid) c.add(p, `needs an IPv${family} subnet on the network`);
      return undefined;
    }
    if (!cidrContains(ipam.subnet, a)) {
      c.add(p, `${formatIp(a)} is outside the subnet ${formatCidr(ipam.subnet)}`);
      return undefined;
    }
    if (isReserved(ipam.subnet, a)) {
      c.add(p, `${formatIp(a)} is the subnet's network or broadcast address`);
      return undefined;
    }
    if (ipam.gateway?.value === a.value) {
      c.add(p, `${formatIp(a)} is the network's gateway`);
      return undefined;
    }
    const aux = Object.entries(ipam.auxAddresses).find(([, x]) => x.value === a.value);
    if (aux) {
      c.add(p, `${formatIp(a)} is reserved as aux address "${aux[0]}"`);
      return undefined;
    }
    return a;
  };
  const ip = fixed('ip', net.v4, 4);
  const ipv6 = fixed('ipv6', net.ipv6, 6);
  let vlan: number | undefined;
  if (o.vlan !== undefined) {
    vlan = c.int(o.vlan, join(path, 'vlan'), 1, 4094, 'a VLAN id');
    if (vlan !== undefined && net.dataplane !== 'userspace')
      c.add(join(path, 'vlan'), 'VLANs need dataplane: userspace (this kernel has no 802.1Q module; macdemux tags in userspace)');
  }
  let addresses: string[] | undefined;
  if (o.addresses !== undefined) {
    const p = join(path, 'addresses');
    if (o.tap !== undefined) c.add(p, 'only applies to netns endpoints');
    if (o.ip !== undefined || o.ipv6 !== undefined) c.add(p, 'cannot be combined with ip/ipv6 (those are leases from the network\'s subnet)');
    else if (net.v4 || net.ipv6) c.add(p, 'the network has its own subnet, whose leases its endpoints take: a network whose endpoints bring their addresses (CNI pods) has no ipv4/ipv6');
    if (!Array.isArray(o.addresses) || o.addresses.length > 16) c.add(p, `expected a list of up to 16 addresses like "10.1.2.3/24", got ${typeName(o.addresses)}`);
    else {
      addresses = [];
      o.addresses.forEach((a, i) => {
        const m = typeof a === 'string' ? /^([^/]+)\/(\d{1,3})$/.exec(a) : null;
        const ip = m ? c.ip(m[1], `${p}[${i}]`) : undefined;
        if (!m) c.add(`${p}[${i}]`, `expected ADDR/PREFIX like "10.1.2.3/24", got ${show(a)}`);
        else if (ip && Number(m[2]) > (ip.family === 4 ? 32 : 128)) c.add(`${p}[${i}]`, `prefix /${m[2]} is too long for IPv${ip.family}`);
        else if (ip) addresses!.push(`${formatIp(ip)}/${Number(m[2])}`);
      });
    }
  }
  let sourceMacs: string[] | undefined;
  if (o['source-macs'] !== undefined) {
    const p = join(path, 'source-macs');
    if (net.mode !== 'source') c.add(p, 'only applies to networks with mode: source');
    if (!Array.isArray(o['source-macs'])) c.add(p, `expected a list of MAC addresses, got ${typeName(o['source-macs'])}`);
    else {
      sourceMacs = [];
      o['source-macs'].forEach((m, i) => {
        const r = checkMac(m);
        if ('reason' in r) c.add(`${p}[${i}]`, r.reason);
        else sourceMacs!.push(r.mac);
      });
    }
  }
  if (c.issues.length > before || !name) return undefined;
  const ep: EndpointConfig = { name, ifname };
  if (netns !== undefined) ep.netns = netns;
  if (tap !== undefined) ep.tap = tap;
  if (vm !== undefined) ep.vm = vm;
  if (mac) ep.mac = mac;
  if (ip) ep.ip = ip;
  if (ipv6) ep.ipv6 = ipv6;
  if (addresses) ep.addresses = addresses;
  if (vlan !== undefined) ep.vlan = vlan;
  if (sourceMacs) ep.sourceMacs = sourceMacs;
  return ep;
}

/** Checks across networks and endpoints (names, addresses, MACs, parents unique). */
function crossCheck(c: Checker, networks: NetworkConfig[]): void {
  const netNames = new Map<string, number>();
  const epNames = new Map<string, string>();
  const nsIfnames = new Map<string, string>();
  const taps = new Map<string, string>();
  const kernelParents = new Map<string, string>();
  const userspaceParents = new Map<string, { vlan: number | undefined; path: string }[]>();
  const subnetsByParent = new Map<string, { cidr: Cidr; path: string }[]>();
  networks.forEach((n, i) => {
    const np = `networks[${i}]`;
    // Networks sharing a parent share its wire: their subnets must not overlap (both would lease the same addresses).
    for (const [key, fam] of [['subnet', n.ipv4], ['ipv6.subnet', n.ipv6]] as const) {
      if (!fam) continue;
      const list = subnetsByParent.get(parentKey(n.parent)) ?? [];
      const clash = list.find((x) => x.cidr.family === fam.subnet.family && cidrsOverlap(x.cidr, fam.subnet));
      if (clash) c.add(`${np}.${key}`, `${formatCidr(fam.subnet)} overlaps ${formatCidr(clash.cidr)} of ${clash.path} on the same parent ${parentKey(n.parent)}`);
      list.push({ cidr: fam.subnet, path: `networks[${i}] "${n.name}"` });
      subnetsByParent.set(parentKey(n.parent), list);
    }
    if (netNames.has(n.name)) c.add(`${np}.name`, `duplicate network name "${n.name}" (also networks[${netNames.get(n.name)}])`);
    else netNames.set(n.name, i);
    const pk = parentKey(n.parent);
    if (n.dataplane === 'kernel') {
      const other = kernelParents.get(pk);
      if (other)
        c.add(`${np}.parent`, `parent ${pk} already serves ${other} (one kernel macvlan network per parent; use vlan on the userspace data plane for more)`);
      else kernelParents.set(pk, `networks[${i}] "${n.name}"`);
    } else {
      const list = userspaceParents.get(pk) ?? [];
      const clash = list.find((x) => x.vlan === n.vlan);
      if (clash)
        c.add(`${np}.vlan`, `parent ${pk} already carries ${clash.path} on ${n.vlan === undefined ? 'the untagged LAN' : `VLAN ${n.vlan}`}: networks sharing a parent need distinct VLANs`);
      list.push({ vlan: n.vlan, path: `networks[${i}] "${n.name}"` });
      userspaceParents.set(pk, list);
    }
    const ips = new Map<string, string>();
    const macs = new Map<string, string>();
    const shimIps = (n.hostShim?.ips ?? []).map((a) => formatIp(a));
    n.endpoints.forEach((e, j) => {
      const ep = `${np}.endpoints[${j}]`;
      const prev = epNames.get(e.name);
      if (prev) c.add(`${ep}.name`, `duplicate endpoint name "${e.name}" (also ${prev}); endpoint names are unique across the config`);
      else epNames.set(e.name, ep);
      if (e.netns !== undefined) {
        const key = `${e.netns}/${e.ifname}`;
        const p2 = nsIfnames.get(key);
        if (p2) c.add(`${ep}.ifname`, `interface ${e.ifname} in namespace ${e.netns} is already used by ${p2} (set ifname)`);
        else nsIfnames.set(key, ep);
        if (e.netns === n.parent.netns && e.ifname === n.parent.dev)
          c.add(`${ep}.ifname`, `would replace the parent ${pk} itself`);
      }
      if (e.tap !== undefined) {
        const key = `${n.parent.netns ?? ''}/${e.tap}`;
        const p2 = taps.get(key);
        if (p2) c.add(`${ep}.tap`, `tap ${e.tap} is already used by ${p2}`);
        else taps.set(key, ep);
        if (e.tap === n.parent.dev) c.add(`${ep}.tap`, `is the parent's name`);
      }
      for (const a of [e.ip, e.ipv6]) {
        if (!a) continue;
        const t = formatIp(a);
        const k = a.family === 4 ? 'ip' : 'ipv6';
        if (ips.has(t)) c.add(`${ep}.${k}`, `${t} is already assigned to ${ips.get(t)}`);
        else ips.set(t, ep);
        if (shimIps.includes(t)) c.add(`${ep}.${k}`, `${t} is the host shim's address`);
      }
      if (e.mac) {
        const vlan = e.vlan ?? n.vlan ?? 0;
        const k = `${vlan}/${e.mac}`;
        if (macs.has(k)) c.add(`${ep}.mac`, `${e.mac} is already used by ${macs.get(k)}`);
        else macs.set(k, ep);
      }
    });
  });
  // A host shim lives in the parent's namespace: its name must not be a tap, an endpoint's
  // interface there, another shim or the parent itself (else each `up` rebuilds one as the other).
  const shims = new Map<string, string>();
  networks.forEach((n, i) => {
    if (!n.hostShim) return;
    const path = `networks[${i}].host-shim.name`;
    const key = `${n.parent.netns ?? ''}/${n.hostShim.name}`;
    const clash = taps.get(key) ?? nsIfnames.get(key) ?? shims.get(key);
    if (clash) c.add(path, `${n.hostShim.name} is already used by ${clash} in ${n.parent.netns ? `namespace ${n.parent.netns}` : 'the host namespace'}`);
    else if (n.hostShim.name === n.parent.dev) c.add(path, `is the parent's name`);
    shims.set(key, `networks[${i}].host-shim`);
  });
  // MACs must be unique per (parent, VLAN) across networks too.
  const seen = new Map<string, string>();
  networks.forEach((n, i) =>
    n.endpoints.forEach((e, j) => {
      if (!e.mac) return;
      const k = `${parentKey(n.parent)}/${e.vlan ?? n.vlan ?? 0}/${e.mac}`;
      const ep = `networks[${i}].endpoints[${j}]`;
      const prev = seen.get(k);
      if (prev && !prev.startsWith(`networks[${i}].`)) c.add(`${ep}.mac`, `${e.mac} is already used on parent ${parentKey(n.parent)} by ${prev}`);
      else if (!prev) seen.set(k, ep);
    }),
  );
}

/** Parse YAML or JSON text (JSON is YAML) and validate it. */
export function parseConfig(text: string, source?: string): ServiceConfig {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) {
    throw new ConfigError(
      doc.errors.map((e) => ({ path: '', reason: `YAML: ${e.message.split('\n')[0]}` })),
      source,
    );
  }
  return validateConfig(doc.toJS({ maxAliasCount: 100 }), source);
}

/** Read, parse and validate a config file. */
export async function loadConfig(file: string): Promise<ServiceConfig> {
  return parseConfig(await readFile(file, 'utf8'), file);
}

/** The JSON form of a validated config's addresses (for the API/status output). */
export function ipamSummary(ipam: IpamConfig | undefined): Record<string, unknown> | undefined {
  if (!ipam) return undefined;
  return {
    subnet: formatCidr(ipam.subnet),
    ...(ipam.gateway ? { gateway: formatIp(ipam.gateway) } : {}),
    ...(ipam.ipRange ? { ipRange: formatCidr(ipam.ipRange) } : {}),
    auxAddresses: Object.fromEntries(Object.entries(ipam.auxAddresses).map(([k, v]) => [k, formatIp(v)])),
  };
}
