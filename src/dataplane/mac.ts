/**
 * The data plane's MAC form: a 48-bit integer in a JS number (exact below 2^53), the key of its
 * tables. Text is parsed and formatted by src/net; these convert.
 */
import { formatMac as formatMacBytes, macFromNumber, macToNumber, parseMac as parseMacBytes } from '../net/index.ts';

/** Parse MAC text (any MAC, group addresses too) into a 48-bit number; InvalidArgumentError naming field. */
export function parseMac(text: unknown, field: string): number {
  return macToNumber(parseMacBytes(typeof text === 'string' ? text.trim() : text, field, { unicast: false }));
}

/** "aa:bb:cc:dd:ee:ff" for a 48-bit number. */
export function formatMac(mac: number): string {
  return formatMacBytes(macFromNumber(mac));
}

/** Write a 48-bit MAC into b at off. */
export function writeMac(b: Uint8Array, off: number, mac: number): void {
  macFromNumber(mac, b, off);
}

/** True for a group (multicast or broadcast) address: the I/G bit of the first byte. */
export function isMulticastMac(mac: number): boolean {
  return Math.floor(mac / 2 ** 40) % 2 === 1;
}

export const BROADCAST_MAC = 0xffffffffffff;
