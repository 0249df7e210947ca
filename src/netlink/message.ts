/**
 * Netlink message encoding and decoding: nlmsghdr, attributes (nested included) and the
 * fixed family headers of rtnetlink (ifinfomsg, ifaddrmsg, rtmsg). Pure code, no I/O.
 */
import { endianness } from 'node:os';
import { NLA_F_NESTED, NLA_TYPE_MASK } from './constants.ts';

/** Netlink uses the host byte order. */
const LE = endianness() === 'LE';
export const NLMSG_HDRLEN = 16;
export const NLA_HDRLEN = 4;
/** Round up to the 4-byte netlink alignment. */
export const align4 = (n: number): number => (n + 3) & ~3;

/** Builds one netlink message: header, a fixed family header, then attributes. */
export class MessageBuilder {
  private buf: Buffer;
  private len = NLMSG_HDRLEN;
  private readonly nests: number[] = [];

  constructor(
    readonly type: number,
    readonly flags: number,
  ) {
    this.buf = Buffer.alloc(256);
  }

  private reserve(n: number): number {
    const at = this.len;
    const need = at + align4(n);
    if (need > this.buf.length) {
      const next = Buffer.alloc(Math.max(need, this.buf.length * 2));
      this.buf.copy(next, 0, 0, this.len);
      this.buf = next;
    }
    this.len = need;
    return at;
  }

  /** Append raw bytes (a family header such as ifinfomsg), padded to 4 bytes. */
  raw(bytes: Uint8Array): this {
    const at = this.reserve(bytes.length);
    this.buf.set(bytes, at);
    return this;
  }

  /** Append an attribute with a binary payload. */
  attr(type: number, payload: Uint8Array): this {
    const at = this.reserve(NLA_HDRLEN + payload.length);
    writeU16(this.buf, at, NLA_HDRLEN + payload.length);
    writeU16(this.buf, at + 2, type);
    this.buf.set(payload, at + NLA_HDRLEN);
    return this;
  }

  u8(type: number, v: number): this {
    return this.attr(type, Uint8Array.of(v & 0xff));
  }
  u16(type: number, v: number): this {
    const b = Buffer.alloc(2);
    writeU16(b, 0, v);
    return this.attr(type, b);
  }
  u32(type: number, v: number): this {
    const b = Buffer.alloc(4);
    writeU32(b, 0, v >>> 0);
    return this.attr(type, b);
  }
  s32(type: number, v: number): this {
    const b = Buffer.alloc(4);
    if (LE) b.writeInt32LE(v, 0);
    else b.writeInt32BE(v, 0);
    return this.attr(type, b);
  }
  /** A NUL-terminated string attribute. */
  string(type: number, s: string): this {
    return this.attr(type, Buffer.concat([Buffer.from(s, 'utf8'), Buffer.of(0)]));
  }

  /** Open a nested attribute (NLA_F_NESTED set); close it with {@link end}. */
  begin(type: number): this {
    const at = this.reserve(NLA_HDRLEN);
    writeU16(this.buf, at + 2, type | NLA_F_NESTED);
    this.nests.push(at);
    return this;
  }
  /** Close the innermost nested attribute. */
  end(): this {
    const at = this.nests.pop();
    if (at === undefined) throw new Error('MessageBuilder.end() without begin()');
    writeU16(this.buf, at, this.len - at);
    return this;
  }
  /** Append a nested attribute whose content `fn` writes. */
  nest(type: number, fn: (b: this) => void): this {
    this.begin(type);
    fn(this);
    return this.end();
  }

  /** Current length of the message so far (offsets for extended-ack checks). */
  get length(): number {
    return this.len;
  }

  /** Finish the message with a sequence number; returns a copy of the bytes. */
  finish(seq: number, pid = 0): Buffer {
    if (this.nests.length) throw new Error('MessageBuilder.finish() with an open nested attribute');
    const out = Buffer.from(this.buf.subarray(0, this.len));
    writeU32(out, 0, this.len);
    writeU16(out, 4, this.type);
    writeU16(out, 6, this.flags);
    writeU32(out, 8, seq >>> 0);
    writeU32(out, 12, pid >>> 0);
    return out;
  }
}

/** One parsed netlink message. `payload` is everything after the 16-byte header. */
export interface NlMessage {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  payload: Buffer;
}

/**
 * Split a datagram into messages. Stops at a truncated or malformed header instead of
 * reading past the buffer.
 */
export function parseMessages(data: Buffer): NlMessage[] {
  const out: NlMessage[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= data.length) {
    const len = readU32(data, off);
    if (len < NLMSG_HDRLEN || off + len > data.length) break;
    out.push({
      type: readU16(data, off + 4),
      flags: readU16(data, off + 6),
      seq: readU32(data, off + 8),
      pid: readU32(data, off + 12),
      payload: data.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += align4(len);
  }
  return out;
}

/** One attribute: its type (without flag bits), whether NLA_F_NESTED was set, and its payload. */
export interface NlAttr {
  type: number;
  nested: boolean;
  data: Buffer;
}

/** Attributes of a message or nest, with typed getters (first occurrence wins). */
export class Attrs {
  readonly list: NlAttr[];
  constructor(list: NlAttr[]) {
    this.list = list;
  }
  /** Parse a run of attributes from `buf` (bounds-checked; stops at the first bad one). */
  static parse(buf: Buffer, offset = 0): Attrs {
    const list: NlAttr[] = [];
    let off = Math.max(0, offset);
    while (off + NLA_HDRLEN <= buf.length) {
      const len = readU16(buf, off);
      const rawType = readU16(buf, off + 2);
      if (len < NLA_HDRLEN || off + len > buf.length) break;
      list.push({
        type: rawType & NLA_TYPE_MASK,
        nested: (rawType & NLA_F_NESTED) !== 0,
        data: buf.subarray(off + NLA_HDRLEN, off + len),
      });
      off += align4(len);
    }
    return new Attrs(list);
  }
  has(type: number): boolean {
    return this.list.some((a) => a.type === type);
  }
  get(type: number): Buffer | undefined {
    return this.list.find((a) => a.type === type)?.data;
  }
  all(type: number): Buffer[] {
    return this.list.filter((a) => a.type === type).map((a) => a.data);
  }
  u8(type: number): number | undefined {
    const d = this.get(type);
    return d && d.length >= 1 ? d[0] : undefined;
  }
  u16(type: number): number | undefined {
    const d = this.get(type);
    return d && d.length >= 2 ? readU16(d, 0) : undefined;
  }
  u32(type: number): number | undefined {
    const d = this.get(type);
    return d && d.length >= 4 ? readU32(d, 0) : undefined;
  }
  s32(type: number): number | undefined {
    const d = this.get(type);
    return d && d.length >= 4 ? (LE ? d.readInt32LE(0) : d.readInt32BE(0)) : undefined;
  }
  /** String attribute without the trailing NUL. */
  str(type: number): string | undefined {
    const d = this.get(type);
    if (!d) return undefined;
    const nul = d.indexOf(0);
    return d.subarray(0, nul < 0 ? d.length : nul).toString('utf8');
  }
  /** A nested attribute's attributes. */
  nested(type: number): Attrs | undefined {
    const d = this.get(type);
    return d ? Attrs.parse(d) : undefined;
  }
}

export function readU16(b: Buffer, off: number): number {
  return LE ? b.readUInt16LE(off) : b.readUInt16BE(off);
}
export function readU32(b: Buffer, off: number): number {
  return LE ? b.readUInt32LE(off) : b.readUInt32BE(off);
}
export function readS32(b: Buffer, off: number): number {
  return LE ? b.readInt32LE(off) : b.readInt32BE(off);
}
export function readU64(b: Buffer, off: number): bigint {
  return LE ? b.readBigUInt64LE(off) : b.readBigUInt64BE(off);
}
export function writeU16(b: Buffer, off: number, v: number): void {
  if (LE) b.writeUInt16LE(v & 0xffff, off);
  else b.writeUInt16BE(v & 0xffff, off);
}
export function writeU32(b: Buffer, off: number, v: number): void {
  if (LE) b.writeUInt32LE(v >>> 0, off);
  else b.writeUInt32BE(v >>> 0, off);
}
export function writeS32(b: Buffer, off: number, v: number): void {
  if (LE) b.writeInt32LE(v | 0, off);
  else b.writeInt32BE(v | 0, off);
}

// ---- family headers -------------------------------------------------------------------

/** struct ifinfomsg (16 bytes). */
export interface IfInfoMsg {
  family: number;
  type: number;
  index: number;
  flags: number;
  change: number;
}
export const IFINFOMSG_LEN = 16;
export function encodeIfInfoMsg(m: Partial<IfInfoMsg> = {}): Buffer {
  const b = Buffer.alloc(IFINFOMSG_LEN);
  b[0] = m.family ?? 0;
  writeU16(b, 2, m.type ?? 0);
  writeS32(b, 4, m.index ?? 0);
  writeU32(b, 8, m.flags ?? 0);
  writeU32(b, 12, m.change ?? 0);
  return b;
}
export function decodeIfInfoMsg(p: Buffer): IfInfoMsg {
  if (p.length < IFINFOMSG_LEN) throw new RangeError(`ifinfomsg truncated (${p.length} bytes)`);
  return { family: p[0], type: readU16(p, 2), index: readS32(p, 4), flags: readU32(p, 8), change: readU32(p, 12) };
}

/** struct ifaddrmsg (8 bytes). */
export interface IfAddrMsg {
  family: number;
  prefixLen: number;
  flags: number;
  scope: number;
  index: number;
}
export const IFADDRMSG_LEN = 8;
export function encodeIfAddrMsg(m: Partial<IfAddrMsg> = {}): Buffer {
  const b = Buffer.alloc(IFADDRMSG_LEN);
  b[0] = m.family ?? 0;
  b[1] = m.prefixLen ?? 0;
  b[2] = m.flags ?? 0;
  b[3] = m.scope ?? 0;
  writeU32(b, 4, m.index ?? 0);
  return b;
}
export function decodeIfAddrMsg(p: Buffer): IfAddrMsg {
  if (p.length < IFADDRMSG_LEN) throw new RangeError(`ifaddrmsg truncated (${p.length} bytes)`);
  return { family: p[0], prefixLen: p[1], flags: p[2], scope: p[3], index: readU32(p, 4) };
}

/** struct rtmsg (12 bytes). */
export interface RtMsg {
  family: number;
  dstLen: number;
  srcLen: number;
  tos: number;
  table: number;
  protocol: number;
  scope: number;
  type: number;
  flags: number;
}
export const RTMSG_LEN = 12;
export function encodeRtMsg(m: Partial<RtMsg> = {}): Buffer {
  const b = Buffer.alloc(RTMSG_LEN);
  b[0] = m.family ?? 0;
  b[1] = m.dstLen ?? 0;
  b[2] = m.srcLen ?? 0;
  b[3] = m.tos ?? 0;
  b[4] = m.table ?? 0;
  b[5] = m.protocol ?? 0;
  b[6] = m.scope ?? 0;
  b[7] = m.type ?? 0;
  writeU32(b, 8, m.flags ?? 0);
  return b;
}
export function decodeRtMsg(p: Buffer): RtMsg {
  if (p.length < RTMSG_LEN) throw new RangeError(`rtmsg truncated (${p.length} bytes)`);
  return {
    family: p[0],
    dstLen: p[1],
    srcLen: p[2],
    tos: p[3],
    table: p[4],
    protocol: p[5],
    scope: p[6],
    type: p[7],
    flags: readU32(p, 8),
  };
}
