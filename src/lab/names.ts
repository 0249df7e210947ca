/**
 * Naming rules of the network lab: per-run prefixes, namespace names, MTUs, CIDRs (interface
 * names and MACs follow src/net).
 * Pure functions (no I/O) so they are unit-testable without privileges.
 */
import { randomBytes } from 'node:crypto';
import { InvalidArgumentError } from '../errors.ts';

/** Every lab namespace name starts with this tag; `cleanupStaleLabs` only looks at these. */
export const LAB_TAG = 'mdx';

/** Namespace names become files in /run/netns: keep them short and shell-safe. */
export const NETNS_NAME_MAX = 64;

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** `mdx-<pid>-<suffix...>`: the pid of the process that owns the lab. */
const LAB_NAME = /^mdx-([0-9]+)-/;

/** A fresh per-run prefix: `mdx-<pid>-<4 hex random>`, e.g. `mdx-1234-ab12`. */
export function makePrefix(pid: number = process.pid): string {
  return `${LAB_TAG}-${pid}-${randomBytes(2).toString('hex')}`;
}

/** Validate a caller-supplied prefix (field name for errors: `prefix`). */
export function validatePrefix(prefix: unknown, field = 'prefix', pid: number = process.pid): string {
  if (typeof prefix !== 'string' || !SAFE_NAME.test(prefix) || prefix.length > 40) {
    throw new InvalidArgumentError(field, 'a prefix of 1-40 characters [A-Za-z0-9_.-] starting with a letter or digit', prefix);
  }
  // A prefix that looks like another process's lab would be deleted as stale when that pid is dead.
  const owner = parseLabNamespace(`${prefix}-x`);
  if (owner && owner.pid !== pid) {
    throw new InvalidArgumentError(field, `a prefix not of the form "mdx-<other pid>-" (mdx-${pid}-... is allowed)`, prefix);
  }
  return prefix;
}

/** Validate a namespace suffix and return the full namespace name `<prefix>-<suffix>`. */
export function namespaceName(prefix: string, suffix: unknown, field = 'suffix'): string {
  if (typeof suffix !== 'string' || !SAFE_NAME.test(suffix)) {
    throw new InvalidArgumentError(field, 'a namespace suffix of characters [A-Za-z0-9_.-] starting with a letter or digit', suffix);
  }
  const name = `${prefix}-${suffix}`;
  if (name.length > NETNS_NAME_MAX) {
    throw new InvalidArgumentError(field, `a suffix that keeps "<prefix>-<suffix>" within ${NETNS_NAME_MAX} characters`, suffix);
  }
  return name;
}

/** Validate an MTU (68..65535). */
export function validateMtu(mtu: unknown, field = 'mtu'): number {
  if (typeof mtu !== 'number' || !Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
    throw new InvalidArgumentError(field, 'an integer MTU between 68 and 65535', mtu);
  }
  return mtu;
}

/** Validate an address in CIDR form (`10.0.0.1/24`, `fd00::1/64`); returns it and its family. */
export function validateCidr(cidr: unknown, field = 'address'): { cidr: string; family: 4 | 6 } {
  if (typeof cidr === 'string') {
    const m = /^([^/]+)\/(\d{1,3})$/.exec(cidr);
    if (m) {
      const [, addr, len] = m;
      const bits = Number(len);
      if (/^\d{1,3}(\.\d{1,3}){3}$/.test(addr!) && addr!.split('.').every((o) => Number(o) <= 255) && bits <= 32) {
        return { cidr, family: 4 };
      }
      if (/^[0-9a-fA-F:.]+$/.test(addr!) && addr!.includes(':') && bits <= 128) return { cidr, family: 6 };
    }
  }
  throw new InvalidArgumentError(field, 'an address with prefix length like "10.0.0.1/24" or "fd00::1/64"', cidr);
}

/** What a lab namespace name says about its owner, or undefined when it is not a lab namespace. */
export function parseLabNamespace(name: string): { pid: number } | undefined {
  const m = LAB_NAME.exec(name);
  if (!m) return undefined;
  const pid = Number(m[1]);
  return Number.isSafeInteger(pid) && pid > 0 ? { pid } : undefined;
}

/**
 * The lab namespaces among `names` whose owning process is gone.
 * `isAlive(pid)` is injected so the rule is testable; the default checks /proc/<pid>.
 */
export function staleNamespaces(names: string[], isAlive: (pid: number) => boolean): string[] {
  return names.filter((n) => {
    const owner = parseLabNamespace(n);
    return owner !== undefined && !isAlive(owner.pid);
  });
}
