/**
 * CPU placement for in-process forwarders: threads inherit the affinity of the thread that creates
 * them, so the main thread is pinned to the forwarder CPU while the engine starts its workers, then
 * given all CPUs back. (The native generator pins its own thread to CPU 0.)
 */
import { execFile } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Run `fn` with the main thread pinned to `cpu`; threads it starts stay there. */
export async function withMainThreadOn<T>(cpu: number, fn: () => Promise<T>): Promise<{ value: T; pinned: boolean }> {
  const all = `0-${availableParallelism() - 1}`;
  let pinned = false;
  try {
    await run('taskset', ['-pc', String(cpu), String(process.pid)]);
    pinned = true;
  } catch {
    /* taskset missing or not allowed: run unpinned */
  }
  try {
    return { value: await fn(), pinned };
  } finally {
    if (pinned) await run('taskset', ['-pc', all, String(process.pid)]).catch(() => undefined);
  }
}
