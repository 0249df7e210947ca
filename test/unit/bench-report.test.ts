/**
 * Benchmark report generation from a fixed JSON fixture (no privileges): ratios, the Markdown
 * tables and the SVG charts; plus the small pure helpers of the suite (CPU accounting, trafgen
 * config, argument parsing, latency combination, JS batch counting).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { BenchReport } from '../../bench/types.ts';
import { computeRatios, headline } from '../../bench/report/ratios.ts';
import { renderMarkdown, resultsTable, scalingTable, latencyTable } from '../../bench/report/markdown.ts';
import { throughputChart, latencyChart, niceScale } from '../../bench/report/svg.ts';
import { parseProcStat, cpuDelta } from '../../src/measure/cpu.ts';
import { trafgenConfig } from '../../src/measure/traffic.ts';
import { parseBenchArgs } from '../../src/cli/bench.ts';
import { parseDemoArgs } from '../../src/cli/demo.ts';
import { combineLatency } from '../../bench/latency.ts';
import { batchFrameCount } from '../../bench/scenarios/macdemux.ts';
import { renderDemoTable } from '../../src/demo/report.ts';
import { checkBars } from '../../bench/report/bars.ts';

function fixture(): BenchReport {
  const p = fileURLToPath(new URL('../../bench/report/fixtures/sample-report.json', import.meta.url));
  return JSON.parse(readFileSync(p, 'utf8')) as BenchReport;
}

test('ratios: every ok row against bridge and macvlan of the same frame size and port count', () => {
  const r = fixture();
  computeRatios(r.scenarios);
  const md64 = r.scenarios.find((s) => s.name === 'macdemux' && s.frameSize === 64 && s.ports === 2)!;
  assert.equal(md64.ratios?.fwdVsBridge, 1.5);
  assert.equal(md64.ratios?.fwdVsMacvlan, 1.2);
  assert.equal(md64.ratios?.cpuVsBridge, 0.7);
  assert.equal(md64.ratios?.zeroLossVsBridge, Math.round((1.4e6 / 9.5e5) * 1000) / 1000);
  const md4096 = r.scenarios.find((s) => s.name === 'macdemux' && s.ports === 4096)!;
  assert.equal(md4096.ratios?.fwdVsBridge, Math.round((1.46e6 / 0.95e6) * 1000) / 1000);
  const skipped = r.scenarios.find((s) => s.name === 'ovs')!;
  assert.equal(skipped.ratios, undefined);
  const learning = r.scenarios.find((s) => s.name === 'bridge' && s.variant === 'learning')!;
  assert.equal(learning.ratios?.fwdVsBridge, 0.98);
  const h = headline(r.scenarios)!;
  assert.deepEqual(h, { frameSize: 64, vsBridge: 1.5, vsMacvlan: 1.2, vsRingDrop: Math.round((1.5e6 / 0.7e6) * 1000) / 1000, cpuVsBridge: 0.7 });
});

test('markdown: main table, latency, scaling, skipped and notes', () => {
  const r = fixture();
  computeRatios(r.scenarios);
  const md = renderMarkdown(r, { chart: 'throughput.svg', latencyChart: 'latency.svg' });
  assert.match(md, /Date: 2026-01-01T00:00:00.000Z/);
  assert.match(md, /2 CPUs, Fixture CPU, kernel 6\.1\.0-test/);
  assert.match(md, /Command: `macdemux bench --json fixture.json`/);
  assert.match(md, /\*\*macdemux at 64 B: 1\.50x the Linux bridge, 1\.20x kernel macvlan, 2\.14x the AF_PACKET ceiling/);
  assert.match(md, /!\[throughput by frame size\]\(throughput\.svg\)/);
  const table = resultsTable(r).split('\n');
  const mdRow = table.find((l) => l.startsWith('| macdemux | 64 |'))!;
  assert.ok(mdRow, 'macdemux 64 B row');
  const cells = mdRow.split('|').map((c) => c.trim());
  assert.equal(cells[3], '1.500'); // fwd Mpps
  assert.equal(cells[4], '0.77'); // Gbit/s = 1.5e6 * 64 * 8
  assert.equal(cells[6], '700');
  assert.equal(cells[7], '1.400');
  assert.equal(cells[12], '1.50x');
  assert.equal(cells[13], '1.20x');
  assert.ok(table.some((l) => l.startsWith('| generator (ring-drop) | 64 |')));
  assert.ok(table.some((l) => l.startsWith('| ovs | 64 | skipped: Open vSwitch is not installed')));
  assert.ok(!table.some((l) => l.includes('| 4096 |')), 'scaling rows stay out of the main table');
  const sc = scalingTable(r)!;
  assert.match(sc, /\| macdemux \| 1\.500 \| 1\.490 \| 1\.460 \| -2\.7% \|/);
  assert.match(sc, /\| bridge \| 1\.000 \| 0\.970 \| 0\.950 \| -5\.0% \|/);
  const lt = latencyTable(r)!;
  assert.equal(lt.split('\n').filter((l) => l.startsWith('| macdemux |')).length, 3);
  assert.match(md, /### Skipped or failed/);
  assert.match(md, /macdemux-tap \(64 B, 2 ports\): skipped: tap backend not available/);
  assert.match(md, /fixture: numbers are made up/);
});

test('svg: throughput bars per forwarder and frame size, latency on a log scale', () => {
  const r = fixture();
  const svg = throughputChart(r);
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  assert.ok(svg.trimEnd().endsWith('</svg>'));
  // 4 forwarders x 3 sizes + ring-drop + learning + js at 64 B = 15 bars
  assert.equal((svg.match(/<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="[\d.]+" fill="#[0-9a-f]+"( fill-opacity="[\d.]+")?><title>/g) ?? []).length, 15);
  assert.match(svg, /<title>macdemux 64 B: 1\.500 Mpps<\/title>/);
  assert.match(svg, />1518 B</);
  for (const name of ['generator', 'bridge', 'macvlan', 'macdemux', 'generator (ring-drop)', 'bridge (learning)', 'macdemux-js']) {
    assert.ok(svg.includes(`>${name}</text>`), `legend has ${name}`);
  }
  // the tallest bar (generator 64 B, 1.8 Mpps) fits under the axis maximum
  const heights = [...svg.matchAll(/height="([\d.]+)" fill="#[0-9a-f]+"( fill-opacity="[\d.]+")?><title>/g)].map((m) => Number(m[1]));
  assert.ok(Math.max(...heights) <= 420 - 48 - 56 + 0.5);
  const lat = latencyChart(r)!;
  assert.equal((lat.match(/<title>/g) ?? []).length, 9);
  assert.match(lat, /<title>macdemux p99\.9: 1350\.0 us<\/title>/);
  assert.equal(latencyChart({ ...r, scenarios: r.scenarios.map((s) => ({ ...s, latencyUs: null })) }), null);
});

test('niceScale picks round axis maxima', () => {
  assert.deepEqual(niceScale(1.8), { max: 2, step: 0.5 });
  assert.deepEqual(niceScale(0.37), { max: 0.4, step: 0.1 });
  assert.deepEqual(niceScale(0), { max: 1, step: 0.2 });
});

test('/proc/stat: busy = user+nice+system+irq+softirq over all cores, steal apart', () => {
  const a = parseProcStat('cpu  100 0 50 1000 5 1 10 2 0 0\ncpu0 50 0 25 500 3 1 5 1 0 0\ncpu1 50 0 25 500 2 0 5 1 0 0\nintr 1\n');
  const b = parseProcStat('cpu  200 0 150 1100 5 1 60 4 0 0\ncpu0 150 0 75 500 3 1 30 2 0 0\ncpu1 50 0 75 600 2 0 30 2 0 0\n');
  assert.equal(a.busyTicks, 161);
  const d = cpuDelta(a, b);
  assert.equal(d.busyNs, (411 - 161) * 1e7);
  assert.equal(d.stealFraction, 2 / (1520 - 1168));
  assert.equal(d.perCoreBusy.length, 2);
});

test('trafgen config: one packet per destination, size without FCS', () => {
  const cfg = trafgenConfig('02:00:00:00:00:01', ['02:00:00:00:01:01', '02:00:00:00:01:02'], 64);
  const lines = cfg.trim().split('\n');
  assert.equal(lines.length, 2);
  assert.equal(lines[0], '{ eth(da=02:00:00:00:01:01, sa=02:00:00:00:00:01, type=0x88b5), fill(0x00, 46) }');
  assert.match(trafgenConfig('02:00:00:00:00:01', ['02:00:00:00:01:01'], 1518), /fill\(0x00, 1500\)/);
});

test('bench and demo arguments are validated and name the option', () => {
  const p = parseBenchArgs(['--quick', '--scenarios', 'bridge,macvlan', '--json=out.json', '--frame-sizes', '64,512', '--no-tcp']);
  assert.equal(p.quick, true);
  assert.deepEqual(p.scenarios, ['bridge', 'macvlan']);
  assert.equal(p.json, 'out.json');
  assert.deepEqual(p.frameSizes, [64, 512]);
  assert.equal(p.tcp, false);
  assert.throws(() => parseBenchArgs(['--runs', '0']), /--runs/);
  assert.throws(() => parseBenchArgs(['--json']), /--json/);
  assert.throws(() => parseBenchArgs(['--bogus']), /argument/);
  assert.deepEqual(parseDemoArgs([]), { ports: 3, seconds: 5, frameSize: 64, json: false, quiet: false, help: false });
  assert.equal(parseDemoArgs(['--seconds', '2', '--ports=4']).ports, 4);
  assert.throws(() => parseDemoArgs(['--ports', '0']), /--ports/);
  assert.throws(() => parseDemoArgs(['--frame-size', '63']), /--frame-size/);
});

test('latency of several sinks: packet-weighted p50, worst p99/p99.9', () => {
  const l = combineLatency([
    { packets: 300, latencyUs: { p50: 10, p99: 50, p999: 90 } },
    { packets: 100, latencyUs: { p50: 30, p99: 40, p999: 120 } },
    { packets: 0, latencyUs: { p50: 0, p99: 0, p999: 0 } },
  ]);
  assert.deepEqual(l, { p50: 15, p99: 50, p999: 120, samples: 400 });
  assert.equal(combineLatency([]).samples, 0);
});

test('JS port batches are counted whatever their shape', () => {
  assert.equal(batchFrameCount({ count: 17, data: new Uint8Array(0) }), 17);
  assert.equal(batchFrameCount([1, 2, 3]), 3);
  assert.equal(batchFrameCount({ frames: [1, 2] }), 2);
  assert.equal(batchFrameCount(null), 0);
});

test('demo table lists both forwarders and the ratio', () => {
  const t = renderDemoTable({
    date: '2026-01-01T00:00:00Z', ports: 3, frameSize: 64, generator: 'native', lab: 'mdx-1-abcd', ratioVsBridge: 1.25, notes: ['n1'],
    phases: [
      { forwarder: 'macdemux', status: 'ok', seconds: 5, offeredPps: 1.3e6, fwdPps: 1.25e6, lossRatio: 0.01, cpuNsPerPacket: 900, perPort: [{ port: 'p1', mac: 'm', pps: 1.25e6, packets: 1, drops: 0 }] },
      { forwarder: 'linux-bridge', status: 'ok', seconds: 5, offeredPps: 1e6, fwdPps: 1e6, lossRatio: 0, cpuNsPerPacket: 1100, perPort: [{ port: 'p1', mac: 'm', pps: 1e6, packets: 1, drops: 0 }] },
    ],
  });
  assert.match(t, /\| macdemux \| 1\.300 \| 1\.250 \| 1\.00% \| 900 \| 1\.250 \|/);
  assert.match(t, /\| linux-bridge \| 1\.000 \| 1\.000 \| 0\.00% \| 1100 \| 1\.000 \|/);
  assert.match(t, /1\.25x the Linux bridge/);
  assert.match(t, /note: n1/);
});

test('performance bars are evaluated from the run alone', () => {
  const bars = checkBars(fixture());
  const by = (prefix: string) => bars.find((b) => b.bar.startsWith(prefix))!;
  assert.equal(by('macdemux forwarded pps >= 1.6x').pass, false); // 1.5x
  assert.equal(by('macdemux forwarded pps >= 1.6x').measured, '1.50x');
  assert.equal(by('macdemux forwarded pps >= 1.1x kernel macvlan').pass, true); // 1.2x
  assert.equal(by('macdemux forwarded pps >= 0.9x the AF_PACKET').pass, true);
  assert.equal(by('zero-loss').pass, true);
  assert.equal(by('latency p99').pass, true); // 300 vs 180 us at 50%
  assert.equal(by('port table').pass, true); // 1.5 -> 1.46
  assert.equal(by('port table').measured, '2.7% drop');
  assert.equal(by('frames delivered to a JS port').pass, true); // 2.1 Mpps
  assert.equal(by('CPU per forwarded packet').pass, true);
  const none = checkBars({ ...fixture(), scenarios: fixture().scenarios.filter((s) => s.name !== 'macdemux') });
  assert.ok(none.every((b) => b.bar.startsWith('frames delivered') || b.pass === null));
});
