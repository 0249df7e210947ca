/**
 * Hand-written SVG charts (no dependencies): forwarded Mpps by frame size per forwarder (grouped
 * bars), and latency percentiles per forwarder at 50% of its zero-loss rate (log scale).
 */
import type { BenchReport, ScenarioResult } from '../types.ts';

/** One colour per forwarder, so macdemux looks the same in every chart; variants are paler. */
const COLORS: Record<string, string> = {
  generator: '#7f7f7f',
  bridge: '#1f77b4',
  macvlan: '#2ca02c',
  ovs: '#9467bd',
  macdemux: '#d62728',
  'macdemux-tap': '#ff7f0e',
  'macdemux-js': '#e377c2',
};

function seriesStyle(r: ScenarioResult): string {
  const primary = seriesName(r) === r.name;
  const opacity = r.variant === 'uplink-trafgen' ? 0.3 : 0.55;
  return `fill="${COLORS[r.name] ?? '#17becf'}"${primary ? '' : ` fill-opacity="${opacity}"`}`;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function seriesName(r: ScenarioResult): string {
  const primary: Record<string, string> = { generator: 'uplink', bridge: 'static-fdb', macvlan: 'bridge-mode', ovs: 'netdev' };
  return r.variant === 'default' || primary[r.name] === r.variant ? r.name : `${r.name} (${r.variant})`;
}

/** A "nice" axis maximum and tick step for a data maximum. */
export function niceScale(max: number, ticks = 5): { max: number; step: number } {
  if (!(max > 0)) return { max: 1, step: 0.2 };
  const raw = max / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw)!;
  return { max: Math.ceil(max / step) * step, step };
}

function fmtTick(v: number): string {
  return String(Number(v.toFixed(6)));
}

/** Grouped bar chart: throughput (Mpps) by frame size, one bar per forwarder. */
export function throughputChart(report: BenchReport): string {
  const mainPorts = Math.min(...report.scenarios.map((r) => r.ports));
  const rows = report.scenarios.filter((r) => r.status === 'ok' && r.ports === mainPorts && r.fwdPps !== null);
  const sizes = [...new Set(rows.map((r) => r.frameSize))].sort((a, b) => a - b);
  const series = [...new Set(rows.map(seriesName))];
  const styleOf = new Map(rows.map((r) => [seriesName(r), seriesStyle(r)]));
  const W = 860;
  const H = 420;
  const m = { l: 64, r: 240, t: 48, b: 56 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const maxV = Math.max(0, ...rows.map((r) => r.fwdPps! / 1e6));
  const { max, step } = niceScale(maxV);
  const y = (v: number): number => m.t + ph - (v / max) * ph;
  const groupW = pw / Math.max(1, sizes.length);
  const barW = Math.max(2, Math.min(36, (groupW * 0.8) / Math.max(1, series.length)));
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  parts.push(`<text x="${m.l}" y="22" font-size="15" font-weight="bold">Forwarded Mpps at max offered load, by frame size (${mainPorts} ports)</text>`);
  parts.push(`<text x="${m.l}" y="38" fill="#555">${esc(`${report.machine.nproc} CPUs, ${report.machine.cpuModel}, kernel ${report.machine.kernel}, ${report.date.slice(0, 16)}Z`)}</text>`);
  for (let v = 0; v <= max + 1e-9; v += step) {
    parts.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${m.l - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${fmtTick(Math.round(v * 1e6) / 1e6)}</text>`);
  }
  parts.push(`<text transform="translate(16 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">Mpps</text>`);
  sizes.forEach((size, gi) => {
    const gx = m.l + gi * groupW + (groupW - barW * series.length) / 2;
    series.forEach((s, si) => {
      const r = rows.find((x) => x.frameSize === size && seriesName(x) === s);
      if (!r) return;
      const v = r.fwdPps! / 1e6;
      const x = gx + si * barW;
      parts.push(`<rect x="${x.toFixed(1)}" y="${y(v).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(m.t + ph - y(v)).toFixed(1)}" ${styleOf.get(s)}><title>${esc(`${s} ${size} B: ${v.toFixed(3)} Mpps`)}</title></rect>`);
    });
    parts.push(`<text x="${(m.l + gi * groupW + groupW / 2).toFixed(1)}" y="${m.t + ph + 20}" text-anchor="middle">${size} B</text>`);
  });
  parts.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${m.t + ph}" y2="${m.t + ph}" stroke="#333"/>`);
  parts.push(`<text x="${m.l + pw / 2}" y="${H - 12}" text-anchor="middle">frame size (on the wire, FCS included)</text>`);
  series.forEach((s, si) => {
    const ly = m.t + si * 20;
    parts.push(`<rect x="${m.l + pw + 16}" y="${ly}" width="12" height="12" ${styleOf.get(s)}/>`);
    parts.push(`<text x="${m.l + pw + 34}" y="${ly + 10}">${esc(s)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

/** Grouped bars on a log scale: p50, p99, p99.9 latency per forwarder at 50% of its zero-loss rate. */
export function latencyChart(report: BenchReport): string | null {
  const rows = report.scenarios.filter((r) => r.status === 'ok' && r.latencyUs && r.latencyUs.p50 > 0);
  if (!rows.length) return null;
  const W = 860;
  const H = 400;
  const m = { l: 110, r: 120, t: 48, b: 110 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const vals = rows.flatMap((r) => [r.latencyUs!.p50, r.latencyUs!.p99, r.latencyUs!.p999]).filter((v) => v > 0);
  const lo = 10 ** Math.floor(Math.log10(Math.min(...vals)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...vals) * 1.01));
  const y = (v: number): number => m.t + ph - ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * ph;
  const groupW = pw / rows.length;
  const barW = Math.min(28, (groupW * 0.8) / 3);
  const colors = ['#1f77b4', '#ff7f0e', '#d62728'];
  const names = ['p50', 'p99', 'p99.9'];
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  parts.push(`<text x="${m.l}" y="22" font-size="15" font-weight="bold">One-way latency at 50% of the zero-loss rate (64 B, log scale)</text>`);
  parts.push(`<text x="${m.l}" y="38" fill="#555">${esc(`${report.machine.nproc} CPUs, ${report.machine.cpuModel}, ${report.date.slice(0, 16)}Z`)}</text>`);
  for (let v = lo; v <= hi * 1.0001; v *= 10) {
    parts.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${m.l - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${fmtTick(v)}</text>`);
  }
  parts.push(`<text transform="translate(16 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">microseconds</text>`);
  rows.forEach((r, gi) => {
    const gx = m.l + gi * groupW + (groupW - barW * 3) / 2;
    [r.latencyUs!.p50, r.latencyUs!.p99, r.latencyUs!.p999].forEach((v, i) => {
      const x = gx + i * barW;
      parts.push(`<rect x="${x.toFixed(1)}" y="${y(v).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(m.t + ph - y(v)).toFixed(1)}" fill="${colors[i]}"><title>${esc(`${seriesName(r)} ${names[i]}: ${v.toFixed(1)} us`)}</title></rect>`);
    });
    const lx = (m.l + gi * groupW + groupW / 2).toFixed(1);
    const ly = m.t + ph + 16;
    parts.push(`<text x="${lx}" y="${ly}" text-anchor="end" transform="rotate(-25 ${lx} ${ly})">${esc(seriesName(r))}</text>`);
  });
  parts.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${m.t + ph}" y2="${m.t + ph}" stroke="#333"/>`);
  names.forEach((n, i) => {
    parts.push(`<rect x="${m.l + pw + 16}" y="${m.t + i * 20}" width="12" height="12" fill="${colors[i]}"/>`);
    parts.push(`<text x="${m.l + pw + 34}" y="${m.t + i * 20 + 10}">${n}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
