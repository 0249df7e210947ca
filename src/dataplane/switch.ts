/**
 * The userspace switch: an uplink device and virtual ports with macvlan modes, run by the native
 * engine (addon/dataplane/engine.cc). Ports can be added, removed and re-moded while traffic runs: every
 * change builds a new immutable port table that the engine swaps in atomically.
 */
import { BACKEND_CHOICES, DEFAULT_BACKEND, fallbackAfter, resolveBackend, type BackendChoice, type BackendDecision } from './backend.ts';
import { randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { InvalidArgumentError, systemError } from '../errors.ts';
import { log } from '../log.ts';
import { CounterView, emptyPortCounters } from './counters.ts';
import { engineNative, type EngineNative, type NativeErrorDetail, type NativeHandle } from './native-types.ts';
import { validateIfname, validateMode, validateRingOptions, type RingOptions } from '../net/index.ts';
import { validatePortSpec, type ValidPort } from './port-spec.ts';
import { LinkWatch, type DeviceLinkState, type SwitchLinkEvent, type WatchedDevice } from './link-watch.ts';
import { DEFAULT_MAX_FRAME_LEN, PortTable, type TableEntry } from './port-table.ts';
import type { SwitchFrameBatch, MacvlanMode, PortSpec, SwitchCounters } from './types.ts';

/** Options of a {@link Switch}. */
export interface SwitchOptions {
  /** Uplink device (an AF_PACKET ring is opened on it, promiscuous). */
  uplink: string;
  /** Network namespace of the uplink and of the port devices (name or path). */
  netns?: string;
  /** Worker threads (PACKET_FANOUT on the uplink when > 1). Default 1. */
  workers?: number;
  /** Learning mode: an FDB of source MACs seen on ports, with ageing (off by default; not macvlan). */
  learning?: boolean;
  /** FDB ageing time in ms (learning mode). Default 300000 (the Linux bridge's 300 s). */
  ageingMs?: number;
  /** Name for logs. */
  name?: string;
  /** Mode of ports that do not name one. Default 'bridge'. */
  defaultMode?: MacvlanMode;
  /** Maximum number of ports (engine slots - 1). Default 8191. */
  maxPorts?: number;
  /** Largest accepted frame, without VLAN tag and FCS. Default: the uplink's MTU + 14 at start
   * (at least 1514). GSO super-frames are measured per segment. */
  maxFrameLen?: number;
  /** The network's MTU (68..65521): maxFrameLen = mtu + 14. */
  mtu?: number;
  /** PACKET_QDISC_BYPASS on every ring the engine transmits on (skips the qdisc layer and the
   * taps: tcpdump on the switch side then no longer sees the engine's transmit). Default false. */
  qdiscBypass?: boolean;
  /** Port transmit with sendmmsg (one copied skb per frame, one syscall per batch) instead of the
   * AF_PACKET TX ring (measured ~10% less worker CPU per frame on veth). Default true. */
  portTxCopy?: boolean;
  /** Uplink RX backend (src/dataplane/backend.ts): 'packet' (AF_PACKET rings), 'xdp' (an XDP
   * program steering by (VLAN, MAC) in the kernel, the rest to the rings), 'tc' (a tc ingress program
   * forwarding known unicast to kernel ports as whole skbs; one worker), or 'auto' (the default: xdp on
   * a NIC, tc on a virtual device with one worker where tcx links can be made, packet otherwise). */
  backend?: BackendChoice;
  /** With backend 'tc': deliver into a veth port's peer with bpf_redirect_peer when that peer lives in
   * another namespace (the frame skips the port veth's egress in the switch's namespace: its qdisc,
   * TX counters and taps; docs/dataplane.md "tc fast path"). false: always bpf_redirect to the port
   * device. Default true. */
  tcPeer?: boolean;
  /** With backend 'xdp': attach in generic (skb) mode instead of the driver's native mode. */
  xdpGeneric?: boolean;
  /** With backend 'xdp': what userspace must see (JS and tap ports, misses, learning, source mode)
   * comes up through an AF_XDP socket per worker (default true), or with XDP_PASS to the AF_PACKET
   * rings when false. */
  xdpSockets?: boolean;
  /** Pin worker i to CPU cpus[i % cpus.length]. Default: not pinned. */
  cpus?: number[];
  /** Uplink RX ring: block size and count; TX ring slots. */
  ring?: SwitchRingOptions;
  /** Port rings (defaults: 256 KiB x 4 blocks, 512 TX slots). */
  portRing?: SwitchRingOptions;
  /**
   * Receive design (docs/dataplane.md "Receive: latency and batching"): 'adaptive' (default; the
   * uplink receives on a TPACKET_V2 ring while the worker keeps up and on TPACKET_V3 blocks once it
   * falls behind; per worker, flows split between workers), 'frames' (V2 rings only) or 'blocks' (V3
   * rings only, the earlier design: milliseconds of latency). Ports receive on V2 rings unless 'blocks'.
   */
  rx?: 'adaptive' | 'frames' | 'blocks';
  /**
   * Real-time priority for the workers: true (SCHED_FIFO priority 10) or a priority 1..99. On a
   * busy host a normal-priority worker waits behind other tasks while its rings fill (see
   * docs/dataplane.md "Busy hosts"). Needs CAP_SYS_NICE; start() fails with EPERM otherwise.
   * Default false.
   */
  realtime?: boolean | number;
  /**
   * Uplink rings sized to hold this many milliseconds of frames at the measured maximum rate
   * (V3: 1.5 Mpps of 64-byte frames, ~144 ring bytes each, or 10 Gbit/s of super-frames, whichever
   * needs more; V2: 0.75 Mpps, one 2 KiB slot each). Default 25 (30 MiB of V3 blocks, 18750 V2
   * slots = 37 MiB). `ring.blocks` overrides the V3 part.
   */
  ringMs?: number;
  /** Busy-poll this many microseconds after the last frame before sleeping in epoll. Default 20. */
  spinUs?: number;
  /**
   * With 'adaptive' receive: when the selected uplink ring is nearly full, the kernel puts the
   * frame on the worker's other ring instead of dropping it (PACKET_FANOUT_FLAG_ROLLOVER). That
   * saves frames while the worker is off the CPU, but a flow split across the two rings can
   * arrive out of order (TCP then retransmits spuriously). Default true.
   */
  rxRollover?: boolean;
  /**
   * Fair-scheduler time slice of the workers in microseconds (Linux 6.12+ EEVDF custom slice; 0:
   * the kernel's default). A short slice lets a waking worker preempt CPU hogs on a busy host
   * without real-time priority. Default 100 (ignored with `realtime`).
   */
  sliceUs?: number;
  /** Watch the namespace's link events while running and re-attach the uplink or a port whose
   * device is re-created (see {@link SwitchLinkEvent}). Default true. */
  watchLinks?: boolean;
}

/** Ring sizing by time (item "busy hosts"): the rates measured on the reference machine. */
const DEFAULT_RING_MS = 25;
const MAX_PPS_V3 = 1_500_000;
const V3_BYTES_PER_FRAME = 144;
const MAX_PPS_V2 = 750_000;
/** TCP with offloads: ~64 KiB super-frames at up to 10 Gbit/s. A V3 block holds whole frames, so
 * a ring sized for 64-byte frames alone holds only ~6 ms of super-frames and drops them (each drop
 * costs TCP a retransmit). */
const MAX_BYTES_PER_S = 10e9 / 8;

/** Uplink ring sizes that hold `ms` of frames at the maximum rates above. */
export function ringsForMs(ms: number, blockSize: number): { ringBlocks: number; ringSlots: number } {
  const v3Bytes = (ms / 1000) * Math.max(MAX_PPS_V3 * V3_BYTES_PER_FRAME, MAX_BYTES_PER_S);
  return { ringBlocks: Math.max(2, Math.ceil(v3Bytes / blockSize)), ringSlots: Math.max(64, Math.ceil((ms / 1000) * MAX_PPS_V2)) };
}

/** Engine fd event kinds (addon/dataplane/engine.h FdEventKind). */
const FD_EVENT = { ERROR: 1, DISARMED: 2, UPLINK_REPLACED: 3 } as const;

interface PortState extends ValidPort {
  slot: number;
  attached: boolean;
}

/** The ring options the engine takes for its uplink and port rings (src/net's names). */
export type SwitchRingOptions = Pick<RingOptions, 'blockSize' | 'blockCount' | 'txFrameCount'>;
const SWITCH_RING_KEYS = ['blockSize', 'blockCount', 'txFrameCount'] as const;

/** The frame limit of a switch whose limit follows its uplink: MTU + 14, at least the default. */
function uplinkFrameLimit(mtu: number | undefined): number {
  return Math.max(DEFAULT_MAX_FRAME_LEN, Math.min(65535, (mtu ?? 0) + 14));
}

/**
 * A running (or configured) userspace switch. Emits `link` ({@link SwitchLinkEvent}) when one of
 * its devices goes down, comes up, is deleted or re-created, and when a worker sees an fd error.
 */
export class Switch extends EventEmitter<{ link: [SwitchLinkEvent] }> {
  readonly name: string;
  /** No mtu/maxFrameLen given: the frame limit is the uplink's MTU + 14 (read at start). */
  private readonly frameLimitFollowsUplink: boolean;
  private frameLimit = DEFAULT_MAX_FRAME_LEN;
  private readonly opts: Required<Pick<SwitchOptions, 'uplink' | 'workers' | 'learning' | 'maxPorts' | 'maxFrameLen' | 'defaultMode'>> &
    SwitchOptions;
  private readonly ports = new Map<string, PortState>();
  private readonly n: EngineNative;
  private engine: NativeHandle | undefined;
  private view: CounterView | undefined;
  private nextSlot = 1;
  /** "vlan:mac" -> port name */
  private readonly byKey = new Map<string, string>();
  private readonly usedSlots = new Set<number>();
  private readonly vlanInfo = new Map<number, { count: number; passthru: boolean }>();
  private readonly logger = log('switch');
  private jsErrors = 0;
  private backendDecision: BackendDecision | undefined;
  private links: LinkWatch | undefined;

  constructor(opts: SwitchOptions) {
    super();
    if (typeof opts !== 'object' || opts === null) throw new InvalidArgumentError('options', 'an object', opts);
    validateIfname(opts.uplink, 'uplink');
    validateRingOptions(opts.ring, 'ring.', SWITCH_RING_KEYS);
    validateRingOptions(opts.portRing, 'portRing.', SWITCH_RING_KEYS);
    if (opts.netns !== undefined && (typeof opts.netns !== 'string' || opts.netns.length === 0))
      throw new InvalidArgumentError('netns', 'a namespace name or path', opts.netns);
    const workers = opts.workers ?? 1;
    if (opts.backend !== undefined && !BACKEND_CHOICES.includes(opts.backend))
      throw new InvalidArgumentError('backend', `one of ${BACKEND_CHOICES.join(', ')}`, opts.backend);
    if (!Number.isInteger(workers) || workers < 1 || workers > 32) throw new InvalidArgumentError('workers', 'an integer 1..32', opts.workers);
    if (opts.backend === 'tc' && workers !== 1) throw new InvalidArgumentError('workers', "1 with backend 'tc'", opts.workers);
    const maxPorts = opts.maxPorts ?? 8191;
    if (!Number.isInteger(maxPorts) || maxPorts < 1 || maxPorts > 65535) throw new InvalidArgumentError('maxPorts', 'an integer 1..65535', opts.maxPorts);
    if (opts.mtu !== undefined && (!Number.isInteger(opts.mtu) || opts.mtu < 68 || opts.mtu > 65521))
      throw new InvalidArgumentError('mtu', 'an integer 68..65521', opts.mtu);
    if (opts.mtu !== undefined && opts.maxFrameLen !== undefined) throw new InvalidArgumentError('mtu', 'mtu or maxFrameLen, not both', opts.mtu);
    const maxFrameLen = opts.maxFrameLen ?? (opts.mtu !== undefined ? opts.mtu + 14 : DEFAULT_MAX_FRAME_LEN);
    if (!Number.isInteger(maxFrameLen) || maxFrameLen < 60 || maxFrameLen > 65535)
      throw new InvalidArgumentError('maxFrameLen', 'an integer 60..65535', opts.maxFrameLen);
    this.frameLimitFollowsUplink = opts.maxFrameLen === undefined && opts.mtu === undefined;
    if (opts.cpus !== undefined && (!Array.isArray(opts.cpus) || opts.cpus.some((c) => !Number.isInteger(c) || c < 0 || c > 1023)))
      throw new InvalidArgumentError('cpus', 'an array of CPU numbers 0..1023', opts.cpus);
    if (opts.rx !== undefined && !['adaptive', 'frames', 'blocks'].includes(opts.rx))
      throw new InvalidArgumentError('rx', "'adaptive', 'frames' or 'blocks'", opts.rx);
    if (opts.spinUs !== undefined && (!Number.isInteger(opts.spinUs) || opts.spinUs < 0 || opts.spinUs > 1_000_000))
      throw new InvalidArgumentError('spinUs', 'an integer 0..1000000', opts.spinUs);
    if (opts.sliceUs !== undefined && !(Number.isInteger(opts.sliceUs) && (opts.sliceUs === 0 || (opts.sliceUs >= 100 && opts.sliceUs <= 100_000))))
      throw new InvalidArgumentError('sliceUs', '0 or an integer number of microseconds 100..100000', opts.sliceUs);
    if (opts.rxRollover !== undefined && typeof opts.rxRollover !== 'boolean') throw new InvalidArgumentError('rxRollover', 'true or false', opts.rxRollover);
    if (opts.realtime !== undefined && typeof opts.realtime !== 'boolean' && !(Number.isInteger(opts.realtime) && opts.realtime >= 1 && opts.realtime <= 99))
      throw new InvalidArgumentError('realtime', 'a boolean or a SCHED_FIFO priority 1..99', opts.realtime);
    if (opts.ringMs !== undefined && !(Number.isInteger(opts.ringMs) && opts.ringMs >= 1 && opts.ringMs <= 1000))
      throw new InvalidArgumentError('ringMs', 'an integer number of milliseconds 1..1000', opts.ringMs);
    if (opts.tcPeer !== undefined && typeof opts.tcPeer !== 'boolean') throw new InvalidArgumentError('tcPeer', 'a boolean', opts.tcPeer);
    if (opts.watchLinks !== undefined && typeof opts.watchLinks !== 'boolean') throw new InvalidArgumentError('watchLinks', 'a boolean', opts.watchLinks);
    if (opts.learning !== undefined && typeof opts.learning !== 'boolean') throw new InvalidArgumentError('learning', 'a boolean', opts.learning);
    const defaultMode = opts.defaultMode === undefined ? 'bridge' : validateMode(opts.defaultMode, 'defaultMode');
    this.opts = { ...opts, workers, maxPorts, maxFrameLen, learning: opts.learning ?? false, defaultMode };
    this.name = opts.name ?? `switch:${opts.uplink}`;
    this.n = engineNative();
  }

  /** True between start() and stop(). */
  get running(): boolean {
    return this.engine !== undefined;
  }

  /** Add a port (live when running: its backend is opened, then the new table is published). */
  addPort(p: PortSpec): void {
    this.addPorts([p]);
  }

  /**
   * Add several ports at once: validated together (nothing changes if one is invalid) and, when
   * running, published in one table swap. Validation is incremental (O(1) per port).
   */
  addPorts(specs: PortSpec[]): void {
    if (!Array.isArray(specs)) throw new InvalidArgumentError('ports', 'an array of PortSpec', specs);
    if (this.ports.size + specs.length > this.opts.maxPorts)
      throw new InvalidArgumentError('ports', `at most ${this.opts.maxPorts} ports`, this.ports.size + specs.length);
    const added: PortState[] = [];
    const keys = new Set<string>();
    const names = new Set<string>();
    const vlanAdds = new Map<number, { count: number; passthru: boolean }>();
    const slots = this.freeSlots(specs.length);
    specs.forEach((p, i) => {
      const v = validatePortSpec(p, `port "${(p as Partial<PortSpec>)?.name ?? ''}"`, this.opts.defaultMode);
      if (this.ports.has(v.name) || names.has(v.name)) throw new InvalidArgumentError('port.name', 'a name not used by another port', v.name);
      const key = `${v.vlan}:${v.mac}`;
      if (this.byKey.has(key) || keys.has(key))
        throw new InvalidArgumentError(`port "${v.name}".mac`, `a MAC not used by another port of VLAN ${v.vlan}`, v.spec.mac);
      const cur = this.vlanInfo.get(v.vlan) ?? { count: 0, passthru: false };
      const add = vlanAdds.get(v.vlan) ?? { count: 0, passthru: false };
      if (cur.passthru || add.passthru || (v.mode === 'passthru' && cur.count + add.count > 0))
        throw new InvalidArgumentError(`port "${v.name}".mode`, `a passthru port to be the only port of VLAN ${v.vlan}`, v.mode);
      vlanAdds.set(v.vlan, { count: add.count + 1, passthru: v.mode === 'passthru' });
      names.add(v.name);
      keys.add(key);
      added.push({ ...v, slot: slots[i]!, attached: false });
    });
    if (this.engine) {
      const next = new Map(this.ports);
      for (const st of added) next.set(st.name, st);
      const table = this.buildTable(next);
      const attached: PortState[] = [];
      try {
        for (const st of added) {
          this.view!.resetSlot(st.slot);
          this.attach(st);
          attached.push(st);
        }
        this.publish(table);
      } catch (err) {
        for (const st of attached) this.detach(st);
        throw err;
      }
    }
    for (const st of added) this.index(st, +1);
  }

  /** Remove a port (live: unpublished first, then its backend is closed). */
  removePort(name: string): void {
    const state = this.ports.get(name);
    if (!state) throw new InvalidArgumentError('name', 'the name of a port of this switch', name);
    const next = new Map(this.ports);
    next.delete(name);
    if (this.engine) {
      this.publish(this.buildTable(next));
      this.detach(state);
    }
    this.index(state, -1);
  }

  /** Change a port's mode (live). */
  setPortMode(name: string, mode: MacvlanMode): void {
    const state = this.ports.get(name);
    if (!state) throw new InvalidArgumentError('name', 'the name of a port of this switch', name);
    const m = validateMode(mode, 'mode');
    if ((m === 'passthru') !== (state.mode === 'passthru'))
      throw new InvalidArgumentError('mode', 'a change that does not enter or leave passthru (as in the kernel)', mode);
    const updated: PortState = { ...state, mode: m, sourceMacs: m === 'source' ? state.sourceMacs : [] };
    const next = new Map(this.ports).set(name, updated);
    const table = this.buildTable(next);
    if (this.engine) this.publish(table);
    this.ports.set(name, updated);
  }

  /** The uplink backend in use (after start), why, and the XDP program's state ('native', 'generic',
   * or why it hands every frame to the rings). */
  backend(): (BackendDecision & { xdpState?: string }) | undefined {
    if (!this.backendDecision) return undefined;
    if (this.backendDecision.backend === 'packet' || !this.engine) return { ...this.backendDecision };
    return { ...this.backendDecision, xdpState: this.n.engineXdpState(this.engine) };
  }

  /** The XDP program's own counters (indexes: XDP_STAT in xdp-program.ts), or undefined without XDP. */
  xdpStats(): number[] | undefined {
    if (!this.engine) return undefined;
    const r = this.n.engineXdpStats(this.engine);
    return typeof r === 'number' ? undefined : r;
  }

  /**
   * Backend 'tc': the ports whose known unicast the tc program delivers straight into their veth's
   * peer (bpf_redirect_peer: the device is up and its peer lives in another namespace); the others
   * get bpf_redirect to the port device. Empty for other backends or when stopped.
   */
  tcPeerPorts(): string[] {
    const e = this.engine;
    if (!e || this.backendDecision?.backend !== 'tc') return [];
    return [...this.ports.values()].filter((s) => s.attached && this.n.engineTcPeer(e, s.slot) === 1).map((s) => s.name);
  }

  /**
   * Backend 'tc': probe the ports' devices again (only `port`'s, when named) and re-sync the program
   * where a port's delivery changed (its veth peer moved into or out of the switch's namespace, the
   * device went down or up). The link watch calls it with the port of each link event; callable
   * directly (e.g. with `watchLinks: false`). Returns the number of ports whose delivery changed.
   */
  refreshTcPeers(port?: string): number {
    if (!this.engine || this.backendDecision?.backend !== 'tc') return 0;
    let slot = 0;
    if (port !== undefined) {
      const st = this.ports.get(port);
      if (!st) throw new InvalidArgumentError('port', 'a port of this switch', port);
      if (!st.attached) return 0;
      slot = st.slot;
    }
    const detail: NativeErrorDetail = {};
    const rc = this.n.engineRefreshTcPeers(this.engine, detail, slot);
    if (rc < 0) throw systemError(rc, 'engineRefreshTcPeers', { what: 'switch', ifname: this.opts.uplink, op: detail.step || 'tc map sync' });
    return rc;
  }

  /** The current table (what decide() is run against; also for JS-side decisions). */
  table(): PortTable {
    return this.buildTable(this.ports);
  }

  /** Port names and their specs. */
  portSpecs(): PortSpec[] {
    return [...this.ports.values()].map((s) => ({ ...s.spec, mode: s.mode }));
  }

  /**
   * Open the uplink, attach every port, publish the table and start the workers. Under 'auto', a
   * fast path (tc, xdp) that cannot start here for want of rights or kernel support (EPERM, EINVAL,
   * EOPNOTSUPP, ...) gives way to the AF_PACKET rings, with the reason in {@link backend}.
   */
  async start(): Promise<void> {
    if (this.engine) return;
    const choice = this.opts.backend ?? DEFAULT_BACKEND;
    let backend = await resolveBackend(choice, this.opts.uplink, this.opts.netns, this.opts.workers);
    try {
      this.startWith(backend);
    } catch (err) {
      const fallback = fallbackAfter(backend, choice, this.opts.uplink, err);
      if (!fallback) throw err;
      this.logger.warn({ event: 'engine.backend-fallback', switch: this.name, from: backend.backend, err: (err as Error).message }, fallback.reason);
      backend = fallback;
      this.startWith(backend);
    }
    this.logger.info(
      { event: 'engine.started', switch: this.name, ports: this.ports.size, workers: this.opts.workers, backend: backend.backend, backendReason: backend.reason },
      `switch started (backend ${backend.backend}: ${backend.reason})`,
    );
  }

  /** start() with a resolved backend; on failure nothing stays open. */
  private startWith(backend: BackendDecision): void {
    const detail: NativeErrorDetail = {};
    const created = this.n.engineCreate({
      backend: backend.backend,
      ...(this.opts.xdpGeneric ? { xdpGeneric: true } : {}),
      ...(this.opts.xdpSockets === false ? { xdpSockets: false } : {}),
      ...(this.opts.tcPeer === false ? { tcPeer: false } : {}),
      uplink: this.opts.uplink,
      ...(this.opts.netns !== undefined ? { netns: this.opts.netns } : {}),
      workers: this.opts.workers,
      maxSlots: this.opts.maxPorts + 1,
      learning: this.opts.learning,
      ageingMs: this.opts.ageingMs ?? 300000,
      fanoutGroup: randomInt(1, 0xffff),
      qdiscBypass: this.opts.qdiscBypass ?? false,
      portTxCopy: this.opts.portTxCopy ?? true,
      rxMode: ({ adaptive: 0, frames: 2, blocks: 3 } as const)[this.opts.rx ?? 'adaptive'],
      ...ringsForMs(this.opts.ringMs ?? DEFAULT_RING_MS, this.opts.ring?.blockSize ?? 1 << 20),
      ...(this.opts.realtime ? { realtimePriority: this.opts.realtime === true ? 10 : this.opts.realtime } : {}),
      ...(this.opts.spinUs !== undefined ? { spinUs: this.opts.spinUs } : {}),
      ...(this.opts.sliceUs !== undefined ? { sliceUs: this.opts.sliceUs } : {}),
      ...(this.opts.rxRollover !== undefined ? { rxRollover: this.opts.rxRollover ? 1 : 0 } : {}),
      ...(this.opts.cpus ? { cpus: this.opts.cpus } : {}),
      ...nativeRing(this.opts.ring),
    }, detail);
    if (typeof created === 'number') {
      throw systemError(created, 'engineCreate', { what: 'switch uplink', ifname: this.opts.uplink, op: detail.step || 'open' });
    }
    this.engine = created;
    this.backendDecision = backend;
    const layout = this.n.engineLayout(created);
    this.view = new CounterView(this.n.engineCounters(created), layout);
    this.frameLimit = this.frameLimitFollowsUplink ? uplinkFrameLimit(layout.uplinkMtu) : this.opts.maxFrameLen;
    this.n.engineOnEvent(created, (kind, slot, queue, errno) => this.onFdEvent(kind, slot, queue, errno));
    try {
      for (const s of this.ports.values()) this.attach(s);
      this.publish(this.buildTable(this.ports));
      if (this.opts.watchLinks ?? true) {
        this.links = new LinkWatch(
          this.opts.netns,
          (ifname) => this.watched(ifname),
          (d) => (d.role === 'uplink' ? this.reattachUplink() : this.reattachPort(d.port!)),
          (ev) => this.onLinkEvent(ev),
        );
      }
      const rc = this.n.engineStart(created);
      if (rc < 0) throw systemError(rc, 'engineStart', { what: 'switch', ifname: this.opts.uplink });
    } catch (err) {
      this.links?.close();
      this.links = undefined;
      this.n.engineDestroy(created);
      this.engine = undefined;
      for (const s of this.ports.values()) s.attached = false;
      throw err;
    }
  }

  /** Stop the workers and close every ring. Counters stay readable. */
  async stop(): Promise<void> {
    const e = this.engine;
    if (!e) return;
    this.links?.close();
    this.links = undefined;
    this.n.engineStop(e);
    this.n.engineDestroy(e);
    this.engine = undefined;
    for (const s of this.ports.values()) s.attached = false;
    this.logger.info({ event: 'engine.stopped', switch: this.name }, 'switch stopped');
  }

  /**
   * Frames from a JS port into the switch (switched as if the port had transmitted them).
   * Returns the number of frames accepted (the queue holds up to 65536 frames).
   */
  inject(portName: string, frames: Uint8Array[] | SwitchFrameBatch): number {
    const state = this.ports.get(portName);
    if (!state) throw new InvalidArgumentError('portName', 'the name of a port of this switch', portName);
    if (!this.engine) throw new InvalidArgumentError('switch', 'a started switch', 'stopped');
    let data: Uint8Array;
    let offsets: Uint32Array;
    let lengths: Uint32Array;
    if (Array.isArray(frames)) {
      const total = frames.reduce((a, f) => a + f.length, 0);
      data = new Uint8Array(total);
      offsets = new Uint32Array(frames.length);
      lengths = new Uint32Array(frames.length);
      let o = 0;
      frames.forEach((f, i) => {
        data.set(f, o);
        offsets[i] = o;
        lengths[i] = f.length;
        o += f.length;
      });
    } else {
      ({ data, offsets, lengths } = frames);
      if (offsets.length !== frames.count) {
        offsets = offsets.subarray(0, frames.count);
        lengths = lengths.subarray(0, frames.count);
      }
    }
    const rc = this.n.engineInject(this.engine, state.slot, data, offsets, lengths);
    if (rc < 0) throw systemError(rc, 'engineInject', { what: 'port', ifname: portName });
    return rc;
  }

  /** Counters per port and uplink, drops by reason, per worker (read from shared memory). */
  counters(): SwitchCounters {
    const ports: SwitchCounters['ports'] = {};
    if (!this.view) {
      for (const name of this.ports.keys()) ports[name] = emptyPortCounters();
      return { uplink: emptyPortCounters(), ports, rxFrames: 0, forwarded: 0, drops: {}, workers: [], softOffload: { checksums: 0, gsoFrames: 0, segments: 0, refused: 0 } };
    }
    for (const s of this.ports.values()) ports[s.name] = this.view.slot(s.slot);
    return { uplink: this.view.slot(0), ports, ...this.view.totals() };
  }

  /**
   * Open the uplink again (its device was re-created: a new ifindex, or its MTU changed in place:
   * the rings read the MTU at open) and swap the new rings into the running workers; a frame limit
   * that follows the uplink takes the new MTU. Throws, with the switch unchanged, when the uplink
   * cannot be opened.
   * Called by the link watch; callable directly (e.g. with `watchLinks: false`).
   */
  reattachUplink(): void {
    if (!this.engine) throw new InvalidArgumentError('switch', 'a started switch', 'stopped');
    const detail: NativeErrorDetail = {};
    const rc = this.n.engineReplaceUplink(this.engine, detail);
    if (rc < 0) throw systemError(rc, 'engineReplaceUplink', { what: 'switch uplink', ifname: this.opts.uplink, op: detail.step || 'reattach' });
    // The new device may have another MTU (ReplaceUplink reads it): a limit that follows the uplink follows it.
    const limit = uplinkFrameLimit(this.n.engineLayout(this.engine).uplinkMtu);
    if (this.frameLimitFollowsUplink && limit !== this.frameLimit) {
      const was = this.frameLimit;
      this.frameLimit = limit;
      this.publish(this.buildTable(this.ports));
      this.logger.info({ event: 'switch.frame-limit', switch: this.name, from: was, to: limit }, `uplink MTU ${limit - 14}: frame limit ${was} -> ${limit} bytes`);
    }
  }

  /**
   * Close a packet or tap port's backend and open it again on the device that now has its name.
   * Throws when the device cannot be opened (the port then stays detached: frames to it are
   * counted as txDropped; a later call or the device's next link event tries again).
   */
  reattachPort(name: string): void {
    const st = this.ports.get(name);
    if (!st) throw new InvalidArgumentError('name', 'the name of a port of this switch', name);
    if (!this.engine) throw new InvalidArgumentError('switch', 'a started switch', 'stopped');
    if (st.spec.backend.kind === 'js') throw new InvalidArgumentError(`port "${name}"`, 'a packet or tap port (a JS port has no device)', 'js');
    this.detach(st);
    this.attach(st);
  }

  /**
   * The switch's devices as the link watch last saw them (present, ifindex, up, carrier), with
   * whether the engine has the port's backend open. Empty when not running or not watching.
   */
  linkStates(): Record<string, DeviceLinkState & WatchedDevice & { attached: boolean }> {
    const out: Record<string, DeviceLinkState & WatchedDevice & { attached: boolean }> = {};
    if (!this.links) return out;
    for (const d of this.devices()) {
      const st = this.links.state(d.ifname) ?? { present: false, ifindex: 0, up: false, lowerUp: false };
      const attached = d.role === 'uplink' ? true : (this.ports.get(d.port!)?.attached ?? false);
      out[d.ifname] = { ...d, ...st, attached };
    }
    return out;
  }

  // ---- internals ----

  /** The devices this switch uses: the uplink and every packet/tap port backend. */
  private devices(): WatchedDevice[] {
    const out: WatchedDevice[] = [{ ifname: this.opts.uplink, role: 'uplink' }];
    for (const s of this.ports.values()) {
      const b = s.spec.backend;
      if (b.kind !== 'js') out.push({ ifname: b.ifname, role: 'port', port: s.name });
    }
    return out;
  }

  private watched(ifname: string): WatchedDevice | undefined {
    if (ifname === this.opts.uplink) return { ifname, role: 'uplink' };
    for (const s of this.ports.values()) {
      const b = s.spec.backend;
      if (b.kind !== 'js' && b.ifname === ifname) return { ifname, role: 'port', port: s.name };
    }
    return undefined;
  }

  private onLinkEvent(ev: SwitchLinkEvent): void {
    const f = { switch: this.name, device: ev.device, role: ev.role, ...(ev.port ? { port: ev.port } : {}), ifindex: ev.ifindex };
    if (ev.state === 'reattach-failed') this.logger.error({ event: 'link.reattach-failed', ...f, err: ev.error }, `${ev.role} device re-created but not re-attached`);
    else if (ev.state === 'gone') this.logger.warn({ event: 'link.gone', ...f }, `${ev.role} device deleted; re-attached when a device of that name appears`);
    else if (ev.state === 'reattached') this.logger.info({ event: 'link.reattached', ...f }, `${ev.role} device re-created: re-attached`);
    else if (ev.state === 'mtu') this.logger.info({ event: 'link.mtu', ...f, mtu: ev.mtu, from: ev.mtuWas }, `${ev.role} MTU ${ev.mtuWas} -> ${ev.mtu}: re-attached`);
    else this.logger.info({ event: 'link.state', ...f }, `${ev.role} link ${ev.state}`);
    // A veth peer that changes namespace goes down and up (dev_change_net_namespace closes it), which
    // the port device sees as carrier down/up: the tc program's peer delivery is checked again.
    if (ev.role === 'port' && (ev.state === 'up' || ev.state === 'down') && (ev.port === undefined || this.ports.has(ev.port))) {
      try {
        const n = this.refreshTcPeers(ev.port);
        if (n > 0) this.logger.info({ event: 'tc.peer-refresh', ...f, ports: n, peer: this.tcPeerPorts() }, 'tc delivery re-probed');
      } catch (err) {
        this.logger.error({ event: 'tc.peer-refresh-failed', ...f, err }, 'tc delivery not re-probed');
      }
    }
    this.emit('link', ev);
  }

  /** A worker's fd event: one log line and a `link` event. */
  private onFdEvent(kind: number, slot: number, queue: number, errno: number): void {
    if (kind === FD_EVENT.UPLINK_REPLACED) return; // reported by reattachUplink's caller
    let d: WatchedDevice = { ifname: this.opts.uplink, role: 'uplink' };
    if (slot !== 0) {
      const st = [...this.ports.values()].find((p) => p.slot === slot);
      const b = st?.spec.backend;
      d = { ifname: b && b.kind !== 'js' ? b.ifname : `slot ${slot}`, role: 'port', ...(st ? { port: st.name } : {}) };
    }
    const state = kind === FD_EVENT.ERROR ? 'fd-error' : 'fd-disarmed';
    const ev: SwitchLinkEvent = { device: d.ifname, role: d.role, ...(d.port ? { port: d.port } : {}), state, errno };
    const f = { switch: this.name, device: d.ifname, role: d.role, ...(d.port ? { port: d.port } : {}), ...(queue >= 0 ? { queue } : {}), errno };
    if (state === 'fd-error') this.logger.warn({ event: 'link.fd-error', ...f }, `${d.role} socket error (cleared; still polled)`);
    else this.logger.warn({ event: 'link.fd-failed', ...f }, `${d.role} fd failed: no longer polled`);
    this.emit('link', ev);
  }

  /** n free slots (never the uplink's 0), continuing round-robin so a slot is not reused at once. */
  private freeSlots(n: number): number[] {
    const out: number[] = [];
    for (let tries = 0; out.length < n && tries < this.opts.maxPorts; tries++) {
      const s = this.nextSlot;
      this.nextSlot = this.nextSlot >= this.opts.maxPorts ? 1 : this.nextSlot + 1;
      if (!this.usedSlots.has(s)) out.push(s);
    }
    if (out.length < n) throw new InvalidArgumentError('ports', `at most ${this.opts.maxPorts} ports`, this.ports.size + n);
    return out;
  }

  /** Add (+1) or remove (-1) a port from the maps and indexes. */
  private index(st: PortState, dir: 1 | -1): void {
    const key = `${st.vlan}:${st.mac}`;
    const vi = this.vlanInfo.get(st.vlan) ?? { count: 0, passthru: false };
    if (dir > 0) {
      this.ports.set(st.name, st);
      this.byKey.set(key, st.name);
      this.usedSlots.add(st.slot);
      this.vlanInfo.set(st.vlan, { count: vi.count + 1, passthru: vi.passthru || st.mode === 'passthru' });
    } else {
      this.ports.delete(st.name);
      this.byKey.delete(key);
      this.usedSlots.delete(st.slot);
      if (vi.count <= 1) this.vlanInfo.delete(st.vlan);
      else this.vlanInfo.set(st.vlan, { count: vi.count - 1, passthru: vi.passthru && st.mode !== 'passthru' });
    }
  }

  private buildTable(ports: Map<string, PortState>): PortTable {
    const entries: TableEntry[] = [...ports.values()].map((s) => ({
      slot: s.slot,
      mac: s.mac,
      vlan: s.vlan,
      mode: s.mode,
      nodst: s.nodst,
      sourceMacs: s.sourceMacs,
      multicastGroups: s.multicastGroups,
    }));
    return new PortTable(entries, { maxFrameLen: this.frameLimit });
  }

  private publish(table: PortTable): void {
    const detail: NativeErrorDetail = {};
    const rc = this.n.engineSetTable(this.engine!, table.encode(), detail);
    if (rc < 0) throw systemError(rc, 'engineSetTable', { what: 'switch', ifname: this.opts.uplink, op: `table update (${detail.step ?? ''})` });
  }

  private attach(s: PortState): void {
    const e = this.engine!;
    const b = s.spec.backend;
    const detail: NativeErrorDetail = {};
    let rc: number;
    if (b.kind === 'packet') {
      const pr = this.opts.portRing ?? {};
      rc = this.n.engineAttachPacket(e, s.slot, b.ifname, nativeRing(pr), detail);
    } else if (b.kind === 'tap') {
      rc = this.n.engineAttachTap(e, s.slot, b.ifname, b.queues ?? 1, detail);
    } else {
      const onFrames = b.onFrames;
      rc = this.n.engineAttachJs(e, s.slot, (data, offsets, lengths, count) => {
        try {
          onFrames(makeBatch(data, offsets, lengths, count));
        } catch (err) {
          if (this.jsErrors++ < 5) this.logger.error({ event: 'port.handler-threw', port: s.name, err }, 'JS port handler threw');
        }
      }, detail);
    }
    if (rc < 0) {
      const ifname = b.kind === 'js' ? s.name : b.ifname;
      throw systemError(rc, 'engineAttach', { what: `port "${s.name}" backend`, ifname, op: detail.step || 'attach' });
    }
    s.attached = true;
  }

  private detach(s: PortState): void {
    if (!s.attached || !this.engine) return;
    const rc = this.n.engineDetach(this.engine, s.slot);
    s.attached = false;
    if (rc < 0 && rc !== -2) throw systemError(rc, 'engineDetach', { what: 'port', ifname: s.name });
  }
}

/** A SwitchFrameBatch over native batch memory. */
export function makeBatch(data: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number): SwitchFrameBatch {
  return {
    count,
    data,
    offsets,
    lengths,
    frame(i: number): Uint8Array {
      if (!Number.isInteger(i) || i < 0 || i >= count) throw new InvalidArgumentError('i', `a frame index 0..${count - 1}`, i);
      return data.slice(offsets[i], offsets[i]! + lengths[i]!);
    },
  };
}

/** The addon's engine option names for ring options (addon/engine_binding.cc). */
function nativeRing(r: SwitchRingOptions | undefined): { ringBlockSize?: number; ringBlocks?: number; txFrames?: number } {
  return {
    ...(r?.blockSize ? { ringBlockSize: r.blockSize } : {}),
    ...(r?.blockCount ? { ringBlocks: r.blockCount } : {}),
    ...(r?.txFrameCount ? { txFrames: r.txFrameCount } : {}),
  };
}
