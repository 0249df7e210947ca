/**
 * Process-level teardown: while any lab is alive, hooks on 'exit', SIGINT, SIGTERM, SIGHUP and
 * uncaught exceptions destroy every live lab synchronously, so no namespace outlives its process
 * (short of SIGKILL, which cleanupStaleLabs handles on the next run).
 */
import { log } from '../log.ts';

/** What the hooks need from a lab. */
export interface SyncDestroyable {
  readonly prefix: string;
  destroySync(): void;
}

const live = new Set<SyncDestroyable>();
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const SIGNUM: Record<(typeof SIGNALS)[number], number> = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 };
let installed = false;

/** Destroy every live lab now, synchronously (best effort, never throws). */
export function destroyAllLabsSync(): void {
  for (const lab of [...live]) {
    try {
      lab.destroySync();
    } catch (err) {
      try {
        process.stderr.write(`macdemux lab ${lab.prefix}: teardown failed: ${(err as Error).message}\n`);
      } catch {
        /* nothing left to report to */
      }
    }
    unregisterLab(lab);
  }
}

function onExit(): void {
  destroyAllLabsSync();
}

function onSignal(signal: NodeJS.Signals): void {
  const others = process.listeners(signal).filter((l) => l !== onSignal);
  if (others.length > 0) {
    // Someone else handles this signal (e.g. a graceful shutdown that still needs the lab); the 'exit'
    // hook tears down when they exit, or they call lab.destroy() themselves.
    return;
  }
  log('lab').info({ event: 'lab.signal', signal, labs: [...live].map((l) => l.prefix) }, 'signal: tearing down labs');
  destroyAllLabsSync();
  uninstall();
  // Re-raise with the default disposition so the parent sees "killed by SIGINT/SIGTERM".
  try {
    process.kill(process.pid, signal);
  } catch {
    /* fall through */
  }
  process.exit(128 + SIGNUM[signal as (typeof SIGNALS)[number]]);
}

function onUncaught(): void {
  // Only when nobody handles it: then the process is about to die.
  if (process.listenerCount('uncaughtException') === 0) destroyAllLabsSync();
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', onExit);
  for (const s of SIGNALS) process.on(s, onSignal);
  process.on('uncaughtExceptionMonitor', onUncaught);
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  process.off('exit', onExit);
  for (const s of SIGNALS) process.off(s, onSignal);
  process.off('uncaughtExceptionMonitor', onUncaught);
}

/** Start guarding a lab (hooks are installed while at least one lab is live). */
export function registerLab(lab: SyncDestroyable): void {
  live.add(lab);
  install();
}

/** Stop guarding a lab (after it was destroyed); removes the hooks when none is left. */
export function unregisterLab(lab: SyncDestroyable): void {
  live.delete(lab);
  if (live.size === 0) uninstall();
}

/** Number of labs currently guarded (for tests). */
export function liveLabCount(): number {
  return live.size;
}
