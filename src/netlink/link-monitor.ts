/**
 * Link monitor: RTM_NEWLINK / RTM_DELLINK events of one network namespace, from an rtnetlink
 * socket subscribed to RTNLGRP_LINK (addon/link_monitor.cc; a native thread blocks in poll(), so
 * an idle monitor costs no CPU). The kernel sends RTM_NEWLINK for every change of a device (flags,
 * carrier, MTU, ...) and RTM_DELLINK when it is unregistered (net/core/rtnetlink.c,
 * rtmsg_ifinfo_event); a device created again under the same name gets a new ifindex.
 */
import { native } from '../native.ts';
import { systemError } from '../errors.ts';
import { IFF, IFLA, RTM } from './constants.ts';
import { Attrs, IFINFOMSG_LEN, MessageBuilder, decodeIfInfoMsg, encodeIfInfoMsg, parseMessages, type NlMessage } from './message.ts';
import { RtnlSocket } from './socket.ts';

/** The state of one device as a link event reports it. */
export interface LinkState {
  name: string;
  ifindex: number;
  /** IFF_UP (administratively up). */
  up: boolean;
  /** IFF_LOWER_UP (carrier). */
  lowerUp: boolean;
  /** IFLA_MTU (every RTM_NEWLINK carries it: rtnl_fill_ifinfo); undefined when absent. */
  mtu?: number;
}

/** A device appeared or changed (`new`), or went away (`del`). */
export interface LinkEvent extends LinkState {
  type: 'new' | 'del';
}

/** Called for every event; `overrun` when the kernel dropped events (re-read the state with {@link LinkMonitor.snapshot}). */
export type LinkEventHandler = (ev: LinkEvent | { type: 'overrun'; errno: number }) => void;

interface MonitorNative {
  linkMonitorOpen(netns: string | undefined, cb: (datagram: Buffer | null, error: number) => void): unknown;
  linkMonitorClose(handle: unknown): number;
}

/** Decode an RTM_NEWLINK/RTM_DELLINK message into a {@link LinkState}. */
export function decodeLinkState(m: NlMessage): LinkState {
  const ifi = decodeIfInfoMsg(m.payload);
  const a = Attrs.parse(m.payload, IFINFOMSG_LEN);
  const mtu = a.u32(IFLA.MTU);
  return {
    name: a.str(IFLA.IFNAME) ?? `if${ifi.index}`,
    ifindex: ifi.index,
    up: (ifi.flags & IFF.UP) !== 0,
    lowerUp: (ifi.flags & IFF.LOWER_UP) !== 0,
    ...(mtu !== undefined ? { mtu } : {}),
  };
}

/** Link events of a namespace, delivered on the JS thread. Does not keep the process alive. */
export class LinkMonitor {
  private handle: unknown;

  private constructor(
    handle: unknown,
    readonly netns: string | undefined,
  ) {
    this.handle = handle;
  }

  /** Subscribe to link events in `netns` (name or path; the current namespace when undefined). */
  static open(netns: string | undefined, onEvent: LinkEventHandler): LinkMonitor {
    const n = native() as unknown as MonitorNative;
    const h = n.linkMonitorOpen(netns, (datagram, error) => {
      if (!datagram) {
        onEvent({ type: 'overrun', errno: error });
        return;
      }
      for (const m of parseMessages(datagram)) {
        if (m.type !== RTM.NEWLINK && m.type !== RTM.DELLINK) continue;
        if (m.payload.length < IFINFOMSG_LEN) continue;
        onEvent({ type: m.type === RTM.NEWLINK ? 'new' : 'del', ...decodeLinkState(m) });
      }
    });
    if (typeof h === 'number') {
      throw systemError(h, netns ? 'setns' : 'bind', {
        what: 'link monitor',
        ...(netns ? { ifname: netns } : {}),
        op: 'subscribe to RTNLGRP_LINK',
      });
    }
    return new LinkMonitor(h, netns);
  }

  /** Every device of the namespace now (an RTM_GETLINK dump), by name. */
  snapshot(): Map<string, LinkState> {
    const s = RtnlSocket.open(this.netns);
    try {
      const msg = new MessageBuilder(RTM.GETLINK, 0).raw(encodeIfInfoMsg());
      const out = new Map<string, LinkState>();
      for (const m of s.dump(msg, { what: 'links', op: 'dump links' })) {
        if (m.type !== RTM.NEWLINK) continue;
        const st = decodeLinkState(m);
        out.set(st.name, st);
      }
      return out;
    } finally {
      s.close();
    }
  }

  /** Stop the monitor thread (idempotent). */
  close(): void {
    if (this.handle === undefined) return;
    (native() as unknown as MonitorNative).linkMonitorClose(this.handle);
    this.handle = undefined;
  }
}
