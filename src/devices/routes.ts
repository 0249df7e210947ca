/**
 * Routes over rtnetlink (RTM_NEWROUTE / RTM_DELROUTE / RTM_GETROUTE dump): enough for on-link
 * and gateway routes, e.g. the "host shim" (a /32 on a macvlan and a route to the containers'
 * range via that device).
 */
import { InvalidArgumentError } from '../errors.ts';
import { AF_INET, AF_INET6, NLM_F, RTA, RTM, RTN, RTPROT, RT_SCOPE, RT_TABLE_MAIN } from '../netlink/constants.ts';
import { Attrs, MessageBuilder, RTMSG_LEN, decodeRtMsg, encodeRtMsg, type NlMessage } from '../netlink/message.ts';
import { withRtnl, type ErrorContext } from '../netlink/socket.ts';
import { getLinkOn, listLinksOn } from './links.ts';
import type { NetnsOption } from './netns-ref.ts';
import { validateIfname } from '../net/index.ts';
import { formatIp, isNetworkAddress, parseCidr, parseIp, validateInt, type Cidr, type IpAddr } from './validate.ts';
import { scopeName } from './addresses.ts';

/** A route to add or delete. */
export interface RouteSpec {
  /** "default", "10.0.0.0/24", "10.0.0.5" (a host route), "fd00::/64". */
  dst: string;
  /** Output device. */
  dev?: string;
  /** Gateway. */
  via?: string;
  /** Preferred source address (RTA_PREFSRC). */
  src?: string;
  /** Metric (RTA_PRIORITY). */
  metric?: number;
  /** Table id; default main (254). */
  table?: number;
}

/** A route as the kernel reports it. */
export interface RouteInfo {
  family: 'inet' | 'inet6';
  /** "default" or "addr/len" ("addr" alone for host routes, as iproute2 prints them). */
  dst: string;
  dstLen: number;
  dev?: string;
  oif?: number;
  via?: string;
  prefsrc?: string;
  metric?: number;
  table: number;
  protocol: number;
  scope: string;
  type: number;
  /** rtm_flags (RTNH_F_* / RTM_F_*) as `ip -j route` names them: onlink, linkdown, dead, ... */
  flags: string[];
  /** IPv6 router preference (RTA_PREF): 'low', 'medium' or 'high'. */
  pref?: string;
}

/** rtm_flags names in iproute2's order (ip/iproute.c print_rt_flags). */
const ROUTE_FLAG_NAMES: [number, string][] = [
  [0x1, 'dead'],
  [0x4, 'onlink'],
  [0x2, 'pervasive'],
  [0x8, 'offload'],
  [0x40, 'trap'],
  [0x100, 'notify'],
  [0x10, 'linkdown'],
  [0x20, 'unresolved'],
  [0x4000, 'rt_offload'],
  [0x8000, 'rt_trap'],
  [0x20000000, 'rt_offload_failed'],
];
/** ICMPV6_ROUTER_PREF_* (include/uapi/linux/icmpv6.h). */
const ROUTE_PREF_NAMES: Record<number, string> = { 0: 'medium', 1: 'high', 3: 'low' };

interface ParsedSpec {
  dst: Cidr | { family: 4 | 6 | 0; bytes: Buffer; prefixLen: 0; isDefault: true };
  via?: IpAddr;
  src?: IpAddr;
  family: 4 | 6;
}

function parseSpec(r: RouteSpec, forAdd: boolean): ParsedSpec {
  if (!r || typeof r !== 'object') throw new InvalidArgumentError('route', 'an object with dst', r);
  if (r.dev !== undefined) validateIfname(r.dev, 'route.dev');
  if (r.metric !== undefined) validateInt(r.metric, 'route.metric', 0, 0xffffffff);
  if (r.table !== undefined) validateInt(r.table, 'route.table', 1, 0xffffffff);
  const via = r.via !== undefined ? parseIp(r.via, 'route.via') : undefined;
  const src = r.src !== undefined ? parseIp(r.src, 'route.src') : undefined;
  if (r.dst === 'default') {
    const family = via?.family ?? src?.family ?? 4;
    return { dst: { family, bytes: Buffer.alloc(0), prefixLen: 0, isDefault: true }, via, src, family } as ParsedSpec;
  }
  const dst = parseCidr(r.dst, 'route.dst', { allowBare: true });
  if (!isNetworkAddress(dst)) {
    throw new InvalidArgumentError('route.dst', 'a network address (host bits zero) like 10.0.0.0/24', r.dst);
  }
  if (via && via.family !== dst.family) throw new InvalidArgumentError('route.via', `an IPv${dst.family} gateway`, r.via);
  if (src && src.family !== dst.family) throw new InvalidArgumentError('route.src', `an IPv${dst.family} address`, r.src);
  if (forAdd && !r.dev && !via) throw new InvalidArgumentError('route', 'dev or via', r);
  return { dst, via, src, family: dst.family };
}

function routeMessage(type: number, flags: number, r: RouteSpec, p: ParsedSpec, oif: number | undefined): MessageBuilder {
  const table = r.table ?? RT_TABLE_MAIN;
  const del = type === RTM.DELROUTE;
  const b = new MessageBuilder(type, flags).raw(
    encodeRtMsg({
      family: p.family === 4 ? AF_INET : AF_INET6,
      dstLen: p.dst.prefixLen,
      table: table < 256 ? table : 0,
      protocol: del ? 0 : RTPROT.BOOT,
      scope: del ? RT_SCOPE.NOWHERE : p.via ? RT_SCOPE.UNIVERSE : RT_SCOPE.LINK,
      type: del ? 0 : RTN.UNICAST,
    }),
  );
  if (p.dst.prefixLen > 0 || !('isDefault' in p.dst)) {
    if (p.dst.bytes.length) b.attr(RTA.DST, p.dst.bytes);
  }
  if (table >= 256) b.u32(RTA.TABLE, table);
  if (oif !== undefined) b.u32(RTA.OIF, oif);
  if (p.via) b.attr(RTA.GATEWAY, p.via.bytes);
  if (p.src) b.attr(RTA.PREFSRC, p.src.bytes);
  if (r.metric !== undefined) b.u32(RTA.PRIORITY, r.metric);
  return b;
}

async function routeOp(type: number, flags: number, r: RouteSpec, opts: NetnsOption, op: string): Promise<void> {
  const p = parseSpec(r, type === RTM.NEWROUTE);
  const ctx: ErrorContext = { what: 'route', ifname: r.dst, op };
  await withRtnl(opts.netns, (s) => {
    const oif = r.dev !== undefined ? getLinkOn(s, r.dev, { ...ctx, op: `${op} (dev ${r.dev})` }).ifindex : undefined;
    s.request(routeMessage(type, flags, r, p, oif), ctx);
  });
}

/** Add a route (`ip route add DST [via GW] [dev DEV] [src SRC] [metric N]`). EEXIST when present. */
export async function addRoute(r: RouteSpec, opts: NetnsOption = {}): Promise<void> {
  return routeOp(RTM.NEWROUTE, NLM_F.CREATE | NLM_F.EXCL, r, opts, 'add');
}

/** Delete a route (matching on the given fields). ESRCH when there is no such route. */
export async function deleteRoute(r: RouteSpec, opts: NetnsOption = {}): Promise<void> {
  return routeOp(RTM.DELROUTE, 0, r, opts, 'delete');
}

/** Decode one RTM_NEWROUTE message. */
export function decodeRoute(m: NlMessage): RouteInfo {
  const h = decodeRtMsg(m.payload);
  const a = Attrs.parse(m.payload, RTMSG_LEN);
  const dstBytes = a.get(RTA.DST);
  const full = h.family === AF_INET6 ? 128 : 32;
  let dst = 'default';
  if (dstBytes && (h.dstLen > 0 || dstBytes.length)) {
    dst = h.dstLen === full ? formatIp(dstBytes) : `${formatIp(dstBytes)}/${h.dstLen}`;
  }
  const info: RouteInfo = {
    family: h.family === AF_INET6 ? 'inet6' : 'inet',
    dst,
    dstLen: h.dstLen,
    table: a.u32(RTA.TABLE) ?? h.table,
    protocol: h.protocol,
    scope: scopeName(h.scope),
    type: h.type,
    flags: ROUTE_FLAG_NAMES.filter(([bit]) => h.flags & bit).map(([, n]) => n),
  };
  const pref = a.u8(RTA.PREF);
  if (pref !== undefined) info.pref = ROUTE_PREF_NAMES[pref] ?? String(pref);
  const oif = a.u32(RTA.OIF);
  if (oif !== undefined) info.oif = oif;
  const gw = a.get(RTA.GATEWAY);
  if (gw) info.via = formatIp(gw);
  const ps = a.get(RTA.PREFSRC);
  if (ps) info.prefsrc = formatIp(ps);
  const pr = a.u32(RTA.PRIORITY);
  if (pr !== undefined) info.metric = pr;
  return info;
}

/** Routes of one table (default main) and family (default both). */
export async function listRoutes(opts: NetnsOption & { family?: 'inet' | 'inet6'; table?: number } = {}): Promise<RouteInfo[]> {
  const table = opts.table ?? RT_TABLE_MAIN;
  validateInt(table, 'table', 0, 0xffffffff);
  return withRtnl(opts.netns, (s) => {
    const names = new Map(listLinksOn(s).map((l) => [l.ifindex, l.name]));
    const family = opts.family === 'inet' ? AF_INET : opts.family === 'inet6' ? AF_INET6 : 0;
    const b = new MessageBuilder(RTM.GETROUTE, 0).raw(encodeRtMsg({ family }));
    return s
      .dump(b, { what: 'routes', op: 'list' })
      .filter((m) => m.type === RTM.NEWROUTE)
      .map(decodeRoute)
      .filter((r) => (table === 0 || r.table === table) && (!opts.family || r.family === opts.family))
      .map((r) => {
        const n = r.oif !== undefined ? names.get(r.oif) : undefined;
        return n !== undefined ? { ...r, dev: n } : r;
      });
  });
}
