/**
 * Cheap kernel interface counters (rtnl_link_stats64) for the demo's live view and the benchmark's
 * counters, polled while traffic runs: one RTM_GETLINK per interface through src/devices' link
 * query, on one rtnetlink socket kept open per namespace (no `ip` process, no socket per read), so
 * polling costs no measurable CPU itself.
 */
import type { LinkStats } from '../devices/index.ts';
import { getLinkOn } from '../devices/links.ts';
import { RtnlSocket } from '../netlink/socket.ts';

/** The packet, byte, error and drop counters of one interface (of rtnl_link_stats64). */
export type LinkCounters = Pick<
  LinkStats,
  'rxPackets' | 'txPackets' | 'rxBytes' | 'txBytes' | 'rxErrors' | 'txErrors' | 'rxDropped' | 'txDropped'
>;

/** Sum two counter sets field by field. */
export function addCounters(a: LinkCounters, b: LinkCounters): LinkCounters {
  return {
    rxPackets: a.rxPackets + b.rxPackets,
    txPackets: a.txPackets + b.txPackets,
    rxBytes: a.rxBytes + b.rxBytes,
    txBytes: a.txBytes + b.txBytes,
    rxErrors: a.rxErrors + b.rxErrors,
    txErrors: a.txErrors + b.txErrors,
    rxDropped: a.rxDropped + b.rxDropped,
    txDropped: a.txDropped + b.txDropped,
  };
}

/** b - a, field by field. */
export function diffCounters(b: LinkCounters, a: LinkCounters): LinkCounters {
  return {
    rxPackets: b.rxPackets - a.rxPackets,
    txPackets: b.txPackets - a.txPackets,
    rxBytes: b.rxBytes - a.rxBytes,
    txBytes: b.txBytes - a.txBytes,
    rxErrors: b.rxErrors - a.rxErrors,
    txErrors: b.txErrors - a.txErrors,
    rxDropped: b.rxDropped - a.rxDropped,
    txDropped: b.txDropped - a.txDropped,
  };
}

/** All counters zero (the start of a sum). */
export const ZERO_COUNTERS: LinkCounters = Object.freeze({
  rxPackets: 0, txPackets: 0, rxBytes: 0, txBytes: 0, rxErrors: 0, txErrors: 0, rxDropped: 0, txDropped: 0,
});

/** One rtnetlink socket per namespace, opened on first use; close them all with {@link LinkCounterPool.close}. */
export class LinkCounterPool {
  private sockets = new Map<string, RtnlSocket>();

  private socket(netns: string): RtnlSocket {
    let s = this.sockets.get(netns);
    if (!s) {
      s = RtnlSocket.open(netns);
      this.sockets.set(netns, s);
    }
    return s;
  }

  /**
   * Counters of `ifname` in `netns` (a name, /run/netns/NAME or /proc/PID/ns/net). Throws ENODEV
   * when the interface does not exist.
   */
  read(netns: string, ifname: string): LinkCounters {
    const link = getLinkOn(this.socket(netns), ifname, { what: 'interface', ifname, op: 'get counters' });
    const s = link.stats;
    if (!s) throw new Error(`interface "${ifname}": the kernel sent no IFLA_STATS64`);
    return {
      rxPackets: s.rxPackets, txPackets: s.txPackets, rxBytes: s.rxBytes, txBytes: s.txBytes,
      rxErrors: s.rxErrors, txErrors: s.txErrors, rxDropped: s.rxDropped, txDropped: s.txDropped,
    };
  }

  /** Sum over (netns, ifname) pairs. */
  readSum(links: ReadonlyArray<{ netns: string; ifname: string }>): LinkCounters {
    return links.reduce((acc, l) => addCounters(acc, this.read(l.netns, l.ifname)), ZERO_COUNTERS);
  }

  /** Close every socket; the pool can be used again afterwards (sockets reopen on demand). */
  close(): void {
    for (const s of this.sockets.values()) s.close();
    this.sockets.clear();
  }
}
