/** MAC addresses for endpoints that were not given one. */
import { randomBytes } from 'node:crypto';
import { formatMac } from '../../net/index.ts';

/**
 * Docker's choice for its macvlan driver (libnetwork netutils.GenerateMACFromIP): 02:42 followed by
 * the IPv4 address, so a container's MAC is stable across restarts. Without IPv4: random, locally
 * administered, unicast.
 */
export function macForAddress(ipv4?: string): string {
  if (ipv4) {
    const parts = ipv4.split('/')[0]!.split('.').map(Number);
    if (parts.length === 4 && parts.every((p) => Number.isInteger(p) && p >= 0 && p <= 255)) return formatMac(Buffer.from([0x02, 0x42, ...parts]));
  }
  const b = randomBytes(6);
  b[0] = (b[0]! & 0xfe) | 0x02;
  return formatMac(b);
}
