/**
 * Receive settings of the engine's workers (docs/dataplane.md "Receive: latency and batching"):
 * the fair-scheduler slice each worker asks for (read back from /proc/self/task/TID/sched,
 * se.slice in ns, Linux 6.12+), and the adaptive-receive counters after real frames crossed the
 * switch on its V2 ring.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { withLab } from '../../src/lab/index.ts';
import { Switch } from '../../src/dataplane/index.ts';
import { needsRoot } from '../support.ts';

const X1 = '02:6d:64:00:0a:01';
const WIRE = '02:6d:64:00:0a:fe';

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
    const sw = await lab.addNamespace('sw');
    const wire = await lab.addNamespace('wire');
    const ns1 = await lab.addNamespace('ns1');
    await lab.addVeth({ ns: sw, name: 'up0' }, { ns: wire, name: 'w0', mac: WIRE, addresses: ['10.92.0.254/24'] });
    await lab.addVeth({ ns: sw, name: 'p1' }, { ns: ns1, name: 'e1', mac: X1, addresses: ['10.92.0.1/24'] });
    for (const sliceUs of [undefined, 0] as const) {
      const s = new Switch({ uplink: 'up0', netns: sw.name, ...(sliceUs !== undefined ? { sliceUs } : {}) });
      s.addPort({ name: 'p1', mac: X1, mode: 'bridge', backend: { kind: 'packet', ifname: 'p1' } });
      await s.start();
      try {
        const slice = threadSlice('mdx-worker-0');
        if (kernelShowsSlice) {
          if (sliceUs === undefined) assert.equal(slice, 100_000, 'default: 100 us');
          else assert.notEqual(slice, 100_000, 'sliceUs 0: the kernel default');
        }
        assert.equal(await wire.ping('10.92.0.1', { count: 10, timeoutS: 2 }), true, 'wire reaches ns1 through the switch');
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
