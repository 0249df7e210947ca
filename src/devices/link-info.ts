/**
 * Decoding of RTM_NEWLINK messages (answers to RTM_GETLINK) into typed {@link LinkInfo} objects.
 */
import { IFF, IFLA, IFLA_INFO, IFLA_MACVLAN, MACVLAN_FLAG, MACVLAN_MODE, OPERSTATES } from '../netlink/constants.ts';
import { Attrs, IFINFOMSG_LEN, decodeIfInfoMsg, readU64, type NlMessage } from '../netlink/message.ts';
import { formatHwAddr, formatMac, type MacvlanMode } from '../net/index.ts';

/** macvlan/macvtap specifics (IFLA_INFO_DATA). */
export interface MacvlanInfo {
  mode: MacvlanMode;
  /** MACVLAN_FLAG_NOPROMISC: passthru does not put the lower device into promiscuous mode. */
  nopromisc: boolean;
  /** MACVLAN_FLAG_NODST: source-mode matches are not also delivered by destination. */
  nodst: boolean;
  /** Raw IFLA_MACVLAN_FLAGS. */
  flags: number;
  /** Source-mode allow-list (IFLA_MACVLAN_MACADDR_DATA), in kernel order. */
  sourceMacs: string[];
  /** IFLA_MACVLAN_MACADDR_COUNT. */
  macaddrCount: number;
  /** This device's broadcast-queue length request (IFLA_MACVLAN_BC_QUEUE_LEN), when the kernel reports it. */
  bcQueueLen?: number;
  /** The lower device's effective broadcast-queue length (max of all requests). */
  bcQueueLenUsed?: number;
  /** Port-wide broadcast cutoff (IFLA_MACVLAN_BC_CUTOFF); the kernel reports it only when not 1. */
  bcCutoff?: number;
}

/** Interface counters (IFLA_STATS64), as numbers. */
export interface LinkStats {
  rxPackets: number;
  txPackets: number;
  rxBytes: number;
  txBytes: number;
  rxErrors: number;
  txErrors: number;
  rxDropped: number;
  txDropped: number;
  multicast: number;
  collisions: number;
  rxOverErrors: number;
  txCarrierErrors: number;
}

/** A network interface as rtnetlink reports it. */
export interface LinkInfo {
  name: string;
  ifindex: number;
  /** ifi_type: the ARPHRD_* hardware type (1 ether, 772 loopback, 65534 none). */
  type: number;
  /** IFLA_QDISC: the root qdisc's kind ("noqueue", "noop", "fq_codel", ...). */
  qdisc?: string;
  /** IFLA_LINKMODE: 0 default, 1 dormant. */
  linkmode?: number;
  /** IFLA_GROUP: the device group (0 is "default"). */
  group?: number;
  /** IFLA_ALLMULTI: the all-multicast counter. */
  allmulti?: number;
  /** IFLA_INFO_KIND: 'macvlan', 'macvtap', 'veth', 'bridge', ...; undefined for physical devices and lo. */
  kind?: string;
  /** IFLA_INFO_SLAVE_KIND, e.g. 'bridge' for a bridge port. */
  slaveKind?: string;
  /** Hardware address (lower-case, colon-separated). */
  mac?: string;
  broadcast?: string;
  mtu: number;
  minMtu?: number;
  maxMtu?: number;
  /** IFF_* flag names as `ip link` prints them (UP, BROADCAST, MULTICAST, LOWER_UP, PROMISC, ...). */
  flags: string[];
  /** IFF_UP (administratively up). */
  up: boolean;
  /** IFF_LOWER_UP (carrier). */
  lowerUp: boolean;
  /** RFC 2863 operational state: UP, DOWN, LOWERLAYERDOWN, UNKNOWN, ... */
  operstate: string;
  /** IFLA_LINK: the lower device (macvlan), or the peer (veth). */
  parentIndex?: number;
  /** Name of the parent when it is in the same namespace and could be resolved. */
  parent?: string;
  /** IFLA_LINK_NETNSID: id (in this namespace) of the namespace the parent/peer lives in. */
  netnsId?: number;
  masterIndex?: number;
  master?: string;
  /** IFLA_PROMISCUITY: the promiscuity counter (> 0 means promiscuous). */
  promiscuity: number;
  txQueueLen?: number;
  numTxQueues?: number;
  numRxQueues?: number;
  /** IFLA_IFALIAS: the free-text alias the kernel keeps for the device (`ip link set X alias TEXT`). */
  alias?: string;
  /** Present for kind 'macvlan' and 'macvtap'. */
  macvlan?: MacvlanInfo;
  stats?: LinkStats;
}

const FLAG_NAMES: [number, string][] = [
  [IFF.LOOPBACK, 'LOOPBACK'],
  [IFF.BROADCAST, 'BROADCAST'],
  [IFF.POINTOPOINT, 'POINTOPOINT'],
  [IFF.MULTICAST, 'MULTICAST'],
  [IFF.NOARP, 'NOARP'],
  [IFF.ALLMULTI, 'ALLMULTI'],
  [IFF.PROMISC, 'PROMISC'],
  [IFF.NOTRAILERS, 'NOTRAILERS'],
  [IFF.DEBUG, 'DEBUG'],
  [IFF.DYNAMIC, 'DYNAMIC'],
  [IFF.AUTOMEDIA, 'AUTOMEDIA'],
  [IFF.PORTSEL, 'PORTSEL'],
  [IFF.MASTER, 'MASTER'],
  [IFF.SLAVE, 'SLAVE'],
  [IFF.UP, 'UP'],
  [IFF.LOWER_UP, 'LOWER_UP'],
  [IFF.DORMANT, 'DORMANT'],
  [IFF.ECHO, 'ECHO'],
];

/**
 * IFF_* bits to names, in iproute2's order (ip/ipaddress.c print_link_flags): "NO-CARRIER" first
 * when the device is up but not running (no carrier).
 */
export function flagNames(flags: number): string[] {
  const names = FLAG_NAMES.filter(([bit]) => flags & bit).map(([, n]) => n);
  return flags & IFF.UP && !(flags & IFF.RUNNING) ? ['NO-CARRIER', ...names] : names;
}

const MODE_BY_VALUE = new Map<number, MacvlanMode>(
  Object.entries(MACVLAN_MODE).map(([k, v]) => [v, k as MacvlanMode]),
);

/** Decode IFLA_INFO_DATA of a macvlan/macvtap. */
export function decodeMacvlanData(d: Attrs): MacvlanInfo {
  const modeVal = d.u32(IFLA_MACVLAN.MODE) ?? MACVLAN_MODE.vepa;
  const flags = d.u16(IFLA_MACVLAN.FLAGS) ?? 0;
  const list = d.nested(IFLA_MACVLAN.MACADDR_DATA);
  const sourceMacs = list ? list.all(IFLA_MACVLAN.MACADDR).map((b) => formatMac(b)) : [];
  const info: MacvlanInfo = {
    mode: MODE_BY_VALUE.get(modeVal) ?? (String(modeVal) as MacvlanMode),
    nopromisc: (flags & MACVLAN_FLAG.NOPROMISC) !== 0,
    nodst: (flags & MACVLAN_FLAG.NODST) !== 0,
    flags,
    sourceMacs,
    macaddrCount: d.u32(IFLA_MACVLAN.MACADDR_COUNT) ?? sourceMacs.length,
  };
  const q = d.u32(IFLA_MACVLAN.BC_QUEUE_LEN);
  if (q !== undefined) info.bcQueueLen = q;
  const qu = d.u32(IFLA_MACVLAN.BC_QUEUE_LEN_USED);
  if (qu !== undefined) info.bcQueueLenUsed = qu;
  const cut = d.s32(IFLA_MACVLAN.BC_CUTOFF);
  if (cut !== undefined) info.bcCutoff = cut;
  return info;
}

function decodeStats64(b: Buffer): LinkStats | undefined {
  if (b.length < 18 * 8) return undefined;
  const n = (i: number): number => Number(readU64(b, i * 8));
  return {
    rxPackets: n(0),
    txPackets: n(1),
    rxBytes: n(2),
    txBytes: n(3),
    rxErrors: n(4),
    txErrors: n(5),
    rxDropped: n(6),
    txDropped: n(7),
    multicast: n(8),
    collisions: n(9),
    rxOverErrors: n(11),
    txCarrierErrors: n(17),
  };
}

/** Decode one RTM_NEWLINK message. */
export function decodeLink(m: NlMessage): LinkInfo {
  const ifi = decodeIfInfoMsg(m.payload);
  const a = Attrs.parse(m.payload, IFINFOMSG_LEN);
  const link: LinkInfo = {
    name: a.str(IFLA.IFNAME) ?? `if${ifi.index}`,
    ifindex: ifi.index,
    type: ifi.type,
    mtu: a.u32(IFLA.MTU) ?? 0,
    flags: flagNames(ifi.flags),
    up: (ifi.flags & IFF.UP) !== 0,
    lowerUp: (ifi.flags & IFF.LOWER_UP) !== 0,
    operstate: OPERSTATES[a.u8(IFLA.OPERSTATE) ?? 0] ?? 'UNKNOWN',
    promiscuity: a.u32(IFLA.PROMISCUITY) ?? 0,
  };
  const qdisc = a.str(IFLA.QDISC);
  if (qdisc !== undefined) link.qdisc = qdisc;
  const linkmode = a.u8(IFLA.LINKMODE);
  if (linkmode !== undefined) link.linkmode = linkmode;
  const group = a.u32(IFLA.GROUP);
  if (group !== undefined) link.group = group;
  const allmulti = a.u32(IFLA.ALLMULTI);
  if (allmulti !== undefined) link.allmulti = allmulti;
  const mac = a.get(IFLA.ADDRESS);
  if (mac) link.mac = formatHwAddr(mac);
  const alias = a.str(IFLA.IFALIAS);
  if (alias) link.alias = alias;
  const brd = a.get(IFLA.BROADCAST);
  if (brd) link.broadcast = formatHwAddr(brd);
  const minMtu = a.u32(IFLA.MIN_MTU);
  if (minMtu !== undefined) link.minMtu = minMtu;
  const maxMtu = a.u32(IFLA.MAX_MTU);
  if (maxMtu !== undefined) link.maxMtu = maxMtu;
  const nsid = a.s32(IFLA.LINK_NETNSID);
  if (nsid !== undefined && nsid >= 0) link.netnsId = nsid;
  // IFLA_LINK equal to the own index means "no lower device" -- unless it lives in another
  // namespace (a veth peer there may well have the same ifindex).
  const parent = a.u32(IFLA.LINK);
  if (parent && (parent !== ifi.index || link.netnsId !== undefined)) link.parentIndex = parent;
  const master = a.u32(IFLA.MASTER);
  if (master) link.masterIndex = master;
  const txq = a.u32(IFLA.TXQLEN);
  if (txq !== undefined) link.txQueueLen = txq;
  const ntx = a.u32(IFLA.NUM_TX_QUEUES);
  if (ntx !== undefined) link.numTxQueues = ntx;
  const nrx = a.u32(IFLA.NUM_RX_QUEUES);
  if (nrx !== undefined) link.numRxQueues = nrx;
  const li = a.nested(IFLA.LINKINFO);
  if (li) {
    const kind = li.str(IFLA_INFO.KIND);
    if (kind) link.kind = kind;
    const skind = li.str(IFLA_INFO.SLAVE_KIND);
    if (skind) link.slaveKind = skind;
    if (kind === 'macvlan' || kind === 'macvtap') {
      link.macvlan = decodeMacvlanData(li.nested(IFLA_INFO.DATA) ?? new Attrs([]));
    }
  }
  const st = a.get(IFLA.STATS64);
  if (st) {
    const s = decodeStats64(st);
    if (s) link.stats = s;
  }
  return link;
}
