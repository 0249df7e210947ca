/**
 * Conformance with the kernel: the same crafted frames are sent through kernel macvlan ports
 * (mode X) and through macdemux ports (mode X), each behind an identical "wire" (a Linux bridge with
 * hairpin on, so reflected frames are exercised too). Every frame must reach the same set of
 * receivers on both: each port, and the wire.
 *
 * Kernel side:   ext0 ─ [wire ns: br0 (hairpin on wire)] ─ wire ══ low ─ macvlan mv1..mv3 (captures and
 *                injection on mv1..mv3)
 * macdemux side: ext0 ─ [wire ns: br0 (hairpin on wire)] ─ wire ══ up ─ engine ─ p1..p3 ══ e1..e3
 *                (captures and injection on e1..e3), once per uplink backend: AF_PACKET rings, and
 *                the XDP program on "up", the tc program on "up" (kernel-finished frames never
 *                reach the engine)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withLab, type Lab, type Namespace } from '../../src/lab/index.ts';
import { Switch, type MacvlanMode } from '../../src/dataplane/index.ts';
import { PacketPort } from '../../src/io/index.ts';
import { writeMac, parseMac } from '../../src/dataplane/mac.ts';
import { needsRoot } from '../support.ts';
import type { Backend } from '../../src/dataplane/backend.ts';
import { XDP_STAT } from '../../src/dataplane/xdp-program.ts';

/** Uplink backends under test: AF_PACKET rings, the XDP program in front of them, and the tc fast path
 * (tcx ingress redirecting known unicast; its socket filter keeps those frames out of the rings). */
const BACKENDS: Backend[] = ['packet', 'xdp', 'tc'];
const PORT_MACS = ['02:6d:64:00:02:01', '02:6d:64:00:02:02', '02:6d:64:00:02:03'];
const EXT = '02:6d:64:00:02:ee';
const UNKNOWN = '02:6d:64:00:02:99';
const BC = 'ff:ff:ff:ff:ff:ff';
const ALL_HOSTS = '01:00:5e:00:00:01'; // joined by every port (kernel: ip maddr; macdemux: flooded)
const ETHERTYPE = 0x88b6;

interface Config {
  name: string;
  modes: MacvlanMode[];
  sourceMacs?: string[]; // for source-mode ports
}

const CONFIGS: Config[] = [
  { name: 'private', modes: ['private', 'private', 'private'] },
  { name: 'vepa', modes: ['vepa', 'vepa', 'vepa'] },
  { name: 'bridge', modes: ['bridge', 'bridge', 'bridge'] },
  { name: 'mixed bridge/vepa/private', modes: ['bridge', 'vepa', 'private'] },
  { name: 'source (port 3 lists the external host)', modes: ['bridge', 'vepa', 'source'], sourceMacs: [EXT] },
  { name: 'passthru', modes: ['passthru'] },
];

/** Configs with frames only userspace may decide (reflected floods from a bridge/vepa port's own
 * sender, source-mode senders): the XDP program sends them up through AF_XDP. */
const USERSPACE_BOUND = new Set(['bridge', 'vepa', 'mixed bridge/vepa/private', 'source (port 3 lists the external host)']);

/** A crafted frame: sent from `from` (ext, or port index) with dst/src; id in the payload. */
interface Probe {
  id: number;
  from: 'ext' | number;
  dst: string;
  src: string;
  label: string;
}

function probes(n: number): Probe[] {
  const out: Probe[] = [];
  let id = 1;
  const add = (from: Probe['from'], dst: string, src: string, label: string) => out.push({ id: id++, from, dst, src, label });
  for (let i = 0; i < n; i++) add('ext', PORT_MACS[i]!, EXT, `ext -> port${i + 1} unicast`);
  add('ext', UNKNOWN, EXT, 'ext -> unknown unicast');
  add('ext', BC, EXT, 'ext broadcast');
  add('ext', ALL_HOSTS, EXT, 'ext multicast');
  for (let i = 0; i < n; i++) {
    add(i, BC, PORT_MACS[i]!, `port${i + 1} broadcast`);
    add(i, ALL_HOSTS, PORT_MACS[i]!, `port${i + 1} multicast`);
    add(i, EXT, PORT_MACS[i]!, `port${i + 1} -> ext unicast`);
    add(i, UNKNOWN, PORT_MACS[i]!, `port${i + 1} -> unknown`);
    for (let j = 0; j < n; j++) if (j !== i) add(i, PORT_MACS[j]!, PORT_MACS[i]!, `port${i + 1} -> port${j + 1} unicast`);
  }
  add('ext', BC, PORT_MACS[0]!, 'ext broadcast spoofing port1 src');
  return out;
}

function frameOf(p: Probe): Uint8Array {
  const f = new Uint8Array(60);
  writeMac(f, 0, parseMac(p.dst, 'dst'));
  writeMac(f, 6, parseMac(p.src, 'src'));
  f[12] = ETHERTYPE >> 8;
  f[13] = ETHERTYPE & 0xff;
  new DataView(f.buffer).setUint32(14, p.id);
  return f;
}

async function quietNamespace(lab: Lab, suffix: string): Promise<Namespace> {
  const ns = await lab.addNamespace(suffix);
  await ns.run('sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  return ns;
}

/** Builds the ext ─ bridge ─ wire part; returns [extNs, hostNs] with "wire" peered to `lowName` in host. */
async function wire(lab: Lab, side: string, lowName: string, lowMac: string | undefined): Promise<{ ext: Namespace; wireNs: Namespace; host: Namespace }> {
  const ext = await quietNamespace(lab, `${side}x`);
  const wireNs = await quietNamespace(lab, `${side}w`);
  const host = await quietNamespace(lab, `${side}h`);
  await lab.addVeth({ ns: ext, name: 'ext0', mac: EXT }, { ns: wireNs, name: 'extp' });
  await lab.addVeth({ ns: wireNs, name: 'wire' }, { ns: host, name: lowName, ...(lowMac ? { mac: lowMac } : {}) });
  await lab.addBridge(wireNs, 'br0', { ports: ['extp', 'wire'], hairpin: ['wire'] });
  return { ext, wireNs, host };
}

type Receivers = Map<number, string[]>;

function drain(port: PacketPort, name: string, got: Receivers): void {
  for (;;) {
    const b = port.tryRecv();
    if (!b) return;
    for (let i = 0; i < b.length; i++) {
      const f = b.frame(i);
      if (f.length >= 18 && f[12] === ETHERTYPE >> 8 && f[13] === (ETHERTYPE & 0xff)) {
        const id = new DataView(f.buffer, f.byteOffset).getUint32(14);
        const l = got.get(id) ?? [];
        l.push(name);
        got.set(id, l);
      }
    }
    b.release();
  }
}

/** Send the probes; capture at the ports and at the wire; return id -> sorted receivers. */
async function run(ps: Probe[], ext: PacketPort, ports: PacketPort[], wireCap: PacketPort): Promise<Receivers> {
  const got: Receivers = new Map();
  const drainAll = () => {
    ports.forEach((p, i) => drain(p, `port${i + 1}`, got));
    drain(wireCap, 'wire', got);
  };
  await new Promise((r) => setTimeout(r, 200));
  drainAll();
  got.clear();
  for (const p of ps) {
    const sender = p.from === 'ext' ? ext : ports[p.from]!;
    assert.equal(sender.send([frameOf(p)]), 1);
    await new Promise((r) => setTimeout(r, 15)); // the kernel's bc queue is a workqueue: let it run
    drainAll();
  }
  // Late frames (a reflection through userspace on a loaded machine): drain for at least 600 ms and
  // until 300 ms pass with nothing new, at most 5 rounds.
  const seen = () => [...got.values()].reduce((n, v) => n + v.length, 0);
  for (let round = 0; round < 5; round++) {
    const before = seen();
    await new Promise((r) => setTimeout(r, 300));
    drainAll();
    if (round >= 1 && seen() === before) break;
  }
  for (const [k, v] of got) got.set(k, v.sort());
  return got;
}

async function kernelSide(lab: Lab, cfg: Config, ps: Probe[]): Promise<Receivers> {
  const passthru = cfg.modes[0] === 'passthru';
  const { ext, wireNs, host } = await wire(lab, 'k', 'low', passthru ? PORT_MACS[0] : undefined);
  const opened: PacketPort[] = [];
  try {
    for (let i = 0; i < cfg.modes.length; i++) {
      const mode = cfg.modes[i]!;
      const args = ['link', 'add', 'link', 'low', 'name', `mv${i + 1}`, ...(passthru ? [] : ['address', PORT_MACS[i]!]), 'type', 'macvlan', 'mode', mode];
      if (mode === 'source') for (const m of cfg.sourceMacs ?? []) args.push('macaddr', 'add', m);
      await host.ip(args);
      await host.ip(['link', 'set', `mv${i + 1}`, 'up']);
      await host.ip(['maddr', 'add', ALL_HOSTS, 'dev', `mv${i + 1}`]).catch(() => undefined);
    }
    const ports = cfg.modes.map((_, i) => PacketPort.open({ ifname: `mv${i + 1}`, netns: host.name }));
    opened.push(...ports);
    const extPort = PacketPort.open({ ifname: 'ext0', netns: ext.name, rx: false });
    const wireCap = PacketPort.open({ ifname: 'wire', netns: wireNs.name, tx: false });
    opened.push(extPort, wireCap);
    return await run(ps, extPort, ports, wireCap);
  } finally {
    await Promise.all(opened.map((p) => p.close()));
  }
}

async function macdemuxSide(lab: Lab, cfg: Config, ps: Probe[], backend: Backend): Promise<Receivers> {
  const { ext, wireNs, host } = await wire(lab, 'u', 'up', undefined);
  const s = new Switch({ uplink: 'up', netns: host.name, backend });
  const opened: PacketPort[] = [];
  // tc: each endpoint in its own namespace, as a container's, so known unicast is delivered by
  // bpf_redirect_peer (endpoints in the host namespace get bpf_redirect: engine-tc.test.ts)
  const endNs: Namespace[] = [];
  for (let i = 0; i < cfg.modes.length; i++) endNs.push(backend === 'tc' ? await quietNamespace(lab, `ue${i + 1}`) : host);
  try {
    for (let i = 0; i < cfg.modes.length; i++) {
      await lab.addVeth({ ns: host, name: `p${i + 1}` }, { ns: endNs[i]!, name: `e${i + 1}`, mac: PORT_MACS[i]! });
      // An XDP redirect into a veth needs NAPI on its peer (drivers/net/veth.c veth_xdp_xmit: -ENXIO
      // without it): GRO on the endpoint side, as a container's veth end would need too.
      if (backend === 'xdp') await host.run('ethtool', ['-K', `e${i + 1}`, 'gro', 'on']);
      const mode = cfg.modes[i]!;
      s.addPort({
        name: `port${i + 1}`,
        mac: PORT_MACS[i]!,
        mode,
        ...(mode === 'source' ? { sourceMacs: cfg.sourceMacs ?? [] } : {}),
        backend: { kind: 'packet', ifname: `p${i + 1}` },
      });
    }
    await s.start();
    if (backend === 'xdp') assert.equal(s.backend()?.xdpState, 'native', 'XDP program attached natively and in sync');
    const ports = cfg.modes.map((_, i) => PacketPort.open({ ifname: `e${i + 1}`, netns: endNs[i]!.name }));
    opened.push(...ports);
    const extPort = PacketPort.open({ ifname: 'ext0', netns: ext.name, rx: false });
    const wireCap = PacketPort.open({ ifname: 'wire', netns: wireNs.name, tx: false });
    opened.push(extPort, wireCap);
    const got = await run(ps, extPort, ports, wireCap);
    if (backend === 'xdp') {
      // The kernel finished some frames on its own (unicast to the ports, floods), and the engine's
      // counters include them under the usual names.
      const x = s.xdpStats()!;
      assert.ok(x[XDP_STAT.forwarded]! > 0, `XDP forwarded frames in the kernel: ${x.join(',')}`);
      // What the engine had to decide went up through the worker's AF_XDP socket, none by XDP_PASS.
      if (USERSPACE_BOUND.has(cfg.name)) assert.ok(x[XDP_STAT.toXsk]! > 0, `frames sent up through AF_XDP: ${x.join(',')}`);
      assert.equal(x[XDP_STAT.toXsk], x[XDP_STAT.toUser], `every frame for userspace went into the AF_XDP socket: ${x.join(',')}`);
      await new Promise((r) => setTimeout(r, 300)); // worker 0 folds the program's counters every 200 ms
      assert.ok(s.counters().uplink.rxPackets >= x[XDP_STAT.rxFrames]!, 'XDP-finished frames counted as uplink RX');
    }
    if (backend === 'tc') {
      // Known unicast to the ports went by tc redirect (every config sends some); a frame the engine
      // also forwarded would show up twice at a receiver, which the receiver comparison catches.
      assert.equal(s.backend()?.xdpState, 'tc', 'tc program attached and in sync');
      assert.deepEqual(s.tcPeerPorts().sort(), cfg.modes.map((_, i) => `port${i + 1}`), 'every port delivered by bpf_redirect_peer');
      const x = s.xdpStats()!;
      assert.ok(x[XDP_STAT.forwarded]! > 0, `tc redirected frames in the kernel: ${x.join(',')}`);
      // and the ports' tc program sent unicast that leaves through the uplink (every mode but
      // bridge-to-a-port; passthru included)
      assert.ok(x[XDP_STAT.upTxFrames]! > 0, `port tc programs redirected frames to the uplink: ${x.join(',')}`);
      await new Promise((r) => setTimeout(r, 300)); // worker 0 folds the program's counters every 200 ms
      assert.ok(s.counters().uplink.forwarded >= x[XDP_STAT.forwarded]!, 'tc-forwarded frames counted as uplink forwards');
    }
    return got;
  } finally {
    await Promise.all(opened.map((p) => p.close()));
    await s.stop();
  }
}

for (const [cfg, backend] of CONFIGS.flatMap((c) => BACKENDS.map((b) => [c, b] as const))) {
  test(`same receivers as kernel macvlan: ${cfg.name} (${backend} backend)`, { skip: needsRoot, timeout: 120_000 }, async () => {
    const ps = probes(cfg.modes.length);
    const kernel = await withLab((lab) => kernelSide(lab, cfg, ps));
    const ours = await withLab((lab) => macdemuxSide(lab, cfg, ps, backend));
    const diffs: string[] = [];
    let delivered = 0;
    for (const p of ps) {
      const k = (kernel.get(p.id) ?? []).join(',') || '-';
      const u = (ours.get(p.id) ?? []).join(',') || '-';
      if (k !== '-') delivered++;
      if (k !== u) diffs.push(`${p.label}: kernel ${k} / macdemux ${u}`);
    }
    assert.ok(delivered >= ps.length / 2, `the kernel delivered ${delivered} of ${ps.length} probes (setup sanity)`);
    assert.deepEqual(diffs, [], `receiver sets differ:\n${diffs.join('\n')}`);
  });
}
