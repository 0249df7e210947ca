/**
 * `ovs`: Open vSwitch userspace datapath (datapath_type=netdev) with dl_dst flows, a private
 * ovsdb-server/ovs-vswitchd pair in the switch namespace (ovs-vswitchd pinned to the forwarder CPU).
 * Flows: sink MAC -> its port, generator MAC -> uplink, multicast/broadcast -> flood, rest dropped.
 * Extra ports for scaling are more dl_dst flows to p1.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { OvsInstance, ovsUnavailable } from '../ovs.ts';
import { buildBase, extraMac, GEN_MAC, sinkVethTestbed, type Testbed } from '../testbed.ts';
import type { BuildContext, Scenario } from './scenario.ts';

export const ovsScenario: Scenario = {
  name: 'ovs',
  variants: ['netdev'],
  description: 'Open vSwitch userspace datapath (netdev) with dl_dst flows',
  scalable: true,
  unavailable: () => ovsUnavailable(),
  async build(ctx: BuildContext): Promise<Testbed> {
    const base = await buildBase(ctx.lab, { sinks: ctx.sinks, sinkVeths: true });
    const dir = join(ctx.tmpDir, 'ovs');
    mkdirSync(dir, { recursive: true });
    const ovs = await OvsInstance.start(base.sw, dir, ctx.forwarderCpu);
    try {
      await ovs.vsctl(['add-br', 'br0', '--', 'set', 'bridge', 'br0', 'datapath_type=netdev', 'fail_mode=secure']);
      for (const p of [base.uplink, ...base.ports]) await ovs.vsctl(['add-port', 'br0', p]);
      const flows = [
        ...base.sinks.map((s, i) => `priority=100,dl_dst=${s.mac},actions=output:${base.ports[i]}`),
        `priority=100,dl_dst=${GEN_MAC},actions=output:${base.uplink}`,
        'priority=50,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,actions=flood',
        'priority=0,actions=drop',
      ];
      for (let j = 1; j <= ctx.ports - ctx.sinks; j++) flows.push(`priority=100,dl_dst=${extraMac(j)},actions=output:${base.ports[0]}`);
      await ovs.ofctl(['add-flows', 'br0', '-'], flows.join('\n') + '\n');
    } catch (err) {
      await ovs.stop();
      throw err;
    }
    return sinkVethTestbed(base, ctx.ports, {
      notes: [`private ovsdb-server/ovs-vswitchd (files under a temporary directory), vswitchd pinned to CPU ${ctx.forwarderCpu}`],
      stop: () => ovs.stop(),
    });
  },
};
