/**
 * IPv4/IPv6 address and prefix arithmetic on bigints (for IPAM and config validation).
 * Addresses are parsed strictly (no zone ids, no leading-zero octets) and printed canonically
 * (RFC 5952 for IPv6), so the same address always has the same string.
 */
import { formatIp as formatIpBytes } from '../devices/validate.ts';
import { isIPv4, isIPv6 } from 'node:net';

/** Address family. */
export type Family = 4 | 6;

/** One address: family and its value as an unsigned integer. */
export interface IpAddr {
  family: Family;
  value: bigint;
}

/** A prefix such as 10.0.36.0/24: the network address (host bits zero) and length. */
export interface Cidr {
  family: Family;
  /** Network address (host bits zero). */
  base: bigint;
  prefix: number;
}

/** Bit width of a family's addresses. */
export function bits(family: Family): number {
  return family === 4 ? 32 : 128;
}

/** Parse an address; undefined when it is not a valid IPv4/IPv6 literal. */
export function parseIp(text: string): IpAddr | undefined {
  if (typeof text !== 'string') return undefined;
  if (isIPv4(text)) {
    const parts = text.split('.');
    if (parts.some((p) => p.length > 1 && p.startsWith('0'))) return undefined;
    return { family: 4, value: parts.reduce((acc, p) => (acc << 8n) | BigInt(Number(p)), 0n) };
  }
  if (isIPv6(text) && !text.includes('%')) {
    let head = text;
    let tailV4: bigint | undefined;
    const lastColon = text.lastIndexOf(':');
    if (text.slice(lastColon + 1).includes('.')) {
      const v4 = parseIp(text.slice(lastColon + 1));
      if (!v4) return undefined;
      tailV4 = v4.value;
      head = `${text.slice(0, lastColon + 1)}0:0`;
    }
    const [left, right] = head.includes('::') ? head.split('::') : [head, undefined];
    const l = left ? left.split(':') : [];
    const r = right === undefined ? [] : right ? right.split(':') : [];
    const fill = right === undefined ? 0 : 8 - l.length - r.length;
    const groups = [...l, ...Array<string>(fill).fill('0'), ...r];
    if (groups.length !== 8) return undefined;
    let value = groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
    if (tailV4 !== undefined) value = (value & ~0xffffffffn) | tailV4;
    return { family: 6, value };
  }
  return undefined;
}

/** Canonical text of an address (IPv6 in RFC 5952 form, exactly as iproute2 and src/devices print it). */
export function formatIp(a: IpAddr): string {
  const bytes = new Uint8Array(a.family === 4 ? 4 : 16);
  let v = a.value;
  for (let i = bytes.length - 1; i >= 0; i--, v >>= 8n) bytes[i] = Number(v & 0xffn);
  return formatIpBytes(bytes);
}

/** Result of {@link parseCidr}: the prefix, or the reason it is not one. */
export type CidrParse = { ok: true; cidr: Cidr } | { ok: false; reason: string };

/** Parse "addr/len". Host bits must be zero (the reason names the network it probably meant). */
export function parseCidr(text: string): CidrParse {
  if (typeof text !== 'string') return { ok: false, reason: 'must be a string like "10.0.0.0/24"' };
  const slash = text.indexOf('/');
  if (slash < 0) return { ok: false, reason: `"${text}" has no prefix length (expected e.g. "10.0.0.0/24")` };
  const addr = parseIp(text.slice(0, slash));
  if (!addr) return { ok: false, reason: `"${text.slice(0, slash)}" is not an IPv4 or IPv6 address` };
  const lenText = text.slice(slash + 1);
  const len = /^\d{1,3}$/.test(lenText) ? Number(lenText) : NaN;
  if (!(len >= 0 && len <= bits(addr.family)))
    return { ok: false, reason: `prefix length "${lenText}" is not in 0..${bits(addr.family)}` };
  const cidr: Cidr = { family: addr.family, base: addr.value & netmask(addr.family, len), prefix: len };
  if (cidr.base !== addr.value)
    return { ok: false, reason: `host bits are set in "${text}" (did you mean ${formatCidr(cidr)}?)` };
  return { ok: true, cidr };
}

/** Canonical text of a prefix. */
export function formatCidr(c: Cidr): string {
  return `${formatIp({ family: c.family, value: c.base })}/${c.prefix}`;
}

/** The mask with the top `len` bits set. */
export function netmask(family: Family, len: number): bigint {
  const w = BigInt(bits(family));
  const all = (1n << w) - 1n;
  return (all << (w - BigInt(len))) & all;
}

/** Last address of the prefix (the IPv4 broadcast address). */
export function lastAddress(c: Cidr): bigint {
  return c.base | (~netmask(c.family, c.prefix) & ((1n << BigInt(bits(c.family))) - 1n));
}

/** Whether the address lies in the prefix. */
export function cidrContains(c: Cidr, a: IpAddr): boolean {
  return a.family === c.family && (a.value & netmask(c.family, c.prefix)) === c.base;
}

/** Whether prefix `inner` lies entirely within `outer`. */
export function cidrWithin(inner: Cidr, outer: Cidr): boolean {
  return (
    inner.family === outer.family &&
    inner.prefix >= outer.prefix &&
    (inner.base & netmask(outer.family, outer.prefix)) === outer.base
  );
}

/** Whether two prefixes share any address (one lies within the other). */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return cidrWithin(a, b) || cidrWithin(b, a);
}

/**
 * Addresses of the subnet that are never handed out as such: the network address (IPv4 and the
 * IPv6 subnet-router anycast address) and, for IPv4, the broadcast address. /31 and /32 (and
 * IPv6 /127, /128) have no reserved addresses (RFC 3021).
 */
export function reservedAddresses(subnet: Cidr): bigint[] {
  const w = bits(subnet.family);
  if (subnet.prefix >= w - 1) return [];
  return subnet.family === 4 ? [subnet.base, lastAddress(subnet)] : [subnet.base];
}

/** Whether the address is the subnet's network/broadcast address (see {@link reservedAddresses}). */
export function isReserved(subnet: Cidr, a: IpAddr): boolean {
  return reservedAddresses(subnet).includes(a.value);
}
