/**
 * Scenario 3 end to end through macdemux: a switch namespace holds the uplink veth (peer in a
 * "wire" namespace that is a Linux bridge, hairpin on or off) and one veth per port into endpoint
 * namespaces ns1/ns2. Bridge mode: ns1 pings ns2; private: cannot (also not through a hairpin);
 * vepa: only through the hairpinning wire; a TCP stream runs through it with correct data.
 *
 * Offloads: turned off (ethtool -K tx off gso off tso off gro off) on every veth the engine's frames
 * pass, so frames are MTU-sized with complete checksums (the engine forwards raw frames, no vnet hdr).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { withLab, type Lab, type Namespace } from '../../src/lab/index.ts';
import { Switch } from '../../src/dataplane/index.ts';
import { needsRoot } from '../support.ts';

const M1 = '02:6d:64:00:00:01';
const M2 = '02:6d:64:00:00:02';

interface Topo {
  sw: Namespace;
  wire: Namespace;
  ns1: Namespace;
  ns2: Namespace;
}

async function topology(lab: Lab, hairpin: boolean): Promise<Topo> {
  const sw = await lab.addNamespace('sw');
  const wire = await lab.addNamespace('wire');
  const ns1 = await lab.addNamespace('ns1');
  const ns2 = await lab.addNamespace('ns2');
  // no IPv6 autoconf/MLD multicast: the uplink counters then show only what the test sends
  for (const ns of [sw, wire, ns1, ns2]) await ns.run('sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  await lab.addVeth({ ns: sw, name: 'up0' }, { ns: wire, name: 'wire0' });
  await lab.addVeth({ ns: sw, name: 'p1' }, { ns: ns1, name: 'e1', mac: M1, addresses: ['10.77.0.1/24'] });
  await lab.addVeth({ ns: sw, name: 'p2' }, { ns: ns2, name: 'e2', mac: M2, addresses: ['10.77.0.2/24'] });
  await lab.addBridge(wire, 'br0', { ports: ['wire0'], hairpin: hairpin ? ['wire0'] : [] });
  return { sw, wire, ns1, ns2 };
}

function makeSwitch(t: Topo, mode: 'bridge' | 'private' | 'vepa'): Switch {
  const s = new Switch({ uplink: 'up0', netns: t.sw.name });
  s.addPort({ name: 'p1', mac: M1, mode, backend: { kind: 'packet', ifname: 'p1' } });
  s.addPort({ name: 'p2', mac: M2, mode, backend: { kind: 'packet', ifname: 'p2' } });
  return s;
}

async function flushNeigh(t: Topo): Promise<void> {
  await t.ns1.ip(['neigh', 'flush', 'all']);
  await t.ns2.ip(['neigh', 'flush', 'all']);
}

test('scenario 3 through macdemux: bridge pings, private cannot, vepa needs a hairpin; live mode changes', { skip: needsRoot, timeout: 120_000 }, async () => {
  await withLab(async (lab) => {
    const t = await topology(lab, false);
    const s = makeSwitch(t, 'bridge');
    await s.start();
    try {
      assert.equal(await t.ns1.ping('10.77.0.2', { count: 2, timeoutS: 2 }), true, 'bridge mode: ns1 reaches ns2');
      const c = s.counters();
      assert.ok(c.ports.p2!.txPackets > 0 && c.ports.p1!.txPackets > 0, 'frames crossed the engine');
      // bridge-local unicast must not have gone to the wire: only the ARP broadcasts did
      assert.ok(c.uplink.txPackets <= 2, `bridge unicast stayed local (uplink tx ${c.uplink.txPackets})`);

      s.setPortMode('p1', 'private');
      s.setPortMode('p2', 'private');
      await flushNeigh(t);
      assert.equal(await t.ns1.ping('10.77.0.2', { count: 2, timeoutS: 1 }), false, 'private: isolated');

      s.setPortMode('p1', 'vepa');
      s.setPortMode('p2', 'vepa');
      await flushNeigh(t);
      assert.equal(await t.ns1.ping('10.77.0.2', { count: 2, timeoutS: 1 }), false, 'vepa without hairpin: no path');

      await t.wire.bridge(['link', 'set', 'dev', 'wire0', 'hairpin', 'on']);
      await flushNeigh(t);
      assert.equal(await t.ns1.ping('10.77.0.2', { count: 3, timeoutS: 2 }), true, 'vepa with a hairpinning wire: reaches');

      s.setPortMode('p1', 'private');
      s.setPortMode('p2', 'private');
      await flushNeigh(t);
      assert.equal(await t.ns1.ping('10.77.0.2', { count: 2, timeoutS: 1 }), false, 'private: isolated even through a hairpin (ARP broadcast never reaches the other port)');
    } finally {
      await s.stop();
    }
    const c = s.counters();
    const drops = Object.values(c.drops).reduce((a, v) => a + v, 0);
    assert.equal(c.rxFrames, c.forwarded + drops, 'rx = forwarded + dropped');
  });
});

test('TCP through macdemux in bridge mode: iperf3 and a hashed byte stream arrive intact', { skip: needsRoot, timeout: 120_000 }, async () => {
  await withLab(async (lab) => {
    const t = await topology(lab, false);
    const s = makeSwitch(t, 'bridge');
    await s.start();
    try {
      const server = t.ns2.spawn('iperf3', ['-s', '-1', '-B', '10.77.0.2']);
      await new Promise((r) => setTimeout(r, 500));
      const out = await t.ns1.run('iperf3', ['-c', '10.77.0.2', '-n', '10M', '-J'], { timeoutMs: 60_000 });
      const res = JSON.parse(out) as { end: { sum_sent: { bytes: number; retransmits?: number }; sum_received: { bytes: number } } };
      // -n counts bytes the client sent; the receiver's sum stops at the client's end time.
      assert.ok(res.end.sum_sent.bytes >= 10 * 1024 * 1024, `iperf3 sent ${res.end.sum_sent.bytes} bytes`);
      assert.ok(res.end.sum_received.bytes > 0, `iperf3 received ${res.end.sum_received.bytes} bytes`);
      server.kill();

      // A byte stream with a known hash: the receiver hashes what it got.
      // 4 MiB made of sha256('mdx'+i) blocks: sender and test derive the same bytes.
      const blocks: Buffer[] = [];
      for (let i = 0; i < 131072; i++) blocks.push(createHash('sha256').update(`mdx${i}`).digest());
      const payload = Buffer.concat(blocks);
      const want = createHash('sha256').update(payload).digest('hex');
      const recvScript =
        "const n=require('net'),c=require('crypto');const h=c.createHash('sha256');let b=0;" +
        "const s=n.createServer(k=>{k.on('data',d=>{h.update(d);b+=d.length});k.on('end',()=>{process.stdout.write(h.digest('hex')+' '+b);s.close()})});" +
        "s.listen(5201+1,'10.77.0.2',()=>process.stderr.write('ready'))";
      const recv = t.ns2.spawn('node', ['-e', recvScript]);
      let got = '';
      recv.stdout!.on('data', (d: Buffer) => (got += d.toString()));
      await new Promise<void>((resolve) => recv.stderr!.once('data', () => resolve()));
      const sendScript =
        "const n=require('net'),cr=require('crypto');const c=[];for(let i=0;i<131072;i++)c.push(cr.createHash('sha256').update('mdx'+i).digest());" +
        "const k=n.connect(5202,'10.77.0.2',()=>{k.end(Buffer.concat(c))})";
      const sent = await t.ns1.exec('node', ['-e', sendScript], { timeoutMs: 60_000 });
      assert.equal(sent.code, 0, sent.stderr);
      await new Promise<void>((resolve) => (recv.exitCode !== null ? resolve() : recv.once('exit', () => resolve())));
      assert.equal(got, `${want} ${payload.length}`);
    } finally {
      await s.stop();
    }
  });
});
