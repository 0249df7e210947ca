/**
 * AF_PACKET ring options (TPACKET_V3 RX blocks, TPACKET_V2 TX slots; net/packet/af_packet.c),
 * under one set of names from the API down to the addon: PacketPort, generators, sinks and the
 * Switch's uplink and port rings all take these, validated here.
 */
import { InvalidArgumentError } from '../errors.ts';

/** Ring geometry and socket options. Defaults depend on the user (see each). */
export interface RingOptions {
  /** RX block size in bytes (a multiple of 4096). */
  blockSize?: number;
  /** RX blocks. */
  blockCount?: number;
  /** Nominal RX frame size. */
  frameSize?: number;
  /** Block retire timeout in ms (0 = the kernel's default from the link speed). */
  retireTovMs?: number;
  /** TX slot size in bytes. */
  txFrameSize?: number;
  /** TX slots. */
  txFrameCount?: number;
  /** Send with PACKET_QDISC_BYPASS. */
  qdiscBypass?: boolean;
}

function optionalInt(o: Record<string, unknown>, key: string, field: string, min: number, max: number): number | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new InvalidArgumentError(`${field}${key}`, `an integer between ${min} and ${max}`, v);
  }
  return v;
}

/**
 * The ring options of `o`, validated; `prefix` names the option path in messages (e.g. "ring."
 * gives "ring.blockSize"). With `only`, `o` is a ring object of its own and any other key is an
 * error (a misspelt option must not be ignored); without it, other keys belong to the caller.
 */
export function validateRingOptions(o: unknown, prefix = '', only?: readonly (keyof RingOptions)[]): RingOptions {
  if (o === undefined) return {};
  if (o === null || typeof o !== 'object') throw new InvalidArgumentError(prefix.replace(/\.$/, '') || 'ring', 'an object of ring options', o);
  const r = o as Record<string, unknown>;
  if (only) {
    for (const k of Object.keys(r)) {
      if (!(only as readonly string[]).includes(k)) throw new InvalidArgumentError(`${prefix}${k}`, `no such option (the options are ${only.join(', ')})`, r[k]);
    }
  }
  const out: RingOptions = {};
  const blockSize = optionalInt(r, 'blockSize', prefix, 4096, 1 << 30);
  if (blockSize !== undefined) {
    if (blockSize % 4096 !== 0) throw new InvalidArgumentError(`${prefix}blockSize`, 'a multiple of 4096', blockSize);
    out.blockSize = blockSize;
  }
  const blockCount = optionalInt(r, 'blockCount', prefix, 2, 65536);
  if (blockCount !== undefined) out.blockCount = blockCount;
  const frameSize = optionalInt(r, 'frameSize', prefix, 128, 1 << 20);
  if (frameSize !== undefined) out.frameSize = frameSize;
  const tov = optionalInt(r, 'retireTovMs', prefix, 0, 10000);
  if (tov !== undefined) out.retireTovMs = tov;
  const txFrameSize = optionalInt(r, 'txFrameSize', prefix, 128, 1 << 20);
  if (txFrameSize !== undefined) out.txFrameSize = txFrameSize;
  const txFrameCount = optionalInt(r, 'txFrameCount', prefix, 16, 1 << 20);
  if (txFrameCount !== undefined) out.txFrameCount = txFrameCount;
  if (r.qdiscBypass !== undefined) {
    if (typeof r.qdiscBypass !== 'boolean') throw new InvalidArgumentError(`${prefix}qdiscBypass`, 'a boolean', r.qdiscBypass);
    out.qdiscBypass = r.qdiscBypass;
  }
  return out;
}
