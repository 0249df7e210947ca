/** Turn a native -errno from the packet I/O module into a MacdemuxSystemError. */
import { systemError, type MacdemuxSystemError } from '../errors.ts';
import type { NativeErrorDetail } from './native-types.ts';

/**
 * Build the error for a failed open: the step that failed (socket, bind, setsockopt(...)), which
 * the native call wrote into its error detail, is the syscall; EPERM on socket names
 * CAP_NET_RAW, ENODEV names the interface, ENOENT on setns names the namespace.
 */
export function openError(
  errno: number,
  what: string,
  opts: { ifname: string; netns?: string; detail?: NativeErrorDetail },
): MacdemuxSystemError {
  const syscall = opts.detail?.step || 'open';
  let op: string = syscall;
  if (syscall === 'if_nametoindex') op = `interface lookup${opts.netns ? ` in netns "${opts.netns}"` : ''}`;
  else if (syscall === 'setns') op = `enter netns "${opts.netns ?? ''}"`;
  return systemError(errno, syscall, { what, ifname: opts.ifname, op });
}
