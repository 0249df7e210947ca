/**
 * Links that come and go: flap, delete and re-create the uplink and a port's device under
 * traffic. After each, the worker must sleep (CPU ticks of mdx-worker-0 from
 * /proc/self/task/TID/stat, with no traffic: a resource assertion, not a timing one), the switch
 * must report what happened (`link` events, fd counters), and ping must work again once the
 * device is back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { withLab, type Namespace } from '../../src/lab/index.ts';
import { Switch, type SwitchLinkEvent } from '../../src/dataplane/index.ts';
import { ringsForMs } from '../../src/dataplane/switch.ts';
import { needsRoot } from '../support.ts';

const X1 = '02:6d:64:00:09:01';
const WIRE = '02:6d:64:00:09:fe';

/** utime + stime of this process's thread named `comm`, in clock ticks. */
function threadTicks(comm: string): number {
  for (const tid of readdirSync('/proc/self/task')) {
    let name: string;
    try {
      name = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
    } catch {
      continue;
    }
    if (name !== comm) continue;
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]); // fields 14 and 15 (utime, stime), counted from field 3
  }
  throw new Error(`no thread named ${comm}`);
}

/** Worker CPU in ticks per second over `ms` with no traffic. */
async function idleTicksPerSecond(ms = 2000): Promise<number> {
  const a = threadTicks('mdx-worker-0');
  await sleep(ms);
  return ((threadTicks('mdx-worker-0') - a) * 1000) / ms;
}

/** Ping (one echo at a time, 1 s each) until it answers, for at most `maxS` seconds. */
async function pingsWithin(ns: Namespace, addr: string, maxS: number): Promise<boolean> {
  const end = Date.now() + maxS * 1000;
  while (Date.now() < end) if (await ns.ping(addr, { count: 1, timeoutS: 1 })) return true;
  return false;
}

/** A ping flood in the background (traffic while links change); stop() ends it. */
function traffic(ns: Namespace, addr: string): { stop(): void } {
  const p = ns.spawn('ping', ['-n', '-q', '-i', '0.01', '-W', '1', addr], { stdio: 'ignore' });
  return { stop: () => void p.kill('SIGINT') };
}

async function waitFor(events: SwitchLinkEvent[], pred: (e: SwitchLinkEvent) => boolean, ms = 5000): Promise<SwitchLinkEvent> {
  for (let t = 0; t < ms; t += 50) {
    const e = events.find(pred);
    if (e) return e;
    await sleep(50);
  }
  throw new Error(`no such link event within ${ms} ms; got ${JSON.stringify(events)}`);
}

test('flap, delete and re-create of uplink and port devices: the worker sleeps, the switch re-attaches, ping resumes', { skip: needsRoot, timeout: 180_000 }, async (tt) => {
  await withLab(async (lab) => {
    const sw = await lab.addNamespace('sw');
    const wire = await lab.addNamespace('wire');
    const ns1 = await lab.addNamespace('ns1');
    const uplink = () => lab.addVeth({ ns: sw, name: 'up0' }, { ns: wire, name: 'w0', mac: WIRE, addresses: ['10.91.0.254/24'] });
    const port = () => lab.addVeth({ ns: sw, name: 'p1' }, { ns: ns1, name: 'e1', mac: X1, addresses: ['10.91.0.1/24'] });
    await uplink();
    await port();
    const s = new Switch({ uplink: 'up0', netns: sw.name });
    s.addPort({ name: 'p1', mac: X1, mode: 'bridge', backend: { kind: 'packet', ifname: 'p1' } });
    const events: SwitchLinkEvent[] = [];
    s.on('link', (e) => events.push(e));
    await s.start();
    try {
      assert.equal(await pingsWithin(wire, '10.91.0.1', 5), true, 'baseline: wire reaches ns1 through the switch');
      const idle0 = await idleTicksPerSecond();
      assert.ok(idle0 < 5, `idle worker costs ${idle0} ticks/s`);

      // 1. uplink flap under traffic
      let t = traffic(wire, '10.91.0.1');
      await sw.ip(['link', 'set', 'up0', 'down']);
      await sleep(300);
      await sw.ip(['link', 'set', 'up0', 'up']);
      t.stop();
      const idle1 = await idleTicksPerSecond();
      assert.ok(idle1 < 5, `after an uplink flap the idle worker costs ${idle1} ticks/s`);
      await waitFor(events, (e) => e.role === 'uplink' && e.state === 'fd-error');
      assert.equal(await pingsWithin(wire, '10.91.0.1', 5), true, 'ping resumes after the uplink flap');

      // 2. port flap under traffic
      t = traffic(wire, '10.91.0.1');
      await sw.ip(['link', 'set', 'p1', 'down']);
      await sleep(300);
      await sw.ip(['link', 'set', 'p1', 'up']);
      t.stop();
      const idle2 = await idleTicksPerSecond();
      assert.ok(idle2 < 5, `after a port flap the idle worker costs ${idle2} ticks/s`);
      await waitFor(events, (e) => e.port === 'p1' && e.state === 'fd-error');
      assert.equal(await pingsWithin(wire, '10.91.0.1', 5), true, 'ping resumes after the port flap');

      // 3. port device deleted under traffic, then re-created with the same name
      t = traffic(wire, '10.91.0.1');
      await sw.ip(['link', 'del', 'p1']);
      await waitFor(events, (e) => e.port === 'p1' && e.state === 'gone');
      t.stop();
      const idle3 = await idleTicksPerSecond();
      assert.ok(idle3 < 5, `with a port's device deleted the idle worker costs ${idle3} ticks/s`);
      await port();
      let back = Date.now();
      await waitFor(events, (e) => e.port === 'p1' && e.state === 'reattached');
      assert.equal(await pingsWithin(wire, '10.91.0.1', 5), true, 'ping resumes once the port device is back');
      const portRecoveryMs = Date.now() - back;
      assert.equal(s.linkStates().p1?.attached, true);

      // 4. uplink deleted under traffic, then re-created with the same name
      t = traffic(ns1, '10.91.0.254');
      await sw.ip(['link', 'del', 'up0']);
      await waitFor(events, (e) => e.role === 'uplink' && e.state === 'gone');
      t.stop();
      const idle4 = await idleTicksPerSecond();
      assert.ok(idle4 < 5, `with the uplink deleted the idle worker costs ${idle4} ticks/s`);
      await uplink();
      back = Date.now();
      await waitFor(events, (e) => e.role === 'uplink' && e.state === 'reattached');
      assert.equal(await pingsWithin(wire, '10.91.0.1', 5), true, 'ping resumes once the uplink is back');
      const uplinkRecoveryMs = Date.now() - back;
      const idle5 = await idleTicksPerSecond();
      assert.ok(idle5 < 5, `after the uplink was re-attached the idle worker costs ${idle5} ticks/s`);
      // Reported, not asserted beyond the bounds above (timing is the bench's job).
      tt.diagnostic(`idle worker ticks/s: start ${idle0}, uplink flap ${idle1}, port flap ${idle2}, port deleted ${idle3}, uplink deleted ${idle4}, uplink back ${idle5}`);
      tt.diagnostic(`device back -> first ping reply: port ${portRecoveryMs} ms, uplink ${uplinkRecoveryMs} ms`);

      const w = s.counters().workers[0]!;
      assert.ok(w.fdErrors >= 2, `fd errors counted: ${JSON.stringify(w)}`);
      assert.equal(w.uplinkSwaps, 1);
    } finally {
      await s.stop();
    }
  });
});

test('reattachPort throws, and leaves the port detached, when its device does not exist', { skip: needsRoot, timeout: 60_000 }, async () => {
  await withLab(async (lab) => {
    const sw = await lab.addNamespace('sw');
    const wire = await lab.addNamespace('wire');
    const ns1 = await lab.addNamespace('ns1');
    await lab.addVeth({ ns: sw, name: 'up0' }, { ns: wire, name: 'w0' });
    await lab.addVeth({ ns: sw, name: 'p1' }, { ns: ns1, name: 'e1', mac: X1 });
    const s = new Switch({ uplink: 'up0', netns: sw.name, watchLinks: false });
    s.addPort({ name: 'p1', mac: X1, mode: 'bridge', backend: { kind: 'packet', ifname: 'p1' } });
    await s.start();
    try {
      await sw.ip(['link', 'del', 'p1']);
      assert.throws(() => s.reattachPort('p1'), (e: NodeJS.ErrnoException) => e.code === 'ENODEV');
      assert.throws(() => s.reattachPort('nope'), /name/);
    } finally {
      await s.stop();
    }
  });
});

test('realtime: the workers run SCHED_FIFO at the priority asked for; uplink rings sized by time', { skip: needsRoot, timeout: 60_000 }, async () => {
  await withLab(async (lab) => {
    const sw = await lab.addNamespace('sw');
    const wire = await lab.addNamespace('wire');
    await lab.addVeth({ ns: sw, name: 'up0' }, { ns: wire, name: 'w0' });
    const s = new Switch({ uplink: 'up0', netns: sw.name, realtime: 7, watchLinks: false });
    await s.start();
    try {
      const tid = readdirSync('/proc/self/task').find((t) => readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim() === 'mdx-worker-0');
      assert.ok(tid, 'worker thread found');
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      assert.equal(Number(f[37]), 7, 'rt_priority (field 40)');
      assert.equal(Number(f[38]), 1, 'policy SCHED_FIFO (field 41)');
    } finally {
      await s.stop();
    }
  });
  assert.throws(() => new Switch({ uplink: 'up0', realtime: 100 }), /realtime/);
  const r = ringsForMs(20, 1 << 20);
  // >= 20 ms of 64-byte frames at 1.5 Mpps (V3, ~144 B each) and at 0.75 Mpps (V2 slots), and of
  // 10 Gbit/s of TCP super-frames (V3 blocks hold whole frames)
  assert.ok(r.ringBlocks * (1 << 20) >= 0.02 * 1_500_000 * 144 && r.ringSlots >= 0.02 * 750_000, JSON.stringify(r));
  assert.ok(r.ringBlocks * (1 << 20) >= 0.02 * 1.25e9, JSON.stringify(r));
});
