/** MAC address helpers (text <-> bytes). */
import { InvalidArgumentError } from '../errors.ts';

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/** True for `aa:bb:cc:dd:ee:ff` (case-insensitive). */
export function isMac(s: unknown): s is string {
  return typeof s === 'string' && MAC_RE.test(s);
}

/** Parse `aa:bb:cc:dd:ee:ff` into 6 bytes; throws InvalidArgumentError naming `field`. */
export function parseMac(s: unknown, field: string): Uint8Array {
  if (!isMac(s)) throw new InvalidArgumentError(field, 'a MAC address like "02:00:00:00:00:01"', s);
  return Uint8Array.from(s.split(':').map((h) => parseInt(h, 16)));
}

/** Format 6 bytes (at offset) as lower-case `aa:bb:cc:dd:ee:ff`. */
export function formatMac(b: Uint8Array, offset = 0): string {
  let out = '';
  for (let i = 0; i < 6; i++) {
    const v = b[offset + i] ?? 0;
    out += (i ? ':' : '') + (v < 16 ? '0' : '') + v.toString(16);
  }
  return out;
}
