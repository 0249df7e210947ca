/**
 * Names of the namespaces behind IFLA_LINK_NETNSID: a veth peer or macvlan parent in another
 * namespace is reported by its id *in the asking namespace*, which `ip` maps back to a name under
 * /run/netns by asking RTM_GETNSID for each (ip/ipnetns.c get_name_from_nsid). The same here.
 */
import { closeSync, openSync, readdirSync } from 'node:fs';
import { NETNSA, RTM } from '../netlink/constants.ts';
import { Attrs, MessageBuilder } from '../netlink/message.ts';
import { withRtnl } from '../netlink/socket.ts';
import type { NetnsOption } from './netns-ref.ts';

/** struct rtgenmsg (1 byte, padded to 4) heads RTM_GETNSID. */
const RTGENMSG = Buffer.alloc(4);

/**
 * Map nsid -> name for the named namespaces (/run/netns/*) that have an id in `opts.netns`
 * (the caller's namespace by default). Namespaces without an id are left out: the kernel only
 * assigns one when a link is shown across namespaces.
 */
export async function namespaceNamesByNsid(opts: NetnsOption = {}): Promise<Map<number, string>> {
  let names: string[];
  try {
    names = readdirSync('/run/netns');
  } catch {
    return new Map();
  }
  return withRtnl(opts.netns, (s) => {
    const out = new Map<number, string>();
    for (const name of names) {
      let fd: number;
      try {
        fd = openSync(`/run/netns/${name}`, 'r');
      } catch {
        continue; // removed meanwhile, or not a namespace file
      }
      try {
        const b = new MessageBuilder(RTM.GETNSID, 0).raw(RTGENMSG).u32(NETNSA.FD, fd);
        const { replies } = s.request(b, { what: 'netns', ifname: name, op: 'get nsid' });
        for (const m of replies) {
          if (m.type !== RTM.NEWNSID) continue;
          const id = Attrs.parse(m.payload, RTGENMSG.length).s32(NETNSA.NSID);
          if (id !== undefined && id >= 0 && !out.has(id)) out.set(id, name);
        }
      } catch {
        // not a namespace (EINVAL) or gone: skip it, as ip does
      } finally {
        closeSync(fd);
      }
    }
    return out;
  });
}
