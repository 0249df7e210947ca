/**
 * Cheap kernel interface counters (rtnl_link_stats64) read over rtnetlink from inside a network
 * namespace, without spawning `ip`: one RTM_GETLINK request per interface, answered in microseconds.
 * The demo's live view and the benchmark's counters poll these while traffic runs, so they must not
 * cost measurable CPU themselves.
 */
import { native } from '../native.ts';
import { systemError } from '../errors.ts';

/** Kernel counters of one interface (rtnl_link_stats64 fields, as numbers). */
export interface LinkCounters {
  rxPackets: number;
  txPackets: number;
  rxBytes: number;
  txBytes: number;
  rxErrors: number;
  txErrors: number;
  rxDropped: number;
  txDropped: number;
}

const RTM_GETLINK = 18;
const RTM_NEWLINK = 16;
const NLMSG_ERROR = 2;
const NLM_F_REQUEST = 1;
const IFLA_IFNAME = 3;
const IFLA_STATS64 = 23;

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

export const ZERO_COUNTERS: LinkCounters = Object.freeze({
  rxPackets: 0, txPackets: 0, rxBytes: 0, txBytes: 0, rxErrors: 0, txErrors: 0, rxDropped: 0, txDropped: 0,
});

/** A netlink socket opened inside one namespace, reused for every query of that namespace. */
export class LinkStatsReader {
  private fd: number;
  private seq = 1;
  private readonly rx = new Uint8Array(64 * 1024);

  /** Open the reader in `netns` (a name, /run/netns/NAME or /proc/PID/ns/net); root namespace when omitted. */
  constructor(readonly netns?: string) {
    const fd = native().nlOpen(netns);
    if (fd < 0) throw systemError(fd, 'socket', { what: 'netlink', ifname: netns, op: 'open' });
    this.fd = fd;
  }

  /** Counters of `ifname` in this reader's namespace. Throws when the interface does not exist. */
  read(ifname: string): LinkCounters {
    if (this.fd < 0) throw new Error('LinkStatsReader is closed');
    const name = Buffer.from(`${ifname}\0`);
    const attrLen = 4 + name.length;
    const total = 16 + 16 + align4(attrLen);
    const msg = Buffer.alloc(total);
    const seq = this.seq++;
    msg.writeUInt32LE(total, 0);
    msg.writeUInt16LE(RTM_GETLINK, 4);
    msg.writeUInt16LE(NLM_F_REQUEST, 6);
    msg.writeUInt32LE(seq, 8);
    // ifinfomsg: family 0, index 0 (look up by name)
    msg.writeUInt16LE(attrLen, 32);
    msg.writeUInt16LE(IFLA_IFNAME, 34);
    name.copy(msg, 36);
    const n = native();
    const sent = n.nlSend(this.fd, msg);
    if (sent < 0) throw systemError(sent, 'sendto', { what: 'interface', ifname, op: 'RTM_GETLINK' });
    for (;;) {
      const got = n.nlRecv(this.fd, this.rx, 2000);
      if (got < 0) throw systemError(got, 'recv', { what: 'interface', ifname, op: 'RTM_GETLINK' });
      const view = Buffer.from(this.rx.buffer, this.rx.byteOffset, got);
      let off = 0;
      while (off + 16 <= got) {
        const len = view.readUInt32LE(off);
        const type = view.readUInt16LE(off + 4);
        const mseq = view.readUInt32LE(off + 8);
        if (len < 16 || off + len > got) break;
        if (mseq === seq) {
          if (type === NLMSG_ERROR) {
            const err = view.readInt32LE(off + 16);
            throw systemError(err, 'RTM_GETLINK', { what: 'interface', ifname, op: 'get counters' });
          }
          if (type === RTM_NEWLINK) return parseStats64(view.subarray(off + 32, off + len), ifname);
        }
        off += align4(len);
      }
    }
  }

  /** Sum of the counters of several interfaces. */
  readSum(ifnames: string[]): LinkCounters {
    return ifnames.reduce((acc, name) => addCounters(acc, this.read(name)), ZERO_COUNTERS);
  }

  close(): void {
    if (this.fd >= 0) native().closeFd(this.fd);
    this.fd = -1;
  }
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

function parseStats64(attrs: Buffer, ifname: string): LinkCounters {
  let off = 0;
  while (off + 4 <= attrs.length) {
    const len = attrs.readUInt16LE(off);
    const type = attrs.readUInt16LE(off + 2) & 0x3fff;
    if (len < 4) break;
    if (type === IFLA_STATS64 && len >= 4 + 8 * 8) {
      const u = (i: number): number => Number(attrs.readBigUInt64LE(off + 4 + 8 * i));
      return {
        rxPackets: u(0), txPackets: u(1), rxBytes: u(2), txBytes: u(3),
        rxErrors: u(4), txErrors: u(5), rxDropped: u(6), txDropped: u(7),
      };
    }
    off += align4(len);
  }
  throw new Error(`interface "${ifname}": the kernel sent no IFLA_STATS64`);
}

/** Cache of one reader per namespace; close them all with {@link LinkStatsPool.close}. */
export class LinkStatsPool {
  private readers = new Map<string, LinkStatsReader>();

  reader(netns: string): LinkStatsReader {
    let r = this.readers.get(netns);
    if (!r) {
      r = new LinkStatsReader(netns);
      this.readers.set(netns, r);
    }
    return r;
  }

  /** Counters of `ifname` in `netns`. */
  read(netns: string, ifname: string): LinkCounters {
    return this.reader(netns).read(ifname);
  }

  /** Sum over (netns, ifname) pairs. */
  readSum(links: ReadonlyArray<{ netns: string; ifname: string }>): LinkCounters {
    return links.reduce((acc, l) => addCounters(acc, this.read(l.netns, l.ifname)), ZERO_COUNTERS);
  }

  close(): void {
    for (const r of this.readers.values()) r.close();
    this.readers.clear();
  }
}
