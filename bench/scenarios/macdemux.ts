/**
 * The macdemux engine (src/dataplane Switch) on the uplink, in three flavours:
 * - `macdemux`: AF_PACKET ports (TX rings) on p1..pN, whose peers are the sinks;
 * - `macdemux-xdp`: the same ports, the XDP backend on the uplink (unicast redirected in the kernel);
 * - `macdemux-tap`: macvtap queues as ports: a passthru macvtap on each p<i>; the engine writes the
 *   port's frames into the macvtap queue, which sends them out p<i> to the sink;
 * - `macdemux-js`: JS ports; frames are counted in the JS callback (delivered in batches).
 * Port-count scaling adds JS ports (table entries that receive no traffic).
 * The engine's threads are started with the main thread pinned to the forwarder CPU.
 */
import { Switch, type PortSpec, type SwitchOptions } from '../../src/dataplane/index.ts';
import { withMainThreadOn } from '../../src/measure/affinity.ts';
import { buildBase, extraMac, sinkMac, type Testbed } from '../testbed.ts';
import type { BuildContext, Scenario } from './scenario.ts';
import type { ScenarioName } from '../types.ts';

/** Number of frames in a JS port batch, whatever shape the engine hands over. */
export function batchFrameCount(batch: unknown): number {
  if (typeof batch === 'number') return batch;
  if (Array.isArray(batch)) return batch.length;
  if (batch && typeof batch === 'object') {
    const b = batch as Record<string, unknown>;
    for (const k of ['count', 'length', 'size']) if (typeof b[k] === 'number') return b[k] as number;
    if (Array.isArray(b.frames)) return b.frames.length;
    if (Array.isArray(b.lengths) || ArrayBuffer.isView(b.lengths)) return (b.lengths as ArrayLike<number>).length;
  }
  return 0;
}

function makeScenario(name: ScenarioName, kind: 'packet' | 'xdp' | 'tap' | 'js', description: string): Scenario {
  return {
    name,
    variants: kind === 'packet' ? ['default', 'blocks'] : ['default'],
    description,
    scalable: true,
    unavailable: async () => null,
    async build(ctx: BuildContext): Promise<Testbed> {
      const base = await buildBase(ctx.lab, { sinks: kind === 'js' ? 0 : ctx.sinks, sinkVeths: kind !== 'js' });
      // The fast configuration: TX rings bypass the qdisc layer, the worker pinned to the forwarder CPU
      // (also started from a pinned thread below, for engines without the cpus option).
      // Default: adaptive receive (a TPACKET_V2 ring while the worker keeps up, V3 blocks under load).
      // Variant blocks: TPACKET_V3 rings only (the earlier design: batching, milliseconds of latency).
      const blocks = ctx.variant === 'blocks';
      const sw: Switch = new Switch({
        uplink: base.uplink,
        netns: base.sw.name,
        name: `bench-${name}`,
        qdiscBypass: true,
        cpus: [ctx.forwarderCpu],
        // named, not the default ('auto' picks tc on this veth uplink): these rows measure each backend
        backend: kind === 'xdp' ? ('xdp' as const) : ('packet' as const),
        ...(blocks ? { rx: 'blocks' as const } : {}),
        ...(ctx.realtime ? { realtime: true } : {}),
        ...ctx.switchOptions,
      });
      let jsFrames = 0;
      const dsts: string[] = [];
      for (let i = 1; i <= ctx.sinks; i++) {
        const mac = sinkMac(i);
        dsts.push(mac);
        let backend: PortSpec['backend'];
        if (kind === 'packet' || kind === 'xdp') backend = { kind: 'packet', ifname: base.ports[i - 1]! };
        else if (kind === 'tap') {
          const tap = `mvt${i}`;
          await base.sw.ip(['link', 'add', tap, 'link', base.ports[i - 1]!, 'type', 'macvtap', 'mode', 'passthru']);
          await base.sw.ip(['link', 'set', 'dev', tap, 'up']);
          backend = { kind: 'tap', ifname: tap };
        } else {
          backend = { kind: 'js', onFrames: (batch) => (jsFrames += batchFrameCount(batch)) };
        }
        sw.addPort({ name: `port${i}`, mac, mode: 'bridge', backend });
      }
      for (let j = 1; j <= ctx.ports - ctx.sinks; j++) {
        sw.addPort({ name: `x${j}`, mac: extraMac(j), mode: 'bridge', backend: { kind: 'js', onFrames: () => {} } });
      }
      // An XDP devmap redirect into p<i> needs NAPI on its peer s0 (drivers/net/veth.c veth_xdp_xmit)
      if (kind === 'xdp') for (const s of base.sinks) await s.ns.exec('ethtool', ['-K', s.ifname, 'gro', 'on'], { timeoutMs: 30_000 });
      const { pinned } = await withMainThreadOn(ctx.forwarderCpu, () => sw.start());
      const notes = [pinned ? `engine worker pinned to CPU ${ctx.forwarderCpu}, TX rings with PACKET_QDISC_BYPASS` : 'engine threads not pinned (taskset failed)'];
      if (blocks) notes.push('TPACKET_V3 receive rings only (rx: blocks)');
      if (ctx.realtime) notes.push('workers at SCHED_FIFO priority 10 (realtime: true)');
      if (ctx.switchOptions) notes.push(`switch options ${JSON.stringify(ctx.switchOptions)}`);
      if (ctx.ports > ctx.sinks) notes.push(`${ctx.ports - ctx.sinks} extra ports are JS ports that receive no traffic`);
      return {
        lab: ctx.lab,
        gen: base.gen,
        sw: base.sw,
        sinks: base.sinks,
        dsts,
        countAt: kind === 'js' ? [] : base.sinks.map((s) => ({ netns: s.ns.name, ifname: s.ifname })),
        ...(kind === 'js' ? { forwarded: () => jsFrames } : {}),
        latency: kind !== 'js',
        tcp: kind !== 'js',
        ports: ctx.ports,
        notes,
        diagnostics: () => {
          // Summed over workers; rxMode is the highest (3: some worker is on V3 blocks).
          const out: Record<string, number> = {};
          for (const w of sw.counters().workers)
            for (const k of ['loops', 'sleeps', 'spins', 'rxModeSwitches', 'rxRemaps', 'rxV2Drops', 'rxV3Drops', 'rxRollovers', 'rxMode'] as const)
              out[k] = k === 'rxMode' ? Math.max(out[k] ?? 0, w[k]) : (out[k] ?? 0) + w[k];
          return out;
        },
        backend: () => sw.backend()?.backend,
        stop: () => sw.stop(),
      };
    },
  };
}

/**
 * Switch options (BuildContext.switchOptions) for the Switch's own default backend, whatever backend
 * the scenario names: `backend` present but undefined overrides the scenario's (options are spread
 * last) and the Switch then applies its default (`opts.backend ?? default` in src/dataplane/switch.ts).
 */
export const DEFAULT_BACKEND: Partial<SwitchOptions> = { backend: undefined };

export const macdemuxScenario = makeScenario('macdemux', 'packet', 'macdemux engine, AF_PACKET ports into the sinks');
export const macdemuxXdpScenario = makeScenario(
  'macdemux-xdp',
  'xdp',
  'macdemux engine with the XDP backend on the uplink (kernel devmap redirect to the AF_PACKET ports\' devices)',
);
export const macdemuxTapScenario = makeScenario('macdemux-tap', 'tap', 'macdemux engine, macvtap queues as ports');
export const macdemuxJsScenario = makeScenario('macdemux-js', 'js', 'macdemux engine, frames delivered to JS ports in batches');
