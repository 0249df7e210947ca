/**
 * The network lab: named namespaces with a per-run prefix, veth pairs created directly inside them,
 * bridges, and a teardown that always runs (destroy(), process exit, SIGINT/SIGTERM, uncaught errors;
 * leftovers of a SIGKILLed run are removed by cleanupStaleLabs() on the next Lab.create()).
 * It never creates, changes or deletes anything in the root namespace.
 */
import type { ChildProcess } from 'node:child_process';
import { InvalidArgumentError } from '../errors.ts';
import { log } from '../log.ts';
import { runCommand, CommandError } from './exec.ts';
import { cleanupStaleLabs, deleteNamespace, deleteNamespaceSync, namespaceExists } from './cleanup.ts';
import { Namespace } from './namespace.ts';
import { normalizeMac, validateIfname } from '../net/index.ts';
import { makePrefix, namespaceName, validateCidr, validateMtu, validatePrefix } from './names.ts';
import { registerLab, unregisterLab } from './teardown.ts';

/** One end of a veth pair to create. */
export interface VethSpec {
  /** A namespace of this lab. */
  ns: Namespace;
  /** Interface name (<= 15 characters; unique within its namespace). */
  name: string;
  /** MAC address; default: the kernel's random one. */
  mac?: string;
  /** Addresses in CIDR form, IPv4 or IPv6 (IPv6 ones are added with `nodad`, usable at once). */
  addresses?: string[];
  mtu?: number;
  /** false: turn off tx checksum, gso, tso and gro (over ethtool netlink); default: leave the veth defaults. */
  offloads?: boolean;
}

/** A created interface (veth end or bridge). */
export interface VethEnd {
  ns: Namespace;
  name: string;
  mac: string;
  ifindex: number;
}

/** Options of {@link Lab.addBridge}. */
export interface BridgeOptions {
  /** Interfaces of the same namespace to enslave (they are brought up). */
  ports?: string[];
  /** Ports (among `ports`) with hairpin mode on (reflect frames back out the port they came in on). */
  hairpin?: string[];
  /** Spanning tree; default false (ports forward at once). */
  stp?: boolean;
  /** FDB ageing time in seconds (kernel default 300); 0 = never age. */
  ageingTime?: number;
  /** Bridge MAC address. */
  mac?: string;
  /** Addresses for the bridge device itself. */
  addresses?: string[];
}

/** Options of {@link Lab.addNamespace}. */
export interface NamespaceOptions {
  /** false: disable IPv6 in the namespace (no router solicitations, MLD or DAD frames on its links). */
  ipv6?: boolean;
  /** sysctls to set once the namespace exists (net.* keys are per namespace). */
  sysctls?: Record<string, string | number>;
}

export interface LabOptions {
  /**
   * Namespace name prefix; default `mdx-<pid>-<4 hex random>`. A custom prefix is used verbatim; only
   * names of the form `mdx-<pid>-...` are recognised by cleanupStaleLabs().
   */
  prefix?: string;
}

export class Lab {
  /** Prefix of every namespace of this lab, e.g. `mdx-1234-ab12`. */
  readonly prefix: string;
  readonly #namespaces: Namespace[] = [];
  readonly #children = new Set<ChildProcess>();
  #destroying: Promise<void> | undefined;
  #destroyed = false;

  private constructor(prefix: string) {
    this.prefix = prefix;
  }

  /** Create a lab (removes stale labs of dead runs first) and guard it with exit/signal hooks. */
  static async create(opts: LabOptions = {}): Promise<Lab> {
    if (opts === null || typeof opts !== 'object') throw new InvalidArgumentError('opts', 'an object', opts);
    const prefix = opts.prefix === undefined ? makePrefix() : validatePrefix(opts.prefix, 'opts.prefix');
    try {
      await cleanupStaleLabs();
    } catch (err) {
      log('lab').warn({ event: 'lab.cleanup-failed', err: (err as Error).message }, 'stale lab cleanup failed');
    }
    const lab = new Lab(prefix);
    registerLab(lab);
    log('lab').debug({ event: 'lab.created', prefix }, 'lab created');
    return lab;
  }

  /** The lab's namespaces, in creation order. */
  get namespaces(): readonly Namespace[] {
    return [...this.#namespaces];
  }

  /** True once destroy() (or the exit hooks) ran. */
  get destroyed(): boolean {
    return this.#destroyed || this.#destroying !== undefined;
  }

  /** The namespace with this suffix, if the lab made it. */
  namespace(suffix: string): Namespace | undefined {
    const name = `${this.prefix}-${suffix}`;
    return this.#namespaces.find((n) => n.name === name);
  }

  /** Create namespace `<prefix>-<suffix>` with `lo` up. */
  async addNamespace(suffix: string, opts: NamespaceOptions = {}): Promise<Namespace> {
    this.#assertLive();
    const name = namespaceName(this.prefix, suffix, 'suffix');
    if (opts === null || typeof opts !== 'object') throw new InvalidArgumentError('opts', 'an object', opts);
    if (opts.ipv6 !== undefined && typeof opts.ipv6 !== 'boolean') throw new InvalidArgumentError('opts.ipv6', 'a boolean', opts.ipv6);
    if (this.#namespaces.some((n) => n.name === name)) {
      throw new InvalidArgumentError('suffix', 'a suffix not used yet in this lab', suffix);
    }
    try {
      await runCommand('ip', ['netns', 'add', name], { timeoutMs: 30_000 });
    } catch (err) {
      if (err instanceof CommandError && /not permitted|permission denied/i.test(err.result.stderr)) {
        throw new Error(`${err.message}; the lab needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN)`, { cause: err });
      }
      throw err;
    }
    if (this.destroyed) {
      // destroy() started while `ip netns add` ran: do not leave this one behind
      await deleteNamespace(name);
      throw new Error(`lab ${this.prefix} was destroyed while namespace ${name} was being added`);
    }
    const ns = new Namespace(name, (child) => this.#trackChild(child));
    this.#namespaces.push(ns);
    if (opts.ipv6 === false) {
      await ns.sysctl({ 'net.ipv6.conf.all.disable_ipv6': 1, 'net.ipv6.conf.default.disable_ipv6': 1 });
    }
    if (opts.sysctls) await ns.sysctl(opts.sysctls);
    await ns.ip(['link', 'set', 'dev', 'lo', 'up']);
    return ns;
  }

  /**
   * Create a veth pair with end `a` in `a.ns` and end `b` in `b.ns` (created directly there, never in
   * the root namespace), set MAC/MTU/addresses/offloads, bring both up.
   */
  async addVeth(a: VethSpec, b: VethSpec): Promise<[VethEnd, VethEnd]> {
    this.#assertLive();
    this.#validateSpec(a, 'a');
    this.#validateSpec(b, 'b');
    if (a.ns === b.ns && a.name === b.name) throw new InvalidArgumentError('b.name', 'a name different from a.name', b.name);
    const end = (s: VethSpec): string[] => [
      ...(s.mac ? ['address', s.mac] : []),
      ...(s.mtu !== undefined ? ['mtu', String(s.mtu)] : []),
      'netns',
      s.ns.name,
    ];
    await runCommand('ip', ['link', 'add', a.name, ...end(a), 'type', 'veth', 'peer', 'name', b.name, ...end(b)], {
      timeoutMs: 30_000,
    });
    try {
      for (const s of [a, b]) await this.#configure(s.ns, s.name, s);
      for (const s of [a, b]) await s.ns.ip(['link', 'set', 'dev', s.name, 'up']);
      return [await this.#describe(a.ns, a.name), await this.#describe(b.ns, b.name)];
    } catch (err) {
      await a.ns.ip(['link', 'del', 'dev', a.name]).catch(() => undefined);
      throw err;
    }
  }

  /** Create a Linux bridge in `ns`, enslave `ports`, set hairpin on `hairpin` ports, bring it all up. */
  async addBridge(ns: Namespace, name: string, opts: BridgeOptions = {}): Promise<VethEnd> {
    this.#assertLive();
    this.#validateNs(ns, 'ns');
    validateIfname(name, 'name');
    const ports = opts.ports ?? [];
    const hairpin = opts.hairpin ?? [];
    if (!Array.isArray(ports)) throw new InvalidArgumentError('opts.ports', 'an array of interface names', ports);
    if (!Array.isArray(hairpin)) throw new InvalidArgumentError('opts.hairpin', 'an array of interface names', hairpin);
    ports.forEach((p, i) => validateIfname(p, `opts.ports[${i}]`));
    hairpin.forEach((p, i) => {
      validateIfname(p, `opts.hairpin[${i}]`);
      if (!ports.includes(p)) throw new InvalidArgumentError(`opts.hairpin[${i}]`, 'one of opts.ports', p);
    });
    if (opts.ageingTime !== undefined && !(Number.isFinite(opts.ageingTime) && opts.ageingTime >= 0)) {
      throw new InvalidArgumentError('opts.ageingTime', 'a number of seconds >= 0', opts.ageingTime);
    }
    if (opts.mac !== undefined) normalizeMac(opts.mac, 'opts.mac');
    (opts.addresses ?? []).forEach((c, i) => validateCidr(c, `opts.addresses[${i}]`));

    const args = ['link', 'add', 'name', name, ...(opts.mac ? ['address', opts.mac] : []), 'type', 'bridge'];
    args.push('stp_state', opts.stp ? '1' : '0');
    if (opts.ageingTime !== undefined) args.push('ageing_time', String(Math.round(opts.ageingTime * 100)));
    await ns.ip(args);
    try {
      for (const p of ports) await ns.ip(['link', 'set', 'dev', p, 'master', name]);
      for (const p of hairpin) await ns.bridge(['link', 'set', 'dev', p, 'hairpin', 'on']);
      for (const c of opts.addresses ?? []) await this.#addAddress(ns, name, c);
      await ns.ip(['link', 'set', 'dev', name, 'up']);
      for (const p of ports) await ns.ip(['link', 'set', 'dev', p, 'up']);
      return await this.#describe(ns, name);
    } catch (err) {
      await ns.ip(['link', 'del', 'dev', name]).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Delete every namespace the lab made (processes inside are killed first, spawned children too).
   * Idempotent; concurrent calls share one teardown. Rejects if a namespace could not be removed.
   */
  destroy(): Promise<void> {
    this.#destroying ??= this.#teardown();
    return this.#destroying;
  }

  /** Synchronous teardown for exit/signal handlers (best effort). Idempotent. */
  destroySync(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const c of this.#children) killChild(c);
    for (const ns of [...this.#namespaces].reverse()) deleteNamespaceSync(ns.name);
    unregisterLab(this);
  }

  async #teardown(): Promise<void> {
    const children = [...this.#children];
    for (const c of children) killChild(c);
    await Promise.all(children.map((c) => waitExit(c, 2000)));
    const failed: string[] = [];
    for (const ns of [...this.#namespaces].reverse()) {
      if (this.#destroyed) break; // the sync path took over (process exiting)
      if (!(await deleteNamespace(ns.name))) failed.push(ns.name);
    }
    this.#destroyed = true;
    unregisterLab(this);
    const left = this.#namespaces.filter((n) => namespaceExists(n.name)).map((n) => n.name);
    if (left.length || failed.length) {
      throw new Error(`lab ${this.prefix}: could not delete namespace(s) ${[...new Set([...failed, ...left])].join(', ')}`);
    }
    log('lab').debug({ event: 'lab.destroyed', prefix: this.prefix }, 'lab destroyed');
  }

  #trackChild(child: ChildProcess): void {
    if (this.destroyed) {
      killChild(child);
      return;
    }
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
    child.once('error', () => this.#children.delete(child));
  }

  #assertLive(): void {
    if (this.destroyed) throw new Error(`lab ${this.prefix} is destroyed`);
  }

  #validateNs(ns: unknown, field: string): asserts ns is Namespace {
    if (!(ns instanceof Namespace) || !this.#namespaces.includes(ns)) {
      throw new InvalidArgumentError(field, `a Namespace of lab ${this.prefix}`, ns instanceof Namespace ? ns.name : ns);
    }
  }

  #validateSpec(s: VethSpec, field: string): void {
    if (s === null || typeof s !== 'object') throw new InvalidArgumentError(field, 'a VethSpec object', s);
    this.#validateNs(s.ns, `${field}.ns`);
    validateIfname(s.name, `${field}.name`);
    if (s.mac !== undefined) normalizeMac(s.mac, `${field}.mac`);
    if (s.mtu !== undefined) validateMtu(s.mtu, `${field}.mtu`);
    if (s.addresses !== undefined) {
      if (!Array.isArray(s.addresses)) throw new InvalidArgumentError(`${field}.addresses`, 'an array of CIDR strings', s.addresses);
      s.addresses.forEach((c, i) => validateCidr(c, `${field}.addresses[${i}]`));
    }
    if (s.offloads !== undefined && typeof s.offloads !== 'boolean') {
      throw new InvalidArgumentError(`${field}.offloads`, 'a boolean', s.offloads);
    }
  }

  async #configure(ns: Namespace, ifname: string, s: VethSpec): Promise<void> {
    for (const c of s.addresses ?? []) await this.#addAddress(ns, ifname, c);
    if (s.offloads === false) {
      await ns.setOffloads(ifname, { tx: false, gso: false, tso: false, gro: false });
    }
  }

  async #addAddress(ns: Namespace, ifname: string, cidr: string): Promise<void> {
    const { family } = validateCidr(cidr);
    await ns.ip([family === 6 ? '-6' : '-4', 'addr', 'add', cidr, 'dev', ifname, ...(family === 6 ? ['nodad'] : [])]);
  }

  async #describe(ns: Namespace, ifname: string): Promise<VethEnd> {
    const info = await ns.linkInfo(ifname);
    return { ns, name: ifname, mac: info.mac, ifindex: info.ifindex };
  }
}

/**
 * Run `fn` with a fresh lab and destroy it afterwards, also when `fn` throws (the original error wins
 * over a teardown error, which is then logged).
 */
export async function withLab<T>(fn: (lab: Lab) => Promise<T>, opts?: LabOptions): Promise<T> {
  const lab = await Lab.create(opts);
  let result: T;
  try {
    result = await fn(lab);
  } catch (err) {
    await lab.destroy().catch((e: Error) => log('lab').error({ event: 'lab.teardown-failed', err: e.message }, 'lab teardown failed'));
    throw err;
  }
  await lab.destroy();
  return result;
}

function killChild(c: ChildProcess): void {
  if (c.exitCode === null && c.signalCode === null) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
}

function waitExit(c: ChildProcess, ms: number): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null || c.pid === undefined) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    c.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
  });
}
