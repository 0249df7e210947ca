/**
 * MAC addresses: text ("02:00:00:00:00:01", or with dashes) to bytes and back, and the 48-bit
 * integer form the data plane keys its tables with (exact in a JS number, below 2^53).
 */
import { InvalidArgumentError } from '../errors.ts';

const MAC_RE = /^[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}$/;

/** Whether `s` is MAC text (colons or dashes, any case). */
export function isMac(s: unknown): s is string {
  return typeof s === 'string' && MAC_RE.test(s);
}

/** Whether 6 bytes are a group address (the I/G bit) or all zero: not usable as a port's own MAC. */
export function isUnicastMac(b: Uint8Array): boolean {
  return ((b[0] ?? 0) & 1) === 0 && b.some((x) => x !== 0);
}

/** Options of {@link parseMac}. */
export interface ParseMacOptions {
  /** Refuse multicast, broadcast and all-zero (default true: a port's own address). */
  unicast?: boolean;
}

/** Parse MAC text into 6 bytes; an InvalidArgumentError naming `field` otherwise. */
export function parseMac(text: unknown, field = 'mac', opts: ParseMacOptions = {}): Buffer {
  const unicast = opts.unicast ?? true;
  const expected = unicast ? 'a unicast MAC address like 02:00:00:00:00:01' : 'a MAC address like 02:00:00:00:00:01';
  if (!isMac(text)) throw new InvalidArgumentError(field, expected, text);
  const bytes = Buffer.from(text.replace(/[:-]/g, ''), 'hex');
  if (unicast && !isUnicastMac(bytes)) throw new InvalidArgumentError(field, expected, text);
  return bytes;
}

/** The 6 bytes at `offset` (a MAC, or a frame's destination) as lower-case, colon-separated text. */
export function formatMac(b: Uint8Array, offset = 0): string {
  return formatHwAddr(b.subarray(offset, offset + 6));
}

/** A link-layer address of any length (IFLA_ADDRESS: 6 for Ethernet, 20 for InfiniBand) as `ip` prints it. */
export function formatHwAddr(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
}

/** The normal form (lower case, colons) of MAC text, validated. */
export function normalizeMac(text: unknown, field = 'mac', opts: ParseMacOptions = {}): string {
  return formatMac(parseMac(text, field, opts));
}

/** 48-bit integer from 6 bytes at `off` (unrolled: the JS decision model calls it per frame). */
export function macToNumber(b: ArrayLike<number>, off = 0): number {
  return (
    (b[off] as number) * 2 ** 40 +
    (b[off + 1] as number) * 2 ** 32 +
    (((b[off + 2] as number) << 24) >>> 0) +
    ((b[off + 3] as number) << 16) +
    ((b[off + 4] as number) << 8) +
    (b[off + 5] as number)
  );
}

/** 6 bytes of a 48-bit integer, written into `out` at `off`. */
export function macFromNumber(mac: number, out: Uint8Array = new Uint8Array(6), off = 0): Uint8Array {
  let v = mac;
  for (let i = 5; i >= 0; i--) {
    out[off + i] = v % 256;
    v = Math.floor(v / 256);
  }
  return out;
}
