/**
 * The macvlan vocabulary shared by kernel devices, the engine and configs: the five modes
 * (include/uapi/linux/if_link.h MACVLAN_MODE_*) and the source-list operations of a source-mode
 * macvlan (MACVLAN_MACADDR_*).
 */
import { InvalidArgumentError } from '../errors.ts';

/** The five macvlan/macvtap modes. */
export type MacvlanMode = 'private' | 'vepa' | 'bridge' | 'passthru' | 'source';
export const MACVLAN_MODES: readonly MacvlanMode[] = ['private', 'vepa', 'bridge', 'passthru', 'source'];

/** Source-list operations of a source-mode macvlan (`ip link set X type macvlan macaddr OP`). */
export type MacaddrOp = 'add' | 'del' | 'set' | 'flush';
export const MACADDR_OPS: readonly MacaddrOp[] = ['add', 'del', 'set', 'flush'];

export function isMacvlanMode(v: unknown): v is MacvlanMode {
  return typeof v === 'string' && (MACVLAN_MODES as readonly string[]).includes(v);
}

/** The mode, or an InvalidArgumentError naming `field`. */
export function validateMode(mode: unknown, field = 'mode'): MacvlanMode {
  if (!isMacvlanMode(mode)) throw new InvalidArgumentError(field, `one of ${MACVLAN_MODES.join(', ')}`, mode);
  return mode;
}

export function validateMacaddrOp(op: unknown, field = 'op'): MacaddrOp {
  if (typeof op !== 'string' || !(MACADDR_OPS as readonly string[]).includes(op)) {
    throw new InvalidArgumentError(field, `one of ${MACADDR_OPS.join(', ')}`, op);
  }
  return op as MacaddrOp;
}
