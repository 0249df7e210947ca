/**
 * Port counters as kept by the native side (addon/io/port_counters.h): a BigUint64Array over native
 * memory, read without a native call. Field order is fixed; see {@link PORT_COUNTER_NAMES}.
 */

/** Counter names in native field order. */
export const PORT_COUNTER_NAMES = [
  'rxPackets',
  'rxBytes',
  'txPackets',
  'txBytes',
  'rxDrops',
  'freezes',
  'truncated',
  'malformed',
  'txBackpressure',
  'errors',
  'runts',
  'kicks',
  'rxBlocks',
  'txDropped',
] as const;

export type PortCounterName = (typeof PORT_COUNTER_NAMES)[number];
/** A snapshot of a port's counters as plain numbers. */
export type PortCounterSnapshot = Record<PortCounterName, number>;

/** Index of each counter in the BigUint64Array. */
export const COUNTER_INDEX: Readonly<Record<PortCounterName, number>> = Object.fromEntries(
  PORT_COUNTER_NAMES.map((n, i) => [n, i]),
) as Record<PortCounterName, number>;

/** Live view over native counters. */
export class PortCountersView {
  /** The raw live view (index with {@link COUNTER_INDEX}). */
  readonly raw: BigUint64Array;
  constructor(buffer: ArrayBuffer) {
    this.raw = new BigUint64Array(buffer);
  }
  /** One counter, as a number (exact below 2^53). */
  get(name: PortCounterName): number {
    return Number(this.raw[COUNTER_INDEX[name]]);
  }
  /** All counters as numbers. */
  snapshot(): PortCounterSnapshot {
    const out = {} as PortCounterSnapshot;
    for (let i = 0; i < PORT_COUNTER_NAMES.length; i++) out[PORT_COUNTER_NAMES[i]!] = Number(this.raw[i]);
    return out;
  }
}
