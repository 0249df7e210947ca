/** A description of the machine for the report. */
import { cpus, hostname, loadavg, release, totalmem, availableParallelism } from 'node:os';
import type { MachineInfo } from './types.ts';

export function describeMachine(): MachineInfo {
  const c = cpus();
  return {
    hostname: hostname(),
    nproc: availableParallelism(),
    cpuModel: c[0]?.model.trim() || 'unknown',
    kernel: release(),
    node: process.version,
    memGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    loadAvg: Math.round(loadavg()[0]! * 100) / 100,
  };
}
