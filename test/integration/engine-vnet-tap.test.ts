/**
 * A VM port without QEMU: the test plays the hypervisor on a persistent vnet_hdr tap (what
 * `macdemux switch --port vm:NAME` makes) and writes what a guest with offloads on hands QEMU:
 * CHECKSUM_PARTIAL frames (VIRTIO_NET_HDR_F_NEEDS_CSUM) and TCP GSO super-frames, plus a
 * 9000-byte-MTU frame. The switch serves the tap's network device as an AF_PACKET port and the
 * uplink is a veth to a peer namespace with a real IP stack, so:
 * - a CHECKSUM_PARTIAL UDP datagram reaches a UDP socket in the peer byte-exact only if the
 *   checksum request crossed the switch (the field holds just the pseudo-header sum);
 * - a 9014-byte UDP frame reaches it only if the switch's frame limit follows the 9000 MTU;
 * - a TCP GSO super-frame to a closed port makes the peer answer one RST whose ack is
 *   seq + the whole payload (net/ipv4/tcp_ipv4.c tcp_v4_send_reset() acks skb->len - doff*4), read
 *   back from the tap: the super-frame crossed whole, and the answer came back through the switch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withLab } from '../../src/lab/index.ts';
import { TapQueue } from '../../src/io/index.ts';
import { Switch } from '../../src/dataplane/index.ts';
import { ensureVmTap, deleteVmTap } from '../../src/devices/vm-tap.ts';
import { needsRoot } from '../support.ts';

const VM_MAC = '02:6d:64:00:0e:01';
const PEER_MAC = '02:6d:64:00:0e:02';
const VM_IP = [10, 91, 0, 1];
const PEER_IP = [10, 91, 0, 2];
const VNET_HDR_LEN = 10;
const NEEDS_CSUM = 1;
const GSO_TCPV4 = 1;

function mac(s: string): number[] {
  return s.split(':').map((x) => parseInt(x, 16));
}

function sum16(b: Uint8Array, from: number, to: number, acc = 0): number {
  for (let i = from; i < to; i += 2) acc += (b[i]! << 8) | (i + 1 < to ? b[i + 1]! : 0);
  return acc;
}

function fold(acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  return acc;
}

/**
 * vnet header + Ethernet + IPv4 + L4 (header l4 bytes, then payload), L4 checksum left partial
 * (pseudo-header sum, as a guest's stack leaves it for the device), NEEDS_CSUM set.
 */
function partialFrame(proto: 6 | 17, l4: Uint8Array, payload: Uint8Array, gsoSize = 0): Uint8Array {
  const ipLen = 20 + l4.length + payload.length;
  const f = new Uint8Array(VNET_HDR_LEN + 14 + ipLen);
  const dv = new DataView(f.buffer);
  const e = VNET_HDR_LEN;
  f.set(mac(PEER_MAC), e);
  f.set(mac(VM_MAC), e + 6);
  dv.setUint16(e + 12, 0x0800);
  const ip = e + 14;
  f[ip] = 0x45;
  dv.setUint16(ip + 2, ipLen);
  dv.setUint16(ip + 6, 0x4000); // DF
  f[ip + 8] = 64;
  f[ip + 9] = proto;
  f.set(VM_IP, ip + 12);
  f.set(PEER_IP, ip + 16);
  dv.setUint16(ip + 10, ~fold(sum16(f, ip, ip + 20)) & 0xffff);
  const l = ip + 20;
  f.set(l4, l);
  f.set(payload, l + l4.length);
  const l4Len = l4.length + payload.length;
  if (proto === 17) dv.setUint16(l + 4, l4Len);
  // as the guest's __tcp_v4_send_check() / udp4_hwcsum() leave it: the pseudo-header sum, whole length
  const csumOff = proto === 6 ? 16 : 6;
  dv.setUint16(l + csumOff, fold(sum16(f, ip + 12, ip + 20) + proto + l4Len));
  // struct virtio_net_hdr (include/uapi/linux/virtio_net.h), little-endian on x86
  f[0] = NEEDS_CSUM;
  f[1] = gsoSize ? GSO_TCPV4 : 0;
  dv.setUint16(2, gsoSize ? 14 + 20 + l4.length : 0, true);
  dv.setUint16(4, gsoSize, true);
  dv.setUint16(6, 14 + 20, true);
  dv.setUint16(8, csumOff, true);
  return f;
}

function udp(sport: number, dport: number): Uint8Array {
  const u = new Uint8Array(8);
  const dv = new DataView(u.buffer);
  dv.setUint16(0, sport);
  dv.setUint16(2, dport);
  return u;
}

function tcp(sport: number, dport: number, seq: number): Uint8Array {
  const t = new Uint8Array(20);
  const dv = new DataView(t.buffer);
  dv.setUint16(0, sport);
  dv.setUint16(2, dport);
  dv.setUint32(4, seq);
  t[12] = 5 << 4;
  t[13] = 0x08; // PSH only (no ACK): the RST acks what it received
  dv.setUint16(14, 65535);
  return t;
}

function pattern(n: number, seed: number): Uint8Array {
  const p = new Uint8Array(n);
  for (let i = 0; i < n; i++) p[i] = (i * 7 + seed) & 0xff;
  return p;
}

test('a vnet_hdr VM tap: CHECKSUM_PARTIAL, MTU 9000 and TCP GSO frames cross the switch to a veth peer and back', { skip: needsRoot, timeout: 90_000 }, async () => {
  await withLab(async (lab) => {
    const sw = await lab.addNamespace('sw');
    const peer = await lab.addNamespace('peer');
    await lab.addVeth({ ns: sw, name: 'up0', mtu: 9000 }, { ns: peer, name: 'p0', mac: PEER_MAC, mtu: 9000, addresses: [`${PEER_IP.join('.')}/24`] });
    await peer.ip(['neigh', 'replace', VM_IP.join('.'), 'lladdr', VM_MAC, 'dev', 'p0', 'nud', 'permanent']);
    await ensureVmTap({ name: 'tv0', netns: sw.name, mtu: 9000, multiQueue: false });
    const s = new Switch({ uplink: 'up0', netns: sw.name });
    s.addPort({ name: 'vm', mac: VM_MAC, mode: 'bridge', backend: { kind: 'packet', ifname: 'tv0' } });
    // the hypervisor's queue: IFF_VNET_HDR, offloads a virtio guest negotiates (csum, TSO4/6)
    const q = TapQueue.open({ ifname: 'tv0', netns: sw.name, kind: 'tap', vnetHdr: true, offloads: { csum: true, tso4: true, tso6: true } });
    await s.start();
    // UDP receiver in the peer: prints "len:sum" per datagram
    const rx = peer.spawn('node', ['-e',
      "const d=require('dgram').createSocket('udp4');d.on('message',m=>{let s=0;for(const b of m)s=(s+b)%65521;process.stdout.write(m.length+':'+s+'\\n')});" +
      `d.bind(5400,'${PEER_IP.join('.')}',()=>process.stderr.write('ready'))`]);
    let rxOut = '';
    rx.stdout!.on('data', (d: Buffer) => (rxOut += d.toString()));
    try {
      await new Promise<void>((resolve) => rx.stderr!.once('data', () => resolve()));
      const small = pattern(1000, 1);
      const jumbo = pattern(9000 - 20 - 8, 2); // IP datagram of exactly 9000 bytes
      const adler = (p: Uint8Array): number => p.reduce((a, b) => (a + b) % 65521, 0);
      assert.equal(q.send([partialFrame(17, udp(4000, 5400), small), partialFrame(17, udp(4001, 5400), jumbo)], true), 2);
      const want = [`${small.length}:${adler(small)}`, `${jumbo.length}:${adler(jumbo)}`];
      const t0 = Date.now();
      while (want.some((w) => !rxOut.split('\n').includes(w)) && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(rxOut.split('\n').filter(Boolean).sort(), want.sort(), 'both CHECKSUM_PARTIAL datagrams (1000 B and MTU 9000) arrive byte-exact');

      // TCP GSO: 4 x 8000-byte segments in one super-frame, to a closed port of the peer
      const seq = 0x10000000;
      const payload = pattern(32000, 3);
      assert.equal(q.send([partialFrame(6, tcp(4100, 5401, seq), payload, 8000)], true), 1);
      const rsts: { ack: number; vh: Uint8Array | undefined }[] = [];
      const t1 = Date.now();
      while (rsts.length === 0 && Date.now() - t1 < 5000) {
        const b = q.tryRecv();
        if (!b || b.length === 0) {
          await new Promise((r) => setTimeout(r, 20));
          continue;
        }
        for (let i = 0; i < b.length; i++) {
          const f = b.frame(i);
          if (f.length < 54 || f[12] !== 0x08 || f[13] !== 0x00 || f[23] !== 6) continue;
          const th = new DataView(f.buffer, f.byteOffset + 34);
          if (th.getUint16(0) === 5401 && th.getUint16(2) === 4100 && (f[34 + 13]! & 0x04)) rsts.push({ ack: th.getUint32(8), vh: b.vnetHeader(i)?.slice() });
        }
      }
      await new Promise((r) => setTimeout(r, 300)); // a segmented super-frame would draw more RSTs
      for (let b = q.tryRecv(); b && b.length; b = q.tryRecv())
        for (let i = 0; i < b.length; i++) {
          const f = b.frame(i);
          if (f.length >= 54 && f[23] === 6 && f[34 + 13]! & 0x04) rsts.push({ ack: new DataView(f.buffer, f.byteOffset + 34).getUint32(8), vh: undefined });
        }
      assert.equal(rsts.length, 1, `one RST for the whole super-frame (got acks ${rsts.map((r) => r.ack - seq).join(',')})`);
      assert.equal(rsts[0]!.ack, (seq + payload.length) >>> 0, 'the RST acks all 32000 bytes: the super-frame arrived whole');
      const c = s.counters();
      assert.equal(c.drops.oversized ?? 0, 0, JSON.stringify(c.drops));
      assert.ok(c.ports.vm!.rxPackets >= 3 && c.ports.vm!.txPackets >= 1, JSON.stringify(c.ports.vm));
    } finally {
      rx.kill();
      await s.stop();
      await q.close();
      await deleteVmTap('tv0', sw.name);
    }
  });
});
