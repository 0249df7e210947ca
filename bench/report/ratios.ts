/**
 * Ratios within one run (they travel across machines, absolute pps does not): each row against the
 * `bridge` (static FDB) and `macvlan` rows of the same frame size and port count.
 */
import type { ScenarioResult } from '../types.ts';

const r2 = (x: number): number => Math.round(x * 1000) / 1000;

/** The reference row for `name` at the same frame size and port count as `row`. */
export function referenceRow(rows: ScenarioResult[], name: 'bridge' | 'macvlan', row: Pick<ScenarioResult, 'frameSize' | 'ports'>): ScenarioResult | undefined {
  const variant = name === 'bridge' ? 'static-fdb' : 'bridge-mode';
  return rows.find((r) => r.name === name && r.variant === variant && r.frameSize === row.frameSize && r.ports === row.ports && r.status === 'ok');
}

/** Fill `ratios` on every ok row (in place). */
export function computeRatios(rows: ScenarioResult[]): void {
  for (const row of rows) {
    if (row.status !== 'ok' || row.fwdPps === null) continue;
    const ratios: NonNullable<ScenarioResult['ratios']> = {};
    const br = referenceRow(rows, 'bridge', row);
    const mv = referenceRow(rows, 'macvlan', row);
    if (br?.fwdPps) ratios.fwdVsBridge = r2(row.fwdPps / br.fwdPps);
    if (mv?.fwdPps) ratios.fwdVsMacvlan = r2(row.fwdPps / mv.fwdPps);
    if (br?.cpuNsPerPacket && row.cpuNsPerPacket) ratios.cpuVsBridge = r2(row.cpuNsPerPacket / br.cpuNsPerPacket);
    if (mv?.cpuNsPerPacket && row.cpuNsPerPacket) ratios.cpuVsMacvlan = r2(row.cpuNsPerPacket / mv.cpuNsPerPacket);
    if (br?.zeroLossPps && row.zeroLossPps) ratios.zeroLossVsBridge = r2(row.zeroLossPps / br.zeroLossPps);
    if (Object.keys(ratios).length) row.ratios = ratios;
  }
}

/** Headline figures: macdemux (AF_PACKET ports) against bridge and macvlan at the smallest frame, main port count. */
export function headline(rows: ScenarioResult[]): { frameSize: number; vsBridge: number | null; vsMacvlan: number | null; vsRingDrop: number | null; cpuVsBridge: number | null } | null {
  const md = rows.filter((r) => r.name === 'macdemux' && r.status === 'ok').sort((a, b) => a.ports - b.ports || a.frameSize - b.frameSize)[0];
  if (!md) return null;
  const ring = rows.find((r) => r.name === 'generator' && r.variant === 'ring-drop' && r.frameSize === md.frameSize && r.status === 'ok');
  return {
    frameSize: md.frameSize,
    vsBridge: md.ratios?.fwdVsBridge ?? null,
    vsMacvlan: md.ratios?.fwdVsMacvlan ?? null,
    vsRingDrop: ring?.fwdPps && md.fwdPps ? r2(md.fwdPps / ring.fwdPps) : null,
    cpuVsBridge: md.ratios?.cpuVsBridge ?? null,
  };
}
