/**
 * The performance bars of ARCHITECTURE.md, checked against one run (64-byte frames, main port
 * count). Each bar reads only figures of that run; a bar whose inputs are missing says so.
 */
import type { BenchReport, ScenarioResult } from '../types.ts';

export interface BarCheck {
  bar: string;
  /** What was measured, e.g. "1.23x". */
  measured: string;
  /** null when it could not be evaluated. */
  pass: boolean | null;
  note?: string;
}

const x = (v: number): string => `${v.toFixed(2)}x`;

function row(rows: ScenarioResult[], name: string, variant: string | null, frameSize: number, ports: number): ScenarioResult | undefined {
  return rows.find((r) => r.name === name && (variant === null || r.variant === variant) && r.frameSize === frameSize && r.ports === ports && r.status === 'ok');
}

export function checkBars(report: BenchReport): BarCheck[] {
  const rows = report.scenarios;
  const ports = Math.min(...rows.map((r) => r.ports));
  const size = 64;
  const md = row(rows, 'macdemux', null, size, ports);
  const br = row(rows, 'bridge', 'static-fdb', size, ports);
  const mv = row(rows, 'macvlan', 'bridge-mode', size, ports);
  const ring = row(rows, 'generator', 'ring-drop', size, ports);
  const js = row(rows, 'macdemux-js', null, size, ports);
  const out: BarCheck[] = [];
  const ratioBar = (bar: string, a: number | null | undefined, b: number | null | undefined, min: number, missing: string): void => {
    if (a && b) out.push({ bar, measured: x(a / b), pass: a / b >= min });
    else out.push({ bar, measured: '-', pass: null, note: missing });
  };
  ratioBar('macdemux forwarded pps >= 1.6x the Linux bridge', md?.fwdPps, br?.fwdPps, 1.6, 'macdemux or bridge not measured');
  ratioBar('macdemux forwarded pps >= 1.1x kernel macvlan', md?.fwdPps, mv?.fwdPps, 1.1, 'macdemux or macvlan not measured');
  ratioBar('macdemux forwarded pps >= 0.9x the AF_PACKET ceiling (generator + drop-all ring)', md?.fwdPps, ring?.fwdPps, 0.9, 'macdemux or generator/ring-drop not measured');
  ratioBar('zero-loss throughput >= the bridge\'s', md?.zeroLossPps, br?.zeroLossPps, 1.0, 'zero-loss rate missing');
  if (md?.latencyUs && br?.latencyUs && br.latencyUs.p99 > 0) {
    const r = md.latencyUs.p99 / br.latencyUs.p99;
    out.push({ bar: 'latency p99 at 50% load within 2x the bridge\'s', measured: `${md.latencyUs.p99.toFixed(0)} vs ${br.latencyUs.p99.toFixed(0)} us (${x(r)})`, pass: r <= 2 });
  } else out.push({ bar: 'latency p99 at 50% load within 2x the bridge\'s', measured: '-', pass: null, note: 'latency not measured' });
  const counts = [...new Set(rows.filter((r) => r.name === 'macdemux').map((r) => r.ports))].sort((a, b) => a - b);
  const first = row(rows, 'macdemux', null, size, counts[0] ?? ports);
  const last = counts.length > 1 ? row(rows, 'macdemux', null, size, counts[counts.length - 1]!) : undefined;
  if (first?.fwdPps && last?.fwdPps) {
    const drop = 1 - last.fwdPps / first.fwdPps;
    const measured = drop >= 0 ? `${(drop * 100).toFixed(1)}% drop` : `${(-drop * 100).toFixed(1)}% higher`;
    out.push({ bar: `port table ${counts[0]} -> ${counts[counts.length - 1]} ports: throughput drops < 10%`, measured, pass: drop < 0.1 });
  } else out.push({ bar: 'port table 2 -> 4096 ports: throughput drops < 10%', measured: '-', pass: null, note: 'scaling not measured' });
  if (js?.fwdPps) {
    const limited = js.offeredPps !== null && js.fwdPps >= 0.95 * js.offeredPps;
    out.push({ bar: 'frames delivered to a JS port >= 2 Mpps', measured: `${(js.fwdPps / 1e6).toFixed(2)} Mpps`, pass: js.fwdPps >= 2e6 ? true : limited ? null : false,
      ...(limited && js.fwdPps < 2e6 ? { note: 'limited by the generator (everything offered was delivered); see the micro benchmark' } : {}) });
  } else out.push({ bar: 'frames delivered to a JS port >= 2 Mpps', measured: '-', pass: null, note: 'macdemux-js not measured' });
  if (md?.cpuNsPerPacket && br?.cpuNsPerPacket) {
    out.push({ bar: 'CPU per forwarded packet (all cores) <= the bridge\'s', measured: `${md.cpuNsPerPacket.toFixed(0)} vs ${br.cpuNsPerPacket.toFixed(0)} ns (${x(md.cpuNsPerPacket / br.cpuNsPerPacket)})`, pass: md.cpuNsPerPacket <= br.cpuNsPerPacket });
  } else out.push({ bar: 'CPU per forwarded packet (all cores) <= the bridge\'s', measured: '-', pass: null, note: 'CPU not measured' });
  return out;
}

/** Markdown table of the bars. */
export function barsTable(report: BenchReport): string {
  const lines = ['| bar (ARCHITECTURE.md, 64 B) | this run | met |', '|---|---|---|'];
  for (const b of checkBars(report)) {
    lines.push(`| ${b.bar} | ${b.measured} | ${b.pass === null ? `n/a${b.note ? ` (${b.note})` : ''}` : b.pass ? 'yes' : `no${b.note ? ` (${b.note})` : ''}`} |`);
  }
  return lines.join('\n');
}
