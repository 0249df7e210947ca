/**
 * IPv4/IPv6 addresses over rtnetlink (RTM_NEWADDR / RTM_DELADDR / RTM_GETADDR dump).
 */
import { InvalidArgumentError } from '../errors.ts';
import { AF_INET, AF_INET6, IFA, IFA_F, NLM_F, RTM, RT_SCOPE } from '../netlink/constants.ts';
import { Attrs, IFADDRMSG_LEN, MessageBuilder, decodeIfAddrMsg, encodeIfAddrMsg, readU32, type NlMessage } from '../netlink/message.ts';
import { withRtnl, type ErrorContext } from '../netlink/socket.ts';
import { getLinkOn, listLinksOn } from './links.ts';
import type { NetnsOption } from './netns-ref.ts';
import { validateIfname } from '../net/index.ts';
import { formatIp, parseCidr } from './validate.ts';

/** An address on an interface. */
export interface AddressInfo {
  ifindex: number;
  /** Interface name (resolved in the same namespace). */
  ifname?: string;
  family: 'inet' | 'inet6';
  /** The local address (IFA_LOCAL for IPv4, IFA_ADDRESS for IPv6). */
  address: string;
  prefixLen: number;
  /** "address/prefixLen". */
  cidr: string;
  /** Peer address on point-to-point links (IFA_ADDRESS when it differs from IFA_LOCAL). */
  peer?: string;
  broadcast?: string;
  /** 'global', 'site', 'link', 'host', 'nowhere' or the number. */
  scope: string;
  /** IFA_F_* names in lower case, as `ip -j` prints them: secondary, nodad, permanent, tentative, ... */
  flags: string[];
  label?: string;
  /** IFA_CACHEINFO lifetimes in seconds (0xffffffff = forever). */
  validLifetime?: number;
  preferredLifetime?: number;
}

/** Options of {@link addAddress}. */
export interface AddAddressOptions extends NetnsOption {
  /** IFA_F_NOPREFIXROUTE: do not add the prefix route. */
  noPrefixRoute?: boolean;
  /** IFA_F_NODAD (IPv6): skip duplicate address detection. */
  nodad?: boolean;
  /** Scope; default global. */
  scope?: 'global' | 'link' | 'host';
}

const SCOPE_NAMES: Record<number, string> = {
  [RT_SCOPE.UNIVERSE]: 'global',
  [RT_SCOPE.SITE]: 'site',
  [RT_SCOPE.LINK]: 'link',
  [RT_SCOPE.HOST]: 'host',
  [RT_SCOPE.NOWHERE]: 'nowhere',
};
const SCOPE_VALUES: Record<string, number> = { global: RT_SCOPE.UNIVERSE, link: RT_SCOPE.LINK, host: RT_SCOPE.HOST };
/** Scope number to name (as iproute2 prints it). */
export const scopeName = (n: number): string => SCOPE_NAMES[n] ?? String(n);

const IFA_FLAG_NAMES: [number, string][] = [
  [IFA_F.SECONDARY, 'secondary'],
  [IFA_F.NODAD, 'nodad'],
  [IFA_F.OPTIMISTIC, 'optimistic'],
  [IFA_F.DADFAILED, 'dadfailed'],
  [IFA_F.HOMEADDRESS, 'home'],
  [IFA_F.DEPRECATED, 'deprecated'],
  [IFA_F.TENTATIVE, 'tentative'],
  [IFA_F.PERMANENT, 'permanent'],
  [IFA_F.MANAGETEMPADDR, 'mngtmpaddr'],
  [IFA_F.NOPREFIXROUTE, 'noprefixroute'],
];

function addrMessage(type: number, flags: number, ifindex: number, cidr: string, o: AddAddressOptions = {}): MessageBuilder {
  const c = parseCidr(cidr, 'cidr');
  let f = 0;
  if (o.noPrefixRoute) f |= IFA_F.NOPREFIXROUTE;
  if (o.nodad) f |= IFA_F.NODAD;
  const scope = o.scope !== undefined ? SCOPE_VALUES[o.scope] : RT_SCOPE.UNIVERSE;
  if (scope === undefined) throw new InvalidArgumentError('scope', 'one of global, link, host', o.scope);
  const b = new MessageBuilder(type, flags).raw(
    encodeIfAddrMsg({ family: c.family === 4 ? AF_INET : AF_INET6, prefixLen: c.prefixLen, flags: f & 0xff, scope, index: ifindex }),
  );
  b.attr(IFA.LOCAL, c.bytes);
  b.attr(IFA.ADDRESS, c.bytes);
  if (f > 0xff) b.u32(IFA.FLAGS, f);
  return b;
}

/** Add an address ("10.0.0.1/24", "fd00::1/64") to an interface. EEXIST when already there. */
export async function addAddress(ifname: string, cidr: string, opts: AddAddressOptions = {}): Promise<void> {
  validateIfname(ifname, 'ifname');
  parseCidr(cidr, 'cidr');
  const ctx: ErrorContext = { what: 'address', ifname, op: `add ${cidr}` };
  await withRtnl(opts.netns, (s) => {
    const link = getLinkOn(s, ifname, ctx);
    s.request(addrMessage(RTM.NEWADDR, NLM_F.CREATE | NLM_F.EXCL, link.ifindex, cidr, opts), ctx);
  });
}

/** Remove an address from an interface. EADDRNOTAVAIL when it is not there. */
export async function deleteAddress(ifname: string, cidr: string, opts: NetnsOption = {}): Promise<void> {
  validateIfname(ifname, 'ifname');
  parseCidr(cidr, 'cidr');
  const ctx: ErrorContext = { what: 'address', ifname, op: `delete ${cidr}` };
  await withRtnl(opts.netns, (s) => {
    const link = getLinkOn(s, ifname, ctx);
    s.request(addrMessage(RTM.DELADDR, 0, link.ifindex, cidr), ctx);
  });
}

/** Decode one RTM_NEWADDR message. */
export function decodeAddress(m: NlMessage): AddressInfo {
  const h = decodeIfAddrMsg(m.payload);
  const a = Attrs.parse(m.payload, IFADDRMSG_LEN);
  const local = a.get(IFA.LOCAL);
  const addr = a.get(IFA.ADDRESS);
  const main = local ?? addr;
  const address = main ? formatIp(main) : '';
  const flagsVal = a.u32(IFA.FLAGS) ?? h.flags;
  const info: AddressInfo = {
    ifindex: h.index,
    family: h.family === AF_INET6 ? 'inet6' : 'inet',
    address,
    prefixLen: h.prefixLen,
    cidr: `${address}/${h.prefixLen}`,
    scope: scopeName(h.scope),
    flags: IFA_FLAG_NAMES.filter(([bit]) => flagsVal & bit).map(([, n]) => n),
  };
  if (local && addr && !local.equals(addr)) info.peer = formatIp(addr);
  const brd = a.get(IFA.BROADCAST);
  if (brd) info.broadcast = formatIp(brd);
  const label = a.str(IFA.LABEL);
  if (label) info.label = label;
  // struct ifa_cacheinfo { u32 ifa_prefered; u32 ifa_valid; u32 cstamp; u32 tstamp; }
  const ci = a.get(IFA.CACHEINFO);
  if (ci && ci.length >= 8) {
    info.preferredLifetime = readU32(ci, 0);
    info.validLifetime = readU32(ci, 4);
  }
  return info;
}

/** Addresses in the namespace, of one interface when `ifname` is given; `family` filters. */
export async function listAddresses(
  ifname?: string,
  opts: NetnsOption & { family?: 'inet' | 'inet6' } = {},
): Promise<AddressInfo[]> {
  if (ifname !== undefined) validateIfname(ifname, 'ifname');
  if (opts.family !== undefined && opts.family !== 'inet' && opts.family !== 'inet6') {
    throw new InvalidArgumentError('family', '"inet" or "inet6"', opts.family);
  }
  return withRtnl(opts.netns, (s) => {
    const names = new Map(listLinksOn(s).map((l) => [l.ifindex, l.name]));
    let index: number | undefined;
    if (ifname !== undefined) index = getLinkOn(s, ifname, { what: 'address', ifname, op: 'list' }).ifindex;
    const family = opts.family === 'inet' ? AF_INET : opts.family === 'inet6' ? AF_INET6 : 0;
    const b = new MessageBuilder(RTM.GETADDR, 0).raw(encodeIfAddrMsg({ family }));
    return s
      .dump(b, { what: 'addresses', op: 'list' })
      .filter((m) => m.type === RTM.NEWADDR)
      .map(decodeAddress)
      .filter((x) => index === undefined || x.ifindex === index)
      .filter((x) => !opts.family || x.family === opts.family)
      .map((x) => {
        const n = names.get(x.ifindex);
        return n !== undefined ? { ...x, ifname: n } : x;
      });
  });
}
