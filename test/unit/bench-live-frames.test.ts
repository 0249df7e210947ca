/**
 * The live-frame maximum's arithmetic (bench/live-frames.ts): where a testbed forwards, which rate
 * the bar is judged on, and the CPU charged per frame beyond the bare generator.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forwardingNsPerFrame, judgedPps, placement, type LiveFramesResult } from '../../bench/live-frames.ts';
import type { Testbed } from '../../bench/testbed.ts';

const tb = (backend?: string): Testbed => ({ ...(backend !== undefined ? { backend: () => backend } : {}) }) as unknown as Testbed;

test('kernel forwarders and the tc/XDP backends forward in softirq; the packet backend in its worker', () => {
  assert.equal(placement(tb()), 'softirq');
  assert.equal(placement(tb('tc')), 'softirq');
  assert.equal(placement(tb('xdp')), 'softirq');
  assert.equal(placement(tb('packet')), 'thread');
});

function result(p: LiveFramesResult['placement'], runs: LiveFramesResult['runs']): LiveFramesResult {
  return {
    placement: p,
    frames: 1_000_000,
    reps: runs.length,
    offeredPps: 0,
    fwdPps: 300_000,
    offeredCpuPps: 0,
    fwdCpuPps: 600_000,
    workerCpuShare: null,
    fwdWorkerCpuPps: null,
    lossRatio: 0,
    runs,
  };
}

test('softirq forwarders are judged per generator CPU-s, a worker thread per worker CPU-s (else per wall second)', () => {
  assert.equal(judgedPps(result('softirq', [])), 600_000);
  assert.equal(judgedPps({ ...result('thread', []), fwdWorkerCpuPps: 400_000 }), 400_000);
  assert.equal(judgedPps(result('thread', [])), 300_000);
});

test('CPU per forwarded frame beyond the bare generator: generator time less its own cost, plus the worker', () => {
  // 1M frames sent; bare generator 600 ns/frame. Softirq: 1.6 s on CPU 0 for 1M forwarded -> 1000 ns.
  const soft = result('softirq', [{ ns: 2e9, runNs: 1.6e9, workerNs: 0, forwarded: 1_000_000 }]);
  assert.equal(forwardingNsPerFrame(soft, 600), 1000);
  // Thread: CPU 0 0.8 s (200 ns/frame of ring copy over 600), worker 1.3 s, 0.5M forwarded -> 3000 ns.
  const thr = result('thread', [{ ns: 2e9, runNs: 0.8e9, workerNs: 1.3e9, forwarded: 500_000 }]);
  assert.equal(forwardingNsPerFrame(thr, 600), 3000);
  // Median over runs.
  const three = result('softirq', [1.5e9, 1.7e9, 1.6e9].map((runNs) => ({ ns: 2e9, runNs, workerNs: 0, forwarded: 1_000_000 })));
  assert.equal(forwardingNsPerFrame(three, 600), 1000);
});
