/**
 * `macvlan`: kernel macvlan, bridge mode. The children of the uplink are moved into the sink
 * namespaces (so there is no second veth hop: "macvlan native" in perf-anchors.md) and frames are
 * counted as their rx_packets. Extra ports for scaling are more bridge-mode children left up in the
 * switch namespace (they are in the kernel's MAC hash, but receive nothing).
 */
import { buildBase, extraMac, ipBatch, sinkCidr, sinkIp, sinkMac, type Endpoint, type Testbed } from '../testbed.ts';
import type { BuildContext, Scenario } from './scenario.ts';

export const macvlanScenario: Scenario = {
  name: 'macvlan',
  variants: ['bridge-mode'],
  description: 'kernel macvlan (bridge mode) children of the uplink in the sink namespaces',
  scalable: true,
  async unavailable() {
    return null;
  },
  async build(ctx: BuildContext): Promise<Testbed> {
    const base = await buildBase(ctx.lab, { sinks: ctx.sinks, sinkVeths: false });
    const sinks: Endpoint[] = [];
    for (let i = 1; i <= ctx.sinks; i++) {
      const ns = base.sinkNs[i - 1]!;
      const name = `mv${i}`;
      await base.sw.ip(['link', 'add', name, 'link', base.uplink, 'address', sinkMac(i), 'type', 'macvlan', 'mode', 'bridge']);
      await base.sw.ip(['link', 'set', 'dev', name, 'netns', ns.name]);
      // No offload settings on the child: its checksum and TSO features are not changeable
      // (setOffloads fails with ENOTSUP), it receives from the uplink, whose offloads are off
      // (GRO runs there), and the sinks transmit nothing but ping replies.
      await ns.ip(['addr', 'add', sinkCidr(i), 'dev', name]);
      await ns.ip(['link', 'set', 'dev', name, 'up']);
      sinks.push({ ns, ifname: name, mac: sinkMac(i), ip: sinkIp(i) });
    }
    const extra: string[] = [];
    for (let j = 1; j <= ctx.ports - ctx.sinks; j++) {
      extra.push(`link add mx${j} link ${base.uplink} address ${extraMac(j)} type macvlan mode bridge`);
      extra.push(`link set dev mx${j} up`);
    }
    await ipBatch(base.sw, extra);
    return {
      lab: ctx.lab,
      gen: base.gen,
      sw: base.sw,
      sinks,
      dsts: sinks.map((s) => s.mac),
      countAt: sinks.map((s) => ({ netns: s.ns.name, ifname: s.ifname })),
      latency: true,
      tcp: true,
      ports: ctx.ports,
      notes: [],
      stop: async () => {},
    };
  },
};
