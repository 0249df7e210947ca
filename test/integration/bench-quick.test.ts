/**
 * `macdemux bench --quick` end to end on real namespaces: the kernel baselines and the ceiling
 * produce sane numbers (never asserted as speeds), the JSON has the documented shape, and the run
 * leaves no namespace behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { needsRoot } from '../support.ts';
import { listNamespaces } from '../../src/lab/index.ts';
import type { BenchReport } from '../../bench/types.ts';

const bin = fileURLToPath(new URL('../../bin/macdemux.js', import.meta.url));

function runCli(args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string; pid: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGINT'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, pid: child.pid! });
    });
  });
}

test('bench --quick --scenarios generator,bridge,macvlan --json: sane numbers, documented shape, no leftovers', { skip: needsRoot, timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'macdemux-bench-test-'));
  try {
    const out = join(dir, 'out.json');
    const started = Date.now();
    const r = await runCli(['bench', '--quick', '--scenarios', 'generator,bridge,macvlan', '--json', out], 170_000);
    const elapsed = (Date.now() - started) / 1000;
    assert.equal(r.code, 0, `exit code; stderr:\n${r.stderr.slice(-2000)}`);
    assert.ok(elapsed < 120, `--quick took ${elapsed} s (limit 120 s)`);
    const report = JSON.parse(readFileSync(out, 'utf8')) as BenchReport;
    assert.equal(typeof report.machine.nproc, 'number');
    assert.ok(report.machine.cpuModel.length > 0);
    assert.ok(report.machine.kernel.length > 0);
    assert.ok(!Number.isNaN(Date.parse(report.date)));
    assert.match(report.command, /^macdemux bench --quick --scenarios generator,bridge,macvlan --json /);
    const names = new Set(report.scenarios.map((s) => s.name));
    assert.deepEqual([...names].sort(), ['bridge', 'generator', 'macvlan']);
    for (const s of report.scenarios) {
      const what = `${s.name}/${s.variant} ${s.frameSize} B`;
      assert.equal(s.status, 'ok', `${what}: ${s.reason ?? ''}`);
      assert.equal(s.frameSize, 64, what);
      assert.equal(s.ports, 2, what);
      assert.ok(s.runs >= 1, what);
      assert.equal(s.samples.length, s.runs, what);
      assert.ok(Number.isFinite(s.fwdPps) && s.fwdPps! > 0, `${what}: fwdPps ${s.fwdPps}`);
      assert.ok(Number.isFinite(s.offeredPps) && s.offeredPps! > 0, `${what}: offeredPps ${s.offeredPps}`);
      // Forwarded cannot exceed offered (small slack: the two counters are read microseconds apart).
      assert.ok(s.fwdPps! <= s.offeredPps! * 1.05, `${what}: fwd ${s.fwdPps} > offered ${s.offeredPps}`);
      assert.ok(s.lossRatio! >= 0 && s.lossRatio! <= 1, `${what}: loss ${s.lossRatio}`);
      assert.ok(Math.abs(s.fwdGbps! - (s.fwdPps! * 64 * 8) / 1e9) < 1e-9, what);
      assert.ok(s.cpuNsPerPacket !== null && s.cpuNsPerPacket > 0 && s.cpuNsPerPacket < 1e6, `${what}: cpu ${s.cpuNsPerPacket}`);
      assert.ok(s.spread >= 0, what);
      if (s.name !== 'generator') {
        // Measured (a number); it may be 0 when a loaded machine loses frames at every searched rate.
        assert.ok(s.zeroLossPps !== null && Number.isFinite(s.zeroLossPps) && s.zeroLossPps >= 0, `${what}: zero-loss ${s.zeroLossPps}`);
        assert.ok(s.zeroLossPps! <= s.offeredPps! * 1.1, `${what}: zero-loss above the offered maximum`);
        assert.ok(s.tcpGbps === null || (s.tcpGbps !== undefined && s.tcpGbps > 0), `${what}: tcp ${s.tcpGbps}`);
        if (s.latencyUs) assert.ok(s.latencyUs.p50 > 0 && s.latencyUs.p50 <= s.latencyUs.p99 && s.latencyUs.p99 <= s.latencyUs.p999, `${what}: latency order`);
      }
    }
    const bridge = report.scenarios.find((s) => s.name === 'bridge')!;
    assert.equal(bridge.ratios?.fwdVsBridge, 1);
    const macvlan = report.scenarios.find((s) => s.name === 'macvlan')!;
    assert.equal(macvlan.ratios?.fwdVsMacvlan, 1);
    assert.ok(macvlan.ratios?.fwdVsBridge !== undefined && macvlan.ratios.fwdVsBridge > 0);
    // The Markdown table went to stdout.
    assert.match(r.stdout, /\| scenario \| frame B \| fwd Mpps \|/);
    assert.match(r.stdout, /\| macvlan \| 64 \| \d+\.\d{3} \|/);
    // Progress went to stderr.
    assert.match(r.stderr, /\[bridge 64B run 1\/1\] offered .* forwarded/);
    // Nothing of that run's lab is left.
    const left = listNamespaces().filter((n) => n.startsWith(`mdx-${r.pid}-`));
    assert.deepEqual(left, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
