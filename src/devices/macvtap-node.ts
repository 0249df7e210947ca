/**
 * The character device of a macvtap, made by macdemux under a directory it owns, named by namespace
 * and interface. Never /dev/tapN: the kernel names that node by ifindex (drivers/net/macvtap.c
 * creates "tap%d" with dev->ifindex), and ifindexes repeat across namespaces, so two namespaces with
 * a macvtap at ifindex 4 share one /dev/tap4 that points at whichever udev (if any) saw first.
 * The major:minor come from the device's sysfs entry read *inside its namespace*
 * (/sys/class/net/IF/macvtap/tapN/dev; sysfs shows the mounting namespace's devices, so it is
 * mounted afresh in a private mount namespace entered with the network namespace).
 */
import { chmodSync, chownSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError } from '../errors.ts';
import { runCommand } from '../lab/exec.ts';
import { netnsPath } from './netns-ref.ts';
import { validateIfname } from '../net/ifname.ts';
import { validateNetnsName } from './validate.ts';

/** A macvtap's character device as the kernel numbers it. */
export interface MacvtapDevice {
  ifname: string;
  ifindex: number;
  major: number;
  minor: number;
}

/** Options of {@link makeMacvtapNode}. */
export interface MacvtapNodeOptions {
  ifname: string;
  /** Namespace of the macvtap (name under /run/netns or a path); default: the caller's. */
  netns?: string;
  /** Directory to make the node under (its `<netns>/<ifname>`; the host namespace is `_host`). */
  dir: string;
  /** Owner uid / group gid of the node (default root:root). */
  owner?: number;
  group?: number;
  /** Permission bits (default 0o600; 0o660 lets the group open it). */
  mode?: number;
}

/** A made node. */
export interface MacvtapNode extends MacvtapDevice {
  path: string;
  owner: number;
  group: number;
  mode: number;
}

/** Reads the macvtap's ifindex and major:minor from sysfs inside its namespace. */
export async function macvtapDevice(ifname: string, netns?: string): Promise<MacvtapDevice> {
  validateIfname(ifname, 'ifname');
  const script =
    'cd "/sys/class/net/$1" 2>/dev/null || { echo "no such interface" >&2; exit 3; }; ' +
    'for d in macvtap/tap*; do [ -r "$d/dev" ] || { echo "not a macvtap (no macvtap/tapN in sysfs)" >&2; exit 4; }; echo "$(cat ifindex) $(cat "$d/dev")"; done';
  const sh = ['sh', '-c', script, 'macvtap-dev', ifname];
  const argv =
    netns === undefined
      ? sh
      : // a private mount namespace with its own /sys: sysfs shows the devices of the netns that mounts it
        ['nsenter', `--net=${netnsPath(validateNetnsName(netns, 'netns'))}`, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', `mount -t sysfs sysfs /sys && exec "$@"`, 'sysfs', ...sh];
  let out: string;
  try {
    out = await runCommand(argv[0]!, argv.slice(1), { timeoutMs: 10_000 });
  } catch (err) {
    const msg = (err as Error).message.replace(/^`[^`]*` /, '');
    throw new Error(`macvtap ${ifname}${netns ? ` in netns ${netns}` : ''}: cannot read its character device from sysfs: ${msg}`, { cause: err });
  }
  const m = /^(\d+) (\d+):(\d+)\s*$/.exec(out.trim());
  if (!m) throw new Error(`macvtap ${ifname}: unexpected sysfs answer ${JSON.stringify(out)}`);
  return { ifname, ifindex: Number(m[1]), major: Number(m[2]), minor: Number(m[3]) };
}

/** Where {@link makeMacvtapNode} puts the node of (netns, ifname). */
export function macvtapNodePath(dir: string, ifname: string, netns?: string): string {
  const ns = netns === undefined ? '_host' : netns.startsWith('/') ? netns.replace(/^\/+/, '').replace(/[^A-Za-z0-9_.-]/g, '_') : netns;
  return join(dir, ns, ifname);
}

/**
 * Makes (or remakes: the numbers change when the macvtap is recreated) the macvtap's character
 * device node at {@link macvtapNodePath} with the given owner, group and mode, atomically (mknod to a
 * temporary name, then rename).
 */
export async function makeMacvtapNode(o: MacvtapNodeOptions): Promise<MacvtapNode> {
  if (typeof o.dir !== 'string' || !o.dir.startsWith('/')) throw new InvalidArgumentError('dir', 'an absolute directory path', o.dir);
  const owner = o.owner ?? 0;
  const group = o.group ?? 0;
  const mode = o.mode ?? 0o600;
  for (const [k, v] of [['owner', owner], ['group', group]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xfffffffe) throw new InvalidArgumentError(k, 'a uid/gid (integer >= 0)', v);
  }
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) throw new InvalidArgumentError('mode', 'permission bits 0..0o777', mode);
  const dev = await macvtapDevice(o.ifname, o.netns);
  const path = macvtapNodePath(o.dir, o.ifname, o.netns);
  mkdirSync(join(path, '..'), { recursive: true, mode: 0o755 });
  const tmp = `${path}.${process.pid}.tmp`;
  rmSync(tmp, { force: true });
  await runCommand('mknod', ['-m', '600', tmp, 'c', String(dev.major), String(dev.minor)], { timeoutMs: 10_000 });
  try {
    chownSync(tmp, owner, group);
    chmodSync(tmp, mode);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  return { ...dev, path, owner, group, mode };
}

/** Removes the node of (netns, ifname) if it is there (and only a character device). */
export function removeMacvtapNode(dir: string, ifname: string, netns?: string): void {
  const path = macvtapNodePath(dir, ifname, netns);
  try {
    if (statSync(path).isCharacterDevice()) rmSync(path);
  } catch {
    /* not there */
  }
}
