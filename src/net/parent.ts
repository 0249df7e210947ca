/**
 * Parent (uplink) names as container runtimes write them: `eth0` is the device itself, `eth0.10`
 * is VLAN 10 on eth0 (Docker's macvlan convention). The kernel here has no 802.1Q module, so a VLAN
 * parent is served by the userspace engine, which tags and untags frames on eth0.
 */
import { InvalidArgumentError } from '../errors.ts';
import { validateIfname } from './ifname.ts';

/** DEV.VID: a device name, a dot, a VLAN id. */
const VLAN_PARENT = /^(.+)\.(\d{1,4})$/;

/** Whether a parent name is Docker's VLAN form (`eth0.30`). */
export function isVlanParent(name: string): boolean {
  return VLAN_PARENT.test(name);
}

/** A parsed parent: the device frames leave on, and the VLAN id (undefined: untagged). */
export interface ParentSpec {
  /** The device as written (`eth0.10`). */
  name: string;
  /** The lower device (`eth0`). */
  dev: string;
  vlan?: number;
}

/**
 * Parse `DEV` or `DEV.VID`. `explicitVlan` (CNI's `vlan` key) may give the VLAN separately; both
 * forms together must agree.
 */
export function parseParent(name: unknown, field = 'parent', explicitVlan?: unknown): ParentSpec {
  const m = typeof name === 'string' ? VLAN_PARENT.exec(name) : null;
  // The device before the dot is what must be an interface name.
  validateIfname(m ? m[1] : name, field);
  const text = name as string;
  let dev = text;
  let vlan: number | undefined;
  if (m) {
    dev = m[1]!;
    vlan = Number(m[2]);
    if (vlan < 1 || vlan > 4094) throw new InvalidArgumentError(field, 'a VLAN id 1..4094 after the dot (eth0.10)', text);
  }
  if (explicitVlan !== undefined && explicitVlan !== null) {
    if (typeof explicitVlan !== 'number' || !Number.isInteger(explicitVlan) || explicitVlan < 0 || explicitVlan > 4094)
      throw new InvalidArgumentError('vlan', 'a VLAN id 1..4094 (0: untagged)', explicitVlan);
    const v = explicitVlan === 0 ? undefined : explicitVlan;
    if (vlan !== undefined && v !== vlan) throw new InvalidArgumentError('vlan', `the VLAN of ${field} "${text}" (${vlan})`, explicitVlan);
    vlan = v;
  }
  return vlan === undefined ? { name: text, dev } : { name: text, dev, vlan };
}
