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
import { release } from 'node:os';
import { withLab, type Lab, type Namespace } from '../../src/lab/index.ts';
import { PacketPort } from '../../src/io/index.ts';
import { Switch, type MacvlanMode } from '../../src/dataplane/index.ts';
import { writeMac, parseMac } from '../../src/dataplane/mac.ts';
import { XDP_STAT } from '../../src/dataplane/xdp-program.ts';
import { needsRoot } from '../support.ts';
import { hashedTransfer, iperf, tcpCsumErrors } from './tcp-helpers.ts';

const M1 = '02:6d:64:00:0d:01';
const M2 = '02:6d:64:00:0d:02';
const OUTSIDE = '02:6d:64:00:0d:ee';
const MIB = 1024 * 1024;
const ETHERTYPE = 0x88b6;

/** tcx links (BPF_TCX_INGRESS) arrived in Linux 6.6. */
function kernelHasTcx(): boolean {
  const [maj, min] = release().split('.').map((x) => Number.parseInt(x, 10));
  return maj! > 6 || (maj === 6 && min! >= 6);
}
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
      assert.ok(x[XDP_STAT.rxBytes]! > 70 * MIB, `tc redirected ${x[XDP_STAT.rxBytes]} bytes`);
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
      const frame = (id: number, dst: string, src = OUTSIDE): Uint8Array => {
        const f = new Uint8Array(64);
        writeMac(f, 0, parseMac(dst, 'dst'));
        writeMac(f, 6, parseMac(src, 'src'));
        f[12] = ETHERTYPE >> 8;
        f[13] = ETHERTYPE & 0xff;
        new DataView(f.buffer).setUint32(14, id);
        return f;
      };
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
        for (let k = 0; k < UNICAST / 40; k++) frames.push(frame(id++, M1));
        for (let k = 0; k < BCAST / 40; k++) frames.push(frame(id++, 'ff:ff:ff:ff:ff:ff'));
        assert.equal(tx.send(frames), frames.length);
        const back: Uint8Array[] = [];
        for (let k = 0; k < REVERSE / 40; k++) back.push(frame(1_000_000 + batch * 100 + k, OUTSIDE, M1));
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
