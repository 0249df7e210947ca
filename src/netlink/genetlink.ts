/**
 * Generic netlink (NETLINK_GENERIC): the genlmsghdr that follows nlmsghdr, and family-id lookup
 * through the controller (CTRL_CMD_GETFAMILY by name). Numbers from linux/genetlink.h; the
 * controller is net/netlink/genetlink.c. Family ids are allocated by the kernel when a family
 * registers and are global (not per network namespace), so a resolved id is cached per process.
 */
import { systemError } from '../errors.ts';
import { Attrs, MessageBuilder, type NlMessage } from './message.ts';
import type { RtnlSocket } from './socket.ts';

/** struct genlmsghdr: cmd, version, reserved (4 bytes). */
export const GENL_HDRLEN = 4;
/** nlmsg_type of the generic netlink controller (GENL_ID_CTRL = NLMSG_MIN_TYPE). */
export const GENL_ID_CTRL = 0x10;
export const CTRL_CMD_GETFAMILY = 3;
export const CTRL_ATTR = { FAMILY_ID: 1, FAMILY_NAME: 2, VERSION: 3 } as const;

/** A generic netlink request: nlmsghdr (type = family id), genlmsghdr, then attributes. */
export function genlMessage(familyId: number, cmd: number, version: number, flags = 0): MessageBuilder {
  return new MessageBuilder(familyId, flags).raw(Uint8Array.of(cmd, version, 0, 0));
}

/** A generic netlink reply: its command and its top-level attributes. */
export interface GenlReply {
  cmd: number;
  version: number;
  attrs: Attrs;
}

/** Decode the genlmsghdr and attributes of a reply. */
export function decodeGenl(m: NlMessage): GenlReply {
  if (m.payload.length < GENL_HDRLEN) throw new RangeError(`genlmsghdr truncated (${m.payload.length} bytes)`);
  return { cmd: m.payload[0]!, version: m.payload[1]!, attrs: Attrs.parse(m.payload, GENL_HDRLEN) };
}

const familyIds = new Map<string, number>();

/** The id of generic netlink family `name` (e.g. "ethtool"); throws ENOENT when the kernel lacks it. */
export function resolveFamily(sock: RtnlSocket, name: string): number {
  const hit = familyIds.get(name);
  if (hit !== undefined) return hit;
  const msg = genlMessage(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1).string(CTRL_ATTR.FAMILY_NAME, name);
  const op = `resolve generic netlink family "${name}"`;
  const { replies } = sock.request(msg, { what: 'genetlink', op, request: 'CTRL_CMD_GETFAMILY' });
  const id = replies.length ? decodeGenl(replies[0]!).attrs.u16(CTRL_ATTR.FAMILY_ID) : undefined;
  if (id === undefined) throw systemError(-2, 'CTRL_CMD_GETFAMILY', { what: 'genetlink', op, kernelMessage: 'no family id in the reply' });
  familyIds.set(name, id);
  return id;
}
