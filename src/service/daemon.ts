/**
 * The switching service's lifecycle: lock the state directory, load the desired state, apply it
 * (kernel objects through the reconciler, userspace switches through the engine), serve the
 * control API (src/service/control-handlers.ts) and Prometheus metrics, and stop. Every change
 * (SIGHUP, `POST /reload`, API endpoints and port modes) is one transition from the applied
 * desired state to a candidate, made in one place ({@link Daemon.transition}): the candidate is
 * kept only when the kernel and the engine applied it; otherwise the previous state is put back
 * and the caller gets the reasons.
 */
import { rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { resolve } from 'node:path';
import { log } from '../log.ts';
import { DEFAULT_METRICS, socketPathFor } from './args.ts';
import { ensurePrivateDir } from './atomic-file.ts';
import { ConfigError } from './config.ts';
import { ApiError, serveControl } from './control-api.ts';
import { controlHandlers, type DaemonControl, type ReloadResult } from './control-handlers.ts';
import { counterSnapshot } from './counter-snapshot.ts';
import { DesiredConfig, readConfigDocument } from './desired-config.ts';
import type { DesiredState } from './desired.ts';
import { PoolExhaustedError } from './ipam.ts';
import { LeaseStore } from './leases.ts';
import { type CounterSnapshot, createMetrics, serveMetrics } from './metrics.ts';
import { OwnershipStore, StateLock } from './ownership.ts';
import { RateLimitedWarner } from './rate-limit.ts';
import { apply, ReconcileError, type ReconcileReport, teardown } from './reconcile.ts';
import { SwitchManager } from './userspace.ts';
import { VmNodes, type EndpointNode } from './vm-nodes.ts';
import { serveHandoff } from '../handoff/server.ts';
import { vmTapHandoff } from '../handoff/vm-tap.ts';
import type { Server as NetServer } from 'node:net';

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
  /**
   * Serve the hypervisor fd hand-off here (a unix socket, mode 0666; each request is authorised
   * against the endpoint's vm.owner / vm.group by SO_PEERCRED). Default: none.
   */
  handoffSocket?: string;
}

/** The record of the last apply or refused change (GET /status `lastApply`). */
export interface ApplyRecord {
  at: string;
  reason: string;
  ok: boolean;
  created: number;
  changed: number;
  removed: number;
  errors: { resource: string; message: string }[];
}

const logger = () => log('daemon');

/** The daemon. */
export class Daemon implements DaemonControl {
  readonly configPath: string;
  readonly stateDir: string;
  readonly socketPath: string;
  readonly startedAt = Date.now();
  private lock?: StateLock;
  private owned!: OwnershipStore;
  leases!: LeaseStore;
  /** The applied desired state (config + API endpoints + mode overrides). */
  private state!: DesiredConfig;
  private applied?: DesiredState;
  private lastRecord?: ApplyRecord;
  private readonly switches: SwitchManager;
  private queue: Promise<unknown> = Promise.resolve();
  private controlServer?: Server;
  private metricsServer?: Server;
  private metricsAddr?: string;
  private readonly warner = new RateLimitedWarner(logger);
  readonly reconcileStats = { total: { ok: 0, failed: 0 }, lastDurationS: 0 };
  private stopping = false;
  private readonly vmNodes: VmNodes;
  private handoffServer?: NetServer;

  constructor(readonly opts: DaemonOptions) {
    this.configPath = resolve(opts.configPath);
    this.stateDir = resolve(opts.stateDir);
    this.vmNodes = new VmNodes(this.stateDir);
    this.socketPath = resolve(opts.socketPath ?? socketPathFor(this.stateDir));
    this.switches = new SwitchManager(opts.workers ? { workers: opts.workers } : {});
  }

  /** The metrics address actually bound (port 0 resolved), if serving. */
  get metricsAddress(): string | undefined {
    return this.metricsAddr;
  }

  current(): DesiredConfig {
    return this.state;
  }

  desired(): DesiredState | undefined {
    return this.applied;
  }

  lastApply(): ApplyRecord | undefined {
    return this.lastRecord;
  }

  /** The character device macdemux made for a tap / vm endpoint. */
  chardev(endpoint: string): EndpointNode | undefined {
    return this.vmNodes.get(endpoint);
  }

  /**
   * Lock the state, load the desired state, apply it, serve the API and metrics. Throws on an
   * invalid config and when the config could not be applied (nothing of that run is kept).
   */
  async start(): Promise<void> {
    await ensurePrivateDir(this.stateDir);
    this.lock = await StateLock.acquire(this.stateDir, `macdemuxd ${this.configPath}`);
    try {
      this.owned = await OwnershipStore.open(this.stateDir);
      await this.owned.bindConfig(this.configPath);
      this.leases = await LeaseStore.open(this.stateDir);
      const initial = await DesiredConfig.load(this.configPath, this.stateDir);
      logger().info(
        { event: 'daemon.starting', config: this.configPath, stateDir: this.stateDir, networks: initial.config.networks.length, pid: process.pid },
        `macdemuxd starting: ${initial.config.networks.length} network(s) from ${this.configPath}`,
      );
      this.controlServer = await serveControl(this.socketPath, controlHandlers(this));
      logger().info({ event: 'api.listening', socket: this.socketPath, mode: '0600' }, `control API on ${this.socketPath} (mode 0600)`);
      if (this.opts.metrics !== false) {
        const registry = createMetrics(() => this.counters(), this.reconcileStats);
        const m = await serveMetrics(registry, this.opts.metrics ?? DEFAULT_METRICS);
        this.metricsServer = m.server;
        this.metricsAddr = m.address;
        logger().info({ event: 'metrics.listening', address: m.address }, `metrics on http://${m.address}/metrics`);
      }
      await this.enqueue(() => this.applyState(initial, 'start'));
      this.state = initial;
      if (this.opts.handoffSocket) {
        const path = resolve(this.opts.handoffSocket);
        this.handoffServer = await serveHandoff(path, (name) => this.vmNodes.handoff(name) ?? vmTapHandoff(this.applied?.links, name), (e) => logger().info(e, `fd hand-off: ${String(e.event)} ${String(e.endpoint ?? '')}`));
        logger().info({ event: 'handoff.listening', socket: path, mode: '0666' }, `fd hand-off on ${path}`);
      }
      logger().info({ event: 'daemon.ready', errors: 0 }, 'macdemuxd ready');
    } catch (err) {
      await this.closeServers();
      await this.switches.stopAll();
      await this.lock.release();
      throw err;
    }
  }

  /** Serialize transitions (start, reloads, API changes). */
  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => {});
    return p;
  }

  /** Apply one desired state to the kernel and the engine; records the outcome. Throws when not applied. */
  private async applyState(s: DesiredConfig, reason: string): Promise<ReconcileReport> {
    const t0 = Date.now();
    let report: ReconcileReport | undefined;
    try {
      report = await apply(s.config, this.stateDir, {
        owned: this.owned,
        leases: this.leases,
        modeOverrides: s.modeOverrides(),
        ...(this.opts.stepDelayMs ? { stepDelayMs: this.opts.stepDelayMs } : {}),
      });
      await this.switches.sync(
        report.desired!,
        s.config.networks.map((n) => ({
          network: n.name,
          parent: n.parent,
          userspace: n.dataplane === 'userspace',
          ...(n.backend ? { backend: n.backend } : {}),
          ...(n.mtu !== undefined ? { mtu: n.mtu } : {}),
        })),
      );
      await this.vmNodes.sync(report.desired!, s.config);
      this.applied = report.desired;
      this.reconcileStats.total.ok++;
      this.record(reason, true, report, []);
      return report;
    } catch (err) {
      this.reconcileStats.total.failed++;
      const errors = err instanceof ReconcileError ? err.report.errors : [{ resource: err instanceof PoolExhaustedError ? 'ipam' : 'userspace data plane', message: (err as Error).message }];
      this.record(reason, false, err instanceof ReconcileError ? err.report : report, errors);
      logger().error({ event: 'apply.failed', reason, errors }, `${reason}: not applied: ${errors.map((e) => `${e.resource}: ${e.message}`).join('; ')}`);
      throw err;
    } finally {
      this.reconcileStats.lastDurationS = (Date.now() - t0) / 1000;
    }
  }

  private record(reason: string, ok: boolean, r: ReconcileReport | undefined, errors: ApplyRecord['errors']): void {
    this.lastRecord = { at: new Date().toISOString(), reason, ok, created: r?.created.length ?? 0, changed: r?.changed.length ?? 0, removed: r?.removed.length ?? 0, errors };
  }

  /**
   * The one place desired state changes: build the candidate from the applied state, apply it,
   * keep it (and persist the API endpoints) only when applied. On failure the previous state is
   * applied again (what the failed run changed is put back) and an ApiError with the reasons is
   * thrown; later changes start from the previous state, so one failure blocks nothing.
   */
  transition(reason: string, build: (cur: DesiredConfig) => DesiredConfig): Promise<void> {
    return this.enqueue(async () => {
      const prev = this.state;
      const next = build(prev);
      try {
        await this.applyState(next, reason);
      } catch (err) {
        await this.restore(prev, reason);
        throw notApplied(err);
      }
      this.state = next;
      if (next.apiEndpoints !== prev.apiEndpoints) await next.save(this.stateDir);
    });
  }

  private async restore(prev: DesiredConfig, reason: string): Promise<void> {
    try {
      await this.applyState(prev, `restore after: ${reason}`);
      logger().info({ event: 'apply.restored', reason }, `${reason}: previous state restored`);
    } catch (err) {
      logger().error({ event: 'restore.failed', reason, err: (err as Error).message }, `${reason}: restoring the previous state failed: ${(err as Error).message}`);
    }
  }

  /** Re-read the config file and apply it. An invalid or unappliable file keeps the running state. */
  async reload(): Promise<ReloadResult> {
    const base = { config: this.configPath, added: [] as string[], removed: [] as string[], changed: [] as string[] };
    let raw: unknown;
    try {
      raw = await readConfigDocument(this.configPath);
    } catch (err) {
      const issues = err instanceof ConfigError ? err.issues : [{ path: '', reason: (err as Error).message }];
      logger().error({ event: 'reload.rejected', issues }, `reload rejected, keeping the running config: ${(err as Error).message}`);
      return { ok: false, ...base, issues };
    }
    let diff = base;
    try {
      await this.transition('reload', (cur) => {
        let next: DesiredConfig;
        try {
          next = cur.withRaw(raw);
        } catch (err) {
          if (err instanceof ConfigError) throw new ApiError(400, 'invalid_config', err.message, err.issues);
          throw err;
        }
        diff = { config: this.configPath, ...networkDiff(cur, next) };
        logger().info({ event: 'config.reloaded', added: diff.added, removed: diff.removed, changed: diff.changed }, `reload: networks +[${diff.added}] -[${diff.removed}] ~[${diff.changed}]`);
        return next;
      });
      return { ok: true, ...diff };
    } catch (err) {
      if (err instanceof ApiError && err.code === 'invalid_config') {
        logger().error({ event: 'reload.rejected', issues: err.issues }, `reload rejected, keeping the running config: ${err.message}`);
        return { ok: false, ...diff, issues: err.issues ?? [] };
      }
      const errors = err instanceof ApiError ? (err.issues ?? []).map((i) => ({ resource: i.path, message: i.reason })) : [{ resource: 'reload', message: (err as Error).message }];
      return { ok: false, ...diff, errors };
    }
  }

  /** The counters of every port and switch. */
  counters(): Promise<CounterSnapshot> {
    return counterSnapshot({
      links: this.applied?.links ?? [],
      switches: this.switches,
      leases: this.leases?.all() ?? {},
      networks: this.state?.config.networks.length ?? 0,
      warner: this.warner,
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
        this.vmNodes.clear();
        await rm(DesiredConfig.apiFile(this.stateDir), { force: true });
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
    await new Promise<void>((r) => (this.handoffServer ? this.handoffServer.close(() => r()) : r()));
    this.handoffServer = undefined;
    this.controlServer = undefined;
    this.metricsServer = undefined;
  }
}

/** The API's answer to a change that was not applied. */
function notApplied(err: unknown): Error {
  if (err instanceof ApiError) return err;
  if (err instanceof PoolExhaustedError) return new ApiError(409, 'pool_exhausted', err.message);
  if (err instanceof ReconcileError) {
    const issues = err.report.errors.map((e) => ({ path: e.resource, reason: e.message }));
    const status = err.report.preflight ? 409 : 500;
    return new ApiError(status, 'not_applied', `not applied (nothing kept): ${issues.map((i) => `${i.path}: ${i.reason}`).join('; ')}`, issues);
  }
  return new ApiError(500, 'not_applied', `not applied (nothing kept): ${(err as Error).message}`, [{ path: 'userspace data plane', reason: (err as Error).message }]);
}

/** Which networks a new desired state adds, removes and changes. */
function networkDiff(a: DesiredConfig, b: DesiredConfig): { added: string[]; removed: string[]; changed: string[] } {
  const json = (v: unknown) => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
  const before = new Map(a.config.networks.map((n) => [n.name, json(n)]));
  const after = new Map(b.config.networks.map((n) => [n.name, json(n)]));
  return {
    added: [...after.keys()].filter((k) => !before.has(k)),
    removed: [...before.keys()].filter((k) => !after.has(k)),
    changed: [...after.keys()].filter((k) => before.has(k) && before.get(k) !== after.get(k)),
  };
}
