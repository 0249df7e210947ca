/** Validation of the ring options shared by ports, generators and sinks. */
import { InvalidArgumentError } from '../errors.ts';
import type { NativeRingOptions } from './native-types.ts';

/** Ring geometry and socket options accepted by PacketPort.open, startGenerator and openSink. */
export interface RingTuning {
  /** RX block size in bytes (multiple of the page size; default 1 MiB; PacketPort: 256 KiB). */
  blockSize?: number;
  /** RX blocks (default 8; PacketPort: 32; sink: 32). */
  blockCount?: number;
  /** Nominal RX frame size (default 2048). */
  frameSize?: number;
  /** Block retire timeout in ms (default 2; 0 = kernel default from link speed). */
  retireTovMs?: number;
  /** TX slot size in bytes (default 2048). */
  txFrameSize?: number;
  /** TX slots (default 1024). */
  txFrameCount?: number;
  /** Send with PACKET_QDISC_BYPASS (default false). */
  qdiscBypass?: boolean;
}

export function checkInterfaceName(v: unknown, field = 'ifname'): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > 15 || /[\s/]/.test(v))
    throw new InvalidArgumentError(field, 'an interface name (1-15 characters, no spaces or "/")', v);
  return v;
}

export function checkOptionalString(v: unknown, field: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length === 0) throw new InvalidArgumentError(field, 'a non-empty string', v);
  return v;
}

export function checkInt(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new InvalidArgumentError(field, `an integer between ${min} and ${max}`, v);
  return v;
}

export function checkOptionalInt(v: unknown, field: string, min: number, max: number): number | undefined {
  return v === undefined ? undefined : checkInt(v, field, min, max);
}

export function checkOptionalBool(v: unknown, field: string): boolean | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new InvalidArgumentError(field, 'a boolean', v);
  return v;
}

/** Validate the tuning fields of `o` and copy them into a native options object. */
export function ringTuning(o: RingTuning & Record<string, unknown>): Partial<NativeRingOptions> {
  const out: Partial<NativeRingOptions> = {};
  const blockSize = checkOptionalInt(o.blockSize, 'blockSize', 4096, 1 << 30);
  if (blockSize !== undefined) {
    if (blockSize % 4096 !== 0) throw new InvalidArgumentError('blockSize', 'a multiple of 4096', blockSize);
    out.blockSize = blockSize;
  }
  const blockCount = checkOptionalInt(o.blockCount, 'blockCount', 2, 65536);
  if (blockCount !== undefined) out.blockCount = blockCount;
  const frameSize = checkOptionalInt(o.frameSize, 'frameSize', 128, 1 << 20);
  if (frameSize !== undefined) out.frameSize = frameSize;
  const tov = checkOptionalInt(o.retireTovMs, 'retireTovMs', 0, 10000);
  if (tov !== undefined) out.retireTovMs = tov;
  const txFrameSize = checkOptionalInt(o.txFrameSize, 'txFrameSize', 128, 1 << 20);
  if (txFrameSize !== undefined) out.txFrameSize = txFrameSize;
  const txFrameCount = checkOptionalInt(o.txFrameCount, 'txFrameCount', 16, 1 << 20);
  if (txFrameCount !== undefined) out.txFrameCount = txFrameCount;
  const qb = checkOptionalBool(o.qdiscBypass, 'qdiscBypass');
  if (qb !== undefined) out.qdiscBypass = qb;
  return out;
}
