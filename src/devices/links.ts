/**
 * Link operations over rtnetlink: create macvlan/macvtap (every mode), veth pairs and bridges;
 * get/list/delete; set up/down, MAC, MTU, promisc, master, namespace; macvlan mode/flags/source
 * list/broadcast queue. Every function runs inside `opts.netns` when given (like `ip -n NS`).
 */
import { InvalidArgumentError, MacdemuxSystemError, systemError } from '../errors.ts';
import {
  AF_BRIDGE,
  IFF,
  IFLA,
  IFLA_BRPORT,
  IFLA_INFO,
  IFLA_MACVLAN,
  MACVLAN_FLAG,
  MACVLAN_MACADDR,
  MACVLAN_MODE,
  NLM_F,
  RTM,
  VETH_INFO_PEER,
} from '../netlink/constants.ts';
import { MessageBuilder, encodeIfInfoMsg } from '../netlink/message.ts';
import { withRtnl, type ErrorContext, type RtnlSocket } from '../netlink/socket.ts';
import { decodeLink, type LinkInfo } from './link-info.ts';
import {
  describeNetnsRef,
  netnsRefPath,
  openNetnsRef,
  putNetnsRef,
  type NetnsOption,
  type NetnsRef,
  type OpenedNetnsRef,
} from './netns-ref.ts';
import { parseMac, validateIfname, validateMacaddrOp, validateMode, type MacaddrOp, type MacvlanMode } from '../net/index.ts';
import { validateInt } from './validate.ts';

const CREATE_FLAGS = NLM_F.CREATE | NLM_F.EXCL;
const ENODEV = -19;

/** Append ": detail" to an error's message (for context the kernel did not give). */
function withDetail<E extends Error>(err: E, detail: string): E {
  err.message += `: ${detail}`;
  return err;
}

// ---- low-level helpers on an open socket ------------------------------------------------

/** RTM_GETLINK by name or index on an open socket; throws ENODEV when absent. */
export function getLinkOn(s: RtnlSocket, nameOrIndex: string | number, ctx?: ErrorContext): LinkInfo {
  const b = new MessageBuilder(RTM.GETLINK, 0);
  if (typeof nameOrIndex === 'number') {
    b.raw(encodeIfInfoMsg({ index: nameOrIndex }));
  } else {
    b.raw(encodeIfInfoMsg({}));
    b.string(IFLA.IFNAME, nameOrIndex);
  }
  const c = ctx ?? { what: 'link', ifname: String(nameOrIndex), op: 'get' };
  const { replies } = s.request(b, c);
  const m = replies.find((r) => r.type === RTM.NEWLINK);
  if (!m) throw systemError(ENODEV, 'RTM_GETLINK', c);
  return decodeLink(m);
}

/** Like {@link getLinkOn} but undefined when the device does not exist. */
export function findLinkOn(s: RtnlSocket, nameOrIndex: string | number): LinkInfo | undefined {
  try {
    return getLinkOn(s, nameOrIndex);
  } catch (err) {
    if (err instanceof MacdemuxSystemError && err.code === 'ENODEV') return undefined;
    throw err;
  }
}

/** Dump every link on an open socket, with parent and master names resolved. */
export function listLinksOn(s: RtnlSocket): LinkInfo[] {
  const b = new MessageBuilder(RTM.GETLINK, 0).raw(encodeIfInfoMsg({}));
  const links = s
    .dump(b, { what: 'links', op: 'list' })
    .filter((m) => m.type === RTM.NEWLINK)
    .map(decodeLink);
  const byIndex = new Map(links.map((l) => [l.ifindex, l.name]));
  for (const l of links) resolveNames(l, (i) => byIndex.get(i));
  return links;
}

function resolveNames(l: LinkInfo, nameOf: (ifindex: number) => string | undefined): void {
  if (l.parentIndex !== undefined && l.netnsId === undefined) {
    const p = nameOf(l.parentIndex);
    if (p !== undefined) l.parent = p;
  }
  if (l.masterIndex !== undefined) {
    const m = nameOf(l.masterIndex);
    if (m !== undefined) l.master = m;
  }
}

function resolveNamesOn(s: RtnlSocket, l: LinkInfo): LinkInfo {
  resolveNames(l, (i) => findLinkOn(s, i)?.name);
  return l;
}

/** Resolve a device given by name or ifindex to its ifindex; ENODEV names the role ("parent"). */
function ifindexOn(s: RtnlSocket, dev: string | number, role: string, ctx: ErrorContext): number {
  const l = findLinkOn(s, dev);
  if (!l) throw withDetail(systemError(ENODEV, 'RTM_GETLINK', ctx), `${role} device "${dev}" does not exist`);
  return l.ifindex;
}

// ---- public API: query ------------------------------------------------------------------

/** One link by name or ifindex. Throws ENODEV (`link "x": get failed: ENODEV ...`) when absent. */
export async function getLink(name: string | number, opts: NetnsOption = {}): Promise<LinkInfo> {
  if (typeof name !== 'number') validateIfname(name);
  return withRtnl(opts.netns, (s) => resolveNamesOn(s, getLinkOn(s, name)));
}

/** One link, or undefined when it does not exist. */
export async function findLink(name: string | number, opts: NetnsOption = {}): Promise<LinkInfo | undefined> {
  if (typeof name !== 'number') validateIfname(name);
  return withRtnl(opts.netns, (s) => {
    const l = findLinkOn(s, name);
    return l ? resolveNamesOn(s, l) : undefined;
  });
}

/** Every link in the namespace. */
export async function listLinks(opts: NetnsOption = {}): Promise<LinkInfo[]> {
  return withRtnl(opts.netns, (s) => listLinksOn(s));
}

// ---- public API: create ---------------------------------------------------------------

/** Options common to every created link. */
export interface CommonCreateOptions {
  /** Interface name (1..15 characters). */
  name: string;
  /** Unicast MAC; default: random (macvlan/veth/bridge) or inherited (passthru). */
  mac?: string;
  mtu?: number;
  /** Bring the device up in the same request. */
  up?: boolean;
  /** Create the device directly inside this namespace (IFLA_NET_NS_FD / _PID). */
  targetNetns?: NetnsRef;
  /** IFLA_NUM_TX_QUEUES / IFLA_NUM_RX_QUEUES (1..4096). */
  numTxQueues?: number;
  numRxQueues?: number;
  /** IFLA_TXQLEN. */
  txQueueLen?: number;
}

/** Options of {@link createMacvlan}. */
export interface MacvlanCreateOptions extends CommonCreateOptions {
  /** Lower device (name or ifindex), resolved in the namespace of the call. */
  parent: string | number;
  kind?: 'macvlan' | 'macvtap';
  /** Default (as in the kernel and iproute2): 'vepa'. */
  mode?: MacvlanMode;
  /** MACVLAN_FLAG_NOPROMISC (meaningful for passthru). */
  nopromisc?: boolean;
  /** MACVLAN_FLAG_NODST (meaningful for source). */
  nodst?: boolean;
  /** Initial source-mode allow-list (mode 'source' only). */
  sourceMacs?: string[];
  /** IFLA_MACVLAN_BC_QUEUE_LEN: this device's broadcast-queue length request. */
  bcQueueLen?: number;
  /** IFLA_MACVLAN_BC_CUTOFF (port-wide; kernel >= 6.4). */
  bcCutoff?: number;
}

interface Validated {
  mac?: Buffer;
}

function validateCommon(o: CommonCreateOptions, field = 'options'): Validated {
  if (!o || typeof o !== 'object') throw new InvalidArgumentError(field, 'an options object', o);
  validateIfname(o.name, `${field}.name`);
  const v: Validated = {};
  if (o.mac !== undefined) v.mac = parseMac(o.mac, `${field}.mac`);
  if (o.mtu !== undefined) validateInt(o.mtu, `${field}.mtu`, 68, 65535);
  if (o.numTxQueues !== undefined) validateInt(o.numTxQueues, `${field}.numTxQueues`, 0, 0xffffffff);
  if (o.numRxQueues !== undefined) validateInt(o.numRxQueues, `${field}.numRxQueues`, 0, 0xffffffff);
  if (o.txQueueLen !== undefined) validateInt(o.txQueueLen, `${field}.txQueueLen`, 0, 0xffffffff);
  if (o.up !== undefined && typeof o.up !== 'boolean') throw new InvalidArgumentError(`${field}.up`, 'a boolean', o.up);
  return v;
}

function putCommon(b: MessageBuilder, o: CommonCreateOptions, v: Validated, target?: OpenedNetnsRef): void {
  b.string(IFLA.IFNAME, o.name);
  if (v.mac) b.attr(IFLA.ADDRESS, v.mac);
  if (o.mtu !== undefined) b.u32(IFLA.MTU, o.mtu);
  if (o.txQueueLen !== undefined) b.u32(IFLA.TXQLEN, o.txQueueLen);
  if (o.numTxQueues !== undefined) b.u32(IFLA.NUM_TX_QUEUES, o.numTxQueues);
  if (o.numRxQueues !== undefined) b.u32(IFLA.NUM_RX_QUEUES, o.numRxQueues);
  if (target) putNetnsRef(b, target);
}

/**
 * Send a create request, then read the new link back (from the target namespace when it was
 * created elsewhere).
 */
async function createAndRead(
  netns: string | undefined,
  o: CommonCreateOptions,
  ctx: ErrorContext,
  build: (s: RtnlSocket, b: MessageBuilder, target?: OpenedNetnsRef) => void,
): Promise<LinkInfo> {
  const target = o.targetNetns !== undefined ? openNetnsRef(o.targetNetns, 'targetNetns') : undefined;
  try {
    await withRtnl(netns, (s) => {
      const b = new MessageBuilder(RTM.NEWLINK, CREATE_FLAGS).raw(
        encodeIfInfoMsg(o.up ? { flags: IFF.UP, change: IFF.UP } : {}),
      );
      build(s, b, target);
      s.request(b, ctx);
    });
  } finally {
    target?.release();
  }
  const readNs = o.targetNetns !== undefined ? netnsRefPath(o.targetNetns) : netns;
  return withRtnl(readNs, (s) => resolveNamesOn(s, getLinkOn(s, o.name, { ...ctx, op: 'read back' })));
}

/**
 * Create a macvlan or macvtap on `parent` (any mode). The parent is looked up in the namespace
 * of the call; with `targetNetns` the new device is created directly in that namespace.
 * Errors look like `macvlan "mv1": create failed: EEXIST (File exists)`.
 */
export async function createMacvlan(o: MacvlanCreateOptions, opts: NetnsOption = {}): Promise<LinkInfo> {
  const v = validateCommon(o);
  const kind = o.kind ?? 'macvlan';
  if (kind !== 'macvlan' && kind !== 'macvtap') throw new InvalidArgumentError('options.kind', '"macvlan" or "macvtap"', kind);
  if (typeof o.parent === 'number') validateInt(o.parent, 'options.parent', 1, 0x7fffffff);
  else validateIfname(o.parent, 'options.parent');
  const mode = o.mode === undefined ? undefined : validateMode(o.mode, 'options.mode');
  const sourceMacs = (o.sourceMacs ?? []).map((m, i) => parseMac(m, `options.sourceMacs[${i}]`));
  if (o.sourceMacs !== undefined && !Array.isArray(o.sourceMacs)) {
    throw new InvalidArgumentError('options.sourceMacs', 'an array of MAC addresses', o.sourceMacs);
  }
  if (sourceMacs.length && mode !== 'source') {
    throw new InvalidArgumentError('options.sourceMacs', 'no source MACs unless mode is "source"', o.sourceMacs);
  }
  if (o.bcQueueLen !== undefined) validateInt(o.bcQueueLen, 'options.bcQueueLen', 0, 0xffffffff);
  if (o.bcCutoff !== undefined) validateInt(o.bcCutoff, 'options.bcCutoff', -0x80000000, 0x7fffffff);
  const ctx: ErrorContext = { what: kind, ifname: o.name, op: 'create' };
  return createAndRead(opts.netns, o, ctx, (s, b, target) => {
    const parentIndex = ifindexOn(s, o.parent, 'parent', ctx);
    putCommon(b, o, v, target);
    b.u32(IFLA.LINK, parentIndex);
    b.nest(IFLA.LINKINFO, (li) => {
      li.string(IFLA_INFO.KIND, kind);
      li.nest(IFLA_INFO.DATA, (d) => {
        if (mode !== undefined) d.u32(IFLA_MACVLAN.MODE, MACVLAN_MODE[mode]);
        const flags = (o.nopromisc ? MACVLAN_FLAG.NOPROMISC : 0) | (o.nodst ? MACVLAN_FLAG.NODST : 0);
        if (flags) d.u16(IFLA_MACVLAN.FLAGS, flags);
        if (o.bcQueueLen !== undefined) d.u32(IFLA_MACVLAN.BC_QUEUE_LEN, o.bcQueueLen);
        if (o.bcCutoff !== undefined) d.s32(IFLA_MACVLAN.BC_CUTOFF, o.bcCutoff);
        if (sourceMacs.length) {
          d.u32(IFLA_MACVLAN.MACADDR_MODE, MACVLAN_MACADDR.set);
          d.nest(IFLA_MACVLAN.MACADDR_DATA, (l) => {
            for (const m of sourceMacs) l.attr(IFLA_MACVLAN.MACADDR, m);
          });
        }
      });
    });
  });
}

/** Options of {@link createVeth}. */
export interface VethCreateOptions extends CommonCreateOptions {
  /** Name of the other end. */
  peer: string;
  /** Create the peer directly in this namespace (name, path, { pid } or { fd }). */
  peerNetns?: NetnsRef;
  peerMac?: string;
  peerMtu?: number;
  /** Bring the peer up too. */
  peerUp?: boolean;
}

/** Create a veth pair; returns this end (read back from where it was created). */
export async function createVeth(o: VethCreateOptions, opts: NetnsOption = {}): Promise<LinkInfo> {
  const v = validateCommon(o);
  validateIfname(o.peer, 'options.peer');
  const peerMac = o.peerMac !== undefined ? parseMac(o.peerMac, 'options.peerMac') : undefined;
  if (o.peerMtu !== undefined) validateInt(o.peerMtu, 'options.peerMtu', 68, 65535);
  const ctx: ErrorContext = { what: 'veth', ifname: o.name, op: 'create' };
  const peerNs = o.peerNetns !== undefined ? openNetnsRef(o.peerNetns, 'peerNetns') : undefined;
  try {
    const link = await createAndRead(opts.netns, o, ctx, (_s, b, target) => {
      putCommon(b, o, v, target);
      b.nest(IFLA.LINKINFO, (li) => {
        li.string(IFLA_INFO.KIND, 'veth');
        li.nest(IFLA_INFO.DATA, (d) => {
          d.begin(VETH_INFO_PEER);
          // No IFF_UP here: the kernel configures the peer before the pair is linked, so
          // opening it then fails with ENOTCONN; the peer is brought up afterwards.
          d.raw(encodeIfInfoMsg({}));
          d.string(IFLA.IFNAME, o.peer);
          if (peerMac) d.attr(IFLA.ADDRESS, peerMac);
          if (o.peerMtu !== undefined) d.u32(IFLA.MTU, o.peerMtu);
          if (peerNs) putNetnsRef(d, peerNs);
          d.end();
        });
      });
    });
    if (o.peerUp) {
      // Without peerNetns the peer stays in the namespace of the request, even with targetNetns.
      const peerReadNs = o.peerNetns !== undefined ? netnsRefPath(o.peerNetns) : opts.netns;
      await setLink(o.peer, { up: true }, peerReadNs !== undefined ? { netns: peerReadNs } : {});
      return o.targetNetns !== undefined ? await getLink(o.name, { netns: netnsRefPath(o.targetNetns) }) : await getLink(o.name, opts);
    }
    return link;
  } finally {
    peerNs?.release();
  }
}

/** Options of {@link createBridge}. */
export type BridgeCreateOptions = CommonCreateOptions;

/** Create a Linux bridge. */
export async function createBridge(o: BridgeCreateOptions, opts: NetnsOption = {}): Promise<LinkInfo> {
  const v = validateCommon(o);
  const ctx: ErrorContext = { what: 'bridge', ifname: o.name, op: 'create' };
  return createAndRead(opts.netns, o, ctx, (_s, b, target) => {
    putCommon(b, o, v, target);
    b.nest(IFLA.LINKINFO, (li) => li.string(IFLA_INFO.KIND, 'bridge'));
  });
}

/** Create a link of any kind without kind-specific data (e.g. 'dummy'). */
export async function createLink(o: CommonCreateOptions & { kind: string; parent?: string | number }, opts: NetnsOption = {}): Promise<LinkInfo> {
  const v = validateCommon(o);
  if (typeof o.kind !== 'string' || !/^[a-z0-9_-]{1,32}$/.test(o.kind)) throw new InvalidArgumentError('options.kind', 'a link kind like "dummy"', o.kind);
  const ctx: ErrorContext = { what: o.kind, ifname: o.name, op: 'create' };
  return createAndRead(opts.netns, o, ctx, (s, b, target) => {
    putCommon(b, o, v, target);
    if (o.parent !== undefined) b.u32(IFLA.LINK, ifindexOn(s, o.parent, 'parent', ctx));
    b.nest(IFLA.LINKINFO, (li) => li.string(IFLA_INFO.KIND, o.kind));
  });
}

// ---- public API: delete / change ---------------------------------------------------------

/** Delete a link (a veth pair goes with its peer). ENODEV when it does not exist. */
export async function deleteLink(name: string, opts: NetnsOption = {}): Promise<void> {
  validateIfname(name);
  await withRtnl(opts.netns, (s) => {
    const b = new MessageBuilder(RTM.DELLINK, 0).raw(encodeIfInfoMsg({})).string(IFLA.IFNAME, name);
    s.request(b, { what: 'link', ifname: name, op: 'delete' });
  });
}

/** Options of {@link setLink}. */
export interface LinkSettings {
  up?: boolean;
  mac?: string;
  mtu?: number;
  promisc?: boolean;
  /** Move the link into this namespace (name, path, { pid } or { fd }). */
  netns?: NetnsRef;
  /** Enslave to this bridge, or null to release (nomaster). */
  master?: string | null;
  /** Rename (the link must be down). */
  name?: string;
  txQueueLen?: number;
  /**
   * IFLA_IFALIAS (up to 255 bytes; '' removes it). The kernel keeps it with the device until the
   * device is gone (do_setlink -> dev_set_alias, net/core/rtnetlink.c); it is not taken at creation
   * (rtnl_create_link ignores it), so set it right after.
   */
  alias?: string;
}

/** Change a link: up/down, MAC, MTU, promisc, master, name, or move it to another namespace. */
export async function setLink(name: string, settings: LinkSettings, opts: NetnsOption = {}): Promise<void> {
  validateIfname(name);
  if (!settings || typeof settings !== 'object') throw new InvalidArgumentError('settings', 'an object', settings);
  const mac = settings.mac !== undefined ? parseMac(settings.mac, 'settings.mac') : undefined;
  if (settings.mtu !== undefined) validateInt(settings.mtu, 'settings.mtu', 68, 65535);
  if (settings.txQueueLen !== undefined) validateInt(settings.txQueueLen, 'settings.txQueueLen', 0, 0xffffffff);
  if (settings.name !== undefined) validateIfname(settings.name, 'settings.name');
  if (settings.master !== undefined && settings.master !== null) validateIfname(settings.master, 'settings.master');
  if (settings.alias !== undefined && (typeof settings.alias !== 'string' || Buffer.byteLength(settings.alias) > 255 || settings.alias.includes('\0')))
    throw new InvalidArgumentError('settings.alias', 'a string of at most 255 bytes without NUL', settings.alias);
  for (const k of ['up', 'promisc'] as const) {
    if (settings[k] !== undefined && typeof settings[k] !== 'boolean') throw new InvalidArgumentError(`settings.${k}`, 'a boolean', settings[k]);
  }
  const target = settings.netns !== undefined ? openNetnsRef(settings.netns, 'settings.netns') : undefined;
  const op = settings.netns !== undefined ? `move to namespace ${describeNetnsRef(settings.netns)}` : 'set';
  const ctx: ErrorContext = { what: 'link', ifname: name, op };
  try {
    await withRtnl(opts.netns, (s) => {
      const link = getLinkOn(s, name, ctx);
      let flags = 0;
      let change = 0;
      if (settings.up !== undefined) {
        change |= IFF.UP;
        if (settings.up) flags |= IFF.UP;
      }
      if (settings.promisc !== undefined) {
        change |= IFF.PROMISC;
        if (settings.promisc) flags |= IFF.PROMISC;
      }
      const b = new MessageBuilder(RTM.NEWLINK, 0).raw(encodeIfInfoMsg({ index: link.ifindex, flags, change }));
      if (settings.name !== undefined) b.string(IFLA.IFNAME, settings.name);
      if (mac) b.attr(IFLA.ADDRESS, mac);
      if (settings.mtu !== undefined) b.u32(IFLA.MTU, settings.mtu);
      if (settings.txQueueLen !== undefined) b.u32(IFLA.TXQLEN, settings.txQueueLen);
      if (settings.alias !== undefined) b.string(IFLA.IFALIAS, settings.alias);
      if (settings.master !== undefined) {
        b.u32(IFLA.MASTER, settings.master === null ? 0 : ifindexOn(s, settings.master, 'master', ctx));
      }
      if (target) putNetnsRef(b, target);
      s.request(b, ctx);
    });
  } finally {
    target?.release();
  }
}

/** Enslave `name` to bridge `bridge` (null: release it). */
export async function setMaster(name: string, bridge: string | null, opts: NetnsOption = {}): Promise<void> {
  return setLink(name, { master: bridge }, opts);
}

/** Bridge-port settings of a link enslaved to a Linux bridge. */
export interface BridgePortSettings {
  /** Hairpin (reflective relay): frames may go back out the port they came in on (VEPA). */
  hairpin?: boolean;
  /** Learn source MACs on this port. */
  learning?: boolean;
}

/** Change bridge-port settings (like `bridge link set dev NAME hairpin on`). */
export async function setBridgePort(name: string, settings: BridgePortSettings, opts: NetnsOption = {}): Promise<void> {
  validateIfname(name);
  const ctx: ErrorContext = { what: 'bridge port', ifname: name, op: 'set' };
  await withRtnl(opts.netns, (s) => {
    const link = getLinkOn(s, name, ctx);
    const b = new MessageBuilder(RTM.SETLINK, 0).raw(encodeIfInfoMsg({ family: AF_BRIDGE, index: link.ifindex }));
    b.nest(IFLA.PROTINFO, (p) => {
      if (settings.hairpin !== undefined) p.u8(IFLA_BRPORT.MODE, settings.hairpin ? 1 : 0);
      if (settings.learning !== undefined) p.u8(IFLA_BRPORT.LEARNING, settings.learning ? 1 : 0);
    });
    s.request(b, ctx);
  });
}

/** Changeable macvlan/macvtap settings (`ip link set NAME type macvlan ...`). */
export interface MacvlanSettings {
  /** Switch between private/vepa/bridge/source (the kernel refuses into or out of passthru). */
  mode?: MacvlanMode;
  nopromisc?: boolean;
  nodst?: boolean;
  bcQueueLen?: number;
  bcCutoff?: number;
}

function macvlanChange(
  s: RtnlSocket,
  name: string,
  ctx: ErrorContext,
  fill: (d: MessageBuilder, link: LinkInfo) => void,
): void {
  const link = getLinkOn(s, name, ctx);
  if (link.kind !== 'macvlan' && link.kind !== 'macvtap') {
    throw withDetail(systemError(-95 /* EOPNOTSUPP */, 'RTM_NEWLINK', ctx), `"${name}" is a ${link.kind ?? 'device without kind'}, not a macvlan or macvtap`);
  }
  const b = new MessageBuilder(RTM.NEWLINK, 0).raw(encodeIfInfoMsg({ index: link.ifindex }));
  b.nest(IFLA.LINKINFO, (li) => {
    li.string(IFLA_INFO.KIND, link.kind as string);
    li.nest(IFLA_INFO.DATA, (d) => fill(d, link));
  });
  s.request(b, ctx);
}

/** Change mode, flags or broadcast queue of an existing macvlan/macvtap. */
export async function changeMacvlan(name: string, settings: MacvlanSettings, opts: NetnsOption = {}): Promise<void> {
  validateIfname(name);
  const mode = settings.mode !== undefined ? validateMode(settings.mode, 'settings.mode') : undefined;
  if (settings.bcQueueLen !== undefined) validateInt(settings.bcQueueLen, 'settings.bcQueueLen', 0, 0xffffffff);
  if (settings.bcCutoff !== undefined) validateInt(settings.bcCutoff, 'settings.bcCutoff', -0x80000000, 0x7fffffff);
  const ctx: ErrorContext = { what: 'macvlan', ifname: name, op: 'change' };
  await withRtnl(opts.netns, (s) =>
    macvlanChange(s, name, ctx, (d, link) => {
      if (mode !== undefined) d.u32(IFLA_MACVLAN.MODE, MACVLAN_MODE[mode]);
      if (settings.nopromisc !== undefined || settings.nodst !== undefined) {
        let flags = link.macvlan?.flags ?? 0;
        if (settings.nopromisc !== undefined) flags = settings.nopromisc ? flags | MACVLAN_FLAG.NOPROMISC : flags & ~MACVLAN_FLAG.NOPROMISC;
        if (settings.nodst !== undefined) flags = settings.nodst ? flags | MACVLAN_FLAG.NODST : flags & ~MACVLAN_FLAG.NODST;
        d.u16(IFLA_MACVLAN.FLAGS, flags);
      }
      if (settings.bcQueueLen !== undefined) d.u32(IFLA_MACVLAN.BC_QUEUE_LEN, settings.bcQueueLen);
      if (settings.bcCutoff !== undefined) d.s32(IFLA_MACVLAN.BC_CUTOFF, settings.bcCutoff);
    }),
  );
}

/**
 * Edit the source-MAC allow-list of a source-mode macvlan/macvtap:
 * 'add' / 'del' each MAC (one request per MAC, as the kernel takes one at a time; deleting an
 * absent MAC is silently ignored by the kernel), 'set' replaces the list, 'flush' empties it.
 */
export async function setSourceMacs(name: string, op: MacaddrOp, macs: string[] = [], opts: NetnsOption = {}): Promise<void> {
  validateIfname(name);
  validateMacaddrOp(op);
  if (!Array.isArray(macs)) throw new InvalidArgumentError('macs', 'an array of MAC addresses', macs);
  const bytes = macs.map((m, i) => parseMac(m, `macs[${i}]`));
  if ((op === 'add' || op === 'del') && bytes.length === 0) throw new InvalidArgumentError('macs', `at least one MAC for "${op}"`, macs);
  if (op === 'flush' && bytes.length) throw new InvalidArgumentError('macs', 'no MACs for "flush"', macs);
  const ctx: ErrorContext = { what: 'macvlan', ifname: name, op: `macaddr ${op}` };
  await withRtnl(opts.netns, (s) => {
    if (op === 'add' || op === 'del') {
      for (const m of bytes) {
        macvlanChange(s, name, ctx, (d) => {
          d.u32(IFLA_MACVLAN.MACADDR_MODE, MACVLAN_MACADDR[op]);
          d.attr(IFLA_MACVLAN.MACADDR, m);
        });
      }
      return;
    }
    macvlanChange(s, name, ctx, (d) => {
      d.u32(IFLA_MACVLAN.MACADDR_MODE, MACVLAN_MACADDR[op]);
      if (op === 'set') {
        d.nest(IFLA_MACVLAN.MACADDR_DATA, (l) => {
          for (const m of bytes) l.attr(IFLA_MACVLAN.MACADDR, m);
        });
      }
    });
  });
}
