/** Shared test helpers. */
import { release, userInfo } from 'node:os';

/** True when the tests run as root (integration tests need CAP_NET_ADMIN/CAP_NET_RAW/CAP_SYS_ADMIN). */
export const isRoot = userInfo().uid === 0;

/** Skip reason for integration tests when not root, or false when they can run. */
export const needsRoot: string | false = isRoot ? false : 'needs root (CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN)';

/** Whether the running kernel has tcx links (BPF_TCX_INGRESS, Linux 6.6+), which the tc fast path needs. */
export function kernelHasTcx(): boolean {
  const [maj, min] = release().split('.').map((x) => Number.parseInt(x, 10));
  return maj! > 6 || (maj === 6 && min! >= 6);
}

/** xorshift32: a deterministic, seedable generator of numbers in [0, 1) for reproducible random tests. */
export function seededRandom(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 4294967296;
  };
}
