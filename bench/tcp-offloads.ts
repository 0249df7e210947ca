/**
 * TCP through a forwarder with Linux's default veth offloads (TSO/GSO, checksum offload, GRO),
 * side by side in one run: Linux bridge, kernel macvlan (bridge mode), macdemux (bridge mode).
 * One topology shape for all three: a client namespace behind the uplink veth and a server
 * namespace behind the forwarder; iperf3 with 1 and 4 streams. Prints Gbit/s and the ratio to
 * the bridge, plus what explains it: CPU seconds per GB moved (all cores, from /proc/stat: exact
 * on a quiet machine, inflated by other work on a shared one), the senders' mean RTT and
 * retransmits, and for macdemux the mean frame size on each leg (GSO super-frames crossing
 * whole) and the software-offload counters (0 when every egress takes the virtio_net_hdr).
 * Run: `node --import tsx bench/tcp-offloads.ts [seconds] [bridge,macvlan,macdemux,macdemux-tc] [--switch JSON]` (root);
 * bench/wave2.ts calls {@link tcpWithOffloads}.
 *
 * (The 64-byte rows of `macdemux bench` keep offloads off: they measure frames, not TCP.)
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { withLab, type Lab, type Namespace } from '../src/lab/index.ts';
import { Switch, type SwitchOptions } from '../src/dataplane/index.ts';

const CLIENT_MAC = '02:6d:64:00:0e:01';
const SERVER_MAC = '02:6d:64:00:0e:02';
const CLIENT_IP = '10.86.0.1';
const SERVER_IP = '10.86.0.2';

interface Forwarder {
  name: TcpOffloadsRow['name'];
  /** Builds the forwarder between client (behind up0) and server; returns its stop. */
  setup(lab: Lab, sw: Namespace, client: Namespace, server: Namespace): Promise<Running>;
}

interface Running {
  stop(): Promise<void>;
  /** macdemux: the switch's counters, for the path facts of the row. */
  sw?: Switch;
}

/** Extra Switch options for the macdemux row (`--switch JSON`), to compare engine settings. */
let switchOptions: Partial<SwitchOptions> = {};

const forwarders: Forwarder[] = [
  {
    name: 'bridge',
    async setup(lab, sw, _client, server) {
      await lab.addVeth({ ns: sw, name: 'p1' }, { ns: server, name: 's0', mac: SERVER_MAC, addresses: [`${SERVER_IP}/24`] });
      await lab.addBridge(sw, 'br0', { ports: ['up0', 'p1'] });
      return { stop: async () => {} };
    },
  },
  {
    name: 'macvlan',
    async setup(_lab, sw, _client, server) {
      await sw.ip(['link', 'add', 'mv1', 'link', 'up0', 'address', SERVER_MAC, 'type', 'macvlan', 'mode', 'bridge']);
      await sw.ip(['link', 'set', 'dev', 'mv1', 'netns', server.name]);
      await server.ip(['addr', 'add', `${SERVER_IP}/24`, 'dev', 'mv1']);
      await server.ip(['link', 'set', 'dev', 'mv1', 'up']);
      return { stop: async () => {} };
    },
  },
  // the AF_PACKET backend, named: the default ('auto') takes the tc fast path on this veth uplink
  macdemuxRow('macdemux', { backend: 'packet' }),
  // the tc fast path: client -> server data redirected by the uplink's tc program (docs/dataplane.md)
  macdemuxRow('macdemux-tc', { backend: 'tc' }),
];

function macdemuxRow(name: TcpOffloadsRow['name'], opts: Partial<SwitchOptions>): Forwarder {
  return {
    name,
    async setup(lab, sw, _client, server) {
      await lab.addVeth({ ns: sw, name: 'p1' }, { ns: server, name: 's0', mac: SERVER_MAC, addresses: [`${SERVER_IP}/24`] });
      const s = new Switch({ ...switchOptions, ...opts, uplink: 'up0', netns: sw.name });
      s.addPort({ name: 'p1', mac: SERVER_MAC, mode: 'bridge', backend: { kind: 'packet', ifname: 'p1' } });
      await s.start();
      return { stop: () => s.stop(), sw: s };
    },
  };
}

/** Busy and total jiffies of all CPUs (/proc/stat). */
function cpuJiffies(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3]! - f[4]!, total };
}

/** One iperf3 run: throughput, CPU of all cores per GB received, the senders' mean RTT, retransmits. */
export interface IperfResult {
  gbps: number;
  cpuSecPerGb: number;
  meanRttUs: number;
  retransmits: number;
}

interface IperfJson {
  end: {
    sum_received: { bits_per_second: number; bytes: number };
    streams: { sender: { retransmits?: number; mean_rtt?: number } }[];
  };
}

async function iperf(client: Namespace, server: Namespace, streams: number, seconds: number): Promise<IperfResult> {
  const srv = server.spawn('iperf3', ['-s', '-1', '-B', SERVER_IP]);
  try {
    await new Promise((r) => setTimeout(r, 400));
    const c0 = cpuJiffies();
    const out = await client.run('iperf3', ['-c', SERVER_IP, '-P', String(streams), '-t', String(seconds), '-J'], {
      timeoutMs: (seconds + 20) * 1000,
    });
    const c1 = cpuJiffies();
    const res = JSON.parse(out) as IperfJson;
    const senders = res.end.streams.map((x) => x.sender);
    // USER_HZ is 100 on Linux: a jiffy of /proc/stat is 10 ms.
    return {
      gbps: res.end.sum_received.bits_per_second / 1e9,
      cpuSecPerGb: (c1.busy - c0.busy) / 100 / (res.end.sum_received.bytes / 1e9),
      meanRttUs: senders.reduce((a, x) => a + (x.mean_rtt ?? 0), 0) / Math.max(1, senders.length),
      retransmits: senders.reduce((a, x) => a + (x.retransmits ?? 0), 0),
    };
  } finally {
    srv.kill();
  }
}

/** What crossed macdemux during the row: mean frame bytes per leg, software offloads. */
export interface MacdemuxPathFacts {
  /** Mean bytes of the frames the uplink received (client -> server data: ~64 KiB super-frames). */
  uplinkRxMeanBytes: number;
  /** Mean bytes of the frames transmitted to the port (the same frames, handed on whole). */
  portTxMeanBytes: number;
  /** Mean bytes of the frames the port received (the server's ACKs). */
  portRxMeanBytes: number;
  /** counters().softOffload: work done in software because an egress could not take it. */
  softOffload: { checksums: number; gsoFrames: number; segments: number; refused: number };
  txDropped: number;
  /** Adaptive receive over the run (all workers): ring switches, fanout rollovers, ring drops. */
  rx: { modeSwitches: number; rollovers: number; v2Drops: number; v3Drops: number };
}

/** iperf3 Gbit/s of one forwarder with 1 and 4 streams, and what explains them. */
export interface TcpOffloadsRow {
  name: 'bridge' | 'macvlan' | 'macdemux' | 'macdemux-tc';
  p1: number;
  p4: number;
  run1: IperfResult;
  run4: IperfResult;
  macdemux?: MacdemuxPathFacts;
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

function pathFacts(s: Switch): MacdemuxPathFacts {
  const c = s.counters();
  const up = c.uplink;
  const port = c.ports.p1!;
  const mean = (bytes: number, n: number) => (n > 0 ? Math.round(bytes / n) : 0);
  return {
    uplinkRxMeanBytes: mean(Number(up.rxBytes), Number(up.rxPackets)),
    portTxMeanBytes: mean(Number(port.txBytes), Number(port.txPackets)),
    portRxMeanBytes: mean(Number(port.rxBytes), Number(port.rxPackets)),
    softOffload: c.softOffload,
    txDropped: Number(up.txDropped) + Number(port.txDropped),
    rx: {
      modeSwitches: sum(c.workers.map((w) => w.rxModeSwitches)),
      rollovers: sum(c.workers.map((w) => w.rxRollovers)),
      v2Drops: sum(c.workers.map((w) => w.rxV2Drops)),
      v3Drops: sum(c.workers.map((w) => w.rxV3Drops)),
    },
  };
}

/** Run iperf3 (`seconds` per stream count) through each forwarder in turn (all, or those named in
 * `only`), each on a fresh lab. */
export async function tcpWithOffloads(seconds: number, only?: readonly string[]): Promise<TcpOffloadsRow[]> {
  const rows: TcpOffloadsRow[] = [];
  for (const f of forwarders) {
    if (only && !only.includes(f.name)) continue;
    await withLab(async (lab) => {
      const sw = await lab.addNamespace('sw');
      const client = await lab.addNamespace('cl');
      const server = await lab.addNamespace('sv');
      await lab.addVeth({ ns: client, name: 'c0', mac: CLIENT_MAC, addresses: [`${CLIENT_IP}/24`] }, { ns: sw, name: 'up0' });
      const running = await f.setup(lab, sw, client, server);
      try {
        const run1 = await iperf(client, server, 1, seconds);
        const run4 = await iperf(client, server, 4, seconds);
        const row: TcpOffloadsRow = { name: f.name, p1: run1.gbps, p4: run4.gbps, run1, run4 };
        if (running.sw) row.macdemux = pathFacts(running.sw);
        rows.push(row);
      } finally {
        await running.stop();
      }
    });
  }
  return rows;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const sw = args.indexOf('--switch');
  if (sw >= 0) {
    const parsed: unknown = JSON.parse(args[sw + 1] ?? 'null');
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('--switch: a JSON object of Switch options');
    switchOptions = parsed as Partial<SwitchOptions>;
    args.splice(sw, 2);
  }
  const seconds = Number(args[0] ?? 5);
  const only = args[1]?.split(',');
  const names = forwarders.map((f) => f.name as string);
  if (!Number.isFinite(seconds) || seconds < 1 || (only && only.some((n) => !names.includes(n))))
    throw new Error(`usage: bench/tcp-offloads.ts [seconds >= 1] [${names.join(',')}]`);
  const rows = await tcpWithOffloads(seconds, only);
  const bridge = rows.find((r) => r.name === 'bridge');
  const ratio = (v: number, b: number | undefined) => (b ? ` (${(v / b).toFixed(2)}x)` : '');
  const facts = (x: IperfResult) =>
    `[${x.cpuSecPerGb.toFixed(2)} CPU s/GB, rtt ${Math.round(x.meanRttUs)} us, ${x.retransmits} retr]`;
  process.stdout.write(`TCP, default veth offloads, ${seconds} s per row (Gbit/s, ratio to bridge)\n`);
  for (const r of rows) {
    process.stdout.write(
      `${r.name.padEnd(11)} 1 stream ${r.p1.toFixed(2).padStart(7)}${ratio(r.p1, bridge?.p1)} ${facts(r.run1)}   ` +
        `4 streams ${r.p4.toFixed(2).padStart(7)}${ratio(r.p4, bridge?.p4)} ${facts(r.run4)}\n`,
    );
    const m = r.macdemux;
    if (m)
      process.stdout.write(
        `          mean frame bytes: uplink rx ${m.uplinkRxMeanBytes}, port tx ${m.portTxMeanBytes}, port rx ${m.portRxMeanBytes}; ` +
          `soft offload ${JSON.stringify(m.softOffload)}; tx dropped ${m.txDropped}; rx ${JSON.stringify(m.rx)}\n`,
      );
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
