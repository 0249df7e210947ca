/**
 * A worker thread that runs a switch with a JS port is terminated while batches are in flight:
 * the engine's env cleanup stops its threads, batch callbacks that race with the teardown are
 * dropped instead of aborting the process, and the addon keeps working on the main thread.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { withLab } from '../../src/lab/index.ts';
import { startGenerator } from '../../src/io/index.ts';
import { Switch } from '../../src/dataplane/index.ts';
import { needsRoot } from '../support.ts';

const JS_MAC = '02:6d:64:00:07:0a';
const GEN_MAC = '02:6d:64:00:07:ee';

test('terminating a worker that runs a switch with a busy JS port: no abort, threads joined', { skip: needsRoot, timeout: 300_000 }, async () => {
  await withLab(async (lab) => {
    const sw = await lab.addNamespace('sw');
    const gen = await lab.addNamespace('gen');
    await lab.addVeth({ ns: sw, name: 'up0' }, { ns: gen, name: 'g0', mac: GEN_MAC });
    const traffic = startGenerator({ ifname: 'g0', netns: gen.name, templates: [{ dst: JS_MAC, src: GEN_MAC, size: 60 }], ratePps: 100_000, durationMs: 300_000 }); // stopped in finally; outlasts slow worker starts on a loaded machine
    try {
      for (let round = 0; round < 3; round++) {
        const threadsBefore = readdirSync('/proc/self/task').length;
        const worker = new Worker(new URL('./fixtures/engine-cleanup-worker.mjs', import.meta.url), {
          workerData: { nsSw: sw.name, jsMac: JS_MAC },
        });
        let timer: NodeJS.Timeout | undefined;
        try {
          await new Promise<void>((resolve, reject) => {
            worker.once('message', () => resolve());
            worker.once('error', reject);
            timer = setTimeout(() => reject(new Error(`round ${round}: JS port received no batches`)), 60_000); // a worker start under ASan on a loaded machine
          });
        } finally {
          clearTimeout(timer);
          // env teardown while the engine is still delivering batches; on a failure too, so that
          // no worker (and its engine threads) outlives the test and keeps the file's process alive.
          await worker.terminate();
        }
        await new Promise((r) => setTimeout(r, 200));
        const threadsAfter = readdirSync('/proc/self/task').length;
        assert.ok(threadsAfter <= threadsBefore, `round ${round}: threads ${threadsBefore} -> ${threadsAfter}`);
      }
      // The addon still works here: a switch on the same uplink starts and stops.
      const s = new Switch({ uplink: 'up0', netns: sw.name });
      s.addPort({ name: 'js', mac: JS_MAC, mode: 'bridge', backend: { kind: 'js', onFrames: () => {} } });
      await s.start();
      await s.stop();
    } finally {
      await traffic.stop();
    }
  });
});
