/**
 * IPAM delegation as the reference plugins do it (libcni's invoke.DelegateAdd/Del/Check): find the
 * IPAM plugin by its `type` on CNI_PATH and exec it with the same environment and the same stdin
 * (the whole network configuration); its result or error JSON comes back on stdout.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { CNI_ERR, CniError } from './errors.ts';
import type { CniResult } from './config.ts';

/** An IPAM plugin's run must finish well inside the runtime's own patience. */
const IPAM_TIMEOUT_MS = 30_000;

/** Path of plugin `type` on CNI_PATH. */
export function findPlugin(type: string, path: string[]): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(type)) throw new CniError(CNI_ERR.INVALID_CONFIG, `ipam "type" ${JSON.stringify(type)} is not a plugin name`);
  for (const dir of path) {
    const p = join(dir, type);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  throw new CniError(CNI_ERR.INVALID_CONFIG, `failed to find plugin "${type}" in path [${path.join(' ')}]`);
}

/**
 * Exec the IPAM plugin for `command` (ADD, DEL, CHECK, STATUS, GC). Resolves to its parsed stdout
 * (empty for DEL and CHECK); its error JSON is re-thrown as a CniError with the same code.
 */
export function delegate(command: string, type: string, path: string[], stdin: string, env: NodeJS.ProcessEnv): CniResult | undefined {
  const plugin = findPlugin(type, path);
  const r = spawnSync(plugin, [], { input: stdin, env: { ...env, CNI_COMMAND: command }, encoding: 'utf8', timeout: IPAM_TIMEOUT_MS, killSignal: 'SIGKILL' });
  if (r.error) throw new CniError(CNI_ERR.IO_FAILURE, `exec ${plugin}: ${r.error.message}`);
  const out = (r.stdout ?? '').trim();
  if (r.status !== 0) {
    let parsed: { code?: number; msg?: string; details?: string } = {};
    try {
      parsed = JSON.parse(out);
    } catch {
      /* not JSON */
    }
    const why = parsed.msg ?? (out || (r.stderr ?? '').trim() || `exit status ${r.status ?? r.signal}`);
    throw new CniError(typeof parsed.code === 'number' ? parsed.code : CNI_ERR.INTERNAL, `ipam ${type} ${command}: ${why}`, parsed.details);
  }
  if (!out) return undefined;
  try {
    return JSON.parse(out) as CniResult;
  } catch (err) {
    throw new CniError(CNI_ERR.DECODE_FAILURE, `ipam ${type} ${command}: result is not JSON: ${(err as Error).message}`);
  }
}
