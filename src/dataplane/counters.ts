/** Reads the engine's shared-memory counters (layout: addon/dataplane/engine_counters.h) without a native call. */
import { DROP_REASON_COUNT, DROP_REASON_NAMES } from './drop-reasons.ts';
import type { EngineLayout } from './native-types.ts';
import type { PortCounters, SwitchCounters } from './types.ts';

export function emptyPortCounters(): PortCounters {
  return { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, txDropped: 0, rxDropped: 0, forwarded: 0, ringDrops: 0 };
}

/** A view over the counter words that sums the per-worker blocks. */
export class CounterView {
  constructor(
    private readonly words: BigUint64Array,
    private readonly layout: EngineLayout,
  ) {}

  private workerBase(w: number): number {
    const l = this.layout;
    return l.headerWords + w * (l.workerWords + l.maxSlots * l.slotWords);
  }

  /** Counters of one slot (0 = uplink), summed over workers. */
  slot(slot: number): PortCounters {
    const l = this.layout;
    const f = l.slotFields;
    const out = emptyPortCounters();
    for (let w = 0; w < l.workers; w++) {
      const b = this.workerBase(w) + l.workerWords + slot * l.slotWords;
      out.rxPackets += Number(this.words[b + f.rxPackets!]);
      out.rxBytes += Number(this.words[b + f.rxBytes!]);
      out.txPackets += Number(this.words[b + f.txPackets!]);
      out.txBytes += Number(this.words[b + f.txBytes!]);
      out.txDropped += Number(this.words[b + f.txDropped!]);
      out.rxDropped += Number(this.words[b + f.rxDropped!]);
      out.forwarded += Number(this.words[b + f.forwarded!]);
      out.ringDrops += Number(this.words[b + f.ringDrops!]);
    }
    return out;
  }

  /** Zero a slot's counters in every worker block (before a slot is reused). */
  resetSlot(slot: number): void {
    const l = this.layout;
    for (let w = 0; w < l.workers; w++) {
      const b = this.workerBase(w) + l.workerWords + slot * l.slotWords;
      this.words.fill(0n, b, b + l.slotWords);
    }
  }

  /** Totals and per-worker numbers. */
  totals(): Omit<SwitchCounters, 'uplink' | 'ports'> {
    const l = this.layout;
    const wf = l.workerFields;
    const drops: Record<string, number> = {};
    for (let r = 1; r < DROP_REASON_COUNT; r++) {
      const name = DROP_REASON_NAMES[r];
      if (name) drops[name] = 0;
    }
    let rxFrames = 0;
    let forwarded = 0;
    const softOffload = { checksums: 0, gsoFrames: 0, segments: 0, refused: 0 };
    const workers: SwitchCounters['workers'] = [];
    for (let w = 0; w < l.workers; w++) {
      const b = this.workerBase(w);
      const wr = Number(this.words[b + wf.rxFrames!]);
      const fw = Number(this.words[b + wf.forwarded!]);
      rxFrames += wr;
      forwarded += fw;
      const opt = (f: number | undefined): number => (f === undefined ? 0 : Number(this.words[b + f]));
      workers.push({
        rxFrames: wr,
        forwarded: fw,
        loops: Number(this.words[b + wf.loops!]),
        txDropped: Number(this.words[b + wf.txDropped!]),
        fdErrors: opt(wf.fdErrors),
        fdDisarmed: opt(wf.fdDisarmed),
        uplinkSwaps: opt(wf.uplinkSwaps),
        rxModeSwitches: opt(wf.rxModeSwitches),
        rxMode: opt(wf.rxMode),
        sleeps: opt(wf.sleeps),
        rxRemaps: opt(wf.rxRemaps),
        rxV2Drops: opt(wf.rxV2Drops),
        rxV3Drops: opt(wf.rxV3Drops),
        rxRollovers: opt(wf.rxRollovers),
        spins: opt(wf.spins),
      });
      for (let r = 1; r < DROP_REASON_COUNT; r++) {
        const name = DROP_REASON_NAMES[r];
        if (name) drops[name]! += Number(this.words[b + wf.drops! + r]);
      }
      softOffload.checksums += Number(this.words[b + wf.softCsums!]);
      softOffload.gsoFrames += Number(this.words[b + wf.softGsoFrames!]);
      softOffload.segments += Number(this.words[b + wf.softSegments!]);
      softOffload.refused += Number(this.words[b + wf.softRefused!]);
    }
    return { rxFrames, forwarded, drops, workers, softOffload };
  }
}
