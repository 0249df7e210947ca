/**
 * Hand-off of a userspace VM port's tap (the persistent vnet_hdr tap the daemon makes for a `vm:`
 * endpoint on a `dataplane: userspace` network, src/devices/vm-tap.ts): each hand-off attaches
 * fresh hypervisor queues by name (TUNSETIFF with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, plus
 * IFF_MULTI_QUEUE exactly when the tap was made with it) in the tap's namespace, and sends them.
 *
 * One hypervisor per tap. What the kernel does with a second one (drivers/net/tun.c tun_attach):
 * a single-queue tap with its queue attached answers EBUSY, but a multiqueue tap takes queues up to
 * MAX_TAP_QUEUES (256) from anyone, so a second launcher's queues would silently join the first
 * VM's and the tap would spread the first guest's frames over both (tun_select_queue). So the
 * hand-off refuses (EBUSY, with the count) while any queue of the tap is attached, refuses more
 * queues than the endpoint has, and checks after attaching that the tap has exactly the queues it
 * sent (a hypervisor that opened the tap by name meanwhile makes it close them and refuse).
 * Queues detach when the hypervisor closes its fds (it exits): then the next launcher may ask.
 */
import { closeSync } from 'node:fs';
import { vmTapInfo, type VmTapInfo } from '../devices/vm-tap.ts';
import { TapQueue } from '../io/tap-queue.ts';
import type { HandoffEndpoint } from './server.ts';

/** What the hand-off needs of a userspace VM port (a DesiredLink with vmTap, src/service/desired.ts). */
export interface VmTapLink {
  name: string;
  netns?: string;
  endpoint?: string;
  mac: string;
  vmTap?: { queues: number; owner?: number; group?: number };
}

/** An error with the errno name the kernel would give (the launcher prints the message). */
function refuse(code: 'EBUSY' | 'EINVAL' | 'ENODEV', message: string): Error {
  return Object.assign(new Error(message), { code });
}

// hand-offs of one tap run one at a time (the check-attach-recheck below is not atomic otherwise)
const busy = new Map<string, Promise<unknown>>();
function serialized<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const p = (busy.get(key) ?? Promise.resolve()).then(fn, fn);
  const tail = p.catch(() => {});
  busy.set(key, tail);
  void tail.then(() => busy.get(key) === tail && busy.delete(key));
  return p;
}

/** Attach `queues` hypervisor queues of the tap and return their fds (the caller closes them after sending). */
export async function openVmTapQueues(l: VmTapLink, queues: number): Promise<number[]> {
  const limit = l.vmTap?.queues ?? 1;
  return serialized(`${l.netns ?? ''}/${l.name}`, async () => {
    const where = `tap ${l.name}${l.netns ? ` in ${l.netns}` : ''}`;
    const before = await vmTapInfo(l.name, l.netns);
    if (!before) throw refuse('ENODEV', `${where} does not exist (the daemon re-creates it on the next apply)`);
    if (queues > limit) throw refuse('EINVAL', `${where} has ${limit} queue(s) (vm.queues); asked for ${queues}`);
    if (queues > 1 && !before.multiQueue) throw refuse('EINVAL', `${where} is a single-queue tap; asked for ${queues} queues`);
    if (before.queuesAttached > 0) throw busyError(where, before);
    const qs = TapQueue.openQueues({ ifname: l.name, ...(l.netns ? { netns: l.netns } : {}), kind: 'tap', vnetHdr: true, multiQueue: before.multiQueue }, queues);
    const fds = qs.map((q) => q.detachFd());
    try {
      const after = await vmTapInfo(l.name, l.netns);
      if (after?.queuesAttached !== queues)
        throw refuse('EBUSY', `${where} changed while attaching (${after ? `${after.queuesAttached} queue(s) attached, ${queues} of them these` : 'it vanished'}): another hypervisor or a re-create; try again`);
      return fds;
    } catch (err) {
      for (const fd of fds) closeSync(fd);
      throw err;
    }
  });
}

function busyError(where: string, t: VmTapInfo): Error {
  return refuse('EBUSY', `${where} is in use: ${t.queuesAttached} hypervisor queue(s) attached already (one hypervisor per tap; a multiqueue tap would take more queues and split the guest's frames between them): stop that hypervisor first`);
}

/** The hand-off view of the userspace VM port of `endpoint` among `links`, or undefined. */
export function vmTapHandoff(links: readonly VmTapLink[] | undefined, endpoint: string): HandoffEndpoint | undefined {
  const l = links?.find((x) => x.vmTap && x.endpoint === endpoint);
  if (!l?.vmTap) return undefined;
  return {
    ...(l.vmTap.owner !== undefined ? { owner: l.vmTap.owner } : {}),
    ...(l.vmTap.group !== undefined ? { group: l.vmTap.group } : {}),
    ifname: l.name,
    mac: l.mac,
    open: (queues) => openVmTapQueues(l, queues),
  };
}
