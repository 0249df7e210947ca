/** The demo's closing comparison table. */
import type { DemoResult } from './run-demo.ts';

const mpps = (x: number): string => (x / 1e6).toFixed(3);

export function renderDemoTable(r: DemoResult): string {
  const out: string[] = [];
  out.push(`macdemux demo: ${r.ports} endpoints, ${r.frameSize}-byte frames, generator ${r.generator ?? 'none'} (CPU 0), lab ${r.lab || '-'}`);
  out.push('');
  out.push('| forwarder | offered Mpps | forwarded Mpps | loss | CPU ns/pkt (all cores) | per port Mpps |');
  out.push('|---|---|---|---|---|---|');
  for (const p of r.phases) {
    if (p.status !== 'ok') {
      out.push(`| ${p.forwarder} | ${p.status}: ${p.reason ?? ''} | | | | |`);
      continue;
    }
    out.push(`| ${p.forwarder} | ${mpps(p.offeredPps)} | ${mpps(p.fwdPps)} | ${(p.lossRatio * 100).toFixed(2)}% | ` +
      `${p.cpuNsPerPacket === null ? '-' : p.cpuNsPerPacket.toFixed(0)} | ${p.perPort.map((x) => mpps(x.pps)).join(' / ')} |`);
  }
  out.push('');
  if (r.ratioVsBridge !== null) out.push(`macdemux forwarded ${r.ratioVsBridge.toFixed(2)}x the Linux bridge's rate on this lab (one short run; see docs/bench/RESULTS.md for the benchmark).`);
  for (const n of r.notes) out.push(`note: ${n}`);
  return out.join('\n') + '\n';
}
