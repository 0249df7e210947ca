/**
 * Input validation and parsing at the devices API boundary: namespace names, integers, IP addresses
 * and CIDRs (interface names, MACs and macvlan modes are src/net's). Every failure is an
 * {@link InvalidArgumentError} naming the field.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { InvalidArgumentError } from '../errors.ts';

/** A network namespace name (as under /run/netns) or an absolute path. */
export function validateNetnsName(ns: unknown, field = 'netns'): string {
  const expected = 'a network namespace name or an absolute path';
  if (typeof ns !== 'string' || ns.length === 0 || ns.length > 255) throw new InvalidArgumentError(field, expected, ns);
  if (ns.startsWith('/')) return ns;
  if (ns.includes('/') || ns === '.' || ns === '..' || /\s/.test(ns)) throw new InvalidArgumentError(field, expected, ns);
  return ns;
}

/** An integer in [min, max]. */
export function validateInt(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new InvalidArgumentError(field, `an integer in ${min}..${max}`, v);
  }
  return v;
}

// ---- IP addresses ---------------------------------------------------------------------

/** A parsed IP address: family 4 or 6 and its bytes (4 or 16). */
export interface IpAddr {
  family: 4 | 6;
  bytes: Buffer;
}

/** A parsed prefix: address, prefix length, family. */
export interface Cidr extends IpAddr {
  prefixLen: number;
}

/** Parse an IPv4 or IPv6 address (no prefix). */
export function parseIp(s: unknown, field = 'address'): IpAddr {
  if (typeof s === 'string' && isIPv4(s)) return { family: 4, bytes: Buffer.from(s.split('.').map(Number)) };
  if (typeof s === 'string' && isIPv6(s) && !s.includes('%')) return { family: 6, bytes: parseIPv6(s) };
  throw new InvalidArgumentError(field, 'an IPv4 or IPv6 address', s);
}

/** Parse "ADDR/LEN" (LEN defaults to 32 / 128 when `allowBare`). */
export function parseCidr(s: unknown, field = 'cidr', opts: { allowBare?: boolean } = {}): Cidr {
  const expected = 'an address with prefix length like 10.0.0.1/24 or fd00::1/64';
  if (typeof s !== 'string') throw new InvalidArgumentError(field, expected, s);
  const slash = s.indexOf('/');
  if (slash < 0 && !opts.allowBare) throw new InvalidArgumentError(field, expected, s);
  const addrPart = slash < 0 ? s : s.slice(0, slash);
  let ip: IpAddr;
  try {
    ip = parseIp(addrPart, field);
  } catch {
    throw new InvalidArgumentError(field, expected, s);
  }
  const max = ip.family === 4 ? 32 : 128;
  let prefixLen = max;
  if (slash >= 0) {
    const lenPart = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(lenPart) || Number(lenPart) > max) throw new InvalidArgumentError(field, expected, s);
    prefixLen = Number(lenPart);
  }
  return { ...ip, prefixLen };
}

/** True when all bits after the prefix are zero (a network address). */
export function isNetworkAddress(c: Cidr): boolean {
  for (let bit = c.prefixLen; bit < c.bytes.length * 8; bit++) {
    if (c.bytes[bit >> 3] & (0x80 >> (bit & 7))) return false;
  }
  return true;
}

function parseIPv6(s: string): Buffer {
  const out = Buffer.alloc(16);
  let tail = s;
  // Embedded IPv4 in the last 32 bits.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  let v4bytes: number[] | undefined;
  if (v4) {
    v4bytes = v4[1].split('.').map(Number);
    tail = s.slice(0, s.length - v4[1].length) + '0:0';
  }
  const [head, rest] = tail.split('::') as [string, string | undefined];
  const hs = head ? head.split(':') : [];
  const rs = rest !== undefined && rest !== '' ? rest.split(':') : [];
  const groups = rest === undefined ? hs : [...hs, ...Array(8 - hs.length - rs.length).fill('0'), ...rs];
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  if (v4bytes) out.set(v4bytes, 12);
  return out;
}

/** Format address bytes as text (IPv6 in RFC 5952 form, as iproute2 prints it). */
export function formatIp(b: Uint8Array): string {
  if (b.length === 4) return Array.from(b).join('.');
  if (b.length !== 16) return Buffer.from(b).toString('hex');
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i] << 8) | b[i + 1]);
  // IPv4-mapped ::ffff:a.b.c.d
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  const left = hex.slice(0, bestStart).join(':');
  const right = hex.slice(bestStart + bestLen).join(':');
  return `${left}::${right}`;
}
