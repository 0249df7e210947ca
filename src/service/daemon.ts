/**
 * The switching service: applies a config (kernel objects through the reconciler, userspace
 * switches through the engine), then serves the control API and Prometheus metrics. Reloads
 * (SIGHUP, `POST /reload`, API endpoint changes) apply only the difference; stop ends the engine
 * and keeps the kernel devices unless `teardownOnExit`.
 */
import { readFile, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { changeMacvlan, listLinks, type LinkInfo } from '../devices/index.ts';
import { log } from '../log.ts';
import { DEFAULT_METRICS, socketPathFor } from './args.ts';
import { ensurePrivateDir, readJsonFile, writeFileAtomic } from './atomic-file.ts';
import {
  ConfigError,
  type MacvlanMode,
  MACVLAN_MODES,
  type ServiceConfig,
  ipamSummary,
  parentKey,
  validateConfig,
} from './config.ts';
import { ApiError, type ControlHandlers, serveControl } from './control-api.ts';
import type { DesiredLink, DesiredState } from './desired.ts';
import { formatIp } from './ipaddr.ts';
import { PoolExhaustedError } from './ipam.ts';
import { LeaseStore } from './leases.ts';
import { type CounterSnapshot, createMetrics, type PortCounterRow, serveMetrics } from './metrics.ts';
import { OwnershipStore, StateLock } from './ownership.ts';
import { RateLimitedWarner } from './rate-limit.ts';
import { apply, ReconcileError, type ReconcileReport, teardown } from './reconcile.ts';
import { SwitchManager } from './userspace.ts';

/** Options of {@link Daemon}. */
export interface DaemonOptions {
  configPath: string;
  stateDir: string;
  /** Control socket (default `<stateDir>/macdemuxd.sock`). */
  socketPath?: string;
  /** Prometheus listen address, or false for none (default 127.0.0.1:9469). */
  metrics?: string | false;
  /** Remove every created kernel object on stop (default: keep them). */
  teardownOnExit?: boolean;
  /** Pause after each resource during apply (tests). */
  stepDelayMs?: number;
  /** Engine worker threads per switch. */
  workers?: number;
}

interface ApiEndpoint {
  network: string;
  endpoint: Record<string, unknown>;
}

const logger = () => log('daemon');
const ENDPOINT_BODY_KEYS = ['network', 'name', 'netns', 'ifname', 'tap', 'mac', 'ip', 'ipv6', 'vlan', 'source-macs'];

/** The daemon. */
export class Daemon {
  readonly configPath: string;
  readonly stateDir: string;
  readonly socketPath: string;
  private lock?: StateLock;
  private owned!: OwnershipStore;
  private leases!: LeaseStore;
  private rawConfig: unknown;
  private config!: ServiceConfig;
  private apiEndpoints: ApiEndpoint[] = [];
  private desired?: DesiredState;
  private lastReport?: { at: string; reason: string; created: number; changed: number; removed: number; errors: { resource: string; message: string }[] };
  private readonly switches: SwitchManager;
  /** Kernel-port mode changes made through the API (endpoint -> mode), shared with the reconciler. */
  private readonly modeOverrides = new Map<string, MacvlanMode>();
  private queue: Promise<unknown> = Promise.resolve();
  private controlServer?: Server;
  private metricsServer?: Server;
  private metricsAddr?: string;
  private readonly startedAt = Date.now();
  private readonly warner = new RateLimitedWarner(logger);
  readonly reconcileStats = { total: { ok: 0, failed: 0 }, lastDurationS: 0 };
  private stopping = false;

  constructor(readonly opts: DaemonOptions) {
    this.configPath = resolve(opts.configPath);
    this.stateDir = resolve(opts.stateDir);
    this.socketPath = resolve(opts.socketPath ?? socketPathFor(this.stateDir));
    this.switches = new SwitchManager(opts.workers ? { workers: opts.workers } : {});
  }

  private get apiFile(): string {
    return join(this.stateDir, 'api-endpoints.json');
  }

  /** The metrics address actually bound (port 0 resolved), if serving. */
  get metricsAddress(): string | undefined {
    return this.metricsAddr;
  }

  /** Lock the state, load the config, serve the API and metrics, apply. Throws on an invalid config. */
  async start(): Promise<void> {
    await ensurePrivateDir(this.stateDir);
    this.lock = await StateLock.acquire(this.stateDir, `macdemuxd ${this.configPath}`);
    try {
      this.owned = await OwnershipStore.open(this.stateDir);
      await this.owned.bindConfig(this.configPath);
      this.leases = await LeaseStore.open(this.stateDir);
      const saved = (await readJsonFile(this.apiFile)) as { endpoints?: ApiEndpoint[] } | undefined;
      this.apiEndpoints = saved?.endpoints ?? [];
      this.rawConfig = await this.readRaw();
      this.config = this.validated(this.rawConfig, this.apiEndpoints);
      logger().info(
        { event: 'daemon.starting', config: this.configPath, stateDir: this.stateDir, networks: this.config.networks.length, pid: process.pid },
        `macdemuxd starting: ${this.config.networks.length} network(s) from ${this.configPath}`,
      );
      this.controlServer = await serveControl(this.socketPath, this.handlers());
      logger().info({ event: 'api.listening', socket: this.socketPath, mode: '0600' }, `control API on ${this.socketPath} (mode 0600)`);
      if (this.opts.metrics !== false) {
        const registry = createMetrics(() => this.counterSnapshot(), this.reconcileStats);
        const m = await serveMetrics(registry, this.opts.metrics ?? DEFAULT_METRICS);
        this.metricsServer = m.server;
        this.metricsAddr = m.address;
        logger().info({ event: 'metrics.listening', address: m.address }, `metrics on http://${m.address}/metrics`);
      }
      try {
        await this.enqueue(() => this.applyNow('start'));
      } catch (err) {
        // Some resources failed (logged one by one): keep serving the rest; GET /status shows them.
        if (!(err instanceof ReconcileError)) throw err;
      }
      logger().info({ event: 'daemon.ready', errors: this.lastReport?.errors.length ?? 0 }, 'macdemuxd ready');
    } catch (err) {
      await this.closeServers();
      await this.lock.release();
      throw err;
    }
  }

  private async readRaw(): Promise<unknown> {
    const text = await readFile(this.configPath, 'utf8');
    const doc = parseDocument(text, { uniqueKeys: true });
    if (doc.errors.length) throw new ConfigError(doc.errors.map((e) => ({ path: '', reason: `YAML: ${e.message.split('\n')[0]}` })), this.configPath);
    return doc.toJS({ maxAliasCount: 100 });
  }

  /** The raw config with the API-added endpoints merged in, validated. */
  private validated(raw: unknown, extra: ApiEndpoint[]): ServiceConfig {
    const doc = structuredClone(raw) as { networks?: { name?: unknown; endpoints?: unknown[] }[] };
    for (const a of extra) {
      const n = Array.isArray(doc?.networks) ? doc.networks.find((x) => x && x.name === a.network) : undefined;
      if (!n) {
        logger().warn({ event: 'api-endpoint.orphaned', network: a.network, endpoint: a.endpoint.name }, `API endpoint ${String(a.endpoint.name)}: network ${a.network} is no longer declared; ignored`);
        continue;
      }
      n.endpoints = [...(Array.isArray(n.endpoints) ? n.endpoints : []), a.endpoint];
    }
    return validateConfig(doc, this.configPath);
  }

  /** Serialize applies (start, reloads, API changes). */
  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => {});
    return p;
  }

  /** Apply the current config; records the report. Throws ReconcileError/PoolExhaustedError. */
  private async applyNow(reason: string): Promise<ReconcileReport> {
    const t0 = Date.now();
    let report: ReconcileReport;
    try {
      report = await apply(this.config, this.stateDir, {
        owned: this.owned,
        leases: this.leases,
        modeOverrides: new Map([...this.modeOverrides, ...this.switches.modeOverrides]),
        ...(this.opts.stepDelayMs ? { stepDelayMs: this.opts.stepDelayMs } : {}),
      });
    } catch (err) {
      this.reconcileStats.total.failed++;
      this.reconcileStats.lastDurationS = (Date.now() - t0) / 1000;
      if (err instanceof ReconcileError) {
        report = err.report;
        this.record(reason, report);
        await this.syncSwitches(report.desired);
      } else {
        logger().error({ event: 'apply.failed', reason, err: (err as Error).message }, `apply (${reason}) failed: ${(err as Error).message}`);
      }
      throw err;
    }
    this.reconcileStats.total.ok++;
    this.reconcileStats.lastDurationS = (Date.now() - t0) / 1000;
    this.record(reason, report);
    await this.syncSwitches(report.desired);
    return report;
  }

  private record(reason: string, r: ReconcileReport): void {
    if (r.desired) this.desired = r.desired;
    this.lastReport = { at: new Date().toISOString(), reason, created: r.created.length, changed: r.changed.length, removed: r.removed.length, errors: r.errors };
  }

  private async syncSwitches(desired: DesiredState | undefined): Promise<void> {
    if (!desired || this.stopping) return;
    try {
      await this.switches.sync(
        desired,
        this.config.networks.map((n) => ({ network: n.name, parent: n.parent, userspace: n.dataplane === 'userspace', ...(n.backend ? { backend: n.backend } : {}) })),
      );
    } catch (err) {
      logger().error({ event: 'switch.sync-failed', err: (err as Error).message }, `userspace data plane: ${(err as Error).message}`);
    }
  }

  /** Re-read the config file and apply the difference. An invalid file keeps the running config. */
  async reload(): Promise<{ ok: boolean; added: string[]; removed: string[]; changed: string[]; issues?: { path: string; reason: string }[]; errors?: unknown[] }> {
    return this.enqueue(async () => {
      let next: ServiceConfig;
      let raw: unknown;
      try {
        raw = await this.readRaw();
        next = this.validated(raw, this.apiEndpoints);
      } catch (err) {
        const issues = err instanceof ConfigError ? err.issues : [{ path: '', reason: (err as Error).message }];
        logger().error({ event: 'reload.rejected', issues }, `reload rejected, keeping the running config: ${(err as Error).message}`);
        return { ok: false, added: [], removed: [], changed: [], issues };
      }
      const before = new Map(this.config.networks.map((n) => [n.name, JSON.stringify(n, jsonBigint)]));
      const after = new Map(next.networks.map((n) => [n.name, JSON.stringify(n, jsonBigint)]));
      const added = [...after.keys()].filter((k) => !before.has(k));
      const removed = [...before.keys()].filter((k) => !after.has(k));
      const changed = [...after.keys()].filter((k) => before.has(k) && before.get(k) !== after.get(k));
      logger().info({ event: 'config.reloaded', added, removed, changed }, `reload: networks +[${added}] -[${removed}] ~[${changed}]`);
      this.rawConfig = raw;
      this.config = next;
      try {
        await this.applyNow('reload');
        return { ok: true, added, removed, changed };
      } catch (err) {
        return { ok: false, added, removed, changed, errors: err instanceof ReconcileError ? err.report.errors : [{ message: (err as Error).message }] };
      }
    });
  }

  /** Stop: close the API and metrics, stop the engine; tear down kernel objects only when asked. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    logger().info({ event: 'daemon.stopping', teardown: !!this.opts.teardownOnExit }, 'macdemuxd stopping');
    await this.queue.catch(() => {});
    await this.closeServers();
    await this.switches.stopAll();
    if (this.opts.teardownOnExit) {
      try {
        await teardown(this.stateDir, { owned: this.owned, leases: this.leases });
        await rm(this.apiFile, { force: true });
      } catch (err) {
        logger().error({ event: 'teardown.failed', err: (err as Error).message }, `teardown: ${(err as Error).message}`);
      }
    }
    await this.lock?.release();
    logger().info({ event: 'daemon.stopped' }, 'macdemuxd stopped');
  }

  private async closeServers(): Promise<void> {
    const close = (s?: Server) => new Promise<void>((r) => (s ? (s.closeAllConnections?.(), s.close(() => r())) : r()));
    await close(this.controlServer);
    await close(this.metricsServer);
    this.controlServer = undefined;
    this.metricsServer = undefined;
  }

  // ---- views -------------------------------------------------------------------------

  private portView(l: DesiredLink): Record<string, unknown> {
    const net = this.config.networks.find((n) => n.name === l.network)!;
    const lease = l.endpoint ? this.leases.get(l.network, l.endpoint) : undefined;
    const name = l.port?.name ?? l.endpoint ?? `${l.network}.shim`;
    const mode = l.port ? (this.switches.portMode(l.port.name) ?? l.port.mode) : (l.mode ?? null);
    return {
      name,
      network: l.network,
      role: l.role,
      dataplane: net.dataplane,
      parent: parentKey(net.parent),
      mode,
      mac: l.mac,
      ...(l.port?.vlan !== undefined ? { vlan: l.port.vlan } : {}),
      ...(l.netns ? { netns: l.netns } : {}),
      ifname: l.name,
      ...(l.port ? { switchIfname: l.port.ifname } : {}),
      ...(lease?.ipv4 ? { ipv4: lease.ipv4 } : {}),
      ...(lease?.ipv6 ? { ipv6: lease.ipv6 } : {}),
      addresses: l.addresses,
      source: l.endpoint && this.apiEndpoints.some((a) => a.endpoint.name === l.endpoint) ? 'api' : 'config',
    };
  }

  private findPort(name: string): DesiredLink | undefined {
    return this.desired?.links.find((l) => (l.port?.name ?? l.endpoint ?? `${l.network}.shim`) === name);
  }

  /** The counters of every port and switch (the switch's view: rx = from the endpoint). */
  async counterSnapshot(): Promise<CounterSnapshot> {
    const ports: PortCounterRow[] = [];
    const links = this.desired?.links ?? [];
    // Kernel ports: the device's own counters, turned around (device tx = port rx).
    const byNs = new Map<string, DesiredLink[]>();
    for (const l of links) if (!l.port) byNs.set(l.netns ?? '', [...(byNs.get(l.netns ?? '') ?? []), l]);
    for (const [ns, ls] of byNs) {
      let infos: LinkInfo[] = [];
      try {
        infos = await listLinks(ns ? { netns: ns } : {});
      } catch (err) {
        this.warner.warn(`stats:${ns}`, { event: 'stats.failed', netns: ns, err: (err as Error).message }, `cannot read link counters in ${ns || 'own namespace'}: ${(err as Error).message}`);
        continue;
      }
      for (const l of ls) {
        const s = infos.find((i) => i.name === l.name)?.stats;
        if (!s) continue;
        ports.push({
          port: l.endpoint ?? `${l.network}.shim`,
          network: l.network,
          dataplane: 'kernel',
          rxPackets: s.txPackets,
          rxBytes: s.txBytes,
          txPackets: s.rxPackets,
          txBytes: s.rxBytes,
          rxDropped: s.txDropped,
          txDropped: s.rxDropped,
        });
      }
    }
    const switches: CounterSnapshot['switches'] = [];
    let engine: ReturnType<SwitchManager['counters']> = {};
    try {
      engine = this.switches.counters();
    } catch (err) {
      this.warner.warn('engine-counters', { event: 'stats.failed', err: (err as Error).message }, `cannot read engine counters: ${(err as Error).message}`);
    }
    const netOfPort = new Map(links.filter((l) => l.port).map((l) => [l.port!.name, l.network]));
    for (const [uplink, c] of Object.entries(engine)) {
      for (const [name, p] of Object.entries(c.ports ?? {})) {
        ports.push({
          port: name,
          network: netOfPort.get(name) ?? '',
          dataplane: 'userspace',
          rxPackets: p.rxPackets,
          rxBytes: p.rxBytes,
          txPackets: p.txPackets,
          txBytes: p.txBytes,
          rxDropped: p.rxDropped,
          txDropped: p.txDropped,
          ringDrops: p.ringDrops,
        });
      }
      const u = c.uplink;
      switches.push({
        uplink,
        rxFrames: c.rxFrames,
        forwarded: c.forwarded,
        drops: c.drops ?? {},
        uplinkPort: { rxPackets: u?.rxPackets ?? 0, rxBytes: u?.rxBytes ?? 0, txPackets: u?.txPackets ?? 0, txBytes: u?.txBytes ?? 0, rxDropped: u?.rxDropped ?? 0, txDropped: u?.txDropped ?? 0 },
        ringDrops: u.ringDrops,
        workers: c.workers ?? [],
      });
    }
    const leases: Record<string, number> = {};
    for (const [n, eps] of Object.entries(this.leases?.all() ?? {})) leases[n] = Object.keys(eps).length;
    return { time: Date.now(), ports, switches, leases, networks: this.config?.networks.length ?? 0 };
  }

  // ---- control API -------------------------------------------------------------------

  private handlers(): ControlHandlers {
    return {
      status: async () => ({
        pid: process.pid,
        config: this.configPath,
        stateDir: this.stateDir,
        socket: this.socketPath,
        metrics: this.metricsAddr ?? null,
        uptimeS: Math.round((Date.now() - this.startedAt) / 1000),
        networks: this.config.networks.length,
        ports: this.desired?.links.length ?? 0,
        lastApply: this.lastReport ?? null,
      }),
      networks: async () =>
        this.config.networks.map((n) => ({
          name: n.name,
          parent: parentKey(n.parent),
          mode: n.mode,
          dataplane: n.dataplane,
          ...(n.vlan !== undefined ? { vlan: n.vlan } : {}),
          ...(n.ipv4 ? { ipv4: ipamSummary(n.ipv4) } : {}),
          ...(n.ipv6 ? { ipv6: ipamSummary(n.ipv6) } : {}),
          ...(n.hostShim ? { hostShim: { name: n.hostShim.name, ip: formatIp(n.hostShim.ip) } } : {}),
          endpoints: n.endpoints.map((e) => e.name),
        })),
      ports: async () => (this.desired?.links ?? []).map((l) => this.portView(l)),
      counters: async () => this.counterSnapshot(),
      addEndpoint: (body) => this.addEndpoint(body),
      deleteEndpoint: (name) => this.deleteEndpoint(name),
      patchPort: (name, body) => this.patchPort(name, body),
      reload: async () => this.reload(),
    };
  }

  private async addEndpoint(body: unknown): Promise<unknown> {
    if (body === null || typeof body !== 'object' || Array.isArray(body))
      throw new ApiError(400, 'invalid_body', 'expected a JSON object like {"network": "net1", "name": "web3", "netns": "web3"}');
    const b = body as Record<string, unknown>;
    const issues: { path: string; reason: string }[] = [];
    for (const k of Object.keys(b)) if (!ENDPOINT_BODY_KEYS.includes(k)) issues.push({ path: k, reason: `unknown key (allowed: ${ENDPOINT_BODY_KEYS.join(', ')})` });
    if (typeof b.network !== 'string') issues.push({ path: 'network', reason: 'is required (the network to join)' });
    if (typeof b.name !== 'string') issues.push({ path: 'name', reason: 'is required (a unique endpoint name)' });
    if (issues.length) throw new ApiError(400, 'invalid_endpoint', `invalid endpoint: ${issues.map((i) => `${i.path}: ${i.reason}`).join('; ')}`, issues);
    const { network, ...endpoint } = b as { network: string } & Record<string, unknown>;
    return this.enqueue(async () => {
      const netIndex = this.config.networks.findIndex((n) => n.name === network);
      if (netIndex < 0) throw new ApiError(404, 'no_such_network', `no network "${network}" (networks: ${this.config.networks.map((n) => n.name).join(', ')})`);
      if (this.config.networks.some((n) => n.endpoints.some((e) => e.name === endpoint.name)))
        throw new ApiError(409, 'endpoint_exists', `an endpoint named "${String(endpoint.name)}" already exists`);
      const nextApi = [...this.apiEndpoints, { network, endpoint }];
      let next: ServiceConfig;
      try {
        next = this.validated(this.rawConfig, nextApi);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        const count = this.config.networks[netIndex].endpoints.length;
        const prefix = new RegExp(`^networks\\[${netIndex}\\]\\.endpoints\\[${count}\\]\\.?`);
        const mine = err.issues.map((i) => ({ path: prefix.test(i.path) ? i.path.replace(prefix, '') || '(endpoint)' : i.path, reason: i.reason }));
        throw new ApiError(400, 'invalid_endpoint', `invalid endpoint: ${mine.map((i) => `${i.path}: ${i.reason}`).join('; ')}`, mine);
      }
      const prev = { api: this.apiEndpoints, config: this.config };
      this.apiEndpoints = nextApi;
      this.config = next;
      try {
        await this.applyNow(`api: add endpoint ${String(endpoint.name)}`);
      } catch (err) {
        if (err instanceof PoolExhaustedError) {
          this.apiEndpoints = prev.api;
          this.config = prev.config;
          throw new ApiError(409, 'pool_exhausted', err.message);
        }
        if (!(err instanceof ReconcileError)) throw err;
      }
      await writeFileAtomic(this.apiFile, `${JSON.stringify({ version: 1, endpoints: this.apiEndpoints }, null, 2)}\n`);
      const link = this.desired?.links.find((l) => l.endpoint === endpoint.name);
      return link ? this.portView(link) : { name: endpoint.name };
    });
  }

  private async deleteEndpoint(name: string): Promise<unknown> {
    return this.enqueue(async () => {
      const idx = this.apiEndpoints.findIndex((a) => a.endpoint.name === name);
      if (idx < 0) {
        const declared = this.config.networks.find((n) => n.endpoints.some((e) => e.name === name));
        if (declared)
          throw new ApiError(409, 'declared_in_config', `endpoint "${name}" is declared in ${this.configPath} (network ${declared.name}): remove it there and reload`);
        throw new ApiError(404, 'no_such_endpoint', `no endpoint "${name}"`);
      }
      this.apiEndpoints = this.apiEndpoints.filter((_, i) => i !== idx);
      await writeFileAtomic(this.apiFile, `${JSON.stringify({ version: 1, endpoints: this.apiEndpoints }, null, 2)}\n`);
      this.config = this.validated(this.rawConfig, this.apiEndpoints);
      this.modeOverrides.delete(name);
      this.switches.modeOverrides.delete(name);
      try {
        await this.applyNow(`api: delete endpoint ${name}`);
      } catch (err) {
        if (!(err instanceof ReconcileError)) throw err;
      }
      return { removed: name };
    });
  }

  private async patchPort(name: string, body: unknown): Promise<unknown> {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new ApiError(400, 'invalid_body', 'expected a JSON object like {"mode": "private"}');
    const b = body as Record<string, unknown>;
    const extra = Object.keys(b).filter((k) => k !== 'mode');
    if (extra.length) throw new ApiError(400, 'invalid_body', `unknown key(s) ${extra.join(', ')} (only "mode" can be changed)`, extra.map((k) => ({ path: k, reason: 'unknown key' })));
    if (typeof b.mode !== 'string' || !(MACVLAN_MODES as readonly string[]).includes(b.mode))
      throw new ApiError(400, 'invalid_mode', `mode: expected one of ${MACVLAN_MODES.join(', ')}, got ${JSON.stringify(b.mode)}`, [{ path: 'mode', reason: 'not a macvlan mode' }]);
    const mode = b.mode as MacvlanMode;
    if (mode === 'passthru' || mode === 'source')
      throw new ApiError(400, 'invalid_mode', `mode: ${mode} cannot be set live (it needs a new device and network settings): change the config and reload`, [{ path: 'mode', reason: 'not changeable live' }]);
    return this.enqueue(async () => {
      const l = this.findPort(name);
      if (!l) throw new ApiError(404, 'no_such_port', `no port "${name}"`);
      const cur = l.port ? this.switches.portMode(l.port.name) ?? l.port.mode : l.mode;
      if (cur === 'passthru' || cur === 'source') throw new ApiError(409, 'mode_fixed', `port "${name}" is in ${cur} mode, which cannot be changed live`);
      if (l.port) {
        this.switches.setPortMode(l.port.name, mode);
        l.port.mode = mode;
      } else {
        await changeMacvlan(l.name, { mode }, l.netns ? { netns: l.netns } : {});
        l.mode = mode;
        if (l.endpoint) this.modeOverrides.set(l.endpoint, mode);
        logger().info({ event: 'port.mode', port: name, mode }, `port ${name} mode -> ${mode}`);
      }
      return this.portView(l);
    });
  }
}

/** JSON replacer for configs holding bigints (addresses). */
function jsonBigint(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}
