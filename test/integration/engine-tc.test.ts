/**
 * The tc fast path (backend 'tc'): a tcx ingress program on the uplink redirects known unicast to
 * ports on kernel devices as whole skbs, and its socket filter keeps those frames out of the
 * engine's uplink rings (the rings are ptype_all taps that run before tc ingress: without the filter
 * every redirected frame would also be forwarded by the engine).
 *
 *   wire ns: br0 (10.84.0.9, the outside host; hairpin on wire0) ─ wire0 ══ up0 ─ engine ─ p1 ══ e1
 *                                                                                       ─ p2 ══ e2
 * Every veth keeps Linux's default offloads, so the outside host sends GSO super-frames and
 * CHECKSUM_PARTIAL skbs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withLab, type Lab, type Namespace } from '../../src/lab/index.ts';
import { PacketPort } from '../../src/io/index.ts';
import { Switch, type MacvlanMode } from '../../src/dataplane/index.ts';
import { writeMac, parseMac } from '../../src/dataplane/mac.ts';
import { XDP_STAT } from '../../src/dataplane/xdp-program.ts';
import { kernelHasTcx, needsRoot } from '../support.ts';
import { hashedTransfer, iperf, tcpCsumErrors } from './tcp-helpers.ts';

const M1 = '02:6d:64:00:0d:01';
const M2 = '02:6d:64:00:0d:02';
const OUTSIDE = '02:6d:64:00:0d:ee';
const MIB = 1024 * 1024;
const ETHERTYPE = 0x88b6;

const skip = needsRoot || (kernelHasTcx() ? false : 'the kernel has no tcx links (Linux 6.6+)');

interface Topo {
  sw: Namespace;
  wire: Namespace;
  ns1: Namespace;
  ns2: Namespace;
}

async function topology(lab: Lab): Promise<Topo> {
  const sw = await lab.addNamespace('sw');
  const wire = await lab.addNamespace('wire', { ipv6: false });
  const ns1 = await lab.addNamespace('ns1', { ipv6: false });
  const ns2 = await lab.addNamespace('ns2', { ipv6: false });
  await lab.addVeth({ ns: sw, name: 'up0' }, { ns: wire, name: 'wire0' });
  await lab.addVeth({ ns: sw, name: 'p1' }, { ns: ns1, name: 'e1', mac: M1, addresses: ['10.84.0.1/24'] });
  await lab.addVeth({ ns: sw, name: 'p2' }, { ns: ns2, name: 'e2', mac: M2, addresses: ['10.84.0.2/24'] });
  await lab.addBridge(wire, 'br0', { ports: ['wire0'], hairpin: ['wire0'], mac: OUTSIDE, addresses: ['10.84.0.9/24'] });
  return { sw, wire, ns1, ns2 };
}

function tcSwitch(t: Topo, mode: MacvlanMode, vlan?: number): Switch {
  const s = new Switch({ uplink: 'up0', netns: t.sw.name, backend: 'tc' });
  for (const [name, mac] of [['p1', M1], ['p2', M2]] as const)
    s.addPort({ name, mac, mode, ...(vlan !== undefined ? { vlan } : {}), backend: { kind: 'packet', ifname: name } });
  return s;
}

/** A raw test frame (ethertype ETHERTYPE, id at byte 14). */
function rawFrame(id: number, dst: string, src = OUTSIDE): Uint8Array {
  const f = new Uint8Array(64);
  writeMac(f, 0, parseMac(dst, 'dst'));
  writeMac(f, 6, parseMac(src, 'src'));
  f[12] = ETHERTYPE >> 8;
  f[13] = ETHERTYPE & 0xff;
  new DataView(f.buffer).setUint32(14, id);
  return f;
}

async function folded(): Promise<void> {
  await new Promise((r) => setTimeout(r, 300)); // worker 0 folds the program's counters every 200 ms
}

test('tc backend: TCP with default offloads from outside to a port goes by tc redirect as super-frames, sha256-checked', { skip, timeout: 240_000 }, async () => {
  await withLab(async (lab) => {
    const t = await topology(lab);
    const s = tcSwitch(t, 'bridge');
    await s.start();
    try {
      assert.equal(s.backend()?.backend, 'tc');
      assert.equal(s.backend()?.xdpState, 'tc', 'tc program attached and in sync');
      await iperf(t.wire, t.ns1, '10.84.0.1', 1, 20 * MIB);
      await iperf(t.ns1, t.wire, '10.84.0.9', 4, 20 * MIB);
      await hashedTransfer(t.wire, t.ns1, '10.84.0.1', 50 * MIB);
      assert.equal(await tcpCsumErrors(t.ns1), 0, 'ns1 TcpInCsumErrors');
      assert.equal(await tcpCsumErrors(t.wire), 0, 'outside TcpInCsumErrors');
      await folded();
      const x = s.xdpStats()!;
      const c = s.counters();
      const p1 = c.ports.p1!;
      // 20 + 50 MiB to p1 crossed as (mostly) GSO super-frames redirected by tc, counted under the
      // engine's names; the engine itself forwarded only the little that is not known unicast.
      assert.ok(x[XDP_STAT.forwarded]! > 1000, `tc redirected ${x[XDP_STAT.forwarded]} frames`);
      // (the hashed 50 MiB cross whole; iperf3 -n counts bytes written to the socket, and what is still in
      // the sender's socket buffer when the test ends never crosses: 70.7 MB of 73.4 MB seen under load)
      assert.ok(x[XDP_STAT.rxBytes]! > 50 * MIB, `tc redirected ${x[XDP_STAT.rxBytes]} bytes`);
      assert.ok(x[XDP_STAT.rxBytes]! / x[XDP_STAT.forwarded]! > 3000, `mean tc frame: ${x[XDP_STAT.rxBytes]! / x[XDP_STAT.forwarded]!} bytes (GSO kept)`);
      assert.ok(p1.txPackets >= x[XDP_STAT.forwarded]!, `p1 TX ${p1.txPackets} includes the tc redirects`);
      assert.ok(c.uplink.rxPackets >= x[XDP_STAT.rxFrames]!, 'tc-forwarded frames counted as uplink RX');
      // the reverse direction (ns1 -> outside, 20 MiB with 4 streams): the port's tc program
      assert.ok(x[XDP_STAT.upTxBytes]! > 20 * MIB, `the port's tc program sent ${x[XDP_STAT.upTxBytes]} bytes to the uplink`);
      assert.ok(x[XDP_STAT.upTxBytes]! / x[XDP_STAT.upTxFrames]! > 3000, `mean port -> uplink frame: ${x[XDP_STAT.upTxBytes]! / x[XDP_STAT.upTxFrames]!} bytes (GSO kept)`);
      assert.ok(c.uplink.txPackets >= x[XDP_STAT.upTxFrames]!, 'counted as uplink TX');
      assert.ok(p1.rxPackets >= x[XDP_STAT.upTxFrames]!, 'counted as port RX');
    } finally {
      await s.stop();
    }
  });
});

test('tc backend: VLAN ports in vepa mode through a hairpin wire: engine tags towards the uplink, tc pops the tag on the way back', { skip, timeout: 240_000 }, async () => {
  await withLab(async (lab) => {
    const t = await topology(lab);
    const s = tcSwitch(t, 'vepa', 10);
    await s.start();
    try {
      await iperf(t.ns1, t.ns2, '10.84.0.2', 1, 10 * MIB);
      await iperf(t.ns2, t.ns1, '10.84.0.1', 4, 10 * MIB);
      await hashedTransfer(t.ns1, t.ns2, '10.84.0.2', 16 * MIB);
      assert.equal(await tcpCsumErrors(t.ns1), 0, 'ns1 TcpInCsumErrors');
      assert.equal(await tcpCsumErrors(t.ns2), 0, 'ns2 TcpInCsumErrors');
      await folded();
      const x = s.xdpStats()!;
      assert.ok(x[XDP_STAT.forwarded]! > 1000, `tc redirected ${x[XDP_STAT.forwarded]} tagged frames`);
      assert.ok(x[XDP_STAT.upTxFrames]! > 1000, `the ports' tc program tagged and sent ${x[XDP_STAT.upTxFrames]} frames to the uplink`);
    } finally {
      await s.stop();
    }
  });
});

test('tc backend: known bursts arrive exactly once (unicast by tc both ways, broadcast by the engine), while the table changes', { skip, timeout: 120_000 }, async () => {
  await withLab(async (lab) => {
    const t = await topology(lab);
    const s = tcSwitch(t, 'bridge');
    await s.start();
    const tx = PacketPort.open({ ifname: 'br0', netns: t.wire.name, rx: false });
    const rx1 = PacketPort.open({ ifname: 'e1', netns: t.ns1.name, tx: false });
    const tx1 = PacketPort.open({ ifname: 'e1', netns: t.ns1.name, rx: false });
    const rxOut = PacketPort.open({ ifname: 'br0', netns: t.wire.name, tx: false });
    try {
      const UNICAST = 2000;
      const BCAST = 200;
      const before = s.xdpStats()![XDP_STAT.forwarded]!;
      const upBefore = s.xdpStats()![XDP_STAT.upTxFrames]!;
      const seen = new Map<number, number>();
      const seenOut = new Map<number, number>();
      const drainOne = (port: PacketPort, into: Map<number, number>): void => {
        for (let b = port.tryRecv(); b; b = port.tryRecv()) {
          for (let i = 0; i < b.length; i++) {
            const f = b.frame(i);
            if (f.length < 18 || f[12] !== ETHERTYPE >> 8 || f[13] !== (ETHERTYPE & 0xff)) continue;
            const id = new DataView(f.buffer, f.byteOffset).getUint32(14);
            into.set(id, (into.get(id) ?? 0) + 1);
          }
          b.release();
        }
      };
      const drain = (): void => {
        drainOne(rx1, seen);
        drainOne(rxOut, seenOut);
      };
      const REVERSE = 1000; // port -> outside, by the port's tc program
      let id = 0;
      for (let batch = 0; batch < 40; batch++) {
        const frames: Uint8Array[] = [];
        for (let k = 0; k < UNICAST / 40; k++) frames.push(rawFrame(id++, M1));
        for (let k = 0; k < BCAST / 40; k++) frames.push(rawFrame(id++, 'ff:ff:ff:ff:ff:ff'));
        assert.equal(tx.send(frames), frames.length);
        const back: Uint8Array[] = [];
        for (let k = 0; k < REVERSE / 40; k++) back.push(rawFrame(1_000_000 + batch * 100 + k, OUTSIDE, M1));
        assert.equal(tx1.send(back), back.length);
        // table swaps while frames are in flight: the filter's verdict and the redirect stay one decision
        if (batch % 8 === 4) s.setPortMode('p2', batch % 16 === 4 ? 'vepa' : 'bridge');
        await new Promise((r) => setTimeout(r, 10));
        drain();
      }
      await new Promise((r) => setTimeout(r, 500));
      drain();
      const dups = [...seen].filter(([, n]) => n !== 1);
      assert.deepEqual(dups, [], 'no frame delivered twice');
      assert.equal(seen.size, UNICAST + BCAST, `every frame delivered once (${seen.size} of ${UNICAST + BCAST})`);
      await folded();
      const fast = s.xdpStats()![XDP_STAT.forwarded]! - before;
      assert.ok(fast >= UNICAST * 0.9 && fast <= UNICAST, `tc redirected ${fast} of the ${UNICAST} unicast frames`);
      assert.deepEqual([...seenOut].filter(([, n]) => n !== 1), [], 'no port frame delivered twice outside');
      assert.equal(seenOut.size, REVERSE, `every port frame delivered once outside (${seenOut.size} of ${REVERSE})`);
      const up = s.xdpStats()![XDP_STAT.upTxFrames]! - upBefore;
      assert.ok(up >= REVERSE * 0.9 && up <= REVERSE, `the port's tc program sent ${up} of the ${REVERSE} frames`);
    } finally {
      await tx.close();
      await rx1.close();
      await tx1.close();
      await rxOut.close();
      await s.stop();
    }
  });
});

// ---- delivery into a veth port's peer (bpf_redirect_peer) and its fallback (bpf_redirect) ----

/** Distinct ids of our frames read from `port` until none come for a while. */
async function drainIds(port: PacketPort, into: Set<number>): Promise<void> {
  for (let idle = 0; idle < 5; ) {
    let got = false;
    for (let b = port.tryRecv(); b; b = port.tryRecv()) {
      for (let i = 0; i < b.length; i++) {
        const f = b.frame(i);
        if (f.length < 18 || f[12] !== ETHERTYPE >> 8 || f[13] !== (ETHERTYPE & 0xff)) continue;
        into.add(new DataView(f.buffer, f.byteOffset).getUint32(14));
        got = true;
      }
      b.release();
    }
    idle = got ? 0 : idle + 1;
    await new Promise((r) => setTimeout(r, 40));
  }
}

interface Delivery {
  /** frames that arrived at the port's peer (distinct ids) */
  arrived: number;
  /** the port device's own kernel TX packets in the switch namespace grew by this */
  portTx: number;
  /** the peer's kernel RX packets grew by this */
  peerRx: number;
  /** the engine's TX packets of the port and the tc program's redirects grew by this */
  engineTx: number;
  tcForwarded: number;
}

/**
 * Send n frames from the outside host to `mac` and see how they reached the port: the port device's
 * kernel TX counter (switch side) against its peer's RX counter, and the engine's counters.
 */
async function deliver(t: Topo, s: Switch, port: string, mac: string, peer: { ns: Namespace; name: string }, n: number): Promise<Delivery> {
  const tx = PacketPort.open({ ifname: 'br0', netns: t.wire.name, rx: false });
  const rx = PacketPort.open({ ifname: peer.name, netns: peer.ns.name, tx: false });
  try {
    await folded();
    const x0 = s.xdpStats()![XDP_STAT.forwarded]!;
    const e0 = s.counters().ports[port]!.txPackets;
    const p0 = await t.sw.linkStats(port);
    const q0 = await peer.ns.linkStats(peer.name);
    const ids = new Set<number>();
    for (let sent = 0; sent < n; ) {
      const batch: Uint8Array[] = [];
      for (let k = 0; k < 100 && sent < n; k++) batch.push(rawFrame(sent++, mac));
      assert.equal(tx.send(batch), batch.length);
      await drainIds(rx, ids);
    }
    await drainIds(rx, ids);
    await folded();
    const p1 = await t.sw.linkStats(port);
    const q1 = await peer.ns.linkStats(peer.name);
    return {
      arrived: ids.size,
      portTx: p1.txPackets - p0.txPackets,
      peerRx: q1.rxPackets - q0.rxPackets,
      engineTx: s.counters().ports[port]!.txPackets - e0,
      tcForwarded: s.xdpStats()![XDP_STAT.forwarded]! - x0,
    };
  } finally {
    await tx.close();
    await rx.close();
  }
}

/** Wait (bounded) until the switch's peer-delivered ports are `want`. */
async function peerPortsBecome(s: Switch, want: string[]): Promise<void> {
  for (let i = 0; i < 100 && JSON.stringify(s.tcPeerPorts().sort()) !== JSON.stringify(want); i++) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(s.tcPeerPorts().sort(), want, 'ports delivered by bpf_redirect_peer');
}

const N = 2000;

/** The peer path: every frame at the peer, none out of the port device's own egress. */
function assertPeerPath(d: Delivery, what: string): void {
  assert.equal(d.arrived, N, `${what}: every frame arrived (${d.arrived} of ${N})`);
  assert.ok(d.peerRx >= N, `${what}: the peer's kernel RX grew by ${d.peerRx}`);
  // (the switch namespace's own IPv6 neighbour discovery may send a few frames out of the port)
  assert.ok(d.portTx < N / 20, `${what}: the port device transmitted ${d.portTx} frames (the peer redirect skips its egress)`);
  assert.ok(d.tcForwarded >= N * 0.9, `${what}: tc redirected ${d.tcForwarded} of ${N}`);
  assert.ok(d.engineTx >= d.tcForwarded, `${what}: the port's engine TX (${d.engineTx}) counts the redirects`);
}

/** The fallback: every frame at the peer, each one out of the port device (bpf_redirect, veth_xmit). */
function assertRedirectPath(d: Delivery, what: string): void {
  assert.equal(d.arrived, N, `${what}: every frame arrived (${d.arrived} of ${N})`);
  assert.ok(d.portTx >= N, `${what}: the port device transmitted ${d.portTx} frames (bpf_redirect to it)`);
  assert.ok(d.tcForwarded >= N * 0.9, `${what}: tc redirected ${d.tcForwarded} of ${N}`);
  assert.ok(d.engineTx >= d.tcForwarded, `${what}: the port's engine TX (${d.engineTx}) counts the redirects`);
}

test('tc backend: unicast to a veth port whose peer is in another namespace is delivered by bpf_redirect_peer; TCP with default offloads sha256-checked', { skip, timeout: 240_000 }, async () => {
  await withLab(async (lab) => {
    const t = await topology(lab);
    const s = tcSwitch(t, 'bridge');
    await s.start();
    try {
      await peerPortsBecome(s, ['p1', 'p2']);
      assertPeerPath(await deliver(t, s, 'p1', M1, { ns: t.ns1, name: 'e1' }, N), 'p1');
      const x0 = s.xdpStats()!;
      const p0 = await t.sw.linkStats('p1');
      await hashedTransfer(t.wire, t.ns1, '10.84.0.1', 32 * MIB);
      await iperf(t.wire, t.ns1, '10.84.0.1', 4, 16 * MIB);
      assert.equal(await tcpCsumErrors(t.ns1), 0, 'ns1 TcpInCsumErrors');
      assert.equal(await tcpCsumErrors(t.wire), 0, 'outside TcpInCsumErrors');
      await folded();
      const x = s.xdpStats()!;
      const bytes = x[XDP_STAT.rxBytes]! - x0[XDP_STAT.rxBytes]!;
      const frames = x[XDP_STAT.forwarded]! - x0[XDP_STAT.forwarded]!;
      assert.ok(bytes > 32 * MIB, `tc redirected ${bytes} bytes`); // the hashed 32 MiB at least (iperf3 -n: see above)
      assert.ok(bytes / frames > 3000, `mean tc frame: ${bytes / frames} bytes (GSO super-frames kept)`);
      const portTx = (await t.sw.linkStats('p1')).txPackets - p0.txPackets;
      assert.ok(portTx < frames / 20, `p1 transmitted ${portTx} of the ${frames} frames tc redirected (the rest went to e1 directly)`);
      // the port's switch end set down: nothing may reach e1 (the peer redirect alone would still
      // deliver, e1 is up); back up: the peer path again
      await t.sw.ip(['link', 'set', 'dev', 'p1', 'down']);
      await peerPortsBecome(s, ['p2']);
      const down = await deliver(t, s, 'p1', M1, { ns: t.ns1, name: 'e1' }, N);
      assert.equal(down.arrived, 0, `p1 down: ${down.arrived} frames reached e1`);
      await t.sw.ip(['link', 'set', 'dev', 'p1', 'up']);
      await peerPortsBecome(s, ['p1', 'p2']);
      assertPeerPath(await deliver(t, s, 'p1', M1, { ns: t.ns1, name: 'e1' }, N), 'p1 up again');
    } finally {
      await s.stop();
    }
  });
});

test("tc backend: a port whose veth peer is in the switch's own namespace gets bpf_redirect, also after its peer moved there and back", { skip, timeout: 240_000 }, async () => {
  await withLab(async (lab) => {
    const t = await topology(lab);
    const M3 = '02:6d:64:00:0d:03';
    await lab.addVeth({ ns: t.sw, name: 'p3' }, { ns: t.sw, name: 'e3', mac: M3 });
    const s = tcSwitch(t, 'bridge');
    s.addPort({ name: 'p3', mac: M3, mode: 'bridge', backend: { kind: 'packet', ifname: 'p3' } });
    await s.start();
    try {
      // at attach: p3's peer is here (a peer redirect would be dropped by the kernel)
      await peerPortsBecome(s, ['p1', 'p2']);
      assertRedirectPath(await deliver(t, s, 'p3', M3, { ns: t.sw, name: 'e3' }, N), 'p3 (peer in the switch namespace)');
      // while running: e1 moves into the switch's namespace (p1 sees carrier down/up, the link watch re-probes)
      await t.ns1.ip(['link', 'set', 'dev', 'e1', 'netns', t.sw.name]);
      await t.sw.ip(['link', 'set', 'dev', 'e1', 'up']);
      await peerPortsBecome(s, ['p2']);
      assertRedirectPath(await deliver(t, s, 'p1', M1, { ns: t.sw, name: 'e1' }, N), 'p1 (peer moved into the switch namespace)');
      // and back out
      await t.sw.ip(['link', 'set', 'dev', 'e1', 'netns', t.ns1.name]);
      await t.ns1.ip(['link', 'set', 'dev', 'e1', 'up']);
      await peerPortsBecome(s, ['p1', 'p2']);
      assertPeerPath(await deliver(t, s, 'p1', M1, { ns: t.ns1, name: 'e1' }, N), 'p1 (peer back in its namespace)');
    } finally {
      await s.stop();
    }
  });
});
