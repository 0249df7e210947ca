/**
 * TapQueue: one queue of a macvtap (/dev/tapN, N = ifindex) or of a tun/tap device.
 * With the virtio_net_hdr on (the default, as the kernel's macvtap default), every frame read
 * starts with a 10 (or 12) byte header describing GSO/checksum offload; GSO super-frames up to
 * 64 KiB arrive unsegmented. The fd can be handed to another process (a hypervisor).
 */
import { EventEmitter } from 'node:events';
import { InvalidArgumentError, systemError, type MacdemuxSystemError } from '../errors.ts';
import { PortCountersView } from './counters.ts';
import { openError } from './io-error.ts';
import { tapNative, type NativeErrorDetail, type NativeHandle, type NativeTapOptions } from './native-types.ts';
import { validateIfname } from '../net/index.ts';
import { checkInt, checkOptionalBool, checkOptionalInt, checkOptionalString } from './options.ts';
import { PolledReceiver } from './polled-receiver.ts';

/** TUNSETOFFLOAD flags (what userspace accepts): csum, TSO v4/v6, ECN, UFO, USO v4/v6. */
export interface TapOffloads {
  csum?: boolean;
  tso4?: boolean;
  tso6?: boolean;
  tsoEcn?: boolean;
  ufo?: boolean;
  uso4?: boolean;
  uso6?: boolean;
}
const OFFLOAD_BITS: Record<keyof TapOffloads, number> = { csum: 1, tso4: 2, tso6: 4, tsoEcn: 8, ufo: 0x10, uso4: 0x20, uso6: 0x40 };

export function offloadFlags(o: TapOffloads | number, field = 'offloads'): number {
  if (typeof o === 'number') return checkInt(o, field, 0, 0x1ff);
  if (typeof o !== 'object' || o === null) throw new InvalidArgumentError(field, 'an object of offload flags or a number', o);
  let f = 0;
  for (const [k, v] of Object.entries(o)) {
    const bit = OFFLOAD_BITS[k as keyof TapOffloads];
    if (bit === undefined) throw new InvalidArgumentError(`${field}.${k}`, Object.keys(OFFLOAD_BITS).join(' | '), k);
    if (v) f |= bit;
  }
  if (f & (OFFLOAD_BITS.tso4 | OFFLOAD_BITS.tso6) && !(f & OFFLOAD_BITS.csum))
    throw new InvalidArgumentError(`${field}.csum`, 'true when TSO is on (the kernel requires it)', false);
  return f;
}

export interface TapQueueOptions {
  /** macvtap interface name (kind 'macvtap'), or the tun/tap device to attach to or create (kind 'tap'). */
  ifname: string;
  /** Network namespace of the interface. */
  netns?: string;
  /** 'macvtap' (default): open /dev/tapN of an existing macvtap; 'tap': TUNSETIFF on /dev/net/tun. */
  kind?: 'macvtap' | 'tap';
  /** virtio_net_hdr before each frame (default true). */
  vnetHdr?: boolean;
  /** 10 (default) or 12 (virtio_net_hdr_mrg_rxbuf). */
  vnetHdrSize?: 10 | 12;
  /** TUNSETOFFLOAD; default csum+tso4+tso6 with vnetHdr. */
  offloads?: TapOffloads | number;
  /**
   * kind 'tap': attach with IFF_MULTI_QUEUE. It must match how the tap was made (TUNSETIFF answers
   * EINVAL otherwise, drivers/net/tun.c tun_set_iff); default: when more than one queue is opened.
   */
  multiQueue?: boolean;
  /** Frames read per batch (default 64). */
  batch?: number;
  /** Read buffer per frame (default 65536 + header with vnetHdr, else 16384). */
  slotSize?: number;
}

/** Frames of one read loop; views into the queue's buffer, valid until the next recv(). */
export class TapBatch {
  readonly #buf: Uint8Array;
  readonly #lens: Uint32Array;
  readonly #slot: number;
  readonly #hdr: number;
  readonly #gen: number;
  readonly #owner: TapQueue;
  readonly length: number;
  /** @internal */
  constructor(owner: TapQueue, gen: number, buf: Uint8Array, lens: Uint32Array, n: number, slot: number, hdr: number) {
    this.#owner = owner;
    this.#gen = gen;
    this.#buf = buf;
    this.#lens = lens;
    this.length = n;
    this.#slot = slot;
    this.#hdr = hdr;
  }
  #at(i: number): [number, number] {
    if (this.#owner._generation !== this.#gen) throw new Error('TapBatch used after the next recv(): its buffer was reused');
    if (!(i >= 0 && i < this.length)) throw new RangeError(`frame index ${i} out of range 0..${this.length - 1}`);
    return [i * this.#slot, this.#lens[i]!];
  }
  /** Frame i without the vnet header. */
  frame(i: number): Uint8Array {
    const [o, l] = this.#at(i);
    const h = Math.min(this.#hdr, l);
    return this.#buf.subarray(o + h, o + l);
  }
  /** The virtio_net_hdr of frame i (undefined without vnetHdr). */
  vnetHeader(i: number): Uint8Array | undefined {
    if (!this.#hdr) return undefined;
    const [o, l] = this.#at(i);
    return this.#buf.subarray(o, o + Math.min(this.#hdr, l));
  }
  /** Frame i as read (vnet header included). */
  raw(i: number): Uint8Array {
    const [o, l] = this.#at(i);
    return this.#buf.subarray(o, o + l);
  }
  *[Symbol.iterator](): IterableIterator<Uint8Array> {
    for (let i = 0; i < this.length; i++) yield this.frame(i);
  }
}

interface TapQueueEvents {
  frames: [batch: TapBatch];
  error: [err: MacdemuxSystemError];
  close: [];
  newListener: [event: string | symbol, listener: (...args: unknown[]) => void];
}

/** One macvtap / tap queue. */
export class TapQueue extends EventEmitter<TapQueueEvents> {
  readonly ifname: string;
  /** Interface index (in its namespace). */
  readonly ifindex: number;
  /** 0 (no vnet header), 10 or 12. */
  readonly vnetHdrSize: number;
  /** Live counters (rxPackets/rxBytes exclude the vnet header). */
  readonly counters: PortCountersView;
  readonly #n = tapNative();
  readonly #h: NativeHandle;
  #fd: number;
  readonly #slot: number;
  readonly #buf: Uint8Array;
  readonly #lens: Uint32Array;
  readonly #rx: PolledReceiver<TapBatch>;
  /** @internal */
  _generation = 0;

  private constructor(h: NativeHandle, ifname: string, batch: number, slot: number) {
    super();
    this.#h = h;
    this.ifname = ifname;
    const info = this.#n.tapInfo(h);
    this.#fd = info.fd;
    this.ifindex = info.ifindex;
    this.vnetHdrSize = info.vnetHdrSize;
    this.counters = new PortCountersView(this.#n.tapCounters(h));
    this.#slot = slot;
    this.#buf = new Uint8Array(slot * batch);
    this.#lens = new Uint32Array(batch);
    this.#rx = new PolledReceiver<TapBatch>({
      what: 'tap queue',
      ifname,
      tryRecv: () => this.tryRecv(),
      start: (cb) => this.#n.tapStart(this.#h, cb),
      arm: () => this.#n.tapArm(this.#h),
      readable: () => this.#readable(),
      failed: (err) => {
        if (this.listenerCount('error') > 0) this.emit('error', err);
        this.#closeNow();
      },
    });
    this.on('newListener', (ev: string | symbol) => {
      if (ev === 'frames') this.#rx.armSoon();
    });
  }

  /** Open one queue. */
  static open(opts: TapQueueOptions): TapQueue {
    const q = TapQueue.openQueues(opts, 1);
    return q[0]!;
  }

  /** Open `queues` queues of the same device (multiqueue: each open adds a queue; max 256). */
  static openQueues(opts: TapQueueOptions, queues: number): TapQueue[] {
    if (typeof opts !== 'object' || opts === null) throw new InvalidArgumentError('options', 'an object', opts);
    const ifname = validateIfname(opts.ifname, 'ifname');
    const netns = checkOptionalString(opts.netns, 'netns');
    const kind = opts.kind ?? 'macvtap';
    if (kind !== 'macvtap' && kind !== 'tap') throw new InvalidArgumentError('kind', '"macvtap" or "tap"', kind);
    const vnetHdr = checkOptionalBool(opts.vnetHdr, 'vnetHdr') ?? true;
    const vnetHdrSize = checkOptionalInt(opts.vnetHdrSize, 'vnetHdrSize', 10, 12) ?? 10;
    if (vnetHdrSize === 11) throw new InvalidArgumentError('vnetHdrSize', '10 or 12', 11);
    const n = checkInt(queues, 'queues', 1, 256);
    const batch = checkOptionalInt(opts.batch, 'batch', 1, 4096) ?? 64;
    const slot = checkOptionalInt(opts.slotSize, 'slotSize', 64, 1 << 20) ?? (vnetHdr ? 65536 + vnetHdrSize : 16384);
    const native: NativeTapOptions = { ifname, tun: kind === 'tap', vnetHdr, vnetHdrSize, queues: n };
    if (netns !== undefined) native.netns = netns;
    if (opts.offloads !== undefined) native.offloads = offloadFlags(opts.offloads);
    const multiQueue = checkOptionalBool(opts.multiQueue, 'multiQueue');
    if (multiQueue !== undefined) native.multiQueue = multiQueue ? 1 : 0;
    const detail: NativeErrorDetail = {};
    const r = tapNative().tapOpen(native, detail);
    if (typeof r === 'number') throw openError(r, kind, { ifname, ...(netns ? { netns } : {}), detail });
    return r.map((h) => new TapQueue(h, ifname, batch, slot));
  }

  /** The queue's fd (hand it to a child with spawn's stdio, or take it with {@link detachFd}). */
  get fd(): number {
    return this.#fd;
  }
  get closed(): boolean {
    return this.#rx.closed;
  }

  /** Frames that are ready now (one nonblocking read loop), or null. Invalidates the previous batch. */
  tryRecv(): TapBatch | null {
    this.#assertOpen();
    this._generation++;
    const r = this.#n.tapRead(this.#h, this.#buf, this.#slot, this.#lens);
    if (r < 0) throw systemError(r, 'read', { what: 'tap queue', ifname: this.ifname });
    return r === 0 ? null : new TapBatch(this, this._generation, this.#buf, this.#lens, r, this.#slot, this.vnetHdrSize);
  }

  /** The next batch (waits on the native poll thread); null once closed. */
  recv(): Promise<TapBatch | null> {
    return this.#rx.recv();
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<TapBatch> {
    return this.#rx.iterate(() => this.recv());
  }

  /**
   * Write frames (one write() each, nonblocking). Without `withVnetHeader`, a zeroed header is
   * prepended on vnet queues. Returns how many were written (fewer when the queue is full).
   */
  send(frames: Uint8Array[], withVnetHeader = false): number {
    this.#assertOpen();
    if (!Array.isArray(frames)) throw new InvalidArgumentError('frames', 'an array of Uint8Array', frames);
    const hdr = this.vnetHdrSize;
    if (withVnetHeader && !hdr) throw new InvalidArgumentError('withVnetHeader', 'false on a queue without vnet header', true);
    const out = frames.map((f, i) => {
      if (!(f instanceof Uint8Array)) throw new InvalidArgumentError(`frames[${i}]`, 'a Uint8Array', f);
      const min = 14 + (withVnetHeader ? hdr : 0);
      if (f.length < min) throw new InvalidArgumentError(`frames[${i}].length`, `at least ${min} bytes`, f.length);
      if (!hdr || withVnetHeader) return f;
      const g = new Uint8Array(hdr + f.length);
      g.set(f, hdr);
      return g;
    });
    const r = this.#n.tapWrite(this.#h, out);
    if (r < 0) throw systemError(r, 'write', { what: 'tap queue', ifname: this.ifname });
    return r;
  }

  /** Change TUNSETOFFLOAD flags. */
  setOffloads(o: TapOffloads | number): void {
    this.#assertOpen();
    const r = this.#n.tapSetOffload(this.#h, offloadFlags(o));
    if (r < 0) throw systemError(r, 'ioctl(TUNSETOFFLOAD)', { what: 'tap queue', ifname: this.ifname });
  }

  /** Attach/detach this queue (TUNSETQUEUE); a detached queue receives nothing. */
  setEnabled(on: boolean): void {
    this.#assertOpen();
    const r = this.#n.tapSetQueueEnabled(this.#h, on);
    if (r < 0) throw systemError(r, 'ioctl(TUNSETQUEUE)', { what: 'tap queue', ifname: this.ifname });
  }

  /** Stop using the queue here and return its fd; the caller must close it (closeFd). */
  detachFd(): number {
    this.#assertOpen();
    const fd = this.#n.tapDetach(this.#h);
    this.#rx.closed = true;
    this.#rx.endWaiters();
    if (fd < 0) throw systemError(fd, 'detach', { what: 'tap queue', ifname: this.ifname });
    return fd;
  }

  /** Let the process exit while this queue is open. */
  unref(): this {
    if (!this.#rx.closed && this.#rx.threadStarted) this.#n.tapRef(this.#h, false);
    return this;
  }

  /** Stop the poll thread and close the fd. */
  async close(): Promise<void> {
    this.#closeNow();
  }

  /** The error that stopped the queue, if any. */
  get error(): MacdemuxSystemError | undefined {
    return this.#rx.error;
  }

  #assertOpen(): void {
    if (this.#rx.error) throw this.#rx.error;
    if (this.#rx.closed) throw new Error(`tap queue "${this.ifname}" is closed`);
  }

  #closeNow(): void {
    if (this.#rx.closed) return;
    this.#rx.closed = true;
    this.#n.tapClose(this.#h);
    this.#rx.endWaiters();
    this.emit('close');
  }

  /** Readable: serve one waiter, else 'frames' listeners; true to re-arm. */
  #readable(): boolean {
    if (this.#rx.waiting > 0) {
      const b = this.tryRecv();
      if (b) {
        this.#rx.deliver(b);
        return false;
      }
    } else if (this.listenerCount('frames') > 0) {
      for (let i = 0; i < 16 && !this.#rx.closed; i++) {
        const b = this.tryRecv();
        if (!b) break;
        this.emit('frames', b);
      }
    } else {
      return false; // nobody to deliver to: stay unarmed until recv() or a 'frames' listener
    }
    return true;
  }
}
