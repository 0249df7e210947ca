/**
 * `generator`: the harness ceiling. The generator sends into the uplink and nothing forwards:
 * - variant `uplink`: frames counted as rx_packets of up0 (the veth delivered them; the stack drops
 *   them as PACKET_OTHERHOST);
 * - variant `ring-drop`: a TPACKET_V3 ring on up0 (the native sink, promiscuous) takes every frame
 *   and drops it: the AF_PACKET ceiling an AF_PACKET forwarder cannot beat.
 */
import { loadIo } from '../../src/demo/deps.ts';
import { buildBase, type Testbed } from '../testbed.ts';
import type { BuildContext, Scenario } from './scenario.ts';

export const generatorScenario: Scenario = {
  name: 'generator',
  variants: ['uplink', 'ring-drop'],
  description: 'generator alone into the uplink (ceiling); ring-drop: plus a TPACKET_V3 drop-all ring on the uplink',
  scalable: false,
  async unavailable(variant) {
    if (variant !== 'ring-drop') return null;
    const io = await loadIo();
    return io.ok ? null : `the native sink is needed for the drop-all ring: ${io.reason}`;
  },
  async build(ctx: BuildContext): Promise<Testbed> {
    const base = await buildBase(ctx.lab, { sinks: 0, sinkVeths: false });
    const dsts = Array.from({ length: ctx.sinks }, (_, i) => `02:6d:64:01:00:${(i + 1).toString(16).padStart(2, '0')}`);
    const tb: Testbed = {
      lab: ctx.lab,
      gen: base.gen,
      sw: base.sw,
      sinks: [],
      dsts,
      countAt: [{ netns: base.sw.name, ifname: base.uplink }],
      latency: false,
      tcp: false,
      ports: 0,
      notes: [],
      stop: async () => {},
    };
    if (ctx.variant === 'ring-drop') {
      const io = await loadIo();
      if (!io.ok) throw new Error(io.reason);
      const sink = io.mod.openSink({ ifname: base.uplink, netns: base.sw.name, promisc: true, cpu: ctx.forwarderCpu });
      tb.countAt = [];
      // Every frame counts: test frames (`packets`) and others (trafgen's, `other`).
      tb.forwarded = () => {
        const s = sink.stats();
        return s.packets + (s.other ?? 0);
      };
      tb.stop = async () => {
        await sink.close();
      };
      tb.notes.push(`drop-all ring thread on CPU ${ctx.forwarderCpu}`);
    }
    return tb;
  },
};
