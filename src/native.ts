/**
 * Loader for the native addon (build/Release/macdemux.node) and the types of its exports.
 * Each native module adds its functions to {@link NativeAddon} as it lands.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from './package-info.ts';

/**
 * Filled by a failing native call (per call: nothing is kept in the addon between calls, so
 * worker_threads never see each other's errors). step: the syscall or stage that failed
 * ("socket", "bind", "setsockopt(PACKET_RX_RING)", 'port "veth1": bind', ...).
 */
export interface NativeErrorDetail {
  step?: string;
}

/**
 * Functions exported by addon/node/*.cc. Native calls return a count or -errno and never throw;
 * a call that can fail takes a {@link NativeErrorDetail} as its last argument.
 */
export interface NativeAddon {
  /** close(2); 0 or -errno. */
  closeFd(fd: number): number;
  /** 0 when the namespace (name, /run/netns/NAME or /proc/PID/ns/net) can be entered, else -errno. */
  netnsCheck(netns: string): number;
  /** Open a netlink socket, NETLINK_ROUTE (0, default) or NETLINK_GENERIC (16), inside netns when given: fd or -errno. */
  nlOpen(netns?: string, protocol?: number): number;
  /** Send one netlink request to the kernel: bytes or -errno. */
  nlSend(fd: number, buf: Uint8Array): number;
  /** Receive one netlink datagram into buf: bytes, -ETIMEDOUT or -errno. */
  nlRecv(fd: number, buf: Uint8Array, timeoutMs: number): number;
  // Further exports (packet I/O, engine) are declared by their own modules through
  // interface merging; see src/io/native-types.ts and src/dataplane/native-types.ts.
  [name: string]: unknown;
}

// build/ is at the package root whether this module runs from src/ or from dist/src/.
const candidates = [
  process.env.MACDEMUX_ADDON,
  join(PACKAGE_ROOT, 'build', 'Release', 'macdemux.node'),
  join(PACKAGE_ROOT, 'build', 'Debug', 'macdemux.node'),
].filter((p): p is string => typeof p === 'string' && p.length > 0);

let cached: NativeAddon | undefined;

/** The loaded addon. Throws a clear error naming the command to run when it is missing. */
export function native(): NativeAddon {
  if (cached) return cached;
  const path = candidates.find((p) => existsSync(p));
  if (!path) {
    const err = new Error(
      `macdemux native addon not found (looked in ${candidates.join(', ')}). ` +
        'Build it with `npm install` (or `npm run build:native`); it needs g++ and cmake.',
    ) as Error & { code: string };
    err.code = 'ERR_MACDEMUX_NO_ADDON';
    throw err;
  }
  const require = createRequire(import.meta.url);
  cached = require(path) as NativeAddon;
  return cached;
}
