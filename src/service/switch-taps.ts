/**
 * The VM taps of `macdemux switch --port vm:NAME` in a state directory, so that `macdemux down`
 * removes them the way it removes what `up` made. A tap the switch creates is recorded first
 * (write-ahead, origin `switch`) and then carries the state's mark (IFLA_IFALIAS, see
 * ownership.ts); a tap that existed already is adopted as it is: recorded and removable only if it
 * carries the mark, never when someone else made it. An apply of a config never removes these
 * records (no config declares them); teardown (`down`) removes the marked ones.
 */
import { findLink, setLink } from '../devices/index.ts';
import { ensureVmTap, vmTapInfo, type VmTapInfo, type VmTapOptions } from '../devices/vm-tap.ts';
import { ensurePrivateDir } from './atomic-file.ts';
import { type OwnedLink, OwnershipStore, resourceKey, StateLock } from './ownership.ts';

/** What {@link ensureSwitchTap} did. */
export interface SwitchTap {
  info: VmTapInfo;
  /** Whether the tap is recorded in the state directory and carries its mark (`down` removes it). */
  owned: boolean;
  /** Why it is not (`down` leaves it alone), when not. */
  why?: string;
}

const nsOpt = (netns?: string) => (netns ? { netns } : {});

function record(o: VmTapOptions): OwnedLink {
  return { kind: 'link', ...nsOpt(o.netns), name: o.name, role: 'tap', network: 'switch', type: 'tun', origin: 'switch' };
}

/**
 * Create (or adopt) the VM tap and, when the state directory is free, record and mark it. While a
 * daemon holds the state directory the tap is still made, unrecorded (the daemon owns the records).
 */
export async function ensureSwitchTap(stateDir: string, o: VmTapOptions): Promise<SwitchTap> {
  await ensurePrivateDir(stateDir);
  let lock: StateLock;
  try {
    lock = await StateLock.acquire(stateDir, 'macdemux switch (VM taps)');
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_MACDEMUX_LOCKED') throw err;
    return { info: await ensureVmTap(o), owned: false, why: `${(err as Error).message}: not recorded there` };
  }
  try {
    const owned = await OwnershipStore.open(stateDir);
    const key = resourceKey(record(o));
    const prev = owned.get(key);
    if (await vmTapInfo(o.name, o.netns)) {
      const info = await ensureVmTap(o);
      const l = await findLink(o.name, nsOpt(o.netns));
      if (l && owned.marked(l, o.netns, o.name)) {
        if (!prev) await owned.record(record(o));
        return { info, owned: true };
      }
      return { info, owned: false, why: 'it existed already without macdemux\'s mark (not made by macdemux)' };
    }
    if (prev && (prev as OwnedLink).origin !== 'switch') throw new Error(`tap ${o.name} is declared by the config of ${stateDir} (${owned.config ?? 'unknown'})`);
    await owned.record(record(o)); // write-ahead: a record without its device is harmless
    let info: VmTapInfo;
    try {
      info = await ensureVmTap(o);
      await setLink(o.name, { alias: owned.mark(o.netns, o.name) }, nsOpt(o.netns));
    } catch (err) {
      await owned.forget(key);
      throw err;
    }
    return { info, owned: true };
  } finally {
    await lock.release();
  }
}

/** Forget the record of a switch tap that was deleted (best effort: a stale record is harmless). */
export async function forgetSwitchTap(stateDir: string, o: Pick<VmTapOptions, 'name' | 'netns'>): Promise<void> {
  let lock: StateLock;
  try {
    lock = await StateLock.acquire(stateDir, 'macdemux switch (VM taps)');
  } catch {
    return;
  }
  try {
    const owned = await OwnershipStore.open(stateDir);
    const key = resourceKey({ kind: 'link', netns: o.netns, name: o.name });
    if ((owned.get(key) as OwnedLink | undefined)?.origin === 'switch') await owned.forget(key);
  } finally {
    await lock.release();
  }
}
