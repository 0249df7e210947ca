/**
 * PacketPort: an AF_PACKET socket with a TPACKET_V3 RX ring and a TX ring on one interface.
 * Frames arrive in batches (one ring block each) as zero-copy views over the ring; a batch stays
 * owned by JavaScript until it is released (explicitly, or by the next recv()).
 */
import { EventEmitter } from 'node:events';
import { InvalidArgumentError, systemError, type MacdemuxSystemError } from '../errors.ts';
import { encodeBpf, type BpfProgram } from './bpf.ts';
import { PortCountersView } from './counters.ts';
import { openError } from './io-error.ts';
import { portNative, type NativeErrorDetail, type NativeHandle, type NativePortInfo, type NativeRingOptions } from './native-types.ts';
import { validateIfname, validateRingOptions, type RingOptions } from '../net/index.ts';
import { checkInt, checkOptionalBool, checkOptionalString } from './options.ts';
import { PolledReceiver } from './polled-receiver.ts';

/** PACKET_FANOUT modes. */
export type FanoutMode = 'hash' | 'lb' | 'cpu' | 'rollover' | 'random' | 'qm';
const FANOUT_MODES: Record<FanoutMode, number> = { hash: 0, lb: 1, cpu: 2, rollover: 3, random: 4, qm: 5 };
const FANOUT_FLAG_ROLLOVER = 0x1000;
const FANOUT_FLAG_DEFRAG = 0x8000;

export interface PacketPortOptions extends RingOptions {
  /** Interface to bind to. */
  ifname: string;
  /** Network namespace (name, /run/netns/NAME or /proc/PID/ns/net). */
  netns?: string;
  /** Create the RX ring (default true). */
  rx?: boolean;
  /** Create the TX ring (default true). */
  tx?: boolean;
  /** Promiscuous mode while open (PACKET_MR_PROMISC; undone on close). */
  promisc?: boolean;
  /** Do not receive frames sent on this interface by anyone (PACKET_IGNORE_OUTGOING; default true). */
  ignoreOutgoing?: boolean;
  /** 10-byte virtio_net_hdr before each frame (PACKET_VNET_HDR): GSO/TSO super-frames pass intact. */
  vnetHdr?: boolean;
  /** 'reinsert' (default): VLAN tags from ring metadata are put back into the frame in place;
   *  'metadata': frames stay untagged, the tag is in {@link FrameBatch.vlanTci}. */
  vlan?: 'reinsert' | 'metadata';
  /** Join a fanout group (several ports share the load of one interface). */
  fanout?: { group: number; mode: FanoutMode; rollover?: boolean; defrag?: boolean };
  /** Classic BPF filter attached at open. */
  filter?: BpfProgram;
}

/** TP_STATUS bits found in {@link FrameBatch.status}. */
export const TP_STATUS = {
  LOSING: 0x4,
  CSUMNOTREADY: 0x8,
  VLAN_VALID: 0x10,
  VLAN_TPID_VALID: 0x40,
  CSUM_VALID: 0x80,
  GSO_TCP: 0x100,
} as const;

const NO_VLAN = 0xffffffff;

/**
 * Frames of one ring block. Views returned by {@link frame} point into the ring: they are valid
 * until {@link release} (or the port's next recv()); copy what you keep.
 */
export class FrameBatch {
  #ring: ArrayBuffer;
  #desc: Uint32Array;
  #port: PacketPort | undefined;
  #released = false;
  readonly #vnet: boolean;
  /** Number of frames. */
  readonly length: number;

  /** @internal */
  constructor(ring: ArrayBuffer, desc: Uint32Array, count: number, port: PacketPort | undefined, vnet: boolean) {
    this.#ring = ring;
    this.#desc = desc;
    this.length = count;
    this.#port = port;
    this.#vnet = vnet;
  }
  #check(i: number): number {
    if (this.#released) throw new Error('FrameBatch used after release(): its frames belong to the kernel again');
    if (!(i >= 0 && i < this.length)) throw new RangeError(`frame index ${i} out of range 0..${this.length - 1}`);
    return i * 4;
  }
  /** Zero-copy view of frame i (Ethernet header first; VLAN tag inline unless vlan: 'metadata'). */
  frame(i: number): Uint8Array {
    const d = this.#check(i);
    return new Uint8Array(this.#ring, this.#desc[d]!, this.#desc[d + 1]!);
  }
  /** Byte length of frame i. */
  frameLength(i: number): number {
    return this.#desc[this.#check(i) + 1]!;
  }
  /** VLAN TCI (low 16 bits) and TPID (high 16 bits) from ring metadata, or undefined when untagged. */
  vlanTci(i: number): number | undefined {
    const v = this.#desc[this.#check(i) + 2]!;
    return v === NO_VLAN ? undefined : v;
  }
  /** tp_status bits of frame i (see {@link TP_STATUS}). */
  status(i: number): number {
    return this.#desc[this.#check(i) + 3]!;
  }
  /** The 10-byte virtio_net_hdr of frame i (vnetHdr ports), a zero-copy view. */
  vnetHeader(i: number): Uint8Array | undefined {
    if (!this.#vnet) return undefined;
    const d = this.#check(i);
    return new Uint8Array(this.#ring, this.#desc[d]! - 10, 10);
  }
  /** Copies of every frame (safe to keep after release). */
  copy(): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let i = 0; i < this.length; i++) out.push(this.frame(i).slice());
    return out;
  }
  /** True once the block went back to the kernel. */
  get released(): boolean {
    return this.#released;
  }
  /** Give the block back to the kernel. Idempotent. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#port?._releaseBatch(this);
    this.#port = undefined;
  }
  /** @internal mark released without touching the ring (the port already did). */
  _invalidate(): void {
    this.#released = true;
    this.#port = undefined;
  }
  *[Symbol.iterator](): IterableIterator<Uint8Array> {
    for (let i = 0; i < this.length; i++) yield this.frame(i);
  }
}

interface PacketPortEvents {
  frames: [batch: FrameBatch];
  error: [err: MacdemuxSystemError];
  close: [];
  newListener: [event: string | symbol, listener: (...args: unknown[]) => void];
}

/** An AF_PACKET port. Open with {@link PacketPort.open}. */
export class PacketPort extends EventEmitter<PacketPortEvents> {
  /** Interface name. */
  readonly ifname: string;
  /** Namespace the socket lives in (undefined = the process's). */
  readonly netns: string | undefined;
  /** Live counters over native memory (no call to read). */
  readonly counters: PortCountersView;
  readonly #n = portNative();
  readonly #h: NativeHandle;
  readonly #info: NativePortInfo;
  readonly #ring: ArrayBuffer;
  readonly #desc: Uint32Array;
  readonly #reinsert: boolean;
  readonly #rx: PolledReceiver<FrameBatch>;
  #current: FrameBatch | undefined;

  private constructor(h: NativeHandle, ifname: string, netns: string | undefined, reinsert: boolean) {
    super();
    this.#h = h;
    this.ifname = ifname;
    this.netns = netns;
    this.#reinsert = reinsert;
    this.#info = this.#n.portInfo(h);
    this.#ring = this.#n.portRingBuffer(h);
    this.counters = new PortCountersView(this.#n.portCounters(h));
    // A V3 frame takes at least 48 (header) + 34 (sockaddr/padding) + 14 bytes, aligned to 8.
    const maxFrames = Math.ceil(this.#info.rxBlockSize / 96) + 4;
    this.#desc = new Uint32Array(maxFrames * 4);
    this.#rx = new PolledReceiver<FrameBatch>({
      what: 'packet port',
      ifname,
      tryRecv: () => this.tryRecv(),
      start: (cb) => this.#n.portStart(this.#h, cb),
      arm: () => this.#n.portArm(this.#h),
      readable: () => this.#readable(),
      failed: (err) => {
        // Only emit 'error' when someone listens: an unhandled 'error' would crash the process.
        if (this.listenerCount('error') > 0) this.emit('error', err);
        this.#closeNow();
      },
    });
    this.on('newListener', (ev: string | symbol) => {
      if (ev === 'frames') this.#rx.armSoon();
    });
  }

  /** Open a port; throws a MacdemuxSystemError (EPERM names CAP_NET_RAW, ENODEV the interface). */
  static open(opts: PacketPortOptions): PacketPort {
    if (typeof opts !== 'object' || opts === null) throw new InvalidArgumentError('options', 'an object', opts);
    const ifname = validateIfname(opts.ifname, 'ifname');
    const netns = checkOptionalString(opts.netns, 'netns');
    // Defaults for a JavaScript consumer: 32 blocks of 256 KiB. At low rates every block retires
    // after retireTovMs with a few frames, so the ring absorbs blockCount x retireTovMs of event-loop
    // delay before it freezes (the native RingOptions default, 8 x 1 MiB, suits native threads).
    const native: NativeRingOptions = {
      ifname,
      blockSize: 1 << 18,
      blockCount: 32,
      ...validateRingOptions(opts),
    };
    if (netns !== undefined) native.netns = netns;
    for (const k of ['rx', 'tx', 'promisc', 'ignoreOutgoing', 'vnetHdr'] as const) {
      const v = checkOptionalBool(opts[k], k);
      if (v !== undefined) native[k] = v;
    }
    if (native.rx === false && native.tx === false) throw new InvalidArgumentError('rx/tx', 'at least one of rx and tx', false);
    const vlan = opts.vlan ?? 'reinsert';
    if (vlan !== 'reinsert' && vlan !== 'metadata') throw new InvalidArgumentError('vlan', '"reinsert" or "metadata"', vlan);
    if (opts.fanout !== undefined) {
      const f = opts.fanout;
      if (typeof f !== 'object' || f === null) throw new InvalidArgumentError('fanout', 'an object { group, mode }', f);
      native.fanoutGroup = checkInt(f.group, 'fanout.group', 0, 0xffff);
      const mode = FANOUT_MODES[f.mode];
      if (mode === undefined) throw new InvalidArgumentError('fanout.mode', Object.keys(FANOUT_MODES).join(' | '), f.mode);
      native.fanoutMode = mode | (f.rollover ? FANOUT_FLAG_ROLLOVER : 0) | (f.defrag ? FANOUT_FLAG_DEFRAG : 0);
    }
    if (opts.filter !== undefined) native.filter = encodeBpf(opts.filter); // attached before bind()
    const n = portNative();
    const detail: NativeErrorDetail = {};
    const r = n.portOpen(native, detail);
    if (typeof r === 'number') throw openError(r, 'packet port', { ifname, ...(netns ? { netns } : {}), detail });
    const port = new PacketPort(r, ifname, netns, vlan === 'reinsert');
    return port;
  }

  /** The socket fd (for diagnostics; do not close it). */
  get fd(): number {
    return this.#info.fd;
  }
  /** Interface index inside its namespace. */
  get ifindex(): number {
    return this.#info.ifindex;
  }
  /** Largest frame send() accepts. */
  get maxFrameSize(): number {
    return this.#info.txSlotCapacity;
  }
  /** True after close() or a fatal error. */
  get closed(): boolean {
    return this.#rx.closed;
  }

  /** Attach (or replace) a classic BPF filter; an encoded program or tcpdump -dd text. */
  attachFilter(prog: BpfProgram | Uint8Array): void {
    this.#assertOpen();
    const insns = prog instanceof Uint8Array ? prog : encodeBpf(prog);
    const r = this.#n.portAttachFilter(this.#h, insns);
    if (r < 0) throw systemError(r, 'setsockopt(SO_ATTACH_FILTER)', { what: 'packet port', ifname: this.ifname });
  }

  /**
   * The next ready batch without waiting, or null. Releases the previous batch first.
   * Throws the port's error if the device went away.
   */
  tryRecv(): FrameBatch | null {
    this.#assertOpen();
    if (this.#info.rxBlockCount === 0) throw new Error(`packet port "${this.ifname}" was opened with rx: false`);
    this.#current?._invalidate();
    this.#current = undefined;
    const n = this.#n.portRecv(this.#h, this.#desc, this.#reinsert);
    if (n < 0) throw systemError(n, 'recv', { what: 'packet port', ifname: this.ifname });
    if (n === 0) return null;
    this.#current = new FrameBatch(this.#ring, this.#desc, n, this, this.#info.vnetHdr);
    return this.#current;
  }

  /** The next batch (waits on the native poll thread). Resolves null when the port is closed. */
  recv(): Promise<FrameBatch | null> {
    return this.#rx.recv();
  }

  /** Batches until the port closes (the previous batch is released when the next is requested). */
  [Symbol.asyncIterator](): AsyncIterableIterator<FrameBatch> {
    return this.#rx.iterate(() => this.recv());
  }

  /**
   * Queue frames on the TX ring and kick the kernel once. Returns how many were queued (fewer
   * than given when the ring is full: retry the rest, or use {@link sendAll}). With vnetHdr
   * ports, `withVnetHeader` says each frame starts with its own 10-byte virtio_net_hdr.
   */
  send(frames: Uint8Array[], withVnetHeader = false): number {
    this.#assertOpen();
    if (this.#info.txSlots === 0) throw new Error(`packet port "${this.ifname}" was opened with tx: false`);
    if (!Array.isArray(frames)) throw new InvalidArgumentError('frames', 'an array of Uint8Array', frames);
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i];
      if (!(f instanceof Uint8Array)) throw new InvalidArgumentError(`frames[${i}]`, 'a Uint8Array', f);
      if (f.length < 14 || f.length > this.maxFrameSize + (withVnetHeader ? 10 : 0))
        throw new InvalidArgumentError(`frames[${i}].length`, `14..${this.maxFrameSize} bytes`, f.length);
    }
    if (withVnetHeader && !this.#info.vnetHdr) throw new InvalidArgumentError('withVnetHeader', 'false on a port without vnetHdr', true);
    const r = this.#n.portSend(this.#h, frames, withVnetHeader);
    if (r < 0) throw systemError(r, 'sendto', { what: 'packet port', ifname: this.ifname, op: 'send' });
    return r;
  }

  /** Send every frame, waiting for ring space; resolves with the count (rejects after timeoutMs). */
  async sendAll(frames: Uint8Array[], opts: { withVnetHeader?: boolean; timeoutMs?: number } = {}): Promise<number> {
    const deadline = Date.now() + (opts.timeoutMs ?? 5000);
    let done = 0;
    while (done < frames.length) {
      const n = this.send(done === 0 ? frames : frames.slice(done), opts.withVnetHeader ?? false);
      done += n;
      if (done < frames.length) {
        if (Date.now() > deadline)
          throw systemError(-11, 'sendto', { what: 'packet port', ifname: this.ifname, op: `send (${done}/${frames.length} queued)` });
        await new Promise((r) => setTimeout(r, 1));
        this.#n.portFlush(this.#h);
      }
    }
    return done;
  }

  /** Frames still in the TX ring (not yet taken or completed by the kernel). */
  txInFlight(): number {
    return this.#rx.closed ? 0 : this.#n.portTxInFlight(this.#h);
  }

  /** Fold the kernel's PACKET_STATISTICS into the counters now (the poll thread does it every 200 ms). */
  updateStats(): void {
    if (!this.#rx.closed) this.#n.portUpdateStats(this.#h);
  }

  /** Let the process exit while this port is open (like socket.unref()). */
  unref(): this {
    if (!this.#rx.closed && this.#rx.threadStarted) this.#n.portRef(this.#h, false);
    return this;
  }

  /** Stop the poll thread (eventfd), release the held block and close the socket. */
  async close(): Promise<void> {
    this.#closeNow();
  }

  /** @internal */
  _releaseBatch(b: FrameBatch): void {
    if (this.#current === b && !this.#rx.closed) {
      this.#n.portRelease(this.#h);
      this.#current = undefined;
    }
  }

  #closeNow(): void {
    if (this.#rx.closed) return;
    this.#rx.closed = true;
    this.#current?._invalidate();
    this.#current = undefined;
    this.#n.portClose(this.#h);
    this.#rx.endWaiters();
    this.emit('close');
  }

  #assertOpen(): void {
    if (this.#rx.error) throw this.#rx.error;
    if (this.#rx.closed) throw new Error(`packet port "${this.ifname}" is closed`);
  }

  /** Readable: serve waiters first, then 'frames' listeners; true to re-arm (someone still wants frames). */
  #readable(): boolean {
    let served = false;
    while (this.#rx.waiting > 0) {
      const b = this.tryRecv();
      if (!b) break;
      this.#rx.deliver(b);
      served = true;
    }
    if (this.#rx.waiting === 0) {
      // Nobody to deliver to: stay unarmed (an unconsumed block would wake us again at once);
      // recv() and a new 'frames' listener arm the thread again.
      if (served || this.listenerCount('frames') === 0) return false;
      for (let i = 0; i < 64 && !this.#rx.closed; i++) {
        const b = this.tryRecv();
        if (!b) break;
        try {
          this.emit('frames', b);
        } finally {
          b.release();
        }
      }
    }
    return true;
  }

  /** The error that stopped the port (device deleted: ENETDOWN/ENODEV), if any. */
  get error(): MacdemuxSystemError | undefined {
    return this.#rx.error;
  }
}
