/**
 * The XDP backend when its uplink is deleted and re-created (a NIC driver reload, a re-created
 * veth): the link monitor calls ReplaceUplink, which attaches the program to the new device and
 * registers new AF_XDP sockets in its xskmap. Afterwards both paths work through the new device:
 * ping to a kernel port (ARP floods and unicast redirected by the program, counted as XDP
 * forwards), and frames for a JS port (sent up through the AF_XDP socket, counted as toXsk).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { withLab, type Namespace } from '../../src/lab/index.ts';
import { Switch, type SwitchLinkEvent } from '../../src/dataplane/index.ts';
import { XDP_STAT } from '../../src/dataplane/xdp-program.ts';
import { PacketPort } from '../../src/io/index.ts';
import { parseMac, writeMac } from '../../src/dataplane/mac.ts';
import { needsRoot } from '../support.ts';

const X1 = '02:6d:64:00:0e:01';
const JS = '02:6d:64:00:0e:0a';
const WIRE = '02:6d:64:00:0e:fe';

async function pingsWithin(ns: Namespace, addr: string, maxS: number): Promise<boolean> {
  const end = Date.now() + maxS * 1000;
  while (Date.now() < end) if (await ns.ping(addr, { count: 1, timeoutS: 1 })) return true;
  return false;
}

async function until(what: string, pred: () => boolean, ms = 5000): Promise<void> {
  for (let t = 0; t < ms; t += 50) {
    if (pred()) return;
    await sleep(50);
  }
  throw new Error(`not within ${ms} ms: ${what}`);
}

/** Frames from the wire to the JS port's MAC (EtherType 0x88b5), n of them. */
function toJs(n: number): Uint8Array[] {
  return Array.from({ length: n }, () => {
    const f = new Uint8Array(60);
    writeMac(f, 0, parseMac(JS, 'dst'));
    writeMac(f, 6, parseMac(WIRE, 'src'));
    f[12] = 0x88;
    f[13] = 0xb5;
    return f;
  });
}

test('XDP backend: uplink deleted and re-created, the program and AF_XDP sockets follow it', { skip: needsRoot, timeout: 120_000 }, async () => {
  await withLab(async (lab) => {
    const sw = await lab.addNamespace('sw');
    const wire = await lab.addNamespace('wire');
    const ns1 = await lab.addNamespace('ns1');
    const uplink = () => lab.addVeth({ ns: sw, name: 'up0' }, { ns: wire, name: 'w0', mac: WIRE, addresses: ['10.92.0.254/24'] });
    await uplink();
    await lab.addVeth({ ns: sw, name: 'p1' }, { ns: ns1, name: 'e1', mac: X1, addresses: ['10.92.0.1/24'] });
    await ns1.run('ethtool', ['-K', 'e1', 'gro', 'on']); // NAPI for the devmap redirect into p1 (veth_xdp_xmit)
    let jsFrames = 0;
    const s = new Switch({ uplink: 'up0', netns: sw.name, backend: 'xdp' });
    s.addPort({ name: 'p1', mac: X1, mode: 'bridge', backend: { kind: 'packet', ifname: 'p1' } });
    s.addPort({ name: 'js', mac: JS, mode: 'bridge', backend: { kind: 'js', onFrames: (b) => (jsFrames += b.count) } });
    const events: SwitchLinkEvent[] = [];
    s.on('link', (e) => events.push(e));
    await s.start();
    try {
      const check = async (when: string) => {
        const x0 = s.xdpStats()!;
        assert.equal(await pingsWithin(wire, '10.92.0.1', 10), true, `${when}: wire reaches ns1 through the switch`);
        const gen = PacketPort.open({ ifname: 'w0', netns: wire.name, rx: false });
        try {
          const js0 = jsFrames;
          assert.equal(gen.send(toJs(20)), 20);
          await until(`${when}: 20 frames reach the JS port`, () => jsFrames - js0 >= 20);
        } finally {
          gen.close();
        }
        const x1 = s.xdpStats()!;
        assert.ok(x1[XDP_STAT.forwarded]! > x0[XDP_STAT.forwarded]!, `${when}: the program forwarded in the kernel: ${x1.join(',')}`);
        assert.ok(x1[XDP_STAT.toXsk]! - x0[XDP_STAT.toXsk]! >= 20, `${when}: the JS port's frames came up through AF_XDP: ${x1.join(',')}`);
        assert.equal(s.backend()?.xdpState, 'native');
        assert.match(await sw.run('ip', ['-d', 'link', 'show', 'up0']), /\bxdp\b/, `${when}: program attached to up0`);
      };
      await check('before');

      await sw.ip(['link', 'del', 'up0']);
      await until('uplink gone reported', () => events.some((e) => e.role === 'uplink' && e.state === 'gone'));
      await uplink();
      await until('uplink re-attached', () => events.some((e) => e.role === 'uplink' && e.state === 'reattached'));
      await check('after the uplink was re-created');
      assert.equal(s.counters().workers[0]!.uplinkSwaps, 1);
    } finally {
      await s.stop();
    }
  });
});
