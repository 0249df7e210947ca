/**
 * Device features (offloads) over ethtool netlink: the generic netlink family "ethtool",
 * ETHTOOL_MSG_FEATURES_GET / ETHTOOL_MSG_FEATURES_SET (kernel: net/ethtool/features.c, bitsets in
 * net/ethtool/bitset.c; numbers from linux/ethtool_netlink.h). Features are named as the kernel
 * names them (netdev_features_strings in net/ethtool/common.c: "tx-checksum-ip-generic",
 * "rx-gro", ...). No `ethtool` program needed.
 */
import { MessageBuilder, Attrs } from './message.ts';
import { decodeGenl, genlMessage, resolveFamily } from './genetlink.ts';
import type { RtnlSocket } from './socket.ts';

export const ETHTOOL_GENL_NAME = 'ethtool';
export const ETHTOOL_GENL_VERSION = 1;
export const ETHTOOL_MSG = { FEATURES_GET: 11, FEATURES_SET: 12 } as const;
/** Request header (ETHTOOL_A_HEADER_*) and its flags (ETHTOOL_FLAG_*). */
export const ETHTOOL_A_HEADER = { DEV_INDEX: 1, DEV_NAME: 2, FLAGS: 3 } as const;
export const ETHTOOL_FLAG = { COMPACT_BITSETS: 1, OMIT_REPLY: 2 } as const;
export const ETHTOOL_A_FEATURES = { HEADER: 1, HW: 2, WANTED: 3, ACTIVE: 4, NOCHANGE: 5 } as const;
export const ETHTOOL_A_BITSET = { NOMASK: 1, SIZE: 2, BITS: 3, VALUE: 4, MASK: 5 } as const;
export const ETHTOOL_A_BITSET_BITS_BIT = 1;
export const ETHTOOL_A_BITSET_BIT = { INDEX: 1, NAME: 2, VALUE: 3 } as const;

/** The feature sets of one device, by kernel feature name. */
export interface DeviceFeatures {
  /** Features the driver lets userspace change (hw_features). */
  changeable: Set<string>;
  /** Features userspace asked for (wanted_features). */
  wanted: Set<string>;
  /** Features in effect (features). */
  active: Set<string>;
  /** Features that can never change on this device (NETIF_F_NEVER_CHANGE and the like). */
  fixed: Set<string>;
}

/**
 * Names of the bits set in a bitset attribute in the verbose (non-compact) form the kernel sends
 * when ETHTOOL_FLAG_COMPACT_BITSETS is not requested. In list form (ETHTOOL_A_BITSET_NOMASK) every
 * listed bit is set; otherwise a bit is set when it carries ETHTOOL_A_BITSET_BIT_VALUE.
 */
export function decodeBitsetNames(bitset: Attrs): Set<string> {
  const list = bitset.has(ETHTOOL_A_BITSET.NOMASK);
  const bits = bitset.nested(ETHTOOL_A_BITSET.BITS);
  if (!bits) {
    if (bitset.has(ETHTOOL_A_BITSET.VALUE)) throw new RangeError('compact ethtool bitset where names were expected');
    return new Set(); // empty list
  }
  const out = new Set<string>();
  for (const raw of bits.all(ETHTOOL_A_BITSET_BITS_BIT)) {
    const bit = Attrs.parse(raw);
    const name = bit.str(ETHTOOL_A_BITSET_BIT.NAME);
    if (name === undefined) continue;
    if (list || bit.has(ETHTOOL_A_BITSET_BIT.VALUE)) out.add(name);
  }
  return out;
}

function header(b: MessageBuilder, ifname: string, flags: number): void {
  b.nest(ETHTOOL_A_FEATURES.HEADER, (h) => {
    h.string(ETHTOOL_A_HEADER.DEV_NAME, ifname);
    if (flags) h.u32(ETHTOOL_A_HEADER.FLAGS, flags);
  });
}

/** Decode an ETHTOOL_MSG_FEATURES_GET_REPLY's attributes. */
export function decodeFeatures(attrs: Attrs): DeviceFeatures {
  const set = (type: number) => {
    const a = attrs.nested(type);
    return a ? decodeBitsetNames(a) : new Set<string>();
  };
  return {
    changeable: set(ETHTOOL_A_FEATURES.HW),
    wanted: set(ETHTOOL_A_FEATURES.WANTED),
    active: set(ETHTOOL_A_FEATURES.ACTIVE),
    fixed: set(ETHTOOL_A_FEATURES.NOCHANGE),
  };
}

/** Read the features of `ifname` (the socket's namespace) with ETHTOOL_MSG_FEATURES_GET. */
export function getFeatures(sock: RtnlSocket, ifname: string): DeviceFeatures {
  const family = resolveFamily(sock, ETHTOOL_GENL_NAME);
  const msg = genlMessage(family, ETHTOOL_MSG.FEATURES_GET, ETHTOOL_GENL_VERSION);
  header(msg, ifname, 0);
  const { replies } = sock.request(msg, { what: 'device', ifname, op: 'read features', request: 'ETHTOOL_MSG_FEATURES_GET' });
  const reply = replies[0];
  if (!reply) throw new RangeError(`ETHTOOL_MSG_FEATURES_GET for "${ifname}": no reply`);
  return decodeFeatures(decodeGenl(reply).attrs);
}

/**
 * Ask for features on or off by kernel name with ETHTOOL_MSG_FEATURES_SET (a WANTED bitset with a
 * mask: only the named bits change). The kernel applies what it can (it drops changes to features
 * outside hw_features and resolves dependencies, net/core/dev.c netdev_fix_features); callers read
 * the result back with {@link getFeatures}.
 */
export function setFeatures(sock: RtnlSocket, ifname: string, wanted: ReadonlyMap<string, boolean>): void {
  const family = resolveFamily(sock, ETHTOOL_GENL_NAME);
  const msg = genlMessage(family, ETHTOOL_MSG.FEATURES_SET, ETHTOOL_GENL_VERSION);
  header(msg, ifname, ETHTOOL_FLAG.OMIT_REPLY);
  msg.nest(ETHTOOL_A_FEATURES.WANTED, (bs) =>
    bs.nest(ETHTOOL_A_BITSET.BITS, (bits) => {
      for (const [name, on] of wanted) {
        bits.nest(ETHTOOL_A_BITSET_BITS_BIT, (bit) => {
          bit.string(ETHTOOL_A_BITSET_BIT.NAME, name);
          if (on) bit.attr(ETHTOOL_A_BITSET_BIT.VALUE, new Uint8Array(0));
        });
      }
    }),
  );
  sock.request(msg, { what: 'device', ifname, op: 'change features', request: 'ETHTOOL_MSG_FEATURES_SET' });
}
