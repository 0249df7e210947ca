/**
 * CPU time of this process's engine worker threads (named mdx-worker-N), from
 * /proc/self/task/TID/stat utime + stime (fields 14 and 15, in clock ticks).
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second (USER_HZ; 100 on every Linux architecture node runs on). */
export const CLK_TCK = 100;

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
