/**
 * Errors shaped like Node's system errors: `code`, `errno`, `syscall`, plus the interface
 * (or namespace) the operation was about and, for netlink, the kernel's extended-ack text.
 */
import { readFileSync } from 'node:fs';
import { getSystemErrorMap } from 'node:util';
import { native } from './native.ts';

/** An operating-system error raised by macdemux. */
export class MacdemuxSystemError extends Error {
  /** Symbolic code, e.g. `EEXIST`. */
  readonly code: string;
  /** Positive errno number, as in `errno(3)`. */
  readonly errno: number;
  /** The failing system call or operation, e.g. `socket`, `RTM_NEWLINK`. */
  readonly syscall: string;
  /** The interface (or object) the operation was about, when there is one. */
  readonly ifname?: string;
  /** The kernel's extended-ack message (netlink), when it sent one. */
  readonly kernelMessage?: string;

  constructor(opts: {
    errno: number;
    syscall: string;
    message: string;
    ifname?: string;
    kernelMessage?: string;
  }) {
    super(opts.message);
    this.name = 'MacdemuxSystemError';
    const [code] = describeErrno(opts.errno);
    this.code = code;
    this.errno = Math.abs(opts.errno);
    this.syscall = opts.syscall;
    if (opts.ifname !== undefined) this.ifname = opts.ifname;
    if (opts.kernelMessage !== undefined) this.kernelMessage = opts.kernelMessage;
  }
}

/** [code, description] for an errno (sign ignored), e.g. [`EEXIST`, `File exists`]. */
export function describeErrno(errno: number): [string, string] {
  const entry = getSystemErrorMap().get(-Math.abs(errno));
  const code = entry ? entry[0] : `E${Math.abs(errno)}`;
  return [code, strerror(errno) ?? entry?.[1] ?? `errno ${Math.abs(errno)}`];
}

/** The C library's text for errno ("File exists"), or undefined when the addon is not built. */
function strerror(errno: number): string | undefined {
  try {
    return (native() as unknown as { strerror(e: number): string }).strerror(Math.abs(errno));
  } catch {
    return undefined;
  }
}

/** Which capability an EPERM/EACCES from this syscall most likely lacks. */
export function missingCapability(syscall: string): string | undefined {
  if (/^(socket|packet|bind)/.test(syscall)) return 'CAP_NET_RAW';
  if (/^setns/.test(syscall)) return 'CAP_SYS_ADMIN';
  return 'CAP_NET_ADMIN';
}

const CAP_BITS: Record<string, number> = { CAP_NET_ADMIN: 12, CAP_NET_RAW: 13, CAP_SYS_ADMIN: 21 };

/** Whether this process holds a capability in its effective set (CapEff of /proc/self/status). */
export function hasCapability(cap: string): boolean {
  const bit = CAP_BITS[cap];
  if (bit === undefined) return false;
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m !== null && ((BigInt(`0x${m[1]}`) >> BigInt(bit)) & 1n) === 1n;
  } catch {
    return false;
  }
}

/** The hint added to EPERM/EACCES: the missing capability, or (when it is held) where else to look. */
function permissionHint(syscall: string): string | undefined {
  const cap = missingCapability(syscall);
  if (!cap) return undefined;
  if (!hasCapability(cap)) return `needs ${cap} (run as root or grant ${cap})`;
  return `this process has ${cap}: the denial comes from elsewhere (a namespace of another user namespace, an LSM, a read-only /run/netns)`;
}

/**
 * Build an Error from a native -errno result.
 * Message form: `<what> "<ifname>": <op> failed: EEXIST (File exists)[: kernel text][; needs CAP_X]`.
 */
export function systemError(
  errno: number,
  syscall: string,
  opts: { what?: string; ifname?: string; op?: string; kernelMessage?: string } = {},
): MacdemuxSystemError {
  const [code, desc] = describeErrno(errno);
  const subject = opts.what
    ? `${opts.what}${opts.ifname !== undefined ? ` "${opts.ifname}"` : ''}: `
    : opts.ifname !== undefined
      ? `"${opts.ifname}": `
      : '';
  let message = `${subject}${opts.op ?? syscall} failed: ${code} (${desc})`;
  if (opts.kernelMessage) message += `: ${opts.kernelMessage}`;
  if (code === 'EPERM' || code === 'EACCES') {
    const hint = permissionHint(syscall);
    if (hint) message += `; ${hint}`;
  }
  return new MacdemuxSystemError({
    errno,
    syscall,
    message,
    ...(opts.ifname !== undefined ? { ifname: opts.ifname } : {}),
    ...(opts.kernelMessage ? { kernelMessage: opts.kernelMessage } : {}),
  });
}

/** Return a native result when it is >= 0, else throw {@link systemError}. */
export function check(
  result: number,
  syscall: string,
  opts: { what?: string; ifname?: string; op?: string } = {},
): number {
  if (result >= 0) return result;
  throw systemError(result, syscall, opts);
}

/** Error for bad user input: names the field and the reason, like sharp's messages. */
export class InvalidArgumentError extends TypeError {
  readonly code = 'ERR_INVALID_ARG_VALUE';
  /** The option path, e.g. `ports[2].mac`. */
  readonly field: string;
  constructor(field: string, expected: string, received: unknown) {
    super(`Expected ${expected} for ${field} but received ${formatReceived(received)}`);
    this.name = 'InvalidArgumentError';
    this.field = field;
  }
}

function formatReceived(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === undefined || v === null || typeof v === 'number' || typeof v === 'boolean') return String(v);
  try {
    return JSON.stringify(v);
  } catch {
    return typeof v;
  }
}
