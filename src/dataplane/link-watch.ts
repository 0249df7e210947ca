/**
 * Links that come and go, for a running {@link Switch}: a {@link LinkMonitor} on the switch's
 * namespace tells which of the switch's devices (uplink, packet and tap port backends) went down,
 * came up, were deleted, or were re-created under the same name (a new ifindex). The data plane
 * handles down/up by itself (an AF_PACKET socket survives down/up of its device, see
 * addon/engine_links.cc); a re-created device needs new sockets: the watch asks the switch to
 * re-attach it, at once, and reports what happened. So does an MTU changed in place (`ip link set
 * DEV mtu N`, same ifindex): the engine's rings check frames against the MTU they read at open
 * (addon/io/packet_ring.cc TxOverMtu), and the switch's frame limit may follow the uplink's MTU.
 */
import { LinkMonitor, type LinkState } from '../netlink/link-monitor.ts';

/** A device the switch uses. */
export interface WatchedDevice {
  ifname: string;
  role: 'uplink' | 'port';
  /** The port's name (role 'port'). */
  port?: string;
}

/** What happened to one of the switch's devices. */
export interface SwitchLinkEvent {
  device: string;
  role: 'uplink' | 'port';
  port?: string;
  /**
   * down/up: administrative or carrier state changed (traffic stops and resumes by itself);
   * gone: the device was deleted; reattached: it was re-created and the switch now uses the new
   * device; reattach-failed: re-attaching threw (`error`), retried on the device's next event;
   * fd-error / fd-disarmed: a worker saw an error on the device's fd (cleared and still polled /
   * taken out of its poll set); mtu: the device's MTU changed in place (`mtu`, from `mtuWas`) and
   * the switch re-attached it (reattach-failed when that threw).
   */
  state: 'down' | 'up' | 'gone' | 'reattached' | 'reattach-failed' | 'fd-error' | 'fd-disarmed' | 'mtu';
  ifindex?: number;
  /** mtu: the new MTU and the one before. */
  mtu?: number;
  mtuWas?: number;
  /** Positive errno the kernel reported on the fd (fd-error, fd-disarmed). */
  errno?: number;
  error?: Error;
}

/** The watch's view of one device. */
export interface DeviceLinkState {
  present: boolean;
  ifindex: number;
  up: boolean;
  lowerUp: boolean;
  mtu?: number;
}

export class LinkWatch {
  private readonly monitor: LinkMonitor;
  private readonly links = new Map<string, DeviceLinkState>();

  /**
   * @param find which switch device `ifname` is, if any
   * @param reattach re-open the device's backend (throws when that fails)
   * @param emit tell the switch's listeners
   */
  constructor(
    netns: string | undefined,
    private readonly find: (ifname: string) => WatchedDevice | undefined,
    private readonly reattach: (d: WatchedDevice) => void,
    private readonly emit: (ev: SwitchLinkEvent) => void,
  ) {
    this.monitor = LinkMonitor.open(netns, (ev) => {
      if (ev.type === 'overrun') this.resync();
      else if (ev.type === 'del') this.onDel(ev);
      else this.onNew(ev);
    });
    // Subscribed first, then read: no change between the two is missed.
    this.resync();
  }

  /** The last known state of `ifname` (undefined: never seen). */
  state(ifname: string): DeviceLinkState | undefined {
    const s = this.links.get(ifname);
    return s ? { ...s } : undefined;
  }

  close(): void {
    this.monitor.close();
  }

  /** Re-read every device (at start, and after the kernel dropped events). */
  private resync(): void {
    const now = this.monitor.snapshot();
    for (const [name, prev] of this.links) {
      if (prev.present && !now.has(name)) this.onDel({ name, ifindex: prev.ifindex, up: false, lowerUp: false });
    }
    for (const st of now.values()) this.onNew(st);
  }

  private onDel(ev: LinkState): void {
    const prev = this.links.get(ev.name);
    if (prev && prev.ifindex !== ev.ifindex) return; // an older device of that name
    this.links.set(ev.name, { present: false, ifindex: ev.ifindex, up: false, lowerUp: false });
    const d = this.find(ev.name);
    if (d && prev?.present !== false) this.emit({ ...this.base(d), state: 'gone', ifindex: ev.ifindex });
  }

  private onNew(ev: LinkState): void {
    const prev = this.links.get(ev.name);
    const next: DeviceLinkState = { present: true, ifindex: ev.ifindex, up: ev.up, lowerUp: ev.lowerUp, ...(ev.mtu !== undefined ? { mtu: ev.mtu } : {}) };
    this.links.set(ev.name, next);
    const d = this.find(ev.name);
    if (!d || !prev) return;
    const mtuChanged = prev.present && prev.ifindex === ev.ifindex && prev.mtu !== undefined && ev.mtu !== undefined && prev.mtu !== ev.mtu;
    if (!prev.present || prev.ifindex !== ev.ifindex || mtuChanged) {
      try {
        this.reattach(d);
        if (mtuChanged) this.emit({ ...this.base(d), state: 'mtu', ifindex: ev.ifindex, mtu: ev.mtu!, mtuWas: prev.mtu! });
        else this.emit({ ...this.base(d), state: 'reattached', ifindex: ev.ifindex });
      } catch (err) {
        // Seen as not re-attached: the device's next event (e.g. it goes up) tries again.
        this.links.set(ev.name, { ...next, present: false });
        this.emit({ ...this.base(d), state: 'reattach-failed', ifindex: ev.ifindex, error: err as Error });
      }
      return;
    }
    const wasRunning = prev.up && prev.lowerUp;
    const running = ev.up && ev.lowerUp;
    if (wasRunning !== running) this.emit({ ...this.base(d), state: running ? 'up' : 'down', ifindex: ev.ifindex });
  }

  private base(d: WatchedDevice): Pick<SwitchLinkEvent, 'device' | 'role' | 'port'> {
    return { device: d.ifname, role: d.role, ...(d.port !== undefined ? { port: d.port } : {}) };
  }
}
