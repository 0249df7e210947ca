/**
 * The uplink's XDP program (addon/xdp/demux.bpf.c, loaded from the committed light skeleton by
 * addon/xdp/xdp_program.cc): steers frames by (VLAN, MAC) in the kernel — unicast to a port's kernel
 * device through a devmap, broadcast through one devmap per VLAN — and hands what needs userspace
 * (JS and tap ports, source mode, reflections, declared groups, learning misses) to the engine.
 */
import { native } from '../native.ts';
import { systemError } from '../errors.ts';
import type { PortTable } from './port-table.ts';
import type { NativeHandle } from './native-types.ts';

/** XDP verdicts (include/uapi/linux/bpf.h enum xdp_action). */
export const XDP_ACTION = { aborted: 0, drop: 1, pass: 2, tx: 3, redirect: 4 } as const;

/** Indexes of {@link XdpProgram.stats} (addon/xdp/xdp_maps.h MDX_ST_*); 0..15 are drops by DropReason. */
/** Indexes of the program's counters (addon/xdp/xdp_maps.h MDX_ST_*); upTx*: backend 'tc', what the
 * ports' tc program redirected to the uplink. */
export const XDP_STAT = { rxFrames: 16, rxBytes: 17, forwarded: 18, toUser: 19, toXsk: 20, upTxFrames: 21, upTxBytes: 22 } as const;

interface XdpNative {
  xdpLoad(): { handle?: NativeHandle; errno?: number; message?: string };
  xdpLastError(h: NativeHandle): string;
  xdpSync(h: NativeHandle, netns: string, blob: Uint8Array, kernelIfindex: Uint32Array, learning: boolean, maxSlots: number): number;
  xdpAttach(h: NativeHandle, netns: string, ifname: string, generic: boolean): number;
  xdpDetach(h: NativeHandle): number;
  xdpBindXsk(h: NativeHandle, netns: string, ifname: string, queue: number): number;
  xdpDestroy(h: NativeHandle): number;
  xdpTestRun(h: NativeHandle, frame: Uint8Array, out: Uint8Array): { action?: number; length?: number; errno?: number };
  xdpStats(h: NativeHandle): number[] | number;
  xdpSlotTx(h: NativeHandle, slot: number): [number, number] | number;
  xdpFloodTx(h: NativeHandle, map: number): [number, number] | number;
  xdpFloodMapOf(h: NativeHandle, vlan: number): number;
}

const xdpNative = (): XdpNative => native() as unknown as XdpNative;

/** A loaded XDP program and its maps. Needs CAP_BPF (load) and CAP_NET_ADMIN (attach). */
export class XdpProgram {
  readonly #h: NativeHandle;
  #closed = false;

  private constructor(h: NativeHandle) {
    this.#h = h;
  }

  /** Load the program (not attached; every frame goes to userspace until the first {@link sync}). */
  static load(): XdpProgram {
    const r = xdpNative().xdpLoad();
    if (!r.handle) throw systemError(r.errno ?? -22, 'bpf', { what: 'XDP program', op: 'BPF_PROG_LOAD', kernelMessage: r.message });
    return new XdpProgram(r.handle);
  }

  #handle(): NativeHandle {
    if (this.#closed) throw new Error('XDP program is closed');
    return this.#h;
  }

  #check(rc: number, op: string, ifname?: string): void {
    if (rc < 0) {
      throw systemError(rc, 'bpf', { what: 'XDP program', op, kernelMessage: xdpNative().xdpLastError(this.#h), ...(ifname ? { ifname } : {}) });
    }
  }

  /**
   * Bring the maps to `table`. kernelIfindex(slot) is the ifindex (in `netns`) of the kernel device a
   * port's frames may be redirected to, or 0 when the port is served in userspace.
   */
  sync(table: PortTable, kernelIfindex: (slot: number) => number, opts: { netns?: string; learning?: boolean; maxSlots?: number } = {}): void {
    const maxSlots = opts.maxSlots ?? 8192;
    const ifx = new Uint32Array(maxSlots);
    for (const e of table.entries) if (e.slot < maxSlots) ifx[e.slot] = kernelIfindex(e.slot) >>> 0;
    this.#check(xdpNative().xdpSync(this.#handle(), opts.netns ?? '', table.encode(), ifx, opts.learning ?? false, maxSlots), 'map sync');
  }

  /** Attach to `ifname` in `netns` (native mode unless `generic`). */
  attach(ifname: string, opts: { netns?: string; generic?: boolean } = {}): void {
    this.#check(xdpNative().xdpAttach(this.#handle(), opts.netns ?? '', ifname, opts.generic ?? false), 'attach', ifname);
  }

  /** Bind an AF_XDP socket to RX queue `queue` of `ifname` and register it in the program's xskmap:
   * what the program sends to userspace from that queue then goes into it (kept until close()). */
  bindXsk(ifname: string, opts: { netns?: string; queue?: number } = {}): void {
    this.#check(xdpNative().xdpBindXsk(this.#handle(), opts.netns ?? '', ifname, opts.queue ?? 0), 'AF_XDP bind', ifname);
  }

  detach(): void {
    xdpNative().xdpDetach(this.#handle());
  }

  /** BPF_PROG_RUN on one frame: the verdict and the frame as the program left it. */
  testRun(frame: Uint8Array): { action: number; frame: Uint8Array } {
    const out = new Uint8Array(frame.length + 64);
    const r = xdpNative().xdpTestRun(this.#handle(), frame, out);
    if (r.action === undefined) this.#check(r.errno ?? -22, 'BPF_PROG_TEST_RUN');
    return { action: r.action!, frame: out.subarray(0, r.length ?? 0) };
  }

  /** Program counters summed over CPUs (indexes: {@link XDP_STAT}; 0..15 drops by reason). */
  stats(): number[] {
    const r = xdpNative().xdpStats(this.#handle());
    if (typeof r === 'number') this.#check(r, 'stats');
    return r as number[];
  }

  /** Frames/bytes the program redirected to a slot (unicast). */
  slotTx(slot: number): [number, number] {
    const r = xdpNative().xdpSlotTx(this.#handle(), slot);
    if (typeof r === 'number') this.#check(r, 'slot stats');
    return r as [number, number];
  }

  /** Frames/bytes flooded through a flood map. */
  floodTx(map: number): [number, number] {
    const r = xdpNative().xdpFloodTx(this.#handle(), map);
    if (typeof r === 'number') this.#check(r, 'flood stats');
    return r as [number, number];
  }

  /** The flood map a VLAN floods through in the kernel, or -1. */
  floodMapOf(vlan: number): number {
    return xdpNative().xdpFloodMapOf(this.#handle(), vlan);
  }

  /** Detach and free the program and maps. */
  close(): void {
    if (this.#closed) return;
    xdpNative().xdpDestroy(this.#h);
    this.#closed = true;
  }
}
