/**
 * CPU time of this process's engine worker threads (named mdx-worker-N), from
 * /proc/self/task/TID/stat utime + stime (fields 14 and 15, in clock ticks): what the engine's
 * workers cost, apart from the rest of the process and from softirq work on other cores.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { USER_HZ } from './cpu.ts';

/** Clock ticks per second of {@link workerTicks} (USER_HZ). */
export const CLK_TCK = USER_HZ;

/** utime+stime ticks of this process's engine worker threads (all of them summed). */
export function workerTicks(): number {
  let t = 0;
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      if (!readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').startsWith('mdx-worker')) continue;
      const f = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      t += Number(f[11]) + Number(f[12]);
    } catch {
      // thread gone
    }
  }
  return t;
}
