/**
 * Interface names, one rule for every layer: what the kernel's dev_valid_name() accepts
 * (net/core/dev.c): 1..15 bytes (IFNAMSIZ 16 with the NUL), not "." or "..", no '/', ':' or
 * whitespace.
 */
import { InvalidArgumentError } from '../errors.ts';

/** include/uapi/linux/if.h: IFNAMSIZ counts the terminating NUL. */
export const IFNAMSIZ = 16;
/** The longest interface name in bytes. */
export const IFNAME_MAX = IFNAMSIZ - 1;

const EXPECTED = `an interface name of 1..${IFNAME_MAX} bytes without "/", ":" or whitespace`;

/** Whether `name` is an interface name the kernel accepts. */
export function isIfname(name: unknown): name is string {
  return (
    typeof name === 'string' &&
    name.length > 0 &&
    Buffer.byteLength(name) <= IFNAME_MAX &&
    name !== '.' &&
    name !== '..' &&
    !/[/:\s]/.test(name)
  );
}

/** The name, or an InvalidArgumentError naming `field`. */
export function validateIfname(name: unknown, field = 'name'): string {
  if (!isIfname(name)) throw new InvalidArgumentError(field, EXPECTED, name);
  return name;
}

/** Why `name` is not an interface name (for config checkers that collect reasons), or undefined. */
export function ifnameProblem(name: unknown): string | undefined {
  return isIfname(name) ? undefined : `expected ${EXPECTED}, got ${JSON.stringify(name) ?? String(name)}`;
}
