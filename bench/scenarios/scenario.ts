/**
 * What a benchmark scenario is: a forwarder (or the bare generator) built on the shared testbed.
 */
import type { SwitchOptions } from '../../src/dataplane/index.ts';
import type { Lab } from '../../src/lab/index.ts';
import type { Testbed } from '../testbed.ts';
import type { ScenarioName } from '../types.ts';

/** Inputs of {@link Scenario.build}. */
export interface BuildContext {
  lab: Lab;
  /** One of the scenario's variants. */
  variant: string;
  /** Ports (table entries) to configure; at least `sinks`. */
  ports: number;
  /** Destinations that receive traffic. */
  sinks: number;
  /** CPU for userspace forwarders' threads (the generator is on CPU 0). */
  forwarderCpu: number;
  /** A private temporary directory for this build. */
  tmpDir: string;
  /** Userspace forwarders' workers at real-time priority (SCHED_FIFO), where supported. */
  realtime?: boolean;
  /** Extra options for the macdemux Switch (bench/wave2.ts --switch, to compare receive settings). */
  switchOptions?: Partial<SwitchOptions>;
}

export interface Scenario {
  readonly name: ScenarioName;
  /** Variants; the first is the primary one (TCP and port scaling run on it only). */
  readonly variants: readonly string[];
  readonly description: string;
  /** Whether extra ports (table entries) can be configured for port-count scaling. */
  readonly scalable: boolean;
  /** null when the scenario can run here, else why not (it is then reported as skipped). */
  unavailable(variant: string): Promise<string | null>;
  build(ctx: BuildContext): Promise<Testbed>;
}
