/**
 * The guest's network paths, each built in a lab: the hypervisor namespace `hv` (QEMU runs there)
 * and the peer namespace `peer` (peer-server.mjs), one veth and one subnet per path:
 *   bridge  : guest -> tap (ip tuntap, multi_queue) -> Linux bridge -> veth -> peer   10.11.0.0/24
 *   macvtap : guest -> macvtap character device (fds) -> veth -> peer                10.12.0.0/24
 *   vmport  : guest -> macdemux VM tap -> userspace switch -> veth -> peer           10.13.0.0/24
 * MTU 9000 on every device so the guest's jumbo ping crosses whole.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Lab, Namespace } from '../../../src/lab/index.ts';
import type { GuestNic } from './guest.ts';

export const JUMBO = 9000;
/** Every check guest-init.sh knows except the bench. */
export const ALL_CHECKS = 'qp6jdu';

export interface VmLab {
  hv: Namespace;
  peer: Namespace;
}

export async function vmLab(lab: Lab): Promise<VmLab> {
  const hv = await lab.addNamespace('hv');
  const peer = await lab.addNamespace('peer');
  return { hv, peer };
}

/** Subnet number n (11, 12, 13): guest .2, peer .1. */
export function nicAddresses(n: number): Pick<GuestNic, 'addr4' | 'addr6' | 'peer4' | 'peer6'> {
  return { addr4: `10.${n}.0.2/24`, addr6: `fd${n}::2/64`, peer4: `10.${n}.0.1`, peer6: `fd${n}::1` };
}

/** The peer's end of path n: veth `up<n>` in hv, `p<n>` in peer with the peer addresses. */
export async function peerVeth(lab: Lab, l: VmLab, n: number): Promise<string> {
  const a = nicAddresses(n);
  await lab.addVeth({ ns: l.hv, name: `up${n}`, mtu: JUMBO }, { ns: l.peer, name: `p${n}`, mtu: JUMBO, addresses: [`${a.peer4}/24`, `${a.peer6}/64`] });
  return `up${n}`;
}

/** Linux bridge + tap: `tapbr` (multiqueue, vnet_hdr, owned by `user`) on bridge `br11` with up11. */
export async function bridgePath(lab: Lab, l: VmLab, opts: { queues: number; ifname: string; user?: { uid: number; gid: number } }): Promise<GuestNic> {
  const up = await peerVeth(lab, l, 11);
  const owner = opts.user ? ['user', String(opts.user.uid), 'group', String(opts.user.gid)] : [];
  await l.hv.ip(['tuntap', 'add', 'dev', 'tapbr', 'mode', 'tap', 'vnet_hdr', ...(opts.queues > 1 ? ['multi_queue'] : []), ...owner]);
  await l.hv.ip(['link', 'set', 'dev', 'tapbr', 'mtu', String(JUMBO)]);
  await lab.addBridge(l.hv, 'br11', { ports: [up, 'tapbr'] });
  await l.hv.ip(['link', 'set', 'dev', 'br11', 'mtu', String(JUMBO)]);
  return {
    netdev: `tap,ifname=tapbr,script=no,downscript=no,vhost=off${opts.queues > 1 ? `,queues=${opts.queues}` : ''}`,
    mac: '52:54:00:00:11:02',
    queues: opts.queues,
    ifname: opts.ifname,
    ...nicAddresses(11),
    mtu: JUMBO,
    checks: ALL_CHECKS,
  };
}

/**
 * Kernel macvtap `mvt12` (bridge mode) on up12; QEMU gets one fd per queue, opened from `node` (the
 * character device macdemux made for it).
 */
export async function macvtapNic(l: VmLab, opts: { queues: number; ifname: string; node: string }): Promise<GuestNic> {
  return {
    netdev: 'tap,fds=@,vhost=off',
    open: Array.from({ length: opts.queues }, () => opts.node),
    mac: '52:54:00:00:12:02',
    queues: opts.queues,
    ifname: opts.ifname,
    ...nicAddresses(12),
    mtu: JUMBO,
    checks: ALL_CHECKS,
  };
}

/** A running `macdemux switch` (the CLI, as a user runs it). */
export interface SwitchProcess {
  child: ChildProcess;
  stderr(): string;
  /** SIGTERM and wait; resolves to the exit code. */
  stop(): Promise<number | null>;
}

const BIN = fileURLToPath(new URL('../../../bin/macdemux.js', import.meta.url));

/** Starts `macdemux switch -n hv --uplink UP --port vm:...` and waits for "started". */
export async function startSwitch(l: VmLab, args: string[]): Promise<SwitchProcess> {
  const child = spawn(process.execPath, [BIN, 'switch', '-n', l.hv.name, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const t0 = Date.now();
  while (!err.includes('started') && child.exitCode === null && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 100));
  if (!err.includes('started')) {
    child.kill('SIGKILL');
    throw new Error(`macdemux switch did not start:\n${err}`);
  }
  return {
    child,
    stderr: () => err,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/**
 * The macdemux VM port: veth up13 is the switch's uplink, `tapvm` the VM tap the switch creates
 * (owner/group `user`, 2 queues, MTU 9000); QEMU opens it by name.
 */
export async function vmPortPath(lab: Lab, l: VmLab, opts: { queues: number; ifname: string; user: { uid: number; gid: number }; extra?: string[] }): Promise<{ nic: GuestNic; sw: SwitchProcess }> {
  const up = await peerVeth(lab, l, 13);
  const mac = '52:54:00:00:13:02';
  const sw = await startSwitch(l, [
    '--uplink', up,
    '--port', `vm:tapvm,mac=${mac},queues=${opts.queues},owner=${opts.user.uid},group=${opts.user.gid},mtu=${JUMBO}`,
    ...(opts.extra ?? []),
  ]);
  const nic: GuestNic = {
    netdev: `tap,ifname=tapvm,script=no,downscript=no,vhost=off${opts.queues > 1 ? `,queues=${opts.queues}` : ''}`,
    mac,
    queues: opts.queues,
    ifname: opts.ifname,
    ...nicAddresses(13),
    mtu: JUMBO,
    checks: ALL_CHECKS,
  };
  return { nic, sw };
}
