/**
 * A TCP stream between two namespaces relayed through two AF_PACKET ports (native relay with
 * PACKET_VNET_HDR) in a middle namespace. veth offloads stay on, so the stream is made of GSO
 * super-frames with CHECKSUM_PARTIAL: the data must arrive complete and intact.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { needsRoot } from '../support.ts';
import { withLab } from '../../src/lab/index.ts';
import { PacketPort, startRelay, type FrameBatch } from '../../src/io/index.ts';
import type { Lab, Namespace } from '../../src/lab/index.ts';

const SERVER = `
const net = require('net'), crypto = require('crypto');
const h = crypto.createHash('sha256'); let n = 0;
const s = net.createServer((k) => {
  k.on('data', (d) => { h.update(d); n += d.length; });
  k.on('end', () => { console.log('result ' + n + ' ' + h.digest('hex')); k.end(); s.close(); });
});
s.listen(5201, '10.77.0.2', () => console.log('listening'));
setTimeout(() => { console.log('timeout'); process.exit(2); }, 60000).unref();
`;
const CLIENT = `
const net = require('net'), crypto = require('crypto');
const N = Number(process.argv[1]), buf = Buffer.alloc(N); let x = 12345;
for (let i = 0; i < N; i += 4) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; buf.writeUInt32LE(x, i); }
const h = crypto.createHash('sha256').update(buf).digest('hex');
const k = net.connect(5201, '10.77.0.2', () => k.end(buf));
k.on('close', () => console.log('result ' + N + ' ' + h));
k.on('error', (e) => { console.error(String(e)); process.exit(1); });
`;

async function topology(lab: Lab): Promise<{ a: Namespace; m: Namespace; b: Namespace }> {
  const a = await lab.addNamespace('ra');
  const m = await lab.addNamespace('rm');
  const b = await lab.addNamespace('rb');
  await lab.addVeth({ ns: a, name: 'ta0', addresses: ['10.77.0.1/24'] }, { ns: m, name: 'ma0' });
  await lab.addVeth({ ns: b, name: 'tb0', addresses: ['10.77.0.2/24'] }, { ns: m, name: 'mb0' });
  return { a, m, b };
}

/** Run the TCP transfer of `bytes` from A to B; returns [sent, received] "bytes sha256" matches. */
async function transfer(a: Namespace, b: Namespace, bytes: number): Promise<{ sent: RegExpExecArray; got: RegExpExecArray }> {
  assert.ok(await a.ping('10.77.0.2', { count: 1, timeoutS: 3 }), 'ping through the relay');
  const server = b.spawn(process.execPath, ['-e', SERVER]);
  let serverOut = '';
  await new Promise<void>((resolve, reject) => {
    server.stdout!.on('data', (d: Buffer) => {
      serverOut += d.toString();
      if (serverOut.includes('listening')) resolve();
    });
    server.on('exit', (c) => reject(new Error(`server exited ${c}: ${serverOut}`)));
  });
  const serverDone = new Promise<string>((resolve) => server.on('exit', () => resolve(serverOut)));
  const client = await a.exec(process.execPath, ['-e', CLIENT, String(bytes)], { timeoutMs: 60_000 });
  assert.equal(client.code, 0, client.stderr);
  const out = await serverDone;
  const sent = /result (\d+) ([0-9a-f]+)/.exec(client.stdout);
  const got = /result (\d+) ([0-9a-f]+)/.exec(out);
  assert.ok(sent && got, `client: ${client.stdout} server: ${out}`);
  assert.equal(got[1], String(bytes));
  assert.equal(got[2], sent[2], 'sha256 of the data');
  return { sent, got };
}

test('TCP stream (20 MiB, offloads on) relayed through two AF_PACKET ports with vnet_hdr arrives intact', { skip: needsRoot, timeout: 90_000 }, async () => {
  await withLab(async (lab) => {
    const { a, m, b } = await topology(lab);
    const relay = startRelay({ a: { ifname: 'ma0', netns: m.name }, b: { ifname: 'mb0', netns: m.name } });
    try {
      await transfer(a, b, 20 * 1024 * 1024);
      // The data direction carried GSO super-frames (bigger than the 1514-byte wire frame).
      const [ca] = relay.counters;
      const avg = ca.get('rxBytes') / ca.get('rxPackets');
      assert.ok(avg > 1514, `average relayed frame ${avg.toFixed(0)} bytes: GSO frames passed whole`);
      assert.equal(ca.get('truncated'), 0);
      const st = await relay.stop();
      assert.ok(st.forwardedAB > 0 && st.forwardedBA > 0);
      assert.equal(st.droppedAB + st.droppedBA, 0);
    } finally {
      await relay.stop().catch(() => {});
    }
  });
});

test('the same through two PacketPorts relayed in JavaScript (vnet headers carried by send(frames, true))', { skip: needsRoot, timeout: 90_000 }, async () => {
  await withLab(async (lab) => {
    const { a, m, b } = await topology(lab);
    const opts = { netns: m.name, vnetHdr: true, promisc: true, retireTovMs: 1, txFrameSize: 65536 + 256, txFrameCount: 128 } as const;
    const pa = PacketPort.open({ ifname: 'ma0', ...opts });
    const pb = PacketPort.open({ ifname: 'mb0', ...opts });
    let gso = 0;
    let dropped = 0;
    const forward = (to: PacketPort) => (batch: FrameBatch) => {
      const out: Uint8Array[] = [];
      for (let i = 0; i < batch.length; i++) {
        const f = batch.frame(i);
        const h = batch.vnetHeader(i)!;
        if (h[1] !== 0) gso++; // gso_type != NONE: a GSO super-frame
        const g = new Uint8Array(10 + f.length);
        g.set(h, 0);
        g.set(f, 10);
        out.push(g);
      }
      const n = to.send(out, true);
      dropped += out.length - n; // TCP retransmits what a full ring refused
    };
    pa.on('frames', forward(pb));
    pb.on('frames', forward(pa));
    try {
      await transfer(a, b, 4 * 1024 * 1024);
      assert.ok(gso > 0, 'GSO super-frames were relayed with their vnet header');
      assert.equal(pa.counters.get('truncated') + pb.counters.get('truncated'), 0);
      assert.ok(dropped < 1000, `refused for lack of ring space: ${dropped}`);
    } finally {
      await pa.close();
      await pb.close();
    }
  });
});
