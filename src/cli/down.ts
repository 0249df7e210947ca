/**
 * `macdemux down CONFIG [--state-dir DIR]`: remove exactly what `up` (or the daemon) created for
 * this state directory, release the leases. Refuses while a daemon owns the state directory.
 */
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DEFAULT_STATE_DIR, parseArgs } from '../service/args.ts';
import { ensurePrivateDir } from '../service/atomic-file.ts';
import { OwnershipStore, StateLock } from '../service/ownership.ts';
import { ReconcileError, type ReconcileReport, teardown } from '../service/reconcile.ts';
import { formatReport } from './up.ts';

const USAGE = 'usage: macdemux down [CONFIG] [--state-dir DIR] [--json]';

export async function run(argv: string[]): Promise<number> {
  const { opts, positional } = parseArgs(argv, { values: ['state-dir'], flags: ['json'], usage: USAGE });
  if (opts.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (positional.length > 1) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const stateDir = resolve(String(opts['state-dir'] ?? DEFAULT_STATE_DIR));
  await ensurePrivateDir(stateDir);
  let lock: StateLock;
  try {
    lock = await StateLock.acquire(stateDir, 'macdemux down');
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_MACDEMUX_LOCKED')
      throw new Error(`${(err as Error).message}: stop the daemon first (SIGTERM; with --teardown-on-exit it removes everything itself)`);
    throw err;
  }
  try {
    const owned = await OwnershipStore.open(stateDir);
    if (positional[0] && owned.config && owned.config !== resolve(positional[0]) && owned.list().length) {
      throw new Error(`state directory ${stateDir} belongs to ${owned.config}, not ${resolve(positional[0])}`);
    }
    let report: ReconcileReport;
    let failed = false;
    try {
      report = await teardown(stateDir, { owned });
    } catch (err) {
      if (!(err instanceof ReconcileError)) throw err;
      report = err.report;
      failed = true;
    }
    // Endpoints added through the control API belong to this state too: forget them.
    if (!failed) await rm(join(stateDir, 'api-endpoints.json'), { force: true });
    process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    return failed ? 1 : 0;
  } finally {
    await lock.release();
  }
}
