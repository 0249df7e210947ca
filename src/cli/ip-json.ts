/**
 * `macdemux -j link|addr|route show` in `ip -j`'s key names and values, so scripts written
 * against iproute2 read macdemux's output unchanged (ip/ipaddress.c print_linkinfo and
 * print_addrinfo, ip/iproute.c print_route, ip/iplink_macvlan.c macvlan_print_opt, iproute2 6.1).
 */
import type { AddressInfo, LinkInfo, RouteInfo } from '../devices/index.ts';

/** ARPHRD_* names as `ip` prints them (lib/ll_types.c). */
const LINK_TYPES: Record<number, string> = {
  0: 'netrom', 1: 'ether', 24: 'ieee1394', 32: 'infiniband', 512: 'ppp', 768: 'ipip', 769: 'tunnel6',
  772: 'loopback', 776: 'sit', 778: 'gre', 823: 'gre6', 65534: 'none',
};

/** The `link/TYPE` word of a link. */
export function linkTypeName(type: number): string {
  return LINK_TYPES[type] ?? `[${type}]`;
}

/** What `ip -j` adds per link with -d and -s. */
export interface IpJsonOptions {
  details?: boolean;
  stats?: number;
}

type Json = Record<string, unknown>;

/**
 * One link as an `ip -j link show` object. `byIndex` resolves the flags of a parent in the same
 * namespace: `ip` adds "M-DOWN" when that parent (macvlan lower, veth peer) is down.
 */
export function linkToIpJson(l: LinkInfo, byIndex: ReadonlyMap<number, LinkInfo>, o: IpJsonOptions = {}): Json {
  const j: Json = { ifindex: l.ifindex };
  const flags = [...l.flags];
  if (l.parentIndex !== undefined) {
    if (l.netnsId !== undefined) j.link_index = l.parentIndex;
    else {
      const p = byIndex.get(l.parentIndex);
      j.link = p?.name ?? l.parent ?? `if${l.parentIndex}`;
      if (p && !p.up) flags.push('M-DOWN');
    }
  }
  j.ifname = l.name;
  j.flags = flags;
  j.mtu = l.mtu;
  if (l.qdisc !== undefined) j.qdisc = l.qdisc;
  if (l.master !== undefined) j.master = l.master;
  j.operstate = l.operstate;
  if (l.linkmode !== undefined) j.linkmode = l.linkmode === 1 ? 'DORMANT' : 'DEFAULT';
  if (l.group !== undefined) j.group = l.group === 0 ? 'default' : String(l.group);
  if (l.txQueueLen !== undefined) j.txqlen = l.txQueueLen;
  j.link_type = linkTypeName(l.type);
  if (l.mac !== undefined) j.address = l.mac;
  if (l.broadcast !== undefined) j.broadcast = l.broadcast;
  if (l.netnsId !== undefined) j.link_netnsid = l.netnsId;
  if (o.details) {
    j.promiscuity = l.promiscuity;
    if (l.allmulti !== undefined) j.allmulti = l.allmulti;
    if (l.minMtu !== undefined) j.min_mtu = l.minMtu;
    if (l.maxMtu !== undefined) j.max_mtu = l.maxMtu;
    if (l.kind !== undefined || l.slaveKind !== undefined) {
      const info: Json = {};
      if (l.kind !== undefined) info.info_kind = l.kind;
      if (l.macvlan) info.info_data = macvlanToIpJson(l.macvlan);
      if (l.slaveKind !== undefined) info.info_slave_kind = l.slaveKind;
      j.linkinfo = info;
    }
    if (l.numTxQueues !== undefined) j.num_tx_queues = l.numTxQueues;
    if (l.numRxQueues !== undefined) j.num_rx_queues = l.numRxQueues;
  }
  if (o.stats && l.stats) {
    const s = l.stats;
    j.stats64 = {
      rx: { bytes: s.rxBytes, packets: s.rxPackets, errors: s.rxErrors, dropped: s.rxDropped, over_errors: s.rxOverErrors, multicast: s.multicast },
      tx: { bytes: s.txBytes, packets: s.txPackets, errors: s.txErrors, dropped: s.txDropped, carrier_errors: s.txCarrierErrors, collisions: s.collisions },
    };
  }
  return j;
}

function macvlanToIpJson(m: NonNullable<LinkInfo['macvlan']>): Json {
  const d: Json = { mode: m.mode };
  if (m.nopromisc) d.nopromisc = true;
  if (m.nodst) d.nodst = true;
  if (m.bcQueueLen !== undefined) d.bcqueuelen = m.bcQueueLen;
  if (m.bcQueueLenUsed !== undefined) d.usedbcqueuelen = m.bcQueueLenUsed;
  if (m.mode === 'source') {
    d.macaddr_count = m.macaddrCount;
    if (m.sourceMacs.length) d.macaddr_data = [...m.sourceMacs];
  }
  return d;
}

/** `ip -j addr show`: each link (without linkmode, as ip prints it there) with its addr_info. */
export function addressesToIpJson(links: LinkInfo[], addrs: AddressInfo[], byIndex: ReadonlyMap<number, LinkInfo>): Json[] {
  return links.map((l) => {
    const { linkmode: _omit, ...j } = linkToIpJson(l, byIndex);
    j.addr_info = addrs.filter((a) => a.ifindex === l.ifindex).map(addressToIpJson);
    return j;
  });
}

/** Address flags ip prints as booleans (ip/ipaddress.c ifa_flag_names); "permanent" is not printed. */
const ADDR_FLAG_KEYS: Record<string, string> = {
  secondary: 'secondary', nodad: 'nodad', optimistic: 'optimistic', dadfailed: 'dadfailed', home: 'home',
  deprecated: 'deprecated', tentative: 'tentative', mngtmpaddr: 'mngtmpaddr', noprefixroute: 'noprefixroute',
};

/** One entry of `addr_info`. */
export function addressToIpJson(a: AddressInfo): Json {
  const j: Json = { family: a.family, local: a.address };
  if (a.peer !== undefined) j.address = a.peer;
  j.prefixlen = a.prefixLen;
  if (a.broadcast !== undefined) j.broadcast = a.broadcast;
  j.scope = a.scope;
  if (!a.flags.includes('permanent')) j.dynamic = true;
  for (const f of a.flags) if (ADDR_FLAG_KEYS[f]) j[ADDR_FLAG_KEYS[f]] = true;
  if (a.label !== undefined) j.label = a.label;
  if (a.validLifetime !== undefined) j.valid_life_time = a.validLifetime;
  if (a.preferredLifetime !== undefined) j.preferred_life_time = a.preferredLifetime;
  return j;
}

/** rtm_protocol names (/etc/iproute2/rt_protos). */
const PROTOCOLS: Record<number, string> = {
  0: 'unspec', 1: 'redirect', 2: 'kernel', 3: 'boot', 4: 'static', 8: 'gated', 9: 'ra', 10: 'mrt', 11: 'zebra',
  12: 'bird', 13: 'dnrouted', 14: 'xorp', 15: 'ntk', 16: 'dhcp', 18: 'keepalived', 42: 'babel', 99: 'openr',
  186: 'bgp', 187: 'isis', 188: 'ospf', 189: 'rip', 192: 'eigrp',
};
/** rtm_type names (ip/rt_names.c rtnl_rtntype_n2a). */
const ROUTE_TYPES: Record<number, string> = {
  0: 'none', 1: 'unicast', 2: 'local', 3: 'broadcast', 4: 'anycast', 5: 'multicast', 6: 'blackhole',
  7: 'unreachable', 8: 'prohibit', 9: 'throw', 10: 'nat', 11: 'xresolve',
};
const TABLES: Record<number, string> = { 253: 'default', 254: 'main', 255: 'local' };

/** Route protocol name as `ip route` prints it ("kernel", "boot", "static", or the number). */
export function routeProtocolName(p: number): string {
  return PROTOCOLS[p] ?? String(p);
}

/** One `ip -j route show` object. */
export function routeToIpJson(r: RouteInfo): Json {
  const j: Json = {};
  if (r.type !== 1) j.type = ROUTE_TYPES[r.type] ?? String(r.type);
  j.dst = r.dst;
  if (r.via !== undefined) j.gateway = r.via;
  if (r.dev !== undefined) j.dev = r.dev;
  if (r.table !== 254) j.table = TABLES[r.table] ?? String(r.table);
  // ip leaves out protocol boot (the default of `ip route add`) and scope global.
  if (r.protocol !== 3) j.protocol = routeProtocolName(r.protocol);
  if (r.scope !== 'global') j.scope = r.scope;
  if (r.prefsrc !== undefined) j.prefsrc = r.prefsrc;
  if (r.metric !== undefined) j.metric = r.metric;
  j.flags = [...r.flags];
  if (r.pref !== undefined) j.pref = r.pref;
  return j;
}
