/**
 * `macdemux top [--state-dir DIR | --socket PATH] [--interval S] [--count N]`: live per-port
 * rates (packets/s, Mbit/s, drops/s) from the daemon's counters, refreshed every interval.
 */
import { parseArgs } from '../service/args.ts';
import { apiRequest } from '../service/control-client.ts';
import type { CounterSnapshot, PortCounterRow } from '../service/metrics.ts';
import { socketFromOpts, table } from './status.ts';

const USAGE = 'usage: macdemux top [--state-dir DIR | --socket PATH] [--interval SECONDS] [--count N]';

/** Per-port rates between two snapshots. */
export function rates(prev: CounterSnapshot, cur: CounterSnapshot): { port: string; network: string; dataplane: string; rxPps: number; txPps: number; rxMbps: number; txMbps: number; dropsPs: number }[] {
  const dt = Math.max((cur.time - prev.time) / 1000, 1e-3);
  const before = new Map(prev.ports.map((p) => [`${p.dataplane}/${p.port}`, p]));
  return cur.ports.map((p: PortCounterRow) => {
    const b = before.get(`${p.dataplane}/${p.port}`) ?? p;
    const d = (k: keyof PortCounterRow) => Math.max(0, Number(p[k]) - Number(b[k])) / dt;
    return {
      port: p.port,
      network: p.network,
      dataplane: p.dataplane,
      rxPps: d('rxPackets'),
      txPps: d('txPackets'),
      rxMbps: (d('rxBytes') * 8) / 1e6,
      txMbps: (d('txBytes') * 8) / 1e6,
      dropsPs: d('rxDropped') + d('txDropped'),
    };
  });
}

async function snapshot(socket: string): Promise<CounterSnapshot> {
  const r = await apiRequest(socket, 'GET', '/counters');
  if (r.status !== 200) throw new Error(`GET /counters: HTTP ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body as CounterSnapshot;
}

export async function run(argv: string[]): Promise<number> {
  const { opts } = parseArgs(argv, { values: ['state-dir', 'socket', 'interval', 'count'], flags: [], usage: USAGE });
  if (opts.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const interval = Number(opts.interval ?? 1);
  const count = opts.count !== undefined ? Number(opts.count) : Infinity;
  if (!(interval >= 0.1 && interval <= 3600)) throw new Error('--interval expects seconds between 0.1 and 3600');
  if (!(count >= 1)) throw new Error('--count expects a positive integer');
  const socket = socketFromOpts(opts);
  const tty = process.stdout.isTTY;
  let stop = false;
  const onInt = () => (stop = true);
  process.on('SIGINT', onInt);
  try {
    let prev = await snapshot(socket);
    for (let i = 0; i < count && !stop; i++) {
      await new Promise((r) => setTimeout(r, interval * 1000));
      const cur = await snapshot(socket);
      const rows = rates(prev, cur).sort((a, b) => b.rxPps + b.txPps - (a.rxPps + a.txPps) || a.port.localeCompare(b.port));
      const f = (n: number, d = 0) => n.toFixed(d);
      const text = table(
        ['PORT', 'NETWORK', 'DATAPLANE', 'RX pps', 'TX pps', 'RX Mbit/s', 'TX Mbit/s', 'DROPS/s'],
        rows.map((r) => [r.port, r.network, r.dataplane, f(r.rxPps), f(r.txPps), f(r.rxMbps, 2), f(r.txMbps, 2), f(r.dropsPs)]),
      );
      const sw = cur.switches
        .map((s) => {
          const p = prev.switches.find((x) => x.uplink === s.uplink);
          const dt = Math.max((cur.time - prev.time) / 1000, 1e-3);
          const drops = Object.values(s.drops).reduce((a, b) => a + b, 0) - (p ? Object.values(p.drops).reduce((a, b) => a + b, 0) : 0);
          return `switch ${s.uplink}: ${f((s.rxFrames - (p?.rxFrames ?? s.rxFrames)) / dt)} frames/s in, ${f(drops / dt)} drops/s`;
        })
        .join('\n');
      process.stdout.write(`${tty ? '\x1b[H\x1b[2J' : ''}macdemux top  ${new Date(cur.time).toISOString()}  (every ${interval}s, Ctrl-C to quit)\n${text}\n${sw ? `${sw}\n` : ''}${tty ? '' : '\n'}`);
      prev = cur;
    }
  } finally {
    process.off('SIGINT', onInt);
  }
  return 0;
}
