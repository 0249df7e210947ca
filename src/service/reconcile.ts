/**
 * Idempotent apply and teardown of a config's kernel objects. Apply lists what exists, creates
 * what is missing, fixes what differs (MAC, mode, addresses, routes, up) and removes what this
 * state directory created and the config no longer declares; teardown removes exactly what was
 * created. Devices are made through src/devices (rtnetlink); ownership and leases are persisted
 * (write-ahead) in the state directory so a crash at any point converges on the next run.
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
import { log } from '../log.ts';
import type { MacvlanMode, ServiceConfig } from './config.ts';
import { parentKey } from './config.ts';
import { type DesiredLink, type DesiredState, desiredState } from './desired.ts';
import { formatIp, parseCidr, parseIp } from './ipaddr.ts';
import { LeaseStore, type LeaseTable, planLeases, withoutStale } from './leases.ts';
import { createNetns, deleteNetns, disableTxOffload, netnsExists } from './netns.ts';
import { type OwnedLink, OwnershipStore, resourceKey } from './ownership.ts';

const logger = () => log('reconcile');

/** What an apply or teardown did. */
export interface ReconcileReport {
  created: string[];
  changed: string[];
  removed: string[];
  /** Per-resource failures (the rest was still applied). */
  errors: { resource: string; message: string }[];
  /** The leases after the run. */
  leases: LeaseTable;
  /** The desired state that was applied (apply only). */
  desired?: DesiredState;
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
  /** Runtime mode changes (control API) by endpoint name; they win over the network's mode. */
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

  /** Remove an owned link (and, for a veth, its peer) if it still exists; then forget it. */
  async removeLink(r: OwnedLink): Promise<void> {
    const key = resourceKey(r);
    try {
      if (!r.netns || netnsExists(r.netns)) {
        const l = await findLink(r.name, nsOpt(r.netns));
        if (l) {
          await deleteLink(r.name, nsOpt(r.netns));
          this.note('removed', `link ${where(r.netns, r.name)}`, { network: r.network, endpoint: r.endpoint });
        }
      }
      if (r.peer && (!r.peer.netns || netnsExists(r.peer.netns))) {
        const p = await findLink(r.peer.name, nsOpt(r.peer.netns));
        if (p && p.kind === 'veth') {
          await deleteLink(r.peer.name, nsOpt(r.peer.netns));
          this.note('removed', `link ${where(r.peer.netns, r.peer.name)}`);
        }
      }
      await this.owned.forget(key);
      await this.step();
    } catch (err) {
      this.fail(`link ${where(r.netns, r.name)}`, err);
    }
  }

  /** Remove an owned namespace when nothing but lo is left in it; then forget it. */
  async removeNetns(name: string): Promise<void> {
    const key = resourceKey({ kind: 'netns', name });
    try {
      if (netnsExists(name)) {
        const others = (await listLinks({ netns: name })).filter((l) => l.name !== 'lo');
        if (others.length) {
          logger().warn(
            { event: 'netns.kept', netns: name, links: others.map((l) => l.name) },
            `namespace ${name} was created by macdemux but now holds interfaces it did not create (${others.map((l) => l.name).join(', ')}): left in place`,
          );
        } else {
          await deleteNetns(name);
          this.note('removed', `netns ${name}`);
        }
      }
      await this.owned.forget(key);
      await this.step();
    } catch (err) {
      this.fail(`netns ${name}`, err);
    }
  }
}

/**
 * Apply a config: plan and persist leases, remove what is no longer declared, create and fix the
 * rest. Resolves to the report; throws {@link ReconcileError} when some resources failed (after
 * applying all the others).
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

  // 1. Leases first, persisted before any address is configured.
  const plan = planLeases(config.networks, leaseStore.all());
  if (await leaseStore.commit(plan.table)) {
    logger().info({ event: 'leases.committed', changes: plan.changes }, `leases: ${plan.changes.length ? plan.changes.join('; ') : 'unchanged'}`);
  }
  const desired = desiredState(config, plan.table);
  for (const l of desired.links) {
    const m = l.endpoint !== undefined ? opts.modeOverrides?.get(l.endpoint) : undefined;
    if (!m) continue;
    if (l.type !== 'veth') l.mode = m;
    if (l.port) l.port.mode = m;
  }
  const wantedLinks = new Map(desired.links.map((l) => [l.key, l]));
  const wantedNs = new Set(desired.namespaces);

  // 2. Remove owned links that are no longer declared, or whose type/peer changed.
  for (const r of owned.list()) {
    if (r.kind !== 'link') continue;
    const want = wantedLinks.get(resourceKey(r));
    const same = want && want.type === r.type && JSON.stringify(want.peer ?? null) === JSON.stringify(r.peer ?? null);
    if (!same) await run.removeLink(r);
  }
  for (const r of owned.list()) {
    if (r.kind === 'netns' && !wantedNs.has(r.name)) await run.removeNetns(r.name);
  }
  // Leases of removed endpoints are released only now that their devices are gone.
  await leaseStore.commit(withoutStale(plan.table, plan.stale));

  // 3. Parents must exist and be up.
  const badParents = new Set<string>();
  for (const { network, parent } of desired.parents) {
    const pk = parentKey(parent);
    try {
      if (parent.netns && !netnsExists(parent.netns)) throw new Error(`namespace ${parent.netns} does not exist`);
      const l = await findLink(parent.dev, nsOpt(parent.netns));
      if (!l) throw new Error(`device ${parent.dev} does not exist${parent.netns ? ` in namespace ${parent.netns}` : ''}`);
      if (!l.up) {
        await setLink(parent.dev, { up: true }, nsOpt(parent.netns));
        logger().info({ event: 'parent.up', network, parent: pk }, `parent ${pk} was down: set up`);
      }
    } catch (err) {
      badParents.add(pk);
      run.fail(`network ${network} parent ${pk}`, err);
    }
  }

  // 4. Namespaces.
  for (const ns of desired.namespaces) {
    try {
      if (!netnsExists(ns)) {
        await owned.record({ kind: 'netns', name: ns });
        await createNetns(ns);
        run.note('created', `netns ${ns}`);
        await run.step();
      } else if (owned.has(resourceKey({ kind: 'netns', name: ns }))) {
        // Ours: lo must be up (a crash may have hit between `ip netns add` and `lo up`).
        const lo = await findLink('lo', { netns: ns });
        if (lo && !lo.up) {
          await setLink('lo', { up: true }, { netns: ns });
          run.note('changed', `netns ${ns} lo up`);
        }
      }
    } catch (err) {
      run.fail(`netns ${ns}`, err);
    }
  }

  // 5. Links.
  for (const want of desired.links) {
    if (want.parent && badParents.has(parentKey(want.parent))) continue;
    try {
      await ensureLink(run, want);
    } catch (err) {
      run.fail(`link ${where(want.netns, want.name)}`, err);
    }
  }

  run.report.leases = leaseStore.all();
  run.report.desired = desired;
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  logger().info(
    { event: 'apply.done', created: run.report.created.length, changed: run.report.changed.length, removed: run.report.removed.length, errors: run.report.errors.length, ms: Math.round(ms) },
    `apply: ${run.report.created.length} created, ${run.report.changed.length} changed, ${run.report.removed.length} removed, ${run.report.errors.length} failed`,
  );
  if (run.report.errors.length) throw new ReconcileError(run.report);
  return run.report;
}

/** Make one desired link exist as declared. */
async function ensureLink(run: Run, want: DesiredLink): Promise<void> {
  const id = `link ${where(want.netns, want.name)}`;
  const o = nsOpt(want.netns);
  const ownedRec = run.owned.get(want.key);
  let cur = await findLink(want.name, o);
  if (cur && !ownedRec) {
    throw new Error(`${want.name} already exists in ${want.netns ? `namespace ${want.netns}` : 'this namespace'} and was not created by macdemux: rename it or set ifname`);
  }
  if (cur) {
    const why = await mismatch(want, cur);
    if (why) {
      logger().info({ event: 'link.recreate', resource: id, reason: why }, `${id}: ${why}: recreating`);
      await deleteLink(want.name, o);
      if (want.peer) {
        const p = await findLink(want.peer.name, nsOpt(want.peer.netns));
        if (p) await deleteLink(want.peer.name, nsOpt(want.peer.netns));
      }
      cur = undefined;
    }
  }
  if (!cur) {
    const rec: OwnedLink = {
      kind: 'link',
      ...(want.netns ? { netns: want.netns } : {}),
      name: want.name,
      role: want.role,
      network: want.network,
      ...(want.endpoint ? { endpoint: want.endpoint } : {}),
      type: want.type,
      ...(want.peer ? { peer: want.peer } : {}),
    };
    await run.owned.record(rec); // write-ahead: recorded before it exists
    if (want.peer) {
      // A stale port end with our deterministic name (crash between the two ends) goes first.
      const stale = await findLink(want.peer.name, nsOpt(want.peer.netns));
      if (stale) await deleteLink(want.peer.name, nsOpt(want.peer.netns));
    }
    await createLink(want);
    run.note('created', id, { network: want.network, endpoint: want.endpoint, type: want.type });
    cur = await findLink(want.name, o);
    if (!cur) throw new Error('created but not found afterwards');
  } else {
    await fixLink(run, want, cur, id);
  }
  await fixAddressesAndRoutes(run, want, id);
  await run.step();
}

/** Why an existing link cannot be fixed in place (then it is recreated), or undefined. */
async function mismatch(want: DesiredLink, cur: LinkInfo): Promise<string | undefined> {
  if (cur.kind !== want.type) return `is a ${cur.kind ?? 'device'}, want ${want.type}`;
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

async function createLink(want: DesiredLink): Promise<void> {
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
    // Frames of this end cross AF_PACKET: no partial checksums.
    await disableTxOffload(want.name, want.netns);
    return;
  }
  const parent = want.parent!;
  await createMacvlan(
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
}

/** Fix MAC, mode, source list and up state of an owned link in place. */
async function fixLink(run: Run, want: DesiredLink, cur: LinkInfo, id: string): Promise<void> {
  const o = nsOpt(want.netns);
  if (!want.inheritMac && cur.mac !== want.mac) {
    await setLink(want.name, { mac: want.mac }, o);
    run.note('changed', `${id} mac ${cur.mac} -> ${want.mac}`);
  }
  if (want.type !== 'veth' && want.mode && cur.macvlan?.mode !== want.mode) {
    await changeMacvlan(want.name, { mode: want.mode }, o);
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
async function fixAddressesAndRoutes(run: Run, want: DesiredLink, id: string): Promise<void> {
  if (want.role === 'tap') return;
  const o = nsOpt(want.netns);
  const have = (await listAddresses(want.name, o)).filter((a) => a.scope === 'global');
  const haveSet = new Set(have.map((a) => canonicalCidr(a.cidr)));
  const wantSet = new Set(want.addresses.map(canonicalCidr));
  for (const a of have) {
    if (!wantSet.has(canonicalCidr(a.cidr))) {
      await deleteAddress(want.name, a.cidr, o);
      run.note('changed', `${id} address -${a.cidr}`);
    }
  }
  for (const a of want.addresses) {
    if (!haveSet.has(canonicalCidr(a))) {
      await addAddress(want.name, a, { ...o, ...(a.includes(':') ? { nodad: true } : {}) });
      run.note('changed', `${id} address +${a}`);
    }
  }
  if (want.routes.length || want.gateways.length) {
    const routes = await listRoutes(o);
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
  for (const r of owned.list()) if (r.kind === 'link') await run.removeLink(r);
  for (const r of owned.list()) if (r.kind === 'netns') await run.removeNetns(r.name);
  if (run.report.errors.length === 0) await leaseStore.commit({});
  run.report.leases = leaseStore.all();
  logger().info(
    { event: 'teardown.done', removed: run.report.removed.length, errors: run.report.errors.length },
    `teardown: ${run.report.removed.length} removed, ${run.report.errors.length} failed`,
  );
  if (run.report.errors.length) throw new ReconcileError(run.report);
  return run.report;
}
