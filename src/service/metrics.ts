/**
 * Prometheus metrics of the daemon (prom-client, own registry), read at scrape time from the
 * same counter snapshot the control API serves, and the `/metrics` HTTP endpoint.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import client from 'prom-client';
import { log } from '../log.ts';

/** Counters of one port, in the switch's view: rx = frames the port received from its endpoint, tx = frames sent to it. */
export interface PortCounterRow {
  port: string;
  network: string;
  dataplane: 'kernel' | 'userspace';
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  rxDropped: number;
  txDropped: number;
  /** Userspace ports: AF_PACKET RX ring drops (tp_drops) of the port's ring, when the engine reports them. */
  ringDrops?: number;
}

/** Counters of one engine switch. */
export interface SwitchCounterRow {
  uplink: string;
  rxFrames: number;
  forwarded: number;
  /** Drops by reason (unknownUnicast, unknownVlan, noReceiver, ...). */
  drops: Record<string, number>;
  uplinkPort: { rxPackets: number; rxBytes: number; txPackets: number; txBytes: number; rxDropped: number; txDropped: number };
  /** AF_PACKET ring drops (PACKET_STATISTICS tp_drops) on the uplink, when the engine reports them. */
  ringDrops?: number;
  workers: { rxFrames: number; forwarded: number; loops: number; txDropped: number }[];
  /** The uplink backend the switch runs ('packet', 'xdp', 'tc') and why (src/dataplane/backend.ts). */
  backend?: string;
  backendReason?: string;
}

/** Everything the metrics and `GET /counters` expose. */
export interface CounterSnapshot {
  time: number;
  ports: PortCounterRow[];
  switches: SwitchCounterRow[];
  leases: Record<string, number>;
  networks: number;
}

/** The service's metric registry, reading `source()` on every scrape. */
export function createMetrics(
  source: () => Promise<CounterSnapshot>,
  reconcile: { total: Record<'ok' | 'failed', number>; lastDurationS: number },
): client.Registry {
  const register = new client.Registry();
  // prom-client's defaults are already named process_* and nodejs_*: the prefix only adds the namespace.
  client.collectDefaultMetrics({ register, prefix: 'macdemux_' });
  let snap: Promise<CounterSnapshot> | undefined;
  let snapAt = 0;
  const get = (): Promise<CounterSnapshot> => {
    // One snapshot serves every collector of the same scrape (they run concurrently).
    if (!snap || Date.now() - snapAt > 200) {
      snap = source();
      snapAt = Date.now();
      snap.catch(() => (snap = undefined));
    }
    return snap;
  };
  const portLabels = ['network', 'port', 'dataplane'] as const;
  const portMetric = (name: string, help: string, field: keyof PortCounterRow) =>
    new client.Counter({
      name,
      help,
      labelNames: portLabels,
      registers: [register],
      async collect() {
        this.reset();
        for (const p of (await get()).ports) this.labels(p.network, p.port, p.dataplane).inc(Number(p[field]) || 0);
      },
    });
  portMetric('macdemux_port_rx_packets_total', 'Frames the port received from its endpoint', 'rxPackets');
  portMetric('macdemux_port_rx_bytes_total', 'Bytes the port received from its endpoint', 'rxBytes');
  portMetric('macdemux_port_tx_packets_total', 'Frames the port sent to its endpoint', 'txPackets');
  portMetric('macdemux_port_tx_bytes_total', 'Bytes the port sent to its endpoint', 'txBytes');
  new client.Counter({
    name: 'macdemux_port_drops_total',
    help: 'Frames dropped at a port, by reason (rx: received from the endpoint and dropped; tx: could not be queued to the endpoint)',
    labelNames: [...portLabels, 'reason'],
    registers: [register],
    async collect() {
      this.reset();
      for (const p of (await get()).ports) {
        this.labels(p.network, p.port, p.dataplane, 'rx').inc(p.rxDropped || 0);
        this.labels(p.network, p.port, p.dataplane, 'tx').inc(p.txDropped || 0);
      }
    },
  });
  new client.Counter({
    name: 'macdemux_port_ring_drops_total',
    help: 'AF_PACKET RX ring drops (kernel tp_drops) of a userspace port\'s ring',
    labelNames: portLabels,
    registers: [register],
    async collect() {
      this.reset();
      for (const p of (await get()).ports) if (p.ringDrops !== undefined) this.labels(p.network, p.port, p.dataplane).inc(p.ringDrops);
    },
  });
  new client.Counter({
    name: 'macdemux_switch_drops_total',
    help: 'Frames the engine dropped, by reason',
    labelNames: ['uplink', 'reason'],
    registers: [register],
    async collect() {
      this.reset();
      for (const s of (await get()).switches) for (const [r, n] of Object.entries(s.drops)) this.labels(s.uplink, r).inc(n || 0);
    },
  });
  const swMetric = (name: string, help: string, pick: (s: SwitchCounterRow) => number | undefined) =>
    new client.Counter({
      name,
      help,
      labelNames: ['uplink'],
      registers: [register],
      async collect() {
        this.reset();
        for (const s of (await get()).switches) {
          const v = pick(s);
          if (v !== undefined) this.labels(s.uplink).inc(v);
        }
      },
    });
  swMetric('macdemux_switch_rx_frames_total', 'Frames the engine received (all ports and the uplink)', (s) => s.rxFrames);
  swMetric('macdemux_switch_forwarded_total', 'Frames the engine delivered somewhere', (s) => s.forwarded);
  swMetric('macdemux_uplink_rx_packets_total', 'Frames received on the uplink', (s) => s.uplinkPort.rxPackets);
  swMetric('macdemux_uplink_rx_bytes_total', 'Bytes received on the uplink', (s) => s.uplinkPort.rxBytes);
  swMetric('macdemux_uplink_tx_packets_total', 'Frames sent on the uplink', (s) => s.uplinkPort.txPackets);
  swMetric('macdemux_uplink_tx_bytes_total', 'Bytes sent on the uplink', (s) => s.uplinkPort.txBytes);
  swMetric('macdemux_uplink_tx_dropped_total', 'Frames that could not be queued on the uplink', (s) => s.uplinkPort.txDropped);
  swMetric('macdemux_ring_drops_total', 'AF_PACKET RX ring drops on the uplink (kernel tp_drops)', (s) => s.ringDrops ?? s.uplinkPort.rxDropped);
  new client.Counter({
    name: 'macdemux_engine_loops_total',
    help: 'Engine worker poll loops that processed at least one batch',
    labelNames: ['uplink', 'worker'],
    registers: [register],
    async collect() {
      this.reset();
      for (const s of (await get()).switches) s.workers.forEach((w, i) => this.labels(s.uplink, String(i)).inc(w.loops || 0));
    },
  });
  new client.Gauge({
    name: 'macdemux_engine_batch_frames',
    help: 'Average frames per engine batch (worker rx frames / loops since start)',
    labelNames: ['uplink', 'worker'],
    registers: [register],
    async collect() {
      this.reset();
      for (const s of (await get()).switches) s.workers.forEach((w, i) => this.labels(s.uplink, String(i)).set(w.loops ? w.rxFrames / w.loops : 0));
    },
  });
  new client.Gauge({
    name: 'macdemux_leases',
    help: 'Leased endpoints per network',
    labelNames: ['network'],
    registers: [register],
    async collect() {
      this.reset();
      for (const [n, c] of Object.entries((await get()).leases)) this.labels(n).set(c);
    },
  });
  new client.Gauge({
    name: 'macdemux_networks',
    help: 'Declared networks',
    registers: [register],
    async collect() {
      this.set((await get()).networks);
    },
  });
  new client.Counter({
    name: 'macdemux_reconcile_total',
    help: 'Applies of the config (start, reload, API changes), by result',
    labelNames: ['result'],
    registers: [register],
    collect() {
      this.reset();
      this.labels('ok').inc(reconcile.total.ok);
      this.labels('failed').inc(reconcile.total.failed);
    },
  });
  new client.Gauge({
    name: 'macdemux_reconcile_last_duration_seconds',
    help: 'Duration of the last apply',
    registers: [register],
    collect() {
      this.set(reconcile.lastDurationS);
    },
  });
  return register;
}

/** Parse "host:port" ("[::1]:9469", ":9469" = all addresses). */
export function parseListenAddress(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new Error(`metrics address "${text}": expected HOST:PORT, e.g. 127.0.0.1:9469 (port 0 = any free port)`);
  const host = m[1] ?? m[2];
  // An empty host would bind every address: make that an explicit choice.
  if (!host) throw new Error(`metrics address "${text}": give the host: 127.0.0.1:${port} (this machine only) or 0.0.0.0:${port} / [::]:${port} (all addresses)`);
  return { host, port };
}

/** Serve `GET /metrics` on a TCP address; resolves once listening (with the bound address). */
export async function serveMetrics(register: client.Registry, address: string): Promise<{ server: Server; address: string }> {
  const { host, port } = parseListenAddress(address);
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try GET /metrics\n');
      return;
    }
    register
      .metrics()
      .then((text) => res.writeHead(200, { 'content-type': register.contentType }).end(text))
      .catch((err: Error) => {
        log('metrics').warn({ event: 'metrics.failed', err: err.message }, `metrics: ${err.message}`);
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`);
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE')
        reject(Object.assign(new Error(`metrics address ${address} is in use (another macdemuxd?): give each daemon its own --metrics HOST:PORT, or --metrics off`), { code: err.code, cause: err }));
      else reject(err);
    });
    server.listen(port, host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  const bound = a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  return { server, address: bound };
}
