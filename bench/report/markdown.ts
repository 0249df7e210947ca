/** The Markdown report: the results table, ratios, scaling, latency, skipped scenarios, notes. */
import type { BenchReport, ScenarioResult } from '../types.ts';
import { headline } from './ratios.ts';
import { barsTable } from './bars.ts';

const mpps = (x: number | null | undefined): string => (x === null || x === undefined ? '-' : (x / 1e6).toFixed(3));
const num = (x: number | null | undefined, d = 0): string => (x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(d));
const ratio = (x: number | undefined | null): string => (x === undefined || x === null ? '-' : `${x.toFixed(2)}x`);
const pct = (x: number | null | undefined, d = 1): string => (x === null || x === undefined ? '-' : `${(x * 100).toFixed(d)}%`);

function label(r: ScenarioResult): string {
  const primary: Record<string, string> = { generator: 'uplink', bridge: 'static-fdb', macvlan: 'bridge-mode', ovs: 'netdev' };
  return r.variant === 'default' || primary[r.name] === r.variant ? r.name : `${r.name} (${r.variant})`;
}

/** The main table (rows at the main port count). */
export function resultsTable(report: BenchReport): string {
  const mainPorts = Math.min(...report.scenarios.map((r) => r.ports));
  const rows = report.scenarios.filter((r) => r.ports === mainPorts);
  const head = '| scenario | frame B | fwd Mpps | Gbit/s | loss | CPU ns/pkt | zero-loss Mpps | p50/p99/p99.9 us @50% | TCP Gbit/s | runs | spread | vs bridge | vs macvlan | CPU vs bridge |';
  const sep = '|' + head.split('|').slice(1, -1).map(() => '---').join('|') + '|';
  const lines = rows.map((r) => {
    if (r.status !== 'ok') return `| ${label(r)} | ${r.frameSize} | ${r.status}: ${(r.reason ?? '').replace(/\|/g, '/')} |||||||||||`;
    const lat = r.latencyUs ? `${num(r.latencyUs.p50, 1)} / ${num(r.latencyUs.p99, 1)} / ${num(r.latencyUs.p999, 1)}` : '-';
    return `| ${label(r)} | ${r.frameSize} | ${mpps(r.fwdPps)} | ${num(r.fwdGbps, 2)} | ${pct(r.lossRatio, 2)} | ${num(r.cpuNsPerPacket)} | ${mpps(r.zeroLossPps)} | ${lat} | ${r.tcpGbps === undefined || r.tcpGbps === null ? '-' : r.tcpGbps.toFixed(2)} | ${r.runs} | ${pct(r.spread)} | ${ratio(r.ratios?.fwdVsBridge)} | ${ratio(r.ratios?.fwdVsMacvlan)} | ${ratio(r.ratios?.cpuVsBridge)} |`;
  });
  return [head, sep, ...lines].join('\n');
}

/** Port-count scaling: fwd Mpps per port count and the change from the smallest. */
export function scalingTable(report: BenchReport): string | null {
  const counts = [...new Set(report.scenarios.map((r) => r.ports))].sort((a, b) => a - b);
  if (counts.length < 2) return null;
  const size = Math.min(...report.scenarios.map((r) => r.frameSize));
  const names = [...new Set(report.scenarios.filter((r) => r.ports !== counts[0] && r.frameSize === size).map((r) => r.name))];
  const head = `| scenario (${size} B) | ${counts.map((c) => `${c} ports Mpps`).join(' | ')} | change ${counts[0]} -> ${counts[counts.length - 1]} |`;
  const sep = '|' + head.split('|').slice(1, -1).map(() => '---').join('|') + '|';
  const lines = names.map((n) => {
    const at = (c: number): ScenarioResult | undefined =>
      report.scenarios.find((r) => r.name === n && r.ports === c && r.frameSize === size && (c !== counts[0] || r.variant === report.scenarios.find((x) => x.name === n && x.ports === counts[1])?.variant));
    const first = at(counts[0]!);
    const last = at(counts[counts.length - 1]!);
    const cells = counts.map((c) => {
      const r = at(c);
      return r?.status === 'ok' ? mpps(r.fwdPps) : r ? r.status : '-';
    });
    const change = first?.fwdPps && last?.fwdPps ? `${(((last.fwdPps - first.fwdPps) / first.fwdPps) * 100).toFixed(1)}%` : '-';
    return `| ${n} | ${cells.join(' | ')} | ${change} |`;
  });
  return [head, sep, ...lines].join('\n');
}

/** Latency at every load point. */
export function latencyTable(report: BenchReport): string | null {
  const rows = report.scenarios.filter((r) => r.latencyByLoad?.length);
  if (!rows.length) return null;
  const head = '| scenario | load | offered Mpps | p50 us | p99 us | p99.9 us | samples |';
  const sep = '|---|---|---|---|---|---|---|';
  const lines = rows.flatMap((r) =>
    r.latencyByLoad!.map((l) => `| ${label(r)} | ${l.loadPct}% | ${mpps(l.offeredPps)} | ${num(l.p50, 1)} | ${num(l.p99, 1)} | ${num(l.p999, 1)} | ${l.samples} |`),
  );
  return [head, sep, ...lines].join('\n');
}

/** The whole Markdown report (without the chart, which the caller links). */
export function renderMarkdown(report: BenchReport, opts: { chart?: string; latencyChart?: string } = {}): string {
  const m = report.machine;
  const out: string[] = [];
  out.push(`Date: ${report.date}  `);
  out.push(`Machine: ${m.nproc} CPUs, ${m.cpuModel}, kernel ${m.kernel}, ${m.memGiB} GiB, Node ${m.node}, load average ${m.loadAvg} at start  `);
  out.push(`Command: \`${report.command}\`  `);
  out.push(`Duration: ${report.durationS} s; generator: ${String(report.options.generator)} on CPU 0, userspace forwarders on CPU ${String(report.options.forwarderCpu)}`);
  out.push('');
  const h = headline(report.scenarios);
  if (h) {
    out.push(`**macdemux at ${h.frameSize} B: ${ratio(h.vsBridge)} the Linux bridge, ${ratio(h.vsMacvlan)} kernel macvlan` +
      `${h.vsRingDrop !== null ? `, ${ratio(h.vsRingDrop)} the AF_PACKET ceiling (generator + drop-all ring)` : ''}` +
      `${h.cpuVsBridge !== null ? `; CPU per packet ${ratio(h.cpuVsBridge)} the bridge's` : ''}** (forwarded pps, same run).`);
    out.push('');
  }
  out.push(resultsTable(report));
  out.push('');
  out.push('fwd = forwarded packets per second at the generator\'s maximum offered load (median of the runs); Gbit/s = fwd x frame size x 8 ' +
    '(FCS included, no preamble/IFG); CPU ns/pkt = busy time of all cores (user+system+irq+softirq from /proc/stat, generator included) ' +
    'per forwarded packet; zero-loss = highest offered rate with loss <= 0.001% (binary search); spread = (max-min)/median over the runs; ' +
    'ratios are fwd pps (and CPU per packet) against the bridge (static FDB) and kernel macvlan rows of the same frame size in this run.');
  if (opts.chart) out.push('', `![throughput by frame size](${opts.chart})`);
  const lat = latencyTable(report);
  if (lat) out.push('', '### Latency (one-way, native generator timestamps)', '', lat);
  if (opts.latencyChart) out.push('', `![latency percentiles](${opts.latencyChart})`);
  const sc = scalingTable(report);
  if (sc) out.push('', '### Port-count scaling', '', sc);
  if (report.scenarios.some((r) => r.name === 'macdemux')) out.push('', '### Performance bars', '', barsTable(report));
  const skipped = report.scenarios.filter((r) => r.status !== 'ok');
  if (skipped.length) {
    out.push('', '### Skipped or failed', '');
    for (const r of skipped) out.push(`- ${label(r)} (${r.frameSize} B, ${r.ports} ports): ${r.status}: ${r.reason ?? ''}`);
  }
  const rowNotes = report.scenarios.filter((r) => r.notes?.length);
  if (report.notes.length || rowNotes.length) {
    out.push('', '### Notes', '');
    for (const n of report.notes) out.push(`- ${n}`);
    const seen = new Set<string>();
    for (const r of rowNotes) {
      for (const n of r.notes!) {
        const line = `${label(r)}: ${n}`;
        if (!seen.has(line)) out.push(`- ${line}`);
        seen.add(line);
      }
    }
  }
  return out.join('\n') + '\n';
}
