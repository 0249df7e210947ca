/**
 * A netlink client over the addon's nlOpen/nlSend/nlRecv: request/ACK with extended-ack errors,
 * and dumps (NLM_F_MULTI ... NLMSG_DONE, NLM_F_DUMP_INTR retried). NETLINK_ROUTE by default;
 * NETLINK_GENERIC for genetlink families (src/netlink/genetlink.ts). One socket per operation (see
 * {@link withRtnl}): a cached socket would keep a deleted namespace alive. Inside
 * {@link withSocketPool} (a bounded run such as one `up`) sockets are reused per namespace instead,
 * and all closed when the scope ends.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { native } from '../native.ts';
import { systemError, MacdemuxSystemError } from '../errors.ts';
import { NLM_F, NLMSG, rtmName } from './constants.ts';
import { MessageBuilder, parseMessages, writeU16, type NlMessage } from './message.ts';
import { decodeDonePayload, decodeErrorPayload, type NetlinkAck } from './ack.ts';

/** What an operation is about, for error messages: `macvlan "mv1": create failed: ...`. */
export interface ErrorContext {
  what?: string;
  ifname?: string;
  op?: string;
  /** Name of the request in errors (`syscall`); default: the rtnetlink message type, e.g. RTM_NEWLINK. */
  request?: string;
}

/** Netlink protocols the addon opens (linux/netlink.h). */
export const NETLINK_ROUTE = 0;
export const NETLINK_GENERIC = 16;

/** Result of a request: replies that came before the ACK, and the ACK's warning text if any. */
export interface RequestResult {
  replies: NlMessage[];
  warning?: string;
}

const RECV_TIMEOUT_MS = 5000;
const EINTR_DUMP = -4; // EINTR, what iproute2 reports for an interrupted dump
let seqCounter = (Date.now() & 0x3fffffff) >>> 0;

/** A netlink socket (NETLINK_ROUTE unless told), opened inside `netns` when given. Call {@link close} when done. */
export class RtnlSocket {
  private readonly rx = Buffer.alloc(256 * 1024);
  private closed = false;

  private constructor(
    readonly fd: number,
    readonly netns: string | undefined,
  ) {}

  /** Open a socket (in the namespace: name, /run/netns/NAME or /proc/PID/ns/net). */
  static open(netns?: string, protocol: typeof NETLINK_ROUTE | typeof NETLINK_GENERIC = NETLINK_ROUTE): RtnlSocket {
    const fd = native().nlOpen(netns, protocol);
    if (fd < 0) {
      throw systemError(fd, netns ? 'setns' : 'socket', {
        what: netns ? 'netns' : 'netlink',
        ...(netns ? { ifname: netns } : {}),
        op: netns ? 'open netlink socket in namespace' : `open ${protocol === NETLINK_GENERIC ? 'NETLINK_GENERIC' : 'NETLINK_ROUTE'} socket`,
      });
    }
    return new RtnlSocket(fd, netns);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    native().closeFd(this.fd);
  }

  private send(msg: MessageBuilder, extraFlags: number, ctx: ErrorContext): number {
    if (this.closed) throw new Error('netlink socket is closed');
    seqCounter = (seqCounter + 1) >>> 0 || 1;
    const seq = seqCounter;
    const bytes = msg.finish(seq);
    // finish() wrote msg.flags; OR in the flags this call adds.
    writeU16(bytes, 6, msg.flags | extraFlags);
    const n = native().nlSend(this.fd, bytes);
    if (n < 0) throw systemError(n, ctx.request ?? rtmName(msg.type), ctx);
    return seq;
  }

  private *receive(seq: number, syscall: string, ctx: ErrorContext): Generator<NlMessage> {
    for (;;) {
      const n = native().nlRecv(this.fd, this.rx, RECV_TIMEOUT_MS);
      if (n < 0) throw systemError(n, syscall, { ...ctx, op: `${ctx.op ?? syscall} (receive)` });
      // Copy: replies outlive the receive buffer, which the next datagram overwrites.
      for (const m of parseMessages(Buffer.from(this.rx.subarray(0, n)))) {
        if (m.seq !== seq) continue; // a stale answer to an earlier, abandoned request
        yield m;
      }
    }
  }

  /**
   * Send a request with NLM_F_ACK; collect replies until the ACK. Throws a
   * {@link MacdemuxSystemError} carrying the kernel's extended-ack text on a negative ACK.
   */
  request(msg: MessageBuilder, ctx: ErrorContext = {}): RequestResult {
    const syscall = ctx.request ?? rtmName(msg.type);
    const seq = this.send(msg, NLM_F.REQUEST | NLM_F.ACK, ctx);
    const replies: NlMessage[] = [];
    for (const m of this.receive(seq, syscall, ctx)) {
      if (m.type === NLMSG.ERROR) {
        const ack = decodeErrorPayload(m.payload, m.flags);
        if (ack.error < 0) throw ackError(ack, syscall, ctx);
        return ack.message ? { replies, warning: ack.message } : { replies };
      }
      if (m.type === NLMSG.DONE) return { replies };
      if (m.type === NLMSG.NOOP) continue;
      replies.push(m);
    }
    /* c8 ignore next */
    return { replies };
  }

  /** Send a dump request (NLM_F_DUMP) and collect every part; retries an interrupted dump up to 3 times. */
  dump(msg: MessageBuilder, ctx: ErrorContext = {}): NlMessage[] {
    const syscall = ctx.request ?? rtmName(msg.type);
    for (let attempt = 0; ; attempt++) {
      const seq = this.send(msg, NLM_F.REQUEST | NLM_F.DUMP, ctx);
      const parts: NlMessage[] = [];
      let interrupted = false;
      let done = false;
      for (const m of this.receive(seq, syscall, ctx)) {
        if (m.flags & NLM_F.DUMP_INTR) interrupted = true;
        if (m.type === NLMSG.DONE) {
          const ack = decodeDonePayload(m.payload, m.flags);
          if (ack.error < 0) throw ackError(ack, syscall, ctx);
          done = true;
          break;
        }
        if (m.type === NLMSG.ERROR) {
          const ack = decodeErrorPayload(m.payload, m.flags);
          if (ack.error < 0) throw ackError(ack, syscall, ctx);
          continue;
        }
        if (m.type === NLMSG.NOOP) continue;
        parts.push(m);
        if (!(m.flags & NLM_F.MULTI)) {
          done = true; // a single-part answer without NLMSG_DONE
          break;
        }
      }
      if (done && !interrupted) return parts;
      if (attempt >= 2) {
        throw systemError(EINTR_DUMP, syscall, {
          ...ctx,
          op: `${ctx.op ?? 'dump'}`,
          kernelMessage: 'dump interrupted (NLM_F_DUMP_INTR) three times in a row',
        });
      }
    }
  }
}

/** The error for a negative ACK. */
export function ackError(ack: NetlinkAck, syscall: string, ctx: ErrorContext): MacdemuxSystemError {
  return systemError(ack.error, syscall, {
    ...ctx,
    ...(ack.message ? { kernelMessage: ack.message } : {}),
  });
}

/**
 * Open sockets of one {@link withSocketPool} scope by protocol and namespace, least recently used
 * first. Opening a socket in a namespace costs a thread (io/netns.cc) and is most of the cost of a
 * small request; reuse is safe because every request and dump is sent and fully read in one
 * synchronous call, so users of one socket never interleave.
 */
class SocketPool {
  private readonly sockets = new Map<string, RtnlSocket>();
  constructor(private readonly max: number) {}

  get(netns: string | undefined, protocol: typeof NETLINK_ROUTE | typeof NETLINK_GENERIC): RtnlSocket {
    const key = `${protocol} ${netns ?? ''}`;
    let s = this.sockets.get(key);
    if (s) this.sockets.delete(key); // re-inserted below: now the most recently used
    else s = RtnlSocket.open(netns, protocol);
    this.sockets.set(key, s);
    if (this.sockets.size > this.max) {
      const [oldest, old] = this.sockets.entries().next().value as [string, RtnlSocket];
      this.sockets.delete(oldest);
      old.close();
    }
    return s;
  }

  closeAll(): void {
    for (const s of this.sockets.values()) s.close();
    this.sockets.clear();
  }
}

const poolScope = new AsyncLocalStorage<SocketPool>();

/**
 * Run `fn` with netlink sockets reused per namespace by every {@link withRtnl} / {@link withGenl}
 * inside it (at most `max` open; the least recently used is closed first), and close them all
 * when it settles. For runs that make many requests in few namespaces at a time (`up` with
 * thousands of endpoints). A namespace deleted and re-created under the same name inside the
 * scope would be reached through its old socket: the caller must not do that.
 */
export async function withSocketPool<T>(fn: () => Promise<T>, max = 64): Promise<T> {
  const pool = new SocketPool(max);
  try {
    return await poolScope.run(pool, fn);
  } finally {
    pool.closeAll();
  }
}

/** Run `fn` with a socket in `netns` (or the current namespace) and always close it (in a {@link withSocketPool} scope: the scope's socket, left open). */
export async function withRtnl<T>(netns: string | undefined, fn: (s: RtnlSocket) => T | Promise<T>): Promise<T> {
  const pool = poolScope.getStore();
  if (pool) return fn(pool.get(netns, NETLINK_ROUTE));
  const s = RtnlSocket.open(netns);
  try {
    return await fn(s);
  } finally {
    s.close();
  }
}

/** Run `fn` with a NETLINK_GENERIC socket in `netns` (or the current namespace) and always close it. */
export async function withGenl<T>(netns: string | undefined, fn: (s: RtnlSocket) => T | Promise<T>): Promise<T> {
  const pool = poolScope.getStore();
  if (pool) return fn(pool.get(netns, NETLINK_GENERIC));
  const s = RtnlSocket.open(netns, NETLINK_GENERIC);
  try {
    return await fn(s);
  } finally {
    s.close();
  }
}
