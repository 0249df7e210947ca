/** MAC address helpers: a MAC is held as a 48-bit integer in a JS number (exact below 2^53). */
import { InvalidArgumentError } from '../errors.ts';

const MAC_RE = /^([0-9a-fA-F]{2})([:-])([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})$/;

/** Parse "aa:bb:cc:dd:ee:ff" (or with dashes) into a 48-bit number; throws InvalidArgumentError naming field. */
export function parseMac(text: unknown, field: string): number {
  if (typeof text !== 'string') throw new InvalidArgumentError(field, 'a MAC address like 02:00:00:00:00:01', text);
  const m = MAC_RE.exec(text.trim());
  if (!m) throw new InvalidArgumentError(field, 'a MAC address like 02:00:00:00:00:01', text);
  const bytes = [m[1], m[3], m[4], m[5], m[6], m[7]].map((h) => parseInt(h as string, 16));
  return macFromBytes(bytes, 0);
}

/** 48-bit number from 6 bytes at off. */
export function macFromBytes(b: ArrayLike<number>, off: number): number {
  return (
    (b[off] as number) * 2 ** 40 +
    (b[off + 1] as number) * 2 ** 32 +
    (((b[off + 2] as number) << 24) >>> 0) +
    ((b[off + 3] as number) << 16) +
    ((b[off + 4] as number) << 8) +
    (b[off + 5] as number)
  );
}

/** "aa:bb:cc:dd:ee:ff" for a 48-bit number. */
export function formatMac(mac: number): string {
  const parts: string[] = [];
  let v = mac;
  for (let i = 0; i < 6; i++) {
    parts.unshift((v % 256).toString(16).padStart(2, '0'));
    v = Math.floor(v / 256);
  }
  return parts.join(':');
}

/** Write a 48-bit MAC into b at off. */
export function writeMac(b: Uint8Array, off: number, mac: number): void {
  let v = mac;
  for (let i = 5; i >= 0; i--) {
    b[off + i] = v % 256;
    v = Math.floor(v / 256);
  }
}

/** True for a group (multicast or broadcast) address: the I/G bit of the first byte. */
export function isMulticastMac(mac: number): boolean {
  return Math.floor(mac / 2 ** 40) % 2 === 1;
}

export const BROADCAST_MAC = 0xffffffffffff;
