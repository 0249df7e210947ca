/**
 * TCP through a forwarder with Linux's default veth offloads (TSO/GSO, checksum offload, GRO),
 * side by side in one run: Linux bridge, kernel macvlan (bridge mode), macdemux (bridge mode).
 * One topology shape for all three: a client namespace behind the uplink veth and a server
 * namespace behind the forwarder; iperf3 with 1 and 4 streams. Prints Gbit/s and the ratio to
 * the bridge. Run: `node --import tsx bench/tcp-offloads.ts [seconds]` (root); bench/wave2.ts calls
 * {@link tcpWithOffloads}.
 *
 * (The 64-byte rows of `macdemux bench` keep offloads off: they measure frames, not TCP.)
 */
import { pathToFileURL } from 'node:url';
import { withLab, type Lab, type Namespace } from '../src/lab/index.ts';
import { Switch } from '../src/dataplane/index.ts';

const CLIENT_MAC = '02:6d:64:00:0e:01';
const SERVER_MAC = '02:6d:64:00:0e:02';
const CLIENT_IP = '10.86.0.1';
const SERVER_IP = '10.86.0.2';

interface Forwarder {
  name: TcpOffloadsRow['name'];
  /** Builds the forwarder between client (behind up0) and server; returns its stop. */
  setup(lab: Lab, sw: Namespace, client: Namespace, server: Namespace): Promise<() => Promise<void>>;
}

const forwarders: Forwarder[] = [
  {
    name: 'bridge',
    async setup(lab, sw, _client, server) {
      await lab.addVeth({ ns: sw, name: 'p1' }, { ns: server, name: 's0', mac: SERVER_MAC, addresses: [`${SERVER_IP}/24`] });
      await lab.addBridge(sw, 'br0', { ports: ['up0', 'p1'] });
      return async () => {};
    },
  },
  {
    name: 'macvlan',
    async setup(_lab, sw, _client, server) {
      await sw.ip(['link', 'add', 'mv1', 'link', 'up0', 'address', SERVER_MAC, 'type', 'macvlan', 'mode', 'bridge']);
      await sw.ip(['link', 'set', 'dev', 'mv1', 'netns', server.name]);
      await server.ip(['addr', 'add', `${SERVER_IP}/24`, 'dev', 'mv1']);
      await server.ip(['link', 'set', 'dev', 'mv1', 'up']);
      return async () => {};
    },
  },
  {
    name: 'macdemux',
    async setup(lab, sw, _client, server) {
      await lab.addVeth({ ns: sw, name: 'p1' }, { ns: server, name: 's0', mac: SERVER_MAC, addresses: [`${SERVER_IP}/24`] });
      const s = new Switch({ uplink: 'up0', netns: sw.name });
      s.addPort({ name: 'p1', mac: SERVER_MAC, mode: 'bridge', backend: { kind: 'packet', ifname: 'p1' } });
      await s.start();
      return () => s.stop();
    },
  },
];

async function iperf(client: Namespace, server: Namespace, streams: number, seconds: number): Promise<number> {
  const srv = server.spawn('iperf3', ['-s', '-1', '-B', SERVER_IP]);
  try {
    await new Promise((r) => setTimeout(r, 400));
    const out = await client.run('iperf3', ['-c', SERVER_IP, '-P', String(streams), '-t', String(seconds), '-J'], {
      timeoutMs: (seconds + 20) * 1000,
    });
    const res = JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } };
    return res.end.sum_received.bits_per_second / 1e9;
  } finally {
    srv.kill();
  }
}

/** iperf3 Gbit/s of one forwarder with 1 and 4 streams. */
export interface TcpOffloadsRow {
  name: 'bridge' | 'macvlan' | 'macdemux';
  p1: number;
  p4: number;
}

/** Run iperf3 (`seconds` per stream count) through each forwarder in turn, each on a fresh lab. */
export async function tcpWithOffloads(seconds: number): Promise<TcpOffloadsRow[]> {
  const rows: TcpOffloadsRow[] = [];
  for (const f of forwarders) {
    await withLab(async (lab) => {
      const sw = await lab.addNamespace('sw');
      const client = await lab.addNamespace('cl');
      const server = await lab.addNamespace('sv');
      await lab.addVeth({ ns: client, name: 'c0', mac: CLIENT_MAC, addresses: [`${CLIENT_IP}/24`] }, { ns: sw, name: 'up0' });
      const stop = await f.setup(lab, sw, client, server);
      try {
        const p1 = await iperf(client, server, 1, seconds);
        const p4 = await iperf(client, server, 4, seconds);
        rows.push({ name: f.name, p1, p4 });
      } finally {
        await stop();
      }
    });
  }
  return rows;
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 5);
  const rows = await tcpWithOffloads(seconds);
  const bridge = rows.find((r) => r.name === 'bridge')!;
  process.stdout.write(`TCP, default veth offloads, ${seconds} s per row (Gbit/s, ratio to bridge)\n`);
  for (const r of rows)
    process.stdout.write(
      `${r.name.padEnd(9)} 1 stream ${r.p1.toFixed(2).padStart(7)} (${(r.p1 / bridge.p1).toFixed(2)}x)   ` +
        `4 streams ${r.p4.toFixed(2).padStart(7)} (${(r.p4 / bridge.p4).toFixed(2)}x)\n`,
    );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
