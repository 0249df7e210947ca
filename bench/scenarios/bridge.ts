/**
 * `bridge`: the Linux bridge in the switch namespace, uplink and sink ports enslaved.
 * - `static-fdb`: a static FDB entry per sink MAC (the sinks never send, so a learning bridge would
 *   flood every frame to every port); extra ports for scaling are more static entries on p1.
 * - `learning`: no static entries; before each trial every sink pings the generator once, so the
 *   bridge learns where the sinks are (ageing 3600 s).
 */
import { buildBase, bridgeBatch, extraMac, GEN_IP, sinkVethTestbed, type Testbed } from '../testbed.ts';
import type { BuildContext, Scenario } from './scenario.ts';

export const bridgeScenario: Scenario = {
  name: 'bridge',
  variants: ['static-fdb', 'learning'],
  description: 'Linux bridge, static FDB entries for the sink MACs (learning variant: learned from the sinks)',
  scalable: true,
  async unavailable() {
    return null;
  },
  async build(ctx: BuildContext): Promise<Testbed> {
    const base = await buildBase(ctx.lab, { sinks: ctx.sinks, sinkVeths: true });
    const learning = ctx.variant === 'learning';
    await ctx.lab.addBridge(base.sw, 'br0', { ports: [base.uplink, ...base.ports], ageingTime: 3600 });
    const fdb: string[] = [];
    if (!learning) base.sinks.forEach((s, i) => fdb.push(`fdb add ${s.mac} dev ${base.ports[i]} master static`));
    for (let j = 1; j <= ctx.ports - ctx.sinks; j++) fdb.push(`fdb add ${extraMac(j)} dev ${base.ports[0]} master static`);
    await bridgeBatch(base.sw, fdb);
    const notes: string[] = [];
    // No netfilter on bridged frames (perf-anchors.md §4.1); these sysctls exist only with br_netfilter.
    const nf = await base.sw.exec('sysctl', ['-qw', 'net.bridge.bridge-nf-call-iptables=0', 'net.bridge.bridge-nf-call-ip6tables=0', 'net.bridge.bridge-nf-call-arptables=0']);
    if (nf.code === 0) notes.push('br_netfilter is loaded; bridge-nf-call-{ip,ip6,arp}tables set to 0 in the switch namespace');
    const tb = sinkVethTestbed(base, ctx.ports, { notes, stop: async () => {} });
    if (learning) {
      tb.prepare = async () => {
        for (const s of base.sinks) await s.ns.ping(GEN_IP, { count: 1, timeoutS: 1 });
      };
    }
    return tb;
  },
};
