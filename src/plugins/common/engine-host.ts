/**
 * The userspace engine inside a plugin process: one macdemux Switch per lower device, started with
 * its first port and stopped with its last. Ports are AF_PACKET ports on the host end of a veth pair
 * whose other end is the container's interface; each port is bound to (MAC, VLAN), so VLAN parents
 * (`eth0.10`) are tagged and untagged here, on the lower device, without the kernel's 802.1Q.
 */
import type { MacvlanMode } from '../../net/index.ts';
import type { Switch } from '../../dataplane/index.ts';
import { log } from '../../log.ts';

/** One port of the engine. */
export interface EnginePort {
  /** Port name (unique per plugin). */
  name: string;
  /** The endpoint's MAC (frames to it are delivered to this port). */
  mac: string;
  /** VLAN id the port belongs to (undefined: untagged). */
  vlan?: number;
  mode: MacvlanMode;
  /** The veth end the engine reads and writes (in the plugin's namespace). */
  ifname: string;
}

interface Running {
  sw: Switch;
  ports: Set<string>;
}

const logger = () => log('engine-host');

/** Switches by lower device, in the namespace of the process. */
export class EngineHost {
  private readonly switches = new Map<string, Running>();

  /** Add a port on `dev` (the switch is created and started on first use). */
  async addPort(dev: string, p: EnginePort): Promise<void> {
    let r = this.switches.get(dev);
    if (!r) {
      const { Switch } = await import('../../dataplane/index.ts');
      const sw = new Switch({ uplink: dev, name: `plugin:${dev}` });
      r = { sw, ports: new Set() };
      sw.addPort(spec(p));
      await sw.start();
      r.ports.add(p.name);
      this.switches.set(dev, r);
      const b = sw.backend();
      logger().info({ event: 'switch.started', uplink: dev, backend: b?.backend, backendReason: b?.reason }, `engine on ${dev} started, backend ${b?.backend}`);
      return;
    }
    if (r.ports.has(p.name)) r.sw.removePort(p.name);
    r.sw.addPort(spec(p));
    r.ports.add(p.name);
  }

  /** Whether the port is attached. */
  hasPort(dev: string, name: string): boolean {
    return this.switches.get(dev)?.ports.has(name) ?? false;
  }

  /** Remove a port (absent: nothing to do); the last port stops the switch. */
  async removePort(dev: string, name: string): Promise<void> {
    const r = this.switches.get(dev);
    if (!r || !r.ports.has(name)) return;
    r.sw.removePort(name);
    r.ports.delete(name);
    if (r.ports.size === 0) {
      await r.sw.stop();
      this.switches.delete(dev);
      logger().info({ event: 'switch.stopped', uplink: dev }, `engine on ${dev} stopped`);
    }
  }

  /** Counters of every running switch, by lower device. */
  counters(): Record<string, ReturnType<Switch['counters']>> {
    return Object.fromEntries([...this.switches].map(([dev, r]) => [dev, r.sw.counters()]));
  }

  async stopAll(): Promise<void> {
    for (const r of this.switches.values()) await r.sw.stop();
    this.switches.clear();
  }
}

function spec(p: EnginePort) {
  return {
    name: p.name,
    mac: p.mac,
    mode: p.mode,
    ...(p.vlan !== undefined ? { vlan: p.vlan } : {}),
    backend: { kind: 'packet' as const, ifname: p.ifname },
  };
}
