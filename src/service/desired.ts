/**
 * What a validated config plus its leases mean in kernel objects: the namespaces to have and, per
 * endpoint or host shim, one link (kernel data plane: a macvlan/macvtap on the parent; userspace
 * data plane: a veth pair whose far end is a switch port in the parent's namespace) with its MAC,
 * addresses and routes; a userspace VM endpoint is a persistent tap whose network device is the
 * switch port. Pure: no I/O.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { MacvlanMode, NetworkConfig, ParentRef, ServiceConfig } from './config.ts';
import { formatCidr, formatIp } from './ipaddr.ts';
import type { LeaseTable } from './leases.ts';
import { derivedMac } from './leases.ts';
import { resourceKey } from './ownership.ts';

/** A userspace switch port (for the macdemux engine). */
export interface DesiredPort {
  /** Port name (endpoint name, or `<network>.shim`). */
  name: string;
  network: string;
  mac: string;
  mode: MacvlanMode;
  vlan?: number;
  /** The veth end in the parent's namespace the engine reads and writes. */
  ifname: string;
}

/** The persistent tap of a userspace VM port (src/devices/vm-tap.ts). */
export interface DesiredVmTap {
  /** Queues the hypervisor opens: more than one makes an IFF_MULTI_QUEUE tap (QEMU queues=N). */
  queues: number;
  /** uid / gid that may attach queues without CAP_NET_ADMIN (TUNSETOWNER / TUNSETGROUP). */
  owner?: number;
  group?: number;
  /** The tap's MTU (vm.mtu); undefined: the switch's frame limit. */
  mtu?: number;
  /** The network's mtu: the switch's frame limit; undefined: the uplink's MTU is. */
  networkMtu?: number;
  /** The switch's uplink. */
  uplink: ParentRef;
}

/** One link to have. */
export interface DesiredLink {
  key: string;
  netns?: string;
  name: string;
  role: 'endpoint' | 'shim' | 'tap';
  network: string;
  endpoint?: string;
  type: 'macvlan' | 'macvtap' | 'veth' | 'tun';
  /** tun (a userspace VM port): the persistent tap macdemux makes and the hypervisor opens by name. */
  vmTap?: DesiredVmTap;
  /** macvlan/macvtap: the lower device. */
  parent?: ParentRef;
  mode?: MacvlanMode;
  nopromisc?: boolean;
  sourceMacs?: string[];
  /** veth: the far end (switch port) in the parent's namespace. */
  peer?: { netns?: string; name: string };
  mac: string;
  /**
   * Kernel passthru: the device inherits the parent's MAC and a MAC set on it is written through
   * to the parent (a device macdemux did not create), so the MAC is never set or compared.
   */
  inheritMac?: boolean;
  /** Addresses as canonical "addr/len". */
  addresses: string[];
  /** Routes through this link (host shim: the endpoints' range). */
  routes: string[];
  /** Gateways for a default route, added when the namespace has none. */
  gateways: string[];
  /** userspace: the switch port this link feeds. */
  port?: DesiredPort;
}

/** Everything a config asks for. */
export interface DesiredState {
  /** Namespaces endpoints live in (created when missing). */
  namespaces: string[];
  /** Parents that must exist (and be up). */
  parents: { network: string; parent: ParentRef }[];
  links: DesiredLink[];
}

/** Deterministic switch-port interface name in the parent's namespace: `mdx` + 8 hex (11 chars). */
export function portIfname(network: string, endpoint: string): string {
  return `mdx${createHash('sha256').update(`${network}\0${endpoint}`).digest('hex').slice(0, 8)}`;
}

/** Derive the desired state. Every endpoint must have a lease (see planLeases). */
export function desiredState(config: ServiceConfig, leases: LeaseTable): DesiredState {
  const namespaces = new Set<string>();
  const links: DesiredLink[] = [];
  const parents: DesiredState['parents'] = [];
  for (const n of config.networks) {
    parents.push({ network: n.name, parent: n.parent });
    for (const e of n.endpoints) {
      const lease = leases[n.name]?.[e.name];
      if (!lease) throw new Error(`internal: no lease for ${n.name}/${e.name}`);
      const addresses: string[] = [];
      if (lease.ipv4 && n.ipv4) addresses.push(`${lease.ipv4}/${n.ipv4.subnet.prefix}`);
      if (lease.ipv6 && n.ipv6) addresses.push(`${lease.ipv6}/${n.ipv6.subnet.prefix}`);
      if (e.addresses) addresses.push(...e.addresses);
      const gateways = [n.ipv4?.gateway, n.ipv6?.gateway].filter((g) => g !== undefined).map((g) => formatIp(g));
      // A tap endpoint: its device lives in the parent's namespace (a tun tap or a macvtap).
      const tapLink = e.tap === undefined ? undefined : {
        key: resourceKey({ kind: 'link', netns: n.parent.netns, name: e.tap }),
        ...(n.parent.netns ? { netns: n.parent.netns } : {}),
        name: e.tap,
        role: 'tap' as const,
        network: n.name,
        endpoint: e.name,
      };
      if (tapLink && n.dataplane === 'userspace') {
        // A VM port: the switch serves the tap's network device; the hypervisor opens the tap by name.
        const vlan = e.vlan ?? n.vlan;
        const vm = e.vm;
        links.push({
          ...tapLink,
          type: 'tun',
          vmTap: {
            queues: vm?.queues ?? 1,
            ...(vm?.owner !== undefined ? { owner: vm.owner } : {}),
            ...(vm?.group !== undefined ? { group: vm.group } : {}),
            ...(vm?.mtu !== undefined ? { mtu: vm.mtu } : {}),
            ...(n.mtu !== undefined ? { networkMtu: n.mtu } : {}),
            uplink: n.parent,
          },
          mac: lease.mac, // the guest's (the port's); the tap's own MAC is left alone
          addresses: [],
          routes: [],
          gateways: [],
          port: { name: e.name, network: n.name, mac: lease.mac, mode: n.mode, ...(vlan !== undefined ? { vlan } : {}), ifname: tapLink.name },
        });
        continue;
      }
      if (tapLink) {
        links.push({
          ...tapLink,
          type: 'macvtap',
          parent: n.parent,
          mode: n.mode,
          ...(n.mode === 'passthru' ? { inheritMac: true } : {}),
          ...(n.nopromisc ? { nopromisc: true } : {}),
          ...(e.sourceMacs ? { sourceMacs: e.sourceMacs } : {}),
          mac: lease.mac,
          addresses: [], // the VM configures its own address; the lease is reported by the API
          routes: [],
          gateways: [],
        });
        continue;
      }
      const netns = e.netns as string;
      // A namespace given by path belongs to a container runtime: never created here, and while it
      // is gone (the pod died before its CNI DEL) the endpoint has no link to apply.
      if (netns.startsWith('/')) {
        if (!existsSync(netns)) continue;
      } else namespaces.add(netns);
      const base = {
        key: resourceKey({ kind: 'link', netns, name: e.ifname }),
        netns,
        name: e.ifname,
        role: 'endpoint' as const,
        network: n.name,
        endpoint: e.name,
        mac: lease.mac,
        addresses,
        routes: [],
        gateways,
      };
      if (n.dataplane === 'kernel') {
        links.push({
          ...base,
          type: 'macvlan',
          parent: n.parent,
          mode: n.mode,
          ...(n.mode === 'passthru' ? { inheritMac: true } : {}),
          ...(n.nopromisc ? { nopromisc: true } : {}),
          ...(e.sourceMacs ? { sourceMacs: e.sourceMacs } : {}),
        });
      } else {
        const ifname = portIfname(n.name, e.name);
        const vlan = e.vlan ?? n.vlan;
        links.push({
          ...base,
          type: 'veth',
          peer: { ...(n.parent.netns ? { netns: n.parent.netns } : {}), name: ifname },
          port: { name: e.name, network: n.name, mac: lease.mac, mode: n.mode, ...(vlan !== undefined ? { vlan } : {}), ifname },
        });
      }
    }
    if (n.hostShim) links.push(shimLink(n));
  }
  return { namespaces: [...namespaces].sort(), parents, links };
}

function shimLink(n: NetworkConfig): DesiredLink {
  const shim = n.hostShim!;
  // Per family: the address alone (/32, /128) and a route to that family's range through the shim.
  const fams = shim.ips.map((ip) => ({ ip, fam: ip.family === 4 ? n.ipv4! : n.ipv6! }));
  const routes = fams.map(({ fam }) => formatCidr(fam.ipRange ?? fam.subnet));
  const mac = derivedMac(n.name, '#host-shim');
  const base = {
    key: resourceKey({ kind: 'link', netns: n.parent.netns, name: shim.name }),
    ...(n.parent.netns ? { netns: n.parent.netns } : {}),
    name: shim.name,
    role: 'shim' as const,
    network: n.name,
    mac,
    addresses: fams.map(({ ip }) => `${formatIp(ip)}/${ip.family === 4 ? 32 : 128}`),
    routes,
    gateways: [],
  };
  if (n.dataplane === 'kernel') return { ...base, type: 'macvlan', parent: n.parent, mode: 'bridge' };
  const ifname = portIfname(n.name, '#host-shim');
  return {
    ...base,
    type: 'veth',
    peer: { ...(n.parent.netns ? { netns: n.parent.netns } : {}), name: ifname },
    port: { name: `${n.name}.shim`, network: n.name, mac, mode: 'bridge', ...(n.vlan !== undefined ? { vlan: n.vlan } : {}), ifname },
  };
}
