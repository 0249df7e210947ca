/**
 * Offloads on, end to end: every veth keeps Linux's default offloads (TSO/GSO, checksum offload),
 * so the endpoints' TCP stacks hand the switch CHECKSUM_PARTIAL frames and GSO super-frames. The
 * engine's AF_PACKET sockets carry a virtio_net_hdr (PACKET_VNET_HDR) with each frame, so the
 * kernel completes checksums and segments only where the egress needs it; a JS port gets its
 * frames completed and segmented in software by the engine. Checked with real TCP stacks:
 * iperf3 (1 and 4 streams), a 50 MiB transfer whose sha256 the receiver recomputes, and
 * /proc/net/snmp TcpInCsumErrors staying 0 in every endpoint namespace.
 * Backend 'packet', named: this tests the AF_PACKET ring engine (the default, 'auto', takes the
 * tc fast path on a veth uplink with one worker).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withLab, type Lab, type Namespace } from '../../src/lab/index.ts';
import { PacketPort } from '../../src/io/index.ts';
import { Switch } from '../../src/dataplane/index.ts';
import { needsRoot } from '../support.ts';
import { hashedTransfer, iperf, tcpCsumErrors } from './tcp-helpers.ts';

const M1 = '02:6d:64:00:0c:01';
const M2 = '02:6d:64:00:0c:02';
const MIB = 1024 * 1024;

interface Topo {
  sw: Namespace;
  wire: Namespace;
  ns1: Namespace;
  ns2: Namespace;
}

async function topology(lab: Lab, opts: { hairpin: boolean; e2Offloads?: boolean }): Promise<Topo> {
  const sw = await lab.addNamespace('sw');
  const wire = await lab.addNamespace('wire');
  const ns1 = await lab.addNamespace('ns1');
  const ns2 = await lab.addNamespace('ns2');
  await lab.addVeth({ ns: sw, name: 'up0' }, { ns: wire, name: 'wire0' });
  await lab.addVeth({ ns: sw, name: 'p1' }, { ns: ns1, name: 'e1', mac: M1, addresses: ['10.84.0.1/24'] });
  await lab.addVeth(
    { ns: sw, name: 'p2' },
    { ns: ns2, name: 'e2', mac: M2, addresses: ['10.84.0.2/24'], ...(opts.e2Offloads === false ? { offloads: false } : {}) },
  );
  await lab.addBridge(wire, 'br0', { ports: ['wire0'], hairpin: opts.hairpin ? ['wire0'] : [] });
  return { sw, wire, ns1, ns2 };
}

test('TCP with default offloads, port to port (bridge): iperf3 1 and 4 streams, 50 MiB hashed, no checksum errors, super-frames cross whole', { skip: needsRoot, timeout: 240_000 }, async () => {
  await withLab(async (lab) => {
    const t = await topology(lab, { hairpin: false });
    const s = new Switch({ uplink: 'up0', netns: t.sw.name, backend: 'packet' });
    s.addPort({ name: 'p1', mac: M1, mode: 'bridge', backend: { kind: 'packet', ifname: 'p1' } });
    s.addPort({ name: 'p2', mac: M2, mode: 'bridge', backend: { kind: 'packet', ifname: 'p2' } });
    await s.start();
    try {
      await iperf(t.ns1, t.ns2, '10.84.0.2', 1, 20 * MIB);
      await iperf(t.ns1, t.ns2, '10.84.0.2', 4, 20 * MIB);
      await hashedTransfer(t.ns1, t.ns2, '10.84.0.2', 50 * MIB);
      assert.equal(await tcpCsumErrors(t.ns1), 0, 'ns1 TcpInCsumErrors');
      assert.equal(await tcpCsumErrors(t.ns2), 0, 'ns2 TcpInCsumErrors');
      const c = s.counters();
      const p1 = c.ports.p1!;
      // GSO super-frames crossed the engine whole: the mean frame from ns1 is far above the MTU.
      assert.ok(p1.rxBytes / p1.rxPackets > 3000, `mean frame from p1: ${p1.rxBytes / p1.rxPackets} bytes`);
      assert.equal(c.softOffload.refused, 0);
    } finally {
      await s.stop();
    }
  });
});

test('TCP with default offloads through the uplink and userspace VLANs (vepa, hairpin wire): tag insert/strip keeps GSO frames valid', { skip: needsRoot, timeout: 240_000 }, async () => {
  await withLab(async (lab) => {
    const t = await topology(lab, { hairpin: true });
    const s = new Switch({ uplink: 'up0', netns: t.sw.name, backend: 'packet' });
    // Both ports in VLAN 10: frames to the wire get a tag (csum_start moves by 4), come back
    // tagged through the hairpin and are delivered untagged.
    s.addPort({ name: 'p1', mac: M1, mode: 'vepa', vlan: 10, backend: { kind: 'packet', ifname: 'p1' } });
    s.addPort({ name: 'p2', mac: M2, mode: 'vepa', vlan: 10, backend: { kind: 'packet', ifname: 'p2' } });
    await s.start();
    try {
      await iperf(t.ns1, t.ns2, '10.84.0.2', 1, 10 * MIB);
      await iperf(t.ns2, t.ns1, '10.84.0.1', 4, 10 * MIB);
      await hashedTransfer(t.ns1, t.ns2, '10.84.0.2', 16 * MIB);
      assert.equal(await tcpCsumErrors(t.ns1), 0, 'ns1 TcpInCsumErrors');
      assert.equal(await tcpCsumErrors(t.ns2), 0, 'ns2 TcpInCsumErrors');
      const up = s.counters().uplink;
      assert.ok(up.txBytes / up.txPackets > 3000, `mean frame to the uplink: ${up.txBytes / up.txPackets} bytes`);
    } finally {
      await s.stop();
    }
  });
});

test('a JS port gets checksums completed and GSO segmented in software: a real TCP stack behind it accepts every frame', { skip: needsRoot, timeout: 180_000 }, async () => {
  await withLab(async (lab) => {
    // ns2's MAC belongs to a JS port; its handler writes the frames it gets out of p2 to ns2 (a
    // stand-in device). ns2's replies enter the switch on p2 (a packet port with another MAC).
    // e2 sends with offloads off: the test's stand-in device cannot complete checksums itself.
    const t = await topology(lab, { hairpin: false, e2Offloads: false });
    const tx = PacketPort.open({ ifname: 'p2', netns: t.sw.name, rx: false });
    const s = new Switch({ uplink: 'up0', netns: t.sw.name, backend: 'packet' });
    let oversized = 0;
    s.addPort({ name: 'p1', mac: M1, mode: 'bridge', backend: { kind: 'packet', ifname: 'p1' } });
    s.addPort({ name: 'p2', mac: '02:6d:64:00:0c:f2', mode: 'bridge', backend: { kind: 'packet', ifname: 'p2' } });
    s.addPort({
      name: 'js',
      mac: M2,
      mode: 'bridge',
      backend: {
        kind: 'js',
        onFrames: (b) => {
          const frames: Uint8Array[] = [];
          for (let i = 0; i < b.count; i++) frames.push(b.frame(i));
          for (const f of frames) if (f.length > 1514) oversized++;
          void tx.sendAll(frames).catch(() => {});
        },
      },
    });
    await s.start();
    try {
      await hashedTransfer(t.ns1, t.ns2, '10.84.0.2', 8 * MIB);
      assert.equal(await tcpCsumErrors(t.ns2), 0, 'ns2 TcpInCsumErrors (frames the JS port got)');
      assert.equal(await tcpCsumErrors(t.ns1), 0, 'ns1 TcpInCsumErrors');
      assert.equal(oversized, 0, 'no frame above the MTU reached JS');
      const so = s.counters().softOffload;
      assert.ok(so.gsoFrames > 0 && so.segments > so.gsoFrames, `software GSO: ${JSON.stringify(so)}`);
      assert.ok(so.checksums > 0, `software checksums: ${JSON.stringify(so)}`);
      assert.equal(so.refused, 0);
    } finally {
      await s.stop();
      await tx.close();
    }
  });
});
