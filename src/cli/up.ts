/**
 * `macdemux up CONFIG [--state-dir DIR] [--json]`: apply a network config idempotently. When a
 * daemon owns the state directory, it is asked to reload instead (one applier at a time).
 */
import { resolve } from 'node:path';
import { DEFAULT_STATE_DIR, parseArgs, socketPathFor } from '../service/args.ts';
import { ensurePrivateDir } from '../service/atomic-file.ts';
import { loadConfig } from '../service/config.ts';
import { apiRequest } from '../service/control-client.ts';
import { OwnershipStore, StateLock } from '../service/ownership.ts';
import { apply, ReconcileError, type ReconcileReport } from '../service/reconcile.ts';

const USAGE = 'usage: macdemux up CONFIG [--state-dir DIR] [--json]';

export async function run(argv: string[]): Promise<number> {
  const { opts, positional } = parseArgs(argv, { values: ['state-dir'], flags: ['json'], usage: USAGE });
  if (opts.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (positional.length !== 1) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const file = resolve(positional[0]);
  const stateDir = resolve(String(opts['state-dir'] ?? DEFAULT_STATE_DIR));
  const config = await loadConfig(file);
  await ensurePrivateDir(stateDir);
  let lock: StateLock;
  try {
    lock = await StateLock.acquire(stateDir, `macdemux up ${file}`);
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_MACDEMUX_LOCKED') throw err;
    if (!(err as Error).message.includes('(macdemuxd ')) throw err; // another `up`/`down` is running
    // A daemon owns this state: it applies its own config file, so only that file can be reloaded.
    const socket = socketPathFor(stateDir);
    const status = await apiRequest(socket, 'GET', '/status');
    const served = (status.body as { config?: string } | undefined)?.config;
    if (served !== file)
      throw new Error(`the daemon on ${stateDir} (${(err as Error).message.replace(/^.*in use by /, '')}) serves ${served}, not ${file}: edit that file and run \`macdemux up ${served}\`, or use another --state-dir`);
    const res = await apiRequest(socket, 'POST', '/reload', {});
    if (res.status >= 300) {
      const e = (res.body as { error?: { message?: string } } | undefined)?.error;
      throw new Error(`the daemon did not apply ${file}: ${e?.message ?? JSON.stringify(res.body)}`);
    }
    process.stdout.write(opts.json ? `${JSON.stringify(res.body)}\n` : `daemon (${(err as Error).message.replace(/^.*in use by /, '')}) reloaded ${file}\n`);
    return 0;
  }
  try {
    const owned = await OwnershipStore.open(stateDir);
    await owned.bindConfig(file);
    let report: ReconcileReport;
    let failed = false;
    try {
      report = await apply(config, stateDir, { owned });
    } catch (err) {
      if (!(err instanceof ReconcileError)) throw err;
      report = err.report;
      failed = true;
    }
    if (opts.json) process.stdout.write(`${JSON.stringify({ ...report, desired: undefined }, null, 2)}\n`);
    else process.stdout.write(formatReport(report));
    const userspace = config.networks.filter((n) => n.dataplane === 'userspace').map((n) => n.name);
    if (userspace.length)
      process.stderr.write(
        `note: network(s) ${userspace.join(', ')} use the userspace data plane: frames are forwarded while macdemuxd runs (macdemuxd --config ${file} --state-dir ${stateDir})\n`,
      );
    return failed ? 1 : 0;
  } finally {
    await lock.release();
  }
}

/** Human-readable summary of a reconcile report. */
export function formatReport(r: ReconcileReport): string {
  const lines: string[] = [];
  for (const c of r.created) lines.push(`+ ${c}`);
  for (const c of r.changed) lines.push(`~ ${c}`);
  for (const c of r.removed) lines.push(`- ${c}`);
  for (const e of r.errors) lines.push(`! ${e.resource}: ${e.message}`);
  if (!lines.length) lines.push('= nothing to do (already as declared)');
  for (const [net, eps] of Object.entries(r.leases)) {
    for (const [ep, l] of Object.entries(eps)) lines.push(`  ${net}/${ep}: ${[l.ipv4, l.ipv6, l.mac].filter(Boolean).join(' ')}`);
  }
  return `${lines.join('\n')}\n`;
}
