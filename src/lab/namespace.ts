/**
 * One named network namespace of a lab: run commands inside it, read its links.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { execCommand, CommandError, type ExecOptions, type ExecResult } from './exec.ts';
import { NETNS_DIR } from './cleanup.ts';
import { validateIfname } from '../net/index.ts';
import { InvalidArgumentError } from '../errors.ts';
import { setOffloads, type OffloadSettings, type OffloadState } from '../devices/offloads.ts';

/** Packet/byte counters of one link (from `ip -s -j link show`, the kernel's 64-bit stats). */
export interface LinkStats {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  rxDropped: number;
  txDropped: number;
  rxErrors: number;
  txErrors: number;
}

/** What `ip -j link show dev X` says about a link. */
export interface LinkInfo {
  ifindex: number;
  name: string;
  mac: string;
  mtu: number;
  operstate: string;
  flags: string[];
  /** Kind from `ip -d` (e.g. "veth", "bridge"), when known. */
  kind?: string;
  /** Bridge/bond the link is enslaved to, if any. */
  master?: string;
}

/** Receives every child started with {@link Namespace.spawn}, so the lab can kill it on destroy. */
export type SpawnTracker = (child: ChildProcess) => void;

export class Namespace {
  /** Full namespace name, e.g. `mdx-1234-ab12-gen`. */
  readonly name: string;
  /** Its bind mount, `/run/netns/<name>` (usable with setns, the addon's `netns` options). */
  readonly path: string;
  readonly #track: SpawnTracker | undefined;

  /**
   * Wrap an existing named namespace (normally made by `Lab.addNamespace`).
   * `track` receives spawned children; a lab passes its own tracker.
   */
  constructor(name: string, track?: SpawnTracker) {
    if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) {
      throw new InvalidArgumentError('name', 'a namespace name of characters [A-Za-z0-9_.-]', name);
    }
    this.name = name;
    this.path = `${NETNS_DIR}/${name}`;
    this.#track = track;
  }

  /** Run `cmd args` inside the namespace (`ip netns exec NAME cmd args`, no shell). Never rejects on a non-zero exit. */
  exec(cmd: string, args: string[] = [], opts: ExecOptions = {}): Promise<ExecResult> {
    return execCommand('ip', ['netns', 'exec', this.name, cmd, ...args], opts);
  }

  /** Like {@link exec} but resolves to stdout and rejects with the command's stderr on a non-zero exit. */
  async run(cmd: string, args: string[] = [], opts: ExecOptions = {}): Promise<string> {
    const r = await this.exec(cmd, args, opts);
    if (r.code !== 0) throw new CommandError([`[netns ${this.name}]`, cmd, ...args], r);
    return r.stdout;
  }

  /**
   * Start a long-running process inside the namespace (`ip netns exec` execs it, so the child's pid is
   * the process itself). The lab kills it (SIGKILL) on destroy if it still runs.
   */
  spawn(cmd: string, args: string[] = [], opts: SpawnOptions = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.name, cmd, ...args], { stdio: 'pipe', ...opts });
    this.#track?.(child);
    return child;
  }

  /** `ip -n <name> ...args`; resolves to stdout, rejects with stderr. */
  async ip(args: string[], opts: ExecOptions = {}): Promise<string> {
    const r = await execCommand('ip', ['-n', this.name, ...args], { timeoutMs: 30_000, ...opts });
    if (r.code !== 0) throw new CommandError(['ip', '-n', this.name, ...args], r);
    return r.stdout;
  }

  /** `bridge -n <name> ...args`; resolves to stdout, rejects with stderr. */
  async bridge(args: string[], opts: ExecOptions = {}): Promise<string> {
    const r = await execCommand('bridge', ['-n', this.name, ...args], { timeoutMs: 30_000, ...opts });
    if (r.code !== 0) throw new CommandError(['bridge', '-n', this.name, ...args], r);
    return r.stdout;
  }

  /**
   * `ping -c count -W timeoutS -i 0.2 addr` inside the namespace (IPv4 or IPv6).
   * Resolves true when at least one reply came back.
   */
  async ping(addr: string, opts: { count?: number; timeoutS?: number } = {}): Promise<boolean> {
    if (typeof addr !== 'string' || !/^[0-9A-Za-z:.%_-]+$/.test(addr)) {
      throw new InvalidArgumentError('addr', 'an IPv4 or IPv6 address', addr);
    }
    const count = opts.count ?? 1;
    const timeoutS = opts.timeoutS ?? 2;
    if (!Number.isInteger(count) || count < 1) throw new InvalidArgumentError('opts.count', 'a positive integer', count);
    if (typeof timeoutS !== 'number' || !(timeoutS > 0)) throw new InvalidArgumentError('opts.timeoutS', 'a positive number', timeoutS);
    const r = await this.exec('ping', ['-n', '-q', '-c', String(count), '-W', String(timeoutS), '-i', '0.2', addr], {
      timeoutMs: Math.ceil((count * 0.2 + timeoutS) * 1000) + 10_000,
    });
    return r.code === 0;
  }

  /**
   * Set sysctls inside the namespace (`sysctl -qw key=value ...`; net.* keys are per namespace),
   * e.g. `{ 'net.ipv6.conf.all.disable_ipv6': 1 }`.
   */
  async sysctl(settings: Record<string, string | number>): Promise<void> {
    if (settings === null || typeof settings !== 'object') throw new InvalidArgumentError('settings', 'an object of sysctl keys to values', settings);
    const args: string[] = [];
    for (const [key, value] of Object.entries(settings)) {
      if (!/^[A-Za-z0-9_][A-Za-z0-9_.\/-]*$/.test(key)) throw new InvalidArgumentError(`settings key`, 'a sysctl key like "net.ipv4.ip_forward"', key);
      if (!(typeof value === 'number' && Number.isFinite(value)) && !(typeof value === 'string' && /^[^\n=]*$/.test(value))) {
        throw new InvalidArgumentError(`settings["${key}"]`, 'a number or a one-line string', value);
      }
      args.push(`${key}=${value}`);
    }
    if (args.length) await this.run('sysctl', ['-qw', ...args], { timeoutMs: 30_000 });
  }

  /** Read one sysctl inside the namespace. */
  async readSysctl(key: string): Promise<string> {
    if (typeof key !== 'string' || !/^[A-Za-z0-9_][A-Za-z0-9_.\/-]*$/.test(key)) throw new InvalidArgumentError('key', 'a sysctl key', key);
    return (await this.run('sysctl', ['-n', key], { timeoutMs: 30_000 })).trim();
  }

  /** Details of one link (`ip -d -j link show dev X`). */
  async linkInfo(ifname: string): Promise<LinkInfo> {
    validateIfname(ifname, 'ifname');
    const [l] = JSON.parse(await this.ip(['-d', '-j', 'link', 'show', 'dev', ifname])) as IpLink[];
    if (!l) throw new Error(`netns ${this.name}: no link "${ifname}"`);
    const info: LinkInfo = {
      ifindex: l.ifindex,
      name: l.ifname,
      mac: l.address ?? '',
      mtu: l.mtu,
      operstate: l.operstate ?? 'UNKNOWN',
      flags: l.flags ?? [],
    };
    if (l.linkinfo?.info_kind) info.kind = l.linkinfo.info_kind;
    if (l.master) info.master = l.master;
    return info;
  }

  /** Turn offloads of a link on or off over ethtool netlink (like `ethtool -K`; see src/devices/offloads.ts). */
  setOffloads(ifname: string, settings: OffloadSettings): Promise<OffloadState> {
    validateIfname(ifname, 'ifname');
    return setOffloads(ifname, settings, { netns: this.name });
  }

  /** Names of the links in this namespace. */
  async links(): Promise<string[]> {
    return (JSON.parse(await this.ip(['-j', 'link', 'show'])) as IpLink[]).map((l) => l.ifname);
  }

  /** Counters of one link (`ip -n NAME -s -j link show dev X`, 64-bit stats). */
  async linkStats(ifname: string): Promise<LinkStats> {
    validateIfname(ifname, 'ifname');
    const [l] = JSON.parse(await this.ip(['-s', '-j', 'link', 'show', 'dev', ifname])) as IpLink[];
    const s = l?.stats64 ?? l?.stats;
    if (!s) throw new Error(`netns ${this.name}: no statistics for "${ifname}"`);
    return {
      rxPackets: s.rx.packets,
      rxBytes: s.rx.bytes,
      txPackets: s.tx.packets,
      txBytes: s.tx.bytes,
      rxDropped: s.rx.dropped,
      txDropped: s.tx.dropped,
      rxErrors: s.rx.errors,
      txErrors: s.tx.errors,
    };
  }

  toString(): string {
    return this.name;
  }
}

/** The parts of iproute2's JSON link object the lab reads. */
interface IpLink {
  ifindex: number;
  ifname: string;
  address?: string;
  mtu: number;
  operstate?: string;
  flags?: string[];
  master?: string;
  linkinfo?: { info_kind?: string };
  stats64?: IpStats;
  stats?: IpStats;
}
interface IpStats {
  rx: { packets: number; bytes: number; dropped: number; errors: number };
  tx: { packets: number; bytes: number; dropped: number; errors: number };
}
