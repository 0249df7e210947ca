/**
 * `macdemux status [--state-dir DIR | --socket PATH] [--json]`: the daemon's networks, ports
 * (addresses, MACs, modes) and counters, from its control API.
 */
import { resolve } from 'node:path';
import { DEFAULT_STATE_DIR, parseArgs, socketPathFor } from '../service/args.ts';
import { apiRequest } from '../service/control-client.ts';
import type { CounterSnapshot } from '../service/metrics.ts';

const USAGE = 'usage: macdemux status [--state-dir DIR | --socket PATH] [--json]';

/** The control socket chosen by --socket / --state-dir. */
export function socketFromOpts(opts: Record<string, string | boolean>): string {
  if (opts.socket) return resolve(String(opts.socket));
  return socketPathFor(resolve(String(opts['state-dir'] ?? DEFAULT_STATE_DIR)));
}

async function get(socket: string, path: string): Promise<unknown> {
  const r = await apiRequest(socket, 'GET', path);
  if (r.status !== 200) throw new Error(`GET ${path}: HTTP ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Render rows as an aligned text table. */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')).join('\n');
}

export async function run(argv: string[]): Promise<number> {
  const { opts } = parseArgs(argv, { values: ['state-dir', 'socket'], flags: ['json'], usage: USAGE });
  if (opts.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const socket = socketFromOpts(opts);
  const [status, networks, ports, counters] = await Promise.all(
    ['/status', '/networks', '/ports', '/counters'].map((p) => get(socket, p)),
  );
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ status, networks, ports, counters }, null, 2)}\n`);
    return 0;
  }
  const s = status as { pid: number; config: string; uptimeS: number; metrics: string | null; lastApply: { at: string; reason: string; errors: unknown[] } | null };
  const out: string[] = [];
  out.push(`macdemuxd pid ${s.pid}, up ${s.uptimeS}s, config ${s.config}${s.metrics ? `, metrics http://${s.metrics}/metrics` : ''}`);
  if (s.lastApply) out.push(`last apply: ${s.lastApply.at} (${s.lastApply.reason}), ${s.lastApply.errors.length} error(s)`);
  out.push('');
  out.push(
    table(
      ['NETWORK', 'PARENT', 'DATAPLANE', 'MODE', 'VLAN', 'SUBNET', 'ENDPOINTS'],
      (networks as { name: string; parent: string; dataplane: string; mode: string; vlan?: number; ipv4?: { subnet: string }; ipv6?: { subnet: string }; endpoints: string[] }[]).map((n) => [
        n.name,
        n.parent,
        n.dataplane,
        n.mode,
        n.vlan ?? '-',
        [n.ipv4?.subnet, n.ipv6?.subnet].filter(Boolean).join(' ') || '-',
        n.endpoints.length,
      ]),
    ),
  );
  out.push('');
  const c = counters as CounterSnapshot;
  const stat = new Map(c.ports.map((p) => [p.port, p]));
  out.push(
    table(
      ['PORT', 'NETWORK', 'MODE', 'MAC', 'ADDRESSES', 'WHERE', 'RX PKTS', 'TX PKTS', 'DROPS'],
      (ports as { name: string; network: string; mode: string | null; mac: string; addresses: string[]; netns?: string; ifname: string; ipv4?: string }[]).map((p) => {
        const k = stat.get(p.name);
        return [
          p.name,
          p.network,
          p.mode ?? '-',
          p.mac,
          p.addresses.join(' ') || p.ipv4 || '-',
          `${p.netns ?? '(host)'}/${p.ifname}`,
          k?.rxPackets ?? '-',
          k?.txPackets ?? '-',
          k ? k.rxDropped + k.txDropped : '-',
        ];
      }),
    ),
  );
  for (const p of ports as { name: string; chardev?: { path: string; dev: string; owner: number; group: number; mode: string } }[]) {
    if (p.chardev) out.push(`${p.name}: character device ${p.chardev.path} (${p.chardev.dev}, owner ${p.chardev.owner}, group ${p.chardev.group}, mode ${p.chardev.mode})`);
  }
  for (const p of ports as { name: string; netns?: string; vm?: { tap: string; queues: number; owner?: number; group?: number; qemu: string } }[]) {
    if (!p.vm) continue;
    const who = [p.vm.owner !== undefined ? `owner ${p.vm.owner}` : '', p.vm.group !== undefined ? `group ${p.vm.group}` : ''].filter(Boolean).join(', ') || 'root only';
    out.push(`${p.name}: VM tap ${p.vm.tap}${p.netns ? ` (netns ${p.netns})` : ''}, ${p.vm.queues} queue(s), ${who}; QEMU: ${p.vm.qemu}`);
  }
  for (const sw of c.switches) {
    const drops = Object.entries(sw.drops).filter(([, n]) => n > 0).map(([r, n]) => `${r}=${n}`).join(' ');
    out.push(`\nswitch ${sw.uplink}: rx ${sw.rxFrames}, forwarded ${sw.forwarded}, drops ${drops || 'none'}`);
    if (sw.backend) out.push(`  backend ${sw.backend} (${sw.backendReason ?? ''})`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
  return 0;
}
