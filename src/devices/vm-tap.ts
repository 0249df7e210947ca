/**
 * VM taps: the persistent (multiqueue) tap a hypervisor opens by name (QEMU
 * `-netdev tap,ifname=NAME,script=no,downscript=no[,queues=N]`) while the userspace switch serves
 * its network-device side, the way a Linux bridge serves a VM's tap.
 *
 * tun/tap devices cannot be made over rtnetlink (drivers/net/tun.c tun_validate(): "tun/tap creation
 * via rtnetlink is not supported"), only by ioctls on /dev/net/tun: TUNSETIFF with
 * IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE, TUNSETOWNER / TUNSETGROUP (who may attach a
 * queue without CAP_NET_ADMIN: tun_not_capable()), TUNSETPERSIST (the device outlives the fd). That
 * is exactly what `ip tuntap add` does (iproute2 ip/iptuntap.c), so macdemux runs it; the result is
 * read back from rtnetlink's tun link info and checked.
 */
import { InvalidArgumentError } from '../errors.ts';
import { execCommand } from '../lab/exec.ts';
import { validateIfname } from '../net/ifname.ts';
import { validateNetnsName } from './validate.ts';

/** Options of {@link ensureVmTap}. */
export interface VmTapOptions {
  /** Tap name (the hypervisor's `ifname=`). */
  name: string;
  /** Namespace to create it in (the hypervisor's and the switch's); default: the caller's. */
  netns?: string;
  /** uid allowed to attach queues (TUNSETOWNER); default: none (root only). */
  owner?: number;
  /** gid allowed to attach queues (TUNSETGROUP). */
  group?: number;
  mtu?: number;
  /**
   * IFF_MULTI_QUEUE (default true). QEMU sets it only with queues >= 2 (net/tap-linux.c), and
   * TUNSETIFF refuses a mismatch with EINVAL (drivers/net/tun.c tun_set_iff), so a single-queue
   * guest needs a single-queue tap.
   */
  multiQueue?: boolean;
}

/** A VM tap as rtnetlink reports it. */
export interface VmTapInfo {
  name: string;
  ifindex: number;
  mtu: number;
  up: boolean;
  vnetHdr: boolean;
  multiQueue: boolean;
  persist: boolean;
  owner?: number;
  group?: number;
  /** Queues attached now (QEMU's fds; 0 when no hypervisor runs). */
  queuesAttached: number;
}

function checkId(v: unknown, field: string): void {
  if (v !== undefined && (!Number.isInteger(v) || (v as number) < 0 || (v as number) > 0xfffffffe))
    throw new InvalidArgumentError(field, 'a numeric uid/gid (integer >= 0)', v);
}

async function ip(args: string[], netns?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return execCommand('ip', [...(netns ? ['-n', netns] : []), ...args], { timeoutMs: 30_000 });
}

interface IpTunLink {
  ifindex: number;
  ifname: string;
  mtu: number;
  flags?: string[];
  num_tx_queues?: number;
  linkinfo?: { info_kind?: string; info_data?: { type?: string; pi?: boolean; vnet_hdr?: boolean; multi_queue?: boolean; persist?: boolean; user?: string | number; group?: string | number; numqueues?: number } };
}

/** The VM tap NAME, or undefined when there is no such link (throws when NAME is not a tap). */
export async function vmTapInfo(name: string, netns?: string): Promise<VmTapInfo | undefined> {
  validateIfname(name, 'name');
  if (netns !== undefined) validateNetnsName(netns, 'netns');
  const r = await ip(['-d', '-j', 'link', 'show', 'dev', name], netns);
  if (r.code !== 0) {
    if (/does not exist|Cannot find device/i.test(r.stderr)) return undefined;
    throw new Error(`ip link show ${name}: ${r.stderr.trim()}`);
  }
  const [l] = JSON.parse(r.stdout) as IpTunLink[];
  if (!l) return undefined;
  const d = l.linkinfo?.info_data;
  if (l.linkinfo?.info_kind !== 'tun' || d?.type !== 'tap') throw new Error(`${name} exists and is not a tap (kind ${l.linkinfo?.info_kind ?? 'unknown'})`);
  // iproute2 prints user/group by name when the id has one; resolve back to numbers
  const id = async (v: string | number | undefined, db: 'passwd' | 'group'): Promise<number | undefined> => {
    if (v === undefined) return undefined;
    if (typeof v === 'number' || /^\d+$/.test(v)) return Number(v);
    const g = await execCommand('getent', [db, v], { timeoutMs: 5000 });
    const n = Number(g.stdout.split(':')[2]);
    return Number.isInteger(n) ? n : undefined;
  };
  const owner = await id(d.user, 'passwd');
  const group = await id(d.group, 'group');
  return {
    name: l.ifname,
    ifindex: l.ifindex,
    mtu: l.mtu,
    up: (l.flags ?? []).includes('UP'),
    vnetHdr: d.vnet_hdr === true,
    multiQueue: d.multi_queue === true,
    persist: d.persist !== false,
    ...(owner !== undefined ? { owner } : {}),
    ...(group !== undefined ? { group } : {}),
    queuesAttached: d.numqueues ?? 0,
  };
}

/**
 * Creates the persistent multiqueue vnet_hdr tap (or adopts an existing one that matches: it
 * survives a switch restart), sets the MTU and brings it up. An existing link that is not such a
 * tap, or whose owner/group differ, is an error (nothing is changed).
 */
export async function ensureVmTap(o: VmTapOptions): Promise<VmTapInfo> {
  validateIfname(o.name, 'name');
  if (o.netns !== undefined) validateNetnsName(o.netns, 'netns');
  checkId(o.owner, 'owner');
  checkId(o.group, 'group');
  if (o.mtu !== undefined && (!Number.isInteger(o.mtu) || o.mtu < 68 || o.mtu > 65521))
    throw new InvalidArgumentError('mtu', 'an MTU 68..65521', o.mtu);
  let info = await vmTapInfo(o.name, o.netns);
  if (info) {
    const bad: string[] = [];
    if (!info.vnetHdr) bad.push('no vnet_hdr');
    if (info.multiQueue !== (o.multiQueue ?? true)) bad.push(info.multiQueue ? 'multi_queue (the port wants one queue)' : 'not multi_queue');
    if (o.owner !== info.owner) bad.push(`owner ${info.owner ?? 'none'}, want ${o.owner ?? 'none'}`);
    if (o.group !== info.group) bad.push(`group ${info.group ?? 'none'}, want ${o.group ?? 'none'}`);
    if (bad.length) throw new Error(`tap ${o.name} exists but ${bad.join(', ')}: delete it or change the port`);
  } else {
    const owner = [...(o.owner !== undefined ? ['user', String(o.owner)] : []), ...(o.group !== undefined ? ['group', String(o.group)] : [])];
    const r = await ip(['tuntap', 'add', 'dev', o.name, 'mode', 'tap', 'vnet_hdr', ...((o.multiQueue ?? true) ? ['multi_queue'] : []), ...owner], o.netns);
    if (r.code !== 0) throw new Error(`creating tap ${o.name}: ${r.stderr.trim() || `ip exited with ${r.code}`}`);
  }
  const set = ['link', 'set', 'dev', o.name, ...(o.mtu !== undefined ? ['mtu', String(o.mtu)] : []), 'up'];
  const r = await ip(set, o.netns);
  if (r.code !== 0) throw new Error(`tap ${o.name}: ${r.stderr.trim()}`);
  info = await vmTapInfo(o.name, o.netns);
  if (!info) throw new Error(`tap ${o.name} vanished after creation`);
  return info;
}

/** Deletes the VM tap (a hypervisor still attached loses its queues). False when it was not there. */
export async function deleteVmTap(name: string, netns?: string): Promise<boolean> {
  if (!(await vmTapInfo(name, netns))) return false;
  // `ip link del` works for tun/tap (tun_dellink) whatever its flags
  const r = await ip(['link', 'del', 'dev', name], netns);
  if (r.code !== 0) throw new Error(`deleting tap ${name}: ${r.stderr.trim()}`);
  return true;
}

/** The QEMU options that attach a guest NIC to this tap (vhost only where the kernel has vhost-net). */
export function qemuTapArgs(name: string, mac: string, queues: number, vhost: boolean): string[] {
  const q = queues > 1 ? `,queues=${queues}` : '';
  const mq = queues > 1 ? `,mq=on,vectors=${2 * queues + 2}` : '';
  return ['-netdev', `tap,id=${name},ifname=${name},script=no,downscript=no,vhost=${vhost ? 'on' : 'off'}${q}`, '-device', `virtio-net-pci,netdev=${name},mac=${mac}${mq}`];
}
