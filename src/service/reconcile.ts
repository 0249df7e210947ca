/**
 * Idempotent apply and teardown of a config's kernel objects. Apply plans, checks, then acts:
 * it plans the leases and the desired objects, checks them against the live system (parents,
 * name clashes with devices macdemux did not create) before changing anything, then creates what
 * is missing, fixes what differs (MAC, mode, addresses, routes, up) and finally removes what this
 * state directory created and the config no longer declares. A failure while acting rolls back
 * what that run did (created objects removed, changes reverted, leases restored): nothing is
 * half-applied. Teardown removes exactly what was created. Devices are made through src/devices
 * (rtnetlink); ownership and leases are persisted (write-ahead) in the state directory so a
 * crash at any point converges on the next run.
 */
import {
  addAddress,
  addRoute,
  changeMacvlan,
  createMacvlan,
  createVeth,
  deleteAddress,
  deleteLink,
  findLink,
  listAddresses,
  listLinks,
  listRoutes,
  setLink,
  setSourceMacs,
  type LinkInfo,
} from '../devices/index.ts';
import { ensureVmTap, vmTapInfo } from '../devices/vm-tap.ts';
import { log } from '../log.ts';
import { withSocketPool } from '../netlink/socket.ts';
import type { MacvlanMode, ServiceConfig } from './config.ts';
import { parentKey } from './config.ts';
import { type DesiredLink, type DesiredState, type DesiredVmTap, desiredState } from './desired.ts';
import { formatIp, parseCidr, parseIp } from './ipaddr.ts';
import { LeaseStore, type LeaseTable, planLeases, withoutStale } from './leases.ts';
import { createNetnsAll, deleteNetnsAll, disableTxOffload, netnsExists } from './netns.ts';
import { type OwnedLink, OwnershipStore, resourceKey } from './ownership.ts';

const logger = () => log('reconcile');

/** What an apply or teardown did. */
export interface ReconcileReport {
  created: string[];
  changed: string[];
  removed: string[];
  /** Per-resource failures (the rest was still applied). */
  errors: { resource: string; message: string }[];
  /** The leases after the run, as the endpoints have them: a kernel passthru endpoint shows its
   * device's MAC (inherited from the parent; its lease's MAC is not used). */
  leases: LeaseTable;
  /** The desired state that was applied (apply only). */
  desired?: DesiredState;
  /** Set when apply refused before changing anything (checks against the live system). */
  preflight?: boolean;
}

/** Thrown by apply/teardown when some resources failed; carries the report. */
export class ReconcileError extends Error {
  readonly code = 'ERR_MACDEMUX_RECONCILE';
  constructor(readonly report: ReconcileReport) {
    super(
      `${report.errors.length} resource(s) failed:\n${report.errors.map((e) => `  ${e.resource}: ${e.message}`).join('\n')}`,
    );
    this.name = 'ReconcileError';
  }
}

/** Options of {@link apply}. */
export interface ApplyOptions {
  /** Pause after each resource (tests: make a crash mid-apply easy to hit). */
  stepDelayMs?: number;
  /** Runtime mode changes (control API) by port name (endpoint, or `<network>.shim`); they win over the network's mode. */
  modeOverrides?: ReadonlyMap<string, MacvlanMode>;
}

const nsOpt = (netns?: string) => (netns ? { netns } : {});
const where = (netns: string | undefined, name: string) => `${netns ?? '(own)'}/${name}`;

function canonicalCidr(text: string): string {
  const [a, len] = text.split('/');
  const ip = parseIp(a);
  return ip ? `${formatIp(ip)}/${len}` : text;
}

function canonicalDst(text: string): string {
  if (text === 'default') return text;
  if (!text.includes('/')) return text;
  const r = parseCidr(text);
  return r.ok ? `${formatIp({ family: r.cidr.family, value: r.cidr.base })}/${r.cidr.prefix}` : text;
}

/** Runs one apply or teardown, collecting the report. */
class Run {
  readonly report: ReconcileReport = { created: [], changed: [], removed: [], errors: [], leases: {} };
  /** The device MAC of each inheritMac (kernel passthru) endpoint, by `network/endpoint`. */
  readonly inheritedMacs = new Map<string, string>();
  /** How to take back what this run did, newest last (apply only). */
  private readonly undo: { what: string; run: () => Promise<void> }[] = [];
  constructor(
    readonly owned: OwnershipStore,
    readonly opts: ApplyOptions = {},
  ) {}

  async step(): Promise<void> {
    if (this.opts.stepDelayMs) await new Promise((r) => setTimeout(r, this.opts.stepDelayMs));
  }

  fail(resource: string, err: unknown): void {
    const message = (err as Error).message ?? String(err);
    this.report.errors.push({ resource, message });
    logger().error({ event: 'resource.failed', resource, err: message }, `${resource}: ${message}`);
  }

  note(kind: 'created' | 'changed' | 'removed', what: string, extra: Record<string, unknown> = {}): void {
    this.report[kind].push(what);
    logger().info({ event: `resource.${kind}`, resource: what, ...extra }, `${kind} ${what}`);
  }

  /** Remember how to take back a step of this run. */
  onRollback(what: string, run: () => Promise<void>): void {
    this.undo.push({ what, run });
  }

  /** Take back every step of this run, newest first (each failure is logged, the rest still run). */
  async rollback(): Promise<void> {
    for (const u of this.undo.reverse()) {
      try {
        await u.run();
        logger().info({ event: 'resource.rolled-back', resource: u.what }, `rolled back ${u.what}`);
      } catch (err) {
        logger().error({ event: 'rollback.failed', resource: u.what, err: (err as Error).message }, `rollback of ${u.what}: ${(err as Error).message}`);
      }
    }
    this.undo.length = 0;
    await this.owned.flush();
  }

  /**
   * Remove an owned link (and, for a veth, its peer) if it still exists and carries its mark;
   * then forget it. A device under a recorded name without the mark is not ours: left in place.
   */
  async removeLink(r: OwnedLink): Promise<void> {
    const key = resourceKey(r);
    try {
      const going = r.netns !== undefined && !r.peer ? this.dyingNs.get(r.netns) : undefined;
      if (going && netnsExists(r.netns!)) {
        const l = await findLink(r.name, nsOpt(r.netns));
        if (l && this.owned.marked(l, r.netns, r.name)) {
          going.push(r); // removed with its namespace (see dyingNs)
          return;
        }
      }
      for (const end of [{ netns: r.netns, name: r.name }, ...(r.peer ? [r.peer] : [])]) {
        if (end.netns && !netnsExists(end.netns)) continue;
        const l = await findLink(end.name, nsOpt(end.netns));
        if (!l) continue;
        if (!this.owned.marked(l, end.netns, end.name)) {
          logger().warn(
            { event: 'link.foreign', resource: `link ${where(end.netns, end.name)}`, alias: l.alias ?? null },
            `link ${where(end.netns, end.name)} does not carry macdemux's mark (${this.owned.mark(end.netns, end.name)}): not ours, left in place`,
          );
          continue;
        }
        await deleteLink(end.name, nsOpt(end.netns));
        this.note('removed', `link ${where(end.netns, end.name)}`, end === r.peer ? {} : { network: r.network, endpoint: r.endpoint });
      }
      await this.owned.forget(key, true); // persisted by the run's flush (a stale record is harmless)
      await this.step();
    } catch (err) {
      this.fail(`link ${where(r.netns, r.name)}`, err);
    }
  }

  /**
   * Owned namespaces this run removes, with the marked links in them that go with them: deleting a
   * namespace unregisters its devices in one batch (net/core/dev.c default_device_exit_batch), where
   * deleting them one by one waits for an RCU grace period each (unregister_netdevice_many:
   * synchronize_net), tens of ms per link. Set before the links are removed.
   */
  readonly dyingNs = new Map<string, OwnedLink[]>();

  /** Keys of links recorded by this run before creating them (absent when checked): a device found under one is not ours. */
  readonly prerecorded = new Set<string>();

  /**
   * Namespaces this run created, each with the default routes (by family) this run added in it:
   * nothing else has devices or routes there, so their links need no look-up before creation and
   * no route dump (two netlink round trips less per endpoint at scale).
   */
  readonly freshNs = new Map<string, Set<string>>();

  /** Remove marked links deferred to their namespace's removal one by one (the namespace stays). */
  private async removeDeferred(name: string): Promise<void> {
    const links = this.dyingNs.get(name) ?? [];
    this.dyingNs.delete(name);
    for (const r of links) await this.removeLink(r);
  }

  /**
   * Remove owned namespaces that hold nothing but lo and links of theirs (one `ip -batch` for all);
   * then forget them. One that holds other interfaces is not macdemux's to delete: kept, with a warning.
   */
  async removeNetns(names: readonly string[]): Promise<void> {
    const empty: string[] = [];
    for (const name of names) {
      try {
        if (!netnsExists(name)) {
          await this.removeDeferred(name);
          await this.owned.forget(resourceKey({ kind: 'netns', name }), true);
          continue;
        }
        const ours = new Set((this.dyingNs.get(name) ?? []).map((r) => r.name));
        const others = (await listLinks({ netns: name })).filter((l) => l.name !== 'lo' && !(ours.has(l.name) && this.owned.marked(l, name, l.name)));
        if (others.length) {
          await this.removeDeferred(name);
          logger().warn(
            { event: 'netns.kept', netns: name, links: others.map((l) => l.name) },
            `namespace ${name} was created by macdemux but now holds interfaces it did not create (${others.map((l) => l.name).join(', ')}): left in place`,
          );
          await this.owned.forget(resourceKey({ kind: 'netns', name }), true);
        } else empty.push(name);
      } catch (err) {
        this.fail(`netns ${name}`, err);
      }
    }
    let left = new Map<string, string>();
    try {
      left = await deleteNetnsAll(empty);
    } catch (err) {
      for (const name of empty) this.fail(`netns ${name}`, err);
      return;
    }
    for (const name of empty) {
      const why = left.get(name);
      if (why) {
        this.fail(`netns ${name}`, new Error(why));
        continue;
      }
      for (const r of this.dyingNs.get(name) ?? []) {
        this.note('removed', `link ${where(r.netns, r.name)}`, { network: r.network, endpoint: r.endpoint, with: `netns ${name}` });
        await this.owned.forget(resourceKey(r), true);
      }
      this.dyingNs.delete(name);
      this.note('removed', `netns ${name}`);
      await this.owned.forget(resourceKey({ kind: 'netns', name }), true);
      await this.step();
    }
    await this.owned.flush();
  }
}

/** A failed step while acting: which resource, and why. */
class StepError extends Error {
  constructor(
    readonly resource: string,
    readonly reason: unknown,
  ) {
    super((reason as Error).message ?? String(reason));
  }
}

async function step<T>(resource: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw err instanceof StepError ? err : new StepError(resource, err);
  }
}

/**
 * What stands in the way of a desired state on the live system, checked before anything is
 * changed: parents (namespace and device), and names taken by devices without macdemux's mark.
 * Also returns the links it saw, by namespace ('' = own; undefined: the namespace does not exist):
 * one dump per namespace, read once.
 */
async function preflight(
  desired: DesiredState,
  owned: OwnershipStore,
): Promise<{ problems: { resource: string; message: string }[]; live: Map<string, Map<string, LinkInfo> | undefined> }> {
  const problems: { resource: string; message: string }[] = [];
  const links = new Map<string, Map<string, LinkInfo> | undefined>();
  /** The links of a namespace by name (undefined: the namespace does not exist yet). */
  const linksIn = async (ns: string | undefined): Promise<Map<string, LinkInfo> | undefined> => {
    const k = ns ?? '';
    if (!links.has(k)) links.set(k, ns && !netnsExists(ns) ? undefined : new Map((await listLinks(nsOpt(ns))).map((l) => [l.name, l])));
    return links.get(k);
  };
  for (const { network, parent } of desired.parents) {
    const there = await linksIn(parent.netns);
    const resource = `network ${network} parent ${parentKey(parent)}`;
    if (!there) problems.push({ resource, message: `namespace ${parent.netns} does not exist` });
    else if (!there.has(parent.dev)) problems.push({ resource, message: `device ${parent.dev} does not exist${parent.netns ? ` in namespace ${parent.netns}` : ''}` });
  }
  for (const want of desired.links) {
    const cur = (await linksIn(want.netns))?.get(want.name);
    const foreign = cur && foreignReason(owned, want, cur);
    if (foreign) problems.push({ resource: `link ${where(want.netns, want.name)}`, message: foreign });
    if (want.vmTap?.mtu !== undefined && want.vmTap.networkMtu === undefined) {
      // The switch's frame limit is the uplink's MTU: a larger tap MTU lets the guest send frames it drops.
      const up = (await linksIn(want.vmTap.uplink.netns))?.get(want.vmTap.uplink.dev);
      if (up && want.vmTap.mtu > up.mtu)
        problems.push({
          resource: `link ${where(want.netns, want.name)}`,
          message: `vm.mtu ${want.vmTap.mtu} is above the switch's frame limit (the uplink ${parentKey(want.vmTap.uplink)} has MTU ${up.mtu}; larger frames are dropped as oversized): set the network's mtu or lower vm.mtu`,
        });
    }
    if (want.peer) {
      const p = (await linksIn(want.peer.netns))?.get(want.peer.name);
      if (p && !owned.marked(p, want.peer.netns, want.peer.name))
        problems.push({ resource: `link ${where(want.peer.netns, want.peer.name)}`, message: `${want.peer.name} (the switch port of ${want.name}) already exists and does not carry macdemux's mark: not ours` });
    }
  }
  return { problems, live: links };
}

/**
 * Apply a config: plan the leases and the desired objects, check them against the live system,
 * then act (leases persisted before any address is configured). Resolves to the report; throws
 * {@link ReconcileError} when the checks fail (nothing changed; `report.preflight`) or a step
 * fails (what the run did is rolled back), and PoolExhaustedError when a range is full.
 */
export async function apply(
  config: ServiceConfig,
  stateDir: string,
  opts: ApplyOptions & { owned?: OwnershipStore; leases?: LeaseStore } = {},
): Promise<ReconcileReport> {
  const owned = opts.owned ?? (await OwnershipStore.open(stateDir));
  const leaseStore = opts.leases ?? (await LeaseStore.open(stateDir));
  const run = new Run(owned, opts);
  const t0 = process.hrtime.bigint();
  const phaseMs: Record<string, number> = {};
  let tPhase = t0;
  /** Time spent since the previous phase ended (logged with apply.done: where the time goes at scale). */
  const phase = (name: string) => {
    const now = process.hrtime.bigint();
    phaseMs[name] = Number(now - tPhase) / 1e6;
    tPhase = now;
  };

  // 1. Plan.
  const before = leaseStore.all();
  const plan = planLeases(config.networks, before);
  const desired = desiredState(config, plan.table);
  for (const l of desired.links) {
    const m = opts.modeOverrides?.get(l.endpoint ?? `${l.network}.shim`);
    if (!m) continue;
    if (l.type !== 'veth') l.mode = m;
    if (l.port) l.port.mode = m;
  }
  const wantedLinks = new Map(desired.links.map((l) => [l.key, l]));
  const wantedNs = new Set(desired.namespaces);
  phase('plan');

  // 2. Check.
  const { problems, live } = await preflight(desired, owned);
  phase('check');
  if (problems.length) {
    for (const p of problems) run.fail(p.resource, new Error(p.message));
    run.report.preflight = true;
    run.report.leases = before;
    logger().info({ event: 'apply.refused', errors: problems.length }, `apply: refused before any change (${problems.length} problem(s))`);
    throw new ReconcileError(run.report);
  }

  // 3. Act: leases first (persisted before any address is configured), then parents up,
  // namespaces, links. The first failure rolls back what this run did.
  try {
    if (await leaseStore.commit(plan.table)) {
      logger().info({ event: 'leases.committed', changes: plan.changes }, `leases: ${plan.changes.length ? plan.changes.join('; ') : 'unchanged'}`);
      run.onRollback('leases', async () => void (await leaseStore.commit(before)));
    }
    for (const { network, parent } of desired.parents) {
      const pk = parentKey(parent);
      await step(`network ${network} parent ${pk}`, async () => {
        const l = await findLink(parent.dev, nsOpt(parent.netns));
        if (!l) throw new Error(`device ${parent.dev} does not exist${parent.netns ? ` in namespace ${parent.netns}` : ''}`);
        if (!l.up) {
          await setLink(parent.dev, { up: true }, nsOpt(parent.netns));
          run.onRollback(`parent ${pk} up`, () => setLink(parent.dev, { up: false }, nsOpt(parent.netns)));
          logger().info({ event: 'parent.up', network, parent: pk }, `parent ${pk} was down: set up`);
        }
      });
    }
    phase('leases');
    // Netlink sockets are reused per namespace while namespaces and links are made (nothing is
    // deleted and re-created under the same name in between): most requests then cost no socket.
    await withSocketPool(async () => {
      await ensureNetnsAll(run, desired.namespaces);
      phase('namespaces');
      // Write-ahead in one write: every link that does not exist yet is recorded before the first
      // is created (a record without its device is harmless: the next run creates or forgets it).
      const absent = desired.links.filter((want) => !live.get(want.netns ?? '')?.has(want.name)).map(ownedRecord);
      await owned.recordAll(absent);
      for (const rec of absent) run.prerecorded.add(resourceKey(rec));
      for (const rec of absent) run.onRollback(`link ${where(rec.netns, rec.name)}`, () => run.removeLink(rec));
      for (const want of desired.links) await step(`link ${where(want.netns, want.name)}`, () => ensureLink(run, want));
    });
    phase('links');
  } catch (err) {
    const e = err as StepError;
    run.fail(e.resource ?? 'apply', e.reason ?? err);
    await run.rollback();
    run.report.leases = leaseStore.all();
    logger().info({ event: 'apply.rolled-back', resource: e.resource }, `apply: ${e.resource} failed; what this run did was rolled back`);
    throw new ReconcileError(run.report);
  }

  // 4. Remove owned objects no longer declared (or whose type/peer changed: recreated above).
  for (const r of owned.list()) if (r.kind === 'netns' && !wantedNs.has(r.name)) run.dyingNs.set(r.name, []);
  for (const r of owned.list()) {
    if (r.kind !== 'link' || r.origin === 'switch') continue; // a CLI switch's VM tap: only `down` removes it
    const want = wantedLinks.get(resourceKey(r));
    const same = want && want.type === r.type && JSON.stringify(want.peer ?? null) === JSON.stringify(r.peer ?? null);
    if (!same) await run.removeLink(r);
  }
  await run.removeNetns(owned.list().flatMap((r) => (r.kind === 'netns' && !wantedNs.has(r.name) ? [r.name] : [])));
  await owned.flush();
  // Leases of removed endpoints are released only now that their devices are gone.
  if (!run.report.errors.length) await leaseStore.commit(withoutStale(plan.table, plan.stale));
  phase('remove');

  run.report.leases = withDeviceMacs(leaseStore.all(), run.inheritedMacs);
  run.report.desired = desired;
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  logger().info(
    { event: 'apply.done', created: run.report.created.length, changed: run.report.changed.length, removed: run.report.removed.length, errors: run.report.errors.length, ms: Math.round(ms), phaseMs },
    `apply: ${run.report.created.length} created, ${run.report.changed.length} changed, ${run.report.removed.length} removed, ${run.report.errors.length} failed`,
  );
  if (run.report.errors.length) throw new ReconcileError(run.report);
  return run.report;
}

/** A copy of the lease table with the given `network/endpoint` MACs in place of the leases'. */
function withDeviceMacs(table: LeaseTable, macs: ReadonlyMap<string, string>): LeaseTable {
  if (!macs.size) return table;
  const out: LeaseTable = {};
  for (const [net, eps] of Object.entries(table))
    out[net] = Object.fromEntries(Object.entries(eps).map(([ep, l]) => [ep, { ...l, mac: macs.get(`${net}/${ep}`) ?? l.mac }]));
  return out;
}

/**
 * Make the namespaces exist: the missing ones are recorded first (one write), then created with
 * one `ip -batch`, and rolled back on failure. Throws a StepError naming the first that failed.
 */
async function ensureNetnsAll(run: Run, names: readonly string[]): Promise<void> {
  const missing = names.filter((ns) => !netnsExists(ns));
  const created = new Set(missing);
  if (missing.length) {
    await run.owned.recordAll(missing.map((name) => ({ kind: 'netns', name })));
    run.onRollback(`${missing.length} namespace(s)`, () => run.removeNetns(missing));
  }
  const failed = await step(`${missing.length} namespace(s)`, () => createNetnsAll(missing));
  for (const ns of missing) {
    if (failed.has(ns)) continue;
    run.note('created', `netns ${ns}`);
    await run.step();
  }
  const first = missing.find((ns) => failed.has(ns));
  if (first) throw new StepError(`netns ${first}`, new Error(failed.get(first)));
  for (const ns of missing) run.freshNs.set(ns, new Set());
  for (const ns of names) {
    if (created.has(ns) || !run.owned.has(resourceKey({ kind: 'netns', name: ns }))) continue;
    await step(`netns ${ns}`, async () => {
      // Ours: lo must be up (a crash may have hit between `ip netns add` and `lo up`).
      const lo = await findLink('lo', { netns: ns });
      if (lo && !lo.up) {
        await setLink('lo', { up: true }, { netns: ns });
        run.note('changed', `netns ${ns} lo up`);
      }
    });
  }
}

/** The ownership record of a desired link. */
function ownedRecord(want: DesiredLink): OwnedLink {
  return {
    kind: 'link',
    ...(want.netns ? { netns: want.netns } : {}),
    name: want.name,
    role: want.role,
    network: want.network,
    ...(want.endpoint ? { endpoint: want.endpoint } : {}),
    type: want.type,
    ...(want.peer ? { peer: want.peer } : {}),
  };
}

/** Make one desired link exist as declared. */
async function ensureLink(run: Run, want: DesiredLink): Promise<void> {
  const id = `link ${where(want.netns, want.name)}`;
  const o = nsOpt(want.netns);
  const ownedRec = run.owned.get(want.key);
  let cur = want.netns !== undefined && run.freshNs.has(want.netns) ? undefined : await findLink(want.name, o);
  let created = false;
  const foreign = cur && foreignReason(run.owned, want, cur, run.prerecorded);
  if (foreign) throw new Error(foreign);
  if (cur) {
    const why = await mismatch(want, cur);
    if (why) {
      logger().info({ event: 'link.recreate', resource: id, reason: why }, `${id}: ${why}: recreating`);
      await deleteLink(want.name, o);
      if (want.peer) {
        const p = await findLink(want.peer.name, nsOpt(want.peer.netns));
        if (p && run.owned.marked(p, want.peer.netns, want.peer.name)) await deleteLink(want.peer.name, nsOpt(want.peer.netns));
      }
      cur = undefined;
    }
  }
  if (!cur) {
    const rec = ownedRecord(want);
    await run.owned.record(rec); // write-ahead: recorded before it exists (no write when recorded already)
    run.onRollback(id, () => run.removeLink(rec));
    if (want.peer) {
      // A port end left with our deterministic name (its endpoint end gone) goes first -- if ours.
      const stale = await findLink(want.peer.name, nsOpt(want.peer.netns));
      if (stale && !run.owned.marked(stale, want.peer.netns, want.peer.name))
        throw new Error(`${want.peer.name} (the switch port of ${want.name}) already exists and does not carry macdemux's mark: not ours, left in place`);
      if (stale) await deleteLink(want.peer.name, nsOpt(want.peer.netns));
    }
    try {
      cur = await createLink(want, run.owned); // reads the new device back (throws when it is not there)
    } catch (err) {
      // Not looked up first in a namespace this run made: a device that appeared there since is
      // reported as what it is (someone else's), like one found by the look-up.
      const there = (err as { code?: string }).code === 'EEXIST' ? await findLink(want.name, o).catch(() => undefined) : undefined;
      throw there ? new Error(foreignReason(run.owned, want, there, run.prerecorded) ?? (err as Error).message) : err;
    }
    run.note('created', id, { network: want.network, endpoint: want.endpoint, type: want.type });
    created = true;
  } else {
    await fixLink(run, want, cur, id);
  }
  if (want.inheritMac && want.endpoint && cur?.mac) run.inheritedMacs.set(`${want.network}/${want.endpoint}`, cur.mac);
  await fixAddressesAndRoutes(run, want, id, created);
  await run.step();
}

/** Why an existing device under a desired link's name is not ours to change, or undefined. */
function foreignReason(owned: OwnershipStore, want: DesiredLink, cur: LinkInfo, prerecorded?: ReadonlySet<string>): string | undefined {
  const place = want.netns ? `namespace ${want.netns}` : 'this namespace';
  if (!owned.has(want.key) || prerecorded?.has(want.key)) return `${want.name} already exists in ${place} and was not created by macdemux: rename it or set ifname`;
  if (!owned.marked(cur, want.netns, want.name))
    return `${want.name} in ${place} is recorded as created by macdemux but does not carry its mark (alias ${owned.mark(want.netns, want.name)}): another device took the name; rename or delete it by hand`;
  return undefined;
}

/** Why an existing link cannot be fixed in place (then it is recreated), or undefined. */
async function mismatch(want: DesiredLink, cur: LinkInfo): Promise<string | undefined> {
  if (cur.kind !== want.type) return `is a ${cur.kind ?? 'device'}, want ${want.type}`;
  if (want.vmTap) {
    const t = await vmTapInfo(want.name, want.netns).catch((err: Error) => err);
    if (t instanceof Error || !t) return t ? t.message : 'vanished';
    const v = want.vmTap;
    if (!t.vnetHdr) return 'tap without vnet_hdr';
    if (t.multiQueue !== v.queues > 1) return t.multiQueue ? 'multi_queue tap, want one queue' : 'single-queue tap, want multi_queue';
    if (t.owner !== v.owner || t.group !== v.group) return `owner/group ${t.owner ?? '-'}/${t.group ?? '-'}, want ${v.owner ?? '-'}/${v.group ?? '-'}`;
  }
  if (want.parent) {
    const p = await findLink(want.parent.dev, nsOpt(want.parent.netns));
    if (!p || cur.parentIndex !== p.ifindex) return `lower device is not ${parentKey(want.parent)}`;
    const mode = cur.macvlan?.mode;
    if (mode !== want.mode && (mode === 'passthru' || want.mode === 'passthru')) return `mode ${mode} -> ${want.mode} needs a new device`;
    if ((cur.macvlan?.nopromisc ?? false) !== (want.nopromisc ?? false)) return 'nopromisc changed';
  }
  if (want.peer) {
    const p = await findLink(want.peer.name, nsOpt(want.peer.netns));
    if (!p || p.kind !== 'veth' || p.parentIndex !== cur.ifindex || cur.parentIndex !== p.ifindex)
      return `veth peer ${where(want.peer.netns, want.peer.name)} is missing or not its peer`;
  }
  return undefined;
}

/**
 * Create a link and mark it at once (before anything else can fail, so a rollback can remove it).
 * Resolves to a macvlan/macvtap as read back after creation (a veth pair or a VM tap: undefined,
 * not read back here).
 */
async function createLink(want: DesiredLink, owned: OwnershipStore): Promise<LinkInfo | undefined> {
  // The kernel does not take an alias in the create request (rtnl_create_link): set it right after.
  const mark = async () => {
    await setLink(want.name, { alias: owned.mark(want.netns, want.name) }, nsOpt(want.netns));
    if (want.peer) await setLink(want.peer.name, { alias: owned.mark(want.peer.netns, want.peer.name) }, nsOpt(want.peer.netns));
  };
  if (want.type === 'tun') {
    const v = want.vmTap!;
    await ensureVmTap({
      name: want.name,
      ...nsOpt(want.netns),
      ...(v.owner !== undefined ? { owner: v.owner } : {}),
      ...(v.group !== undefined ? { group: v.group } : {}),
      mtu: await vmTapMtu(v),
      multiQueue: v.queues > 1,
    });
    await mark();
    return undefined;
  }
  if (want.type === 'veth') {
    const peer = want.peer!;
    // Created in the parent's namespace (the switch port end), the endpoint end directly in its namespace.
    await createVeth(
      {
        name: peer.name,
        up: true,
        peer: want.name,
        ...(want.netns !== peer.netns ? { peerNetns: want.netns ?? `/proc/${process.pid}/ns/net` } : {}),
        peerMac: want.mac,
        peerUp: true,
      },
      nsOpt(peer.netns),
    );
    await mark();
    // Frames of this end cross AF_PACKET: no partial checksums.
    await disableTxOffload(want.name, want.netns);
    return undefined;
  }
  const parent = want.parent!;
  const link = await createMacvlan(
    {
      name: want.name,
      parent: parent.dev,
      kind: want.type,
      mode: want.mode ?? 'bridge',
      ...(want.inheritMac ? {} : { mac: want.mac }),
      up: true,
      ...(want.nopromisc ? { nopromisc: true } : {}),
      ...(want.sourceMacs?.length ? { sourceMacs: want.sourceMacs } : {}),
      ...(want.netns !== parent.netns ? { targetNetns: want.netns ?? `/proc/${process.pid}/ns/net` } : {}),
    },
    nsOpt(parent.netns),
  );
  await mark();
  return link;
}

/** The MTU of a VM port's tap: vm.mtu, else the switch's frame limit (the network's mtu, else the uplink's MTU). */
async function vmTapMtu(v: DesiredVmTap): Promise<number> {
  if (v.mtu !== undefined) return v.mtu;
  if (v.networkMtu !== undefined) return v.networkMtu;
  const up = await findLink(v.uplink.dev, nsOpt(v.uplink.netns));
  if (!up) throw new Error(`uplink ${parentKey(v.uplink)} does not exist`);
  return up.mtu;
}

/** Fix MAC, MTU, mode, source list and up state of an owned link in place. */
async function fixLink(run: Run, want: DesiredLink, cur: LinkInfo, id: string): Promise<void> {
  const o = nsOpt(want.netns);
  if (want.vmTap) {
    // The tap's own MAC is not the guest's (the guest's is the port's): never set. Its MTU follows the config.
    const mtu = await vmTapMtu(want.vmTap);
    if (cur.mtu !== mtu) {
      await setLink(want.name, { mtu }, o);
      run.onRollback(`${id} mtu`, () => setLink(want.name, { mtu: cur.mtu }, o));
      run.note('changed', `${id} mtu ${cur.mtu} -> ${mtu}`);
    }
  } else if (!want.inheritMac && cur.mac !== want.mac) {
    await setLink(want.name, { mac: want.mac }, o);
    run.onRollback(`${id} mac`, () => setLink(want.name, { mac: cur.mac }, o));
    run.note('changed', `${id} mac ${cur.mac} -> ${want.mac}`);
  }
  if (want.type !== 'veth' && want.mode && cur.macvlan?.mode !== want.mode) {
    await changeMacvlan(want.name, { mode: want.mode }, o);
    const was = cur.macvlan?.mode;
    if (was) run.onRollback(`${id} mode`, () => changeMacvlan(want.name, { mode: was }, o));
    run.note('changed', `${id} mode ${cur.macvlan?.mode} -> ${want.mode}`);
  }
  if (want.mode === 'source') {
    const have = [...(cur.macvlan?.sourceMacs ?? [])].sort().join(',');
    const need = [...(want.sourceMacs ?? [])].sort().join(',');
    if (have !== need) {
      if (need) await setSourceMacs(want.name, 'set', want.sourceMacs ?? [], o);
      else await setSourceMacs(want.name, 'flush', [], o);
      run.note('changed', `${id} source-macs [${need}]`);
    }
  }
  if (!cur.up) {
    await setLink(want.name, { up: true }, o);
    run.note('changed', `${id} up`);
  }
  if (want.type === 'veth') {
    // Idempotent; covers a crash between creating the pair and turning the offload off.
    await disableTxOffload(want.name, want.netns);
  }
  if (want.peer) {
    const p = await findLink(want.peer.name, nsOpt(want.peer.netns));
    if (p && !p.up) {
      await setLink(want.peer.name, { up: true }, nsOpt(want.peer.netns));
      run.note('changed', `link ${where(want.peer.netns, want.peer.name)} up`);
    }
  }
}

/** Make the link's global addresses exactly the declared ones; add declared routes. */
async function fixAddressesAndRoutes(run: Run, want: DesiredLink, id: string, created: boolean): Promise<void> {
  if (want.role === 'tap') return;
  const o = nsOpt(want.netns);
  // A device this run just created has no global address yet: no dump needed.
  const have = created ? [] : (await listAddresses(want.name, o)).filter((a) => a.scope === 'global');
  const haveSet = new Set(have.map((a) => canonicalCidr(a.cidr)));
  const wantSet = new Set(want.addresses.map(canonicalCidr));
  for (const a of have) {
    if (!wantSet.has(canonicalCidr(a.cidr))) {
      await deleteAddress(want.name, a.cidr, o);
      run.onRollback(`${id} address ${a.cidr}`, () => addAddress(want.name, a.cidr, o));
      run.note('changed', `${id} address -${a.cidr}`);
    }
  }
  for (const a of want.addresses) {
    if (!haveSet.has(canonicalCidr(a))) {
      await addAddress(want.name, a, { ...o, ...(a.includes(':') ? { nodad: true } : {}) });
      run.onRollback(`${id} address ${a}`, () => deleteAddress(want.name, a, o));
      run.note('changed', `${id} address +${a}`);
    }
  }
  if (want.routes.length || want.gateways.length) {
    const fresh = want.netns !== undefined && !want.routes.length ? run.freshNs.get(want.netns) : undefined;
    const routes = fresh ? [...fresh].map((family) => ({ dst: 'default', family, dev: undefined as string | undefined })) : await listRoutes(o);
    for (const dst of want.routes) {
      if (!routes.some((r) => canonicalDst(r.dst) === canonicalDst(dst) && r.dev === want.name)) {
        await addRoute({ dst, dev: want.name }, o);
        run.note('changed', `${id} route ${dst}`);
      }
    }
    for (const gw of want.gateways) {
      const family = gw.includes(':') ? 'inet6' : 'inet';
      if (!routes.some((r) => r.dst === 'default' && r.family === family)) {
        try {
          await addRoute({ dst: 'default', via: gw, dev: want.name }, o);
          fresh?.add(family);
          run.note('changed', `${id} default via ${gw}`);
        } catch (err) {
          logger().warn({ event: 'route.skipped', resource: id, gateway: gw, err: (err as Error).message }, `${id}: default route via ${gw} not added: ${(err as Error).message}`);
        }
      }
    }
  }
}

/**
 * Remove everything this state directory created (links, then namespaces that hold nothing
 * else) and release the leases. Objects macdemux did not create are never touched.
 */
export async function teardown(stateDir: string, opts: ApplyOptions & { owned?: OwnershipStore; leases?: LeaseStore } = {}): Promise<ReconcileReport> {
  const owned = opts.owned ?? (await OwnershipStore.open(stateDir));
  const leaseStore = opts.leases ?? (await LeaseStore.open(stateDir));
  const run = new Run(owned, opts);
  const t0 = process.hrtime.bigint();
  for (const r of owned.list()) if (r.kind === 'netns') run.dyingNs.set(r.name, []);
  for (const r of owned.list()) if (r.kind === 'link') await run.removeLink(r);
  const t1 = process.hrtime.bigint();
  await run.removeNetns(owned.list().flatMap((r) => (r.kind === 'netns' ? [r.name] : [])));
  await owned.flush();
  const t2 = process.hrtime.bigint();
  if (run.report.errors.length === 0) await leaseStore.commit({});
  const phaseMs = { links: Number(t1 - t0) / 1e6, namespaces: Number(t2 - t1) / 1e6, leases: Number(process.hrtime.bigint() - t2) / 1e6 };
  run.report.leases = leaseStore.all();
  logger().info(
    { event: 'teardown.done', removed: run.report.removed.length, errors: run.report.errors.length, phaseMs },
    `teardown: ${run.report.removed.length} removed, ${run.report.errors.length} failed`,
  );
  if (run.report.errors.length) throw new ReconcileError(run.report);
  return run.report;
}
