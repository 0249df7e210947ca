/** Validation of PortSpec input (at the API boundary; errors name the field). */
import { InvalidArgumentError } from '../errors.ts';
import { validateIfname, validateMode } from '../net/index.ts';
import { parseMac, isMulticastMac } from './mac.ts';
import type { MacvlanMode, PortSpec } from './types.ts';

/** A validated port: the spec plus parsed numbers. */
export interface ValidPort {
  spec: PortSpec;
  name: string;
  mac: number;
  mode: MacvlanMode;
  vlan: number;
  sourceMacs: number[];
  nodst: boolean;
  multicastGroups: number[] | undefined;
}

const NAME_RE = /^[A-Za-z0-9_.:@-]{1,64}$/;

/** Validate a PortSpec; `field` prefixes error field names (e.g. "ports[2]"). */
export function validatePortSpec(p: unknown, field = 'port', defaultMode: MacvlanMode = 'bridge'): ValidPort {
  if (typeof p !== 'object' || p === null) throw new InvalidArgumentError(field, 'an object', p);
  const s = p as Partial<PortSpec>;
  if (typeof s.name !== 'string' || !NAME_RE.test(s.name))
    throw new InvalidArgumentError(`${field}.name`, 'a name of 1-64 characters [A-Za-z0-9_.:@-]', s.name);
  const mac = parseMac(s.mac, `${field}.mac`);
  if (isMulticastMac(mac)) throw new InvalidArgumentError(`${field}.mac`, 'a unicast MAC address', s.mac);
  if (mac === 0) throw new InvalidArgumentError(`${field}.mac`, 'a non-zero MAC address', s.mac);
  const mode = s.mode === undefined ? defaultMode : validateMode(s.mode, `${field}.mode`);
  let vlan = 0;
  if (s.vlan !== undefined) {
    if (typeof s.vlan !== 'number' || !Number.isInteger(s.vlan) || s.vlan < 1 || s.vlan > 4094)
      throw new InvalidArgumentError(`${field}.vlan`, 'a VLAN id 1..4094', s.vlan);
    vlan = s.vlan;
  }
  const sourceMacs: number[] = [];
  if (s.sourceMacs !== undefined) {
    if (!Array.isArray(s.sourceMacs)) throw new InvalidArgumentError(`${field}.sourceMacs`, 'an array of MACs', s.sourceMacs);
    if (mode !== 'source' && s.sourceMacs.length > 0)
      throw new InvalidArgumentError(`${field}.sourceMacs`, 'no source MACs unless mode is "source"', s.sourceMacs);
    if (s.sourceMacs.length > 65535)
      throw new InvalidArgumentError(`${field}.sourceMacs`, 'at most 65535 MACs', s.sourceMacs.length);
    s.sourceMacs.forEach((m, i) => {
      const v = parseMac(m, `${field}.sourceMacs[${i}]`);
      if (isMulticastMac(v)) throw new InvalidArgumentError(`${field}.sourceMacs[${i}]`, 'a unicast MAC address', m);
      sourceMacs.push(v);
    });
  }
  if (s.nodst !== undefined && typeof s.nodst !== 'boolean') throw new InvalidArgumentError(`${field}.nodst`, 'a boolean', s.nodst);
  let multicastGroups: number[] | undefined;
  if (s.multicastGroups !== undefined) {
    if (!Array.isArray(s.multicastGroups))
      throw new InvalidArgumentError(`${field}.multicastGroups`, 'an array of multicast MACs', s.multicastGroups);
    if (s.multicastGroups.length > 65535)
      throw new InvalidArgumentError(`${field}.multicastGroups`, 'at most 65535 groups', s.multicastGroups.length);
    multicastGroups = s.multicastGroups.map((m, i) => {
      const v = parseMac(m, `${field}.multicastGroups[${i}]`);
      if (!isMulticastMac(v)) throw new InvalidArgumentError(`${field}.multicastGroups[${i}]`, 'a multicast MAC address', m);
      return v;
    });
  }
  const b = s.backend as PortSpec['backend'] | undefined;
  if (typeof b !== 'object' || b === null) throw new InvalidArgumentError(`${field}.backend`, 'a backend object', b);
  switch (b.kind) {
    case 'packet':
    case 'tap':
      validateIfname(b.ifname, `${field}.backend.ifname`);
      if (b.kind === 'tap' && b.queues !== undefined && (!Number.isInteger(b.queues) || b.queues < 1 || b.queues > 64))
        throw new InvalidArgumentError(`${field}.backend.queues`, 'an integer 1..64', b.queues);
      break;
    case 'js':
      if (typeof b.onFrames !== 'function') throw new InvalidArgumentError(`${field}.backend.onFrames`, 'a function', b.onFrames);
      break;
    default:
      throw new InvalidArgumentError(`${field}.backend.kind`, '"packet", "tap" or "js"', (b as { kind?: unknown }).kind);
  }
  return { spec: s as PortSpec, name: s.name, mac, mode, vlan, sourceMacs, nodst: s.nodst ?? false, multicastGroups };
}
