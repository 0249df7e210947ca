/**
 * The userspace data plane of the service: one macdemux engine Switch per parent (uplink), with
 * one port per endpoint (an AF_PACKET port on the veth end in the parent's namespace, bound to
 * the endpoint's MAC and VLAN). `sync` applies only the difference: ports added, removed,
 * re-added when their MAC/VLAN/interface changed or their mode enters or leaves passthru, other
 * mode changes made live. Port modes come from the desired state (API overrides included).
 */
import { DEFAULT_BACKEND, type BackendChoice, type BackendDecision } from '../dataplane/backend.ts';
import { log } from '../log.ts';
import type { ParentRef } from './config.ts';
import { parentKey } from './config.ts';
import type { DesiredPort, DesiredState } from './desired.ts';
import type { PortCounters, Switch, SwitchCounters } from '../dataplane/index.ts';

/** Counters of one port as the engine reports them (the switch's view: rx = from the endpoint). */
export type EnginePortCounters = PortCounters;
/** Counters of one switch. */
export type EngineCounters = SwitchCounters;
type SwitchCtor = typeof Switch;

let ctor: SwitchCtor | undefined;

/** Load the engine's Switch class (src/dataplane) on first use, so kernel-only configs never load it. */
export async function loadSwitch(): Promise<SwitchCtor> {
  ctor ??= (await import('../dataplane/index.ts')).Switch;
  return ctor;
}

interface Managed {
  parent: ParentRef;
  sw: Switch;
  /** What the switch was built with (a change restarts it: the engine takes both only at start). */
  backend?: BackendChoice;
  mtu?: number;
  ports: Map<string, DesiredPort>;
  started: boolean;
}

const logger = () => log('userspace');

/** The running Switches of the daemon. */
export class SwitchManager {
  private readonly switches = new Map<string, Managed>();
  constructor(private readonly opts: { workers?: number } = {}) {}

  /**
   * Bring the switches in line with the desired state (userspace ports only). Throws at the first
   * port or switch the engine refuses, naming it (the caller puts the previous state back).
   */
  async sync(
    desired: DesiredState,
    uplinks: { network: string; parent: ParentRef; userspace: boolean; backend?: BackendChoice; mtu?: number }[],
  ): Promise<void> {
    const want = new Map<string, { parent: ParentRef; ports: DesiredPort[]; backend?: BackendChoice; mtu?: number }>();
    for (const u of uplinks) {
      if (!u.userspace) continue;
      const pk = parentKey(u.parent);
      if (!want.has(pk)) want.set(pk, { parent: u.parent, ports: [] });
      // Networks on one parent share its switch: the backend set on any of them, the largest MTU.
      const w = want.get(pk)!;
      if (u.backend) w.backend = u.backend;
      if (u.mtu !== undefined) w.mtu = Math.max(w.mtu ?? 0, u.mtu);
    }
    for (const l of desired.links) {
      if (!l.port) continue;
      const u = uplinks.find((x) => x.network === l.network);
      if (u) want.get(parentKey(u.parent))?.ports.push(l.port);
    }
    // Stop switches no longer wanted.
    for (const [pk, m] of this.switches) {
      if (!want.has(pk)) {
        await m.sw.stop().catch((err: Error) => logger().warn({ event: 'switch.stop-failed', uplink: pk, err: err.message }, `stop ${pk}: ${err.message}`));
        this.switches.delete(pk);
        logger().info({ event: 'switch.stopped', uplink: pk }, `switch on ${pk} stopped`);
      }
    }
    const Switch = want.size ? await loadSwitch() : undefined;
    for (const [pk, w] of want) {
      let m = this.switches.get(pk);
      const backendChange = m !== undefined && (m.backend ?? DEFAULT_BACKEND) !== (w.backend ?? DEFAULT_BACKEND);
      if (m && (backendChange || m.mtu !== w.mtu)) {
        // The backend and the frame limit are fixed when a switch starts: restart it with its ports.
        // Should the new one fail to start, the caller re-applies the previous state (the old settings).
        const why = [backendChange ? `backend ${m.backend ?? DEFAULT_BACKEND} -> ${w.backend ?? DEFAULT_BACKEND}` : '', m.mtu !== w.mtu ? `mtu ${m.mtu ?? 'uplink'} -> ${w.mtu ?? 'uplink'}` : ''].filter(Boolean).join(', ');
        await m.sw.stop();
        this.switches.delete(pk);
        m = undefined;
        logger().info({ event: 'switch.restarting', uplink: pk, reason: why }, `switch on ${pk}: ${why}: restarting it`);
      }
      if (!m) {
        const sw = new Switch!({
          uplink: w.parent.dev,
          ...(w.parent.netns ? { netns: w.parent.netns } : {}),
          ...(this.opts.workers ? { workers: this.opts.workers } : {}),
          ...(w.backend ? { backend: w.backend } : {}),
          ...(w.mtu !== undefined ? { mtu: w.mtu } : {}),
          name: pk,
        });
        m = { parent: w.parent, sw, ports: new Map(), started: false, ...(w.backend ? { backend: w.backend } : {}), ...(w.mtu !== undefined ? { mtu: w.mtu } : {}) };
        this.switches.set(pk, m);
        logger().info({ event: 'switch.created', uplink: pk }, `switch on ${pk} created`);
      }
      const next = new Map(w.ports.map((p) => [p.name, p]));
      for (const [name, cur] of m.ports) {
        const p = next.get(name);
        // The engine (like the kernel) cannot turn a port into or out of passthru in place.
        const passthruChange = p !== undefined && (p.mode === 'passthru') !== (cur.mode === 'passthru');
        if (!p || p.mac !== cur.mac || p.vlan !== cur.vlan || p.ifname !== cur.ifname || passthruChange) {
          m.sw.removePort(name);
          m.ports.delete(name);
          logger().info({ event: 'port.removed', uplink: pk, port: name }, `port ${name} removed from ${pk}`);
        }
      }
      for (const [name, p] of next) {
        const cur = m.ports.get(name);
        try {
          if (!cur) {
            m.sw.addPort({
              name,
              mac: p.mac,
              mode: p.mode,
              ...(p.vlan !== undefined ? { vlan: p.vlan } : {}),
              backend: { kind: 'packet', ifname: p.ifname },
            });
            m.ports.set(name, p);
            logger().info({ event: 'port.added', uplink: pk, port: name, mac: p.mac, vlan: p.vlan, mode: p.mode }, `port ${name} added to ${pk}`);
          } else if (cur.mode !== p.mode) {
            m.sw.setPortMode(name, p.mode);
            m.ports.set(name, p);
            logger().info({ event: 'port.mode', uplink: pk, port: name, mode: p.mode }, `port ${name} mode ${cur.mode} -> ${p.mode}`);
          }
        } catch (err) {
          throw new Error(`switch ${pk} port ${name}: ${(err as Error).message}`, { cause: err });
        }
      }
      if (!m.started) {
        try {
          await m.sw.start();
        } catch (err) {
          this.switches.delete(pk);
          await m.sw.stop().catch(() => {});
          throw new Error(`switch ${pk}: ${(err as Error).message}`, { cause: err });
        }
        m.started = true;
        const b = m.sw.backend();
        logger().info(
          { event: 'switch.started', uplink: pk, ports: m.ports.size, backend: b?.backend, backendReason: b?.reason },
          `switch on ${pk} started with ${m.ports.size} port(s), backend ${b?.backend}`,
        );
      }
    }
  }

  /** Whether a port is served here. */
  hasPort(name: string): boolean {
    for (const m of this.switches.values()) if (m.ports.has(name)) return true;
    return false;
  }

  /** Counters of every switch, by uplink key. */
  counters(): Record<string, EngineCounters> {
    const out: Record<string, EngineCounters> = {};
    for (const [pk, m] of this.switches) if (m.started) out[pk] = m.sw.counters();
    return out;
  }

  /** The backend of every started switch and why, by uplink key. */
  backends(): Record<string, BackendDecision> {
    const out: Record<string, BackendDecision> = {};
    for (const [pk, m] of this.switches) {
      const b = m.started ? m.sw.backend() : undefined;
      if (b) out[pk] = { backend: b.backend, reason: b.reason };
    }
    return out;
  }

  /** Stop every switch. */
  async stopAll(): Promise<void> {
    for (const [pk, m] of this.switches) {
      await m.sw.stop().catch((err: Error) => logger().warn({ event: 'switch.stop-failed', uplink: pk, err: err.message }, `stop ${pk}: ${err.message}`));
      logger().info({ event: 'switch.stopped', uplink: pk }, `switch on ${pk} stopped`);
    }
    this.switches.clear();
  }
}
