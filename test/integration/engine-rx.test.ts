/**
 * Receive settings of the engine's workers (docs/dataplane.md "Receive: latency and batching"):
 * the fair-scheduler slice each worker asks for (read back from /proc/self/task/TID/sched,
 * se.slice in ns, Linux 6.12+), and the adaptive-receive counters after real frames crossed the
 * switch on its V2 ring.
 * Backend 'packet', named: this tests the AF_PACKET ring engine (the default, 'auto', takes the
 * tc fast path on a veth uplink with one worker).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { withLab, type Lab, type Namespace } from '../../src/lab/index.ts';
import { Switch } from '../../src/dataplane/index.ts';
import { needsRoot } from '../support.ts';

const X1 = '02:6d:64:00:0a:01';
const WIRE = '02:6d:64:00:0a:fe';

/** The switch namespace with its uplink up0 (wire at 10.92.0.254 behind it) and port p1 (ns1 at 10.92.0.1). */
async function wireAndPort(lab: Lab): Promise<{ sw: Namespace; wire: Namespace; ns1: Namespace }> {
  const sw = await lab.addNamespace('sw');
  const wire = await lab.addNamespace('wire');
  const ns1 = await lab.addNamespace('ns1');
  await lab.addVeth({ ns: sw, name: 'up0' }, { ns: wire, name: 'w0', mac: WIRE, addresses: ['10.92.0.254/24'] });
  await lab.addVeth({ ns: sw, name: 'p1' }, { ns: ns1, name: 'e1', mac: X1, addresses: ['10.92.0.1/24'] });
  return { sw, wire, ns1 };
}

/** se.slice (ns) of this process's thread named `comm`, or null when the kernel does not show it. */
function threadSlice(comm: string): number | null {
  for (const tid of readdirSync('/proc/self/task')) {
    let name: string;
    try {
      name = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
    } catch {
      continue;
    }
    if (name !== comm) continue;
    const m = /^se\.slice\s*:\s*(\d+)/m.exec(readFileSync(`/proc/self/task/${tid}/sched`, 'utf8'));
    return m ? Number(m[1]) : null;
  }
  throw new Error(`no thread named ${comm}`);
}

test('workers ask for a 100 us scheduler slice (sliceUs: 0 keeps the default); adaptive receive counts its rings', { skip: needsRoot, timeout: 120_000 }, async () => {
  const kernelShowsSlice = /^se\.slice/m.test(readFileSync('/proc/self/sched', 'utf8'));
  await withLab(async (lab) => {
    const { sw, wire, ns1 } = await wireAndPort(lab);
    for (const sliceUs of [undefined, 0] as const) {
      const s = new Switch({ uplink: 'up0', netns: sw.name, backend: 'packet', ...(sliceUs !== undefined ? { sliceUs } : {}) });
      s.addPort({ name: 'p1', mac: X1, mode: 'bridge', backend: { kind: 'packet', ifname: 'p1' } });
      await s.start();
      try {
        // Frames first: the worker names itself and sets its slice when its thread starts, which
        // start() does not wait for; once it has forwarded the pings both are done.
        assert.equal(await wire.ping('10.92.0.1', { count: 10, timeoutS: 2 }), true, 'wire reaches ns1 through the switch');
        const slice = threadSlice('mdx-worker-0');
        if (kernelShowsSlice) {
          if (sliceUs === undefined) assert.equal(slice, 100_000, 'default: 100 us');
          else assert.notEqual(slice, 100_000, 'sliceUs 0: the kernel default');
        }
        const w = s.counters().workers[0]!;
        assert.ok(w.rxFrames >= 10, `rxFrames ${w.rxFrames}`);
        assert.equal(w.rxMode, 2, 'light traffic stays on the V2 ring');
        assert.equal(w.rxModeSwitches, 0);
        for (const k of ['rxV2Drops', 'rxV3Drops', 'rxRollovers'] as const) assert.equal(w[k], 0, `${k} with 10 pings`);
        assert.ok(w.sleeps > 0 && w.spins > 0, `the worker sleeps and spins (sleeps ${w.sleeps}, spins ${w.spins})`);
      } finally {
        await s.stop();
      }
    }
  });
});

test('two workers: each its own adaptive V2 + V3 pair; flows split between them, every frame once', { skip: needsRoot, timeout: 120_000 }, async () => {
  await withLab(async (lab) => {
    const sw = await lab.addNamespace('sw');
    const wire = await lab.addNamespace('wire');
    const JS_MAC = '02:6d:64:00:0a:50';
    const sources = Array.from({ length: 8 }, (_, i) => `10.93.0.${100 + i}`);
    // No IPv6 on the wire side (router solicitations, MLD): only the echo requests below reach the switch.
    await wire.exec('sysctl', ['-q', '-w', 'net.ipv6.conf.default.disable_ipv6=1', 'net.ipv6.conf.all.disable_ipv6=1'], { timeoutMs: 10_000 });
    await lab.addVeth({ ns: sw, name: 'up0' }, { ns: wire, name: 'w0', mac: WIRE, addresses: sources.map((a) => `${a}/24`) });
    // Echo requests to .50 go to the JS port's MAC (no replies: every frame the engine sees came from the uplink).
    await wire.ip(['neigh', 'replace', '10.93.0.50', 'lladdr', JS_MAC, 'dev', 'w0', 'nud', 'permanent']);
    let got = 0;
    let all = 0;
    const isEcho = (f: Uint8Array) => f.length >= 34 && f[12] === 0x08 && f[13] === 0 && f[23] === 1 && f[33] === 50;
    const s = new Switch({ uplink: 'up0', netns: sw.name, workers: 2, backend: 'packet' });
    s.addPort({
      name: 'js',
      mac: JS_MAC,
      mode: 'bridge',
      backend: {
        kind: 'js',
        onFrames: (b) => {
          all += b.count;
          for (let i = 0; i < b.count; i++) if (isEcho(b.data.subarray(b.offsets[i]!, b.offsets[i]! + b.lengths[i]!))) got++;
        },
      },
    });
    await s.start();
    try {
      const perSource = 5;
      for (const src of sources) await wire.exec('ping', ['-n', '-q', '-c', String(perSource), '-i', '0.01', '-W', '0.01', '-I', src, '10.93.0.50'], { timeoutMs: 20_000 });
      const sent = sources.length * perSource;
      for (let t = 0; t < 40 && got < sent; t++) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 200)); // a duplicate would arrive by now
      const ws = s.counters().workers;
      assert.equal(got, sent, `the JS port got ${got} of ${sent} echo requests (more: a frame reached two workers)`);
      assert.equal(ws.length, 2);
      assert.ok(ws[0]!.rxFrames > 0 && ws[1]!.rxFrames > 0, `flows split between the workers: ${ws.map((w) => w.rxFrames).join(' / ')}`);
      assert.equal(ws[0]!.rxFrames + ws[1]!.rxFrames, all, 'each frame received by one worker, delivered once');
      for (const w of ws) assert.equal(w.rxMode, 2, 'each worker adaptive, on its V2 ring');
    } finally {
      await s.stop();
    }
  });
});

test('the uplink rings do not receive what the engine sends out of the uplink (fanout groups ignore outgoing frames)', { skip: needsRoot, timeout: 120_000 }, async () => {
  await withLab(async (lab) => {
    const { sw, wire, ns1 } = await wireAndPort(lab);
    for (const [ns, dev] of [[sw, 'up0'], [sw, 'p1'], [wire, 'w0'], [ns1, 'e1']] as const) await ns.ip(['link', 'set', 'dev', dev, 'mtu', '9000']);
    for (const rx of ['adaptive', 'blocks'] as const) {
      const s = new Switch({ uplink: 'up0', netns: sw.name, backend: 'packet', rx, workers: rx === 'blocks' ? 2 : 1 });
      s.addPort({ name: 'p1', mac: X1, mode: 'bridge', backend: { kind: 'packet', ifname: 'p1' } });
      await s.start();
      try {
        const before = s.counters().uplink;
        // 8000-byte echo requests: bigger than a TX ring slot, so the engine sends them with its
        // send-only socket, which is not a member of the uplink's fanout group. Without
        // PACKET_FANOUT_FLAG_IGNORE_OUTGOING the group received each of them back as uplink RX.
        const r = await ns1.exec('ping', ['-n', '-q', '-c', '20', '-i', '0.05', '-W', '2', '-s', '8000', '-M', 'do', '10.92.0.254']);
        assert.equal(r.code, 0, `${rx}: jumbo pings from ns1 reach the wire: ${r.stdout}${r.stderr}`);
        const up = s.counters().uplink;
        const tx = Number(up.txPackets) - Number(before.txPackets);
        const rxd = Number(up.rxPackets) - Number(before.rxPackets);
        assert.ok(tx >= 20, `${rx}: uplink tx ${tx}`);
        // 20 replies, an ARP exchange and the wire's own IPv6 chatter; not the 20 requests again.
        assert.ok(rxd >= 20 && rxd < 30, `${rx}: uplink rx ${rxd} (tx ${tx})`);
      } finally {
        await s.stop();
      }
    }
  });
});
