/**
 * Finding and removing lab namespaces: the processes inside are killed first, then the namespace is
 * deleted (`ip netns del`). Stale labs (owner pid gone) are found by their `mdx-<pid>-` name.
 */
import { readdirSync, existsSync } from 'node:fs';
import { execCommand, runCommandSync } from './exec.ts';
import { parseLabNamespace, staleNamespaces } from './names.ts';
import { log } from '../log.ts';

/** Where `ip netns add` puts its bind mounts. */
export const NETNS_DIR = '/run/netns';

/** Names of all named network namespaces (the entries of /run/netns, like `ip netns list`). */
export function listNamespaces(): string[] {
  try {
    return readdirSync(NETNS_DIR).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** True when a namespace with this name exists. */
export function namespaceExists(name: string): boolean {
  return existsSync(`${NETNS_DIR}/${name}`);
}

/** True when process `pid` exists (has a /proc entry). */
export function isPidAlive(pid: number): boolean {
  return existsSync(`/proc/${pid}`);
}

function parsePids(out: string | undefined): number[] {
  if (!out) return [];
  return out
    .split(/\s+/)
    .filter((s) => /^\d+$/.test(s))
    .map(Number)
    .filter((p) => p > 0 && p !== process.pid);
}

function killAll(pids: number[]): number {
  let n = 0;
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
      n++;
    } catch {
      /* already gone */
    }
  }
  return n;
}

/** SIGKILL every process in the namespace (`ip netns pids NAME`); resolves to how many were signalled. */
export async function killNamespaceProcesses(name: string): Promise<number> {
  const r = await execCommand('ip', ['netns', 'pids', name], { timeoutMs: 5000 });
  return r.code === 0 ? killAll(parsePids(r.stdout)) : 0;
}

/**
 * Kill the processes inside and delete the namespace. Resolves true when it is gone
 * (also when it did not exist). Waits briefly for killed processes to disappear.
 */
export async function deleteNamespace(name: string): Promise<boolean> {
  if (!namespaceExists(name)) return true;
  for (let attempt = 0; attempt < 3; attempt++) {
    const killed = await killNamespaceProcesses(name);
    if (killed > 0) await waitForNoPids(name, 2000);
    const r = await execCommand('ip', ['netns', 'del', name], { timeoutMs: 5000 });
    if (r.code === 0 || !namespaceExists(name)) return true;
    log('lab').warn({ event: 'lab.netns-del-retry', netns: name, stderr: r.stderr.trim() }, 'ip netns del failed, retrying');
    await sleep(100 * (attempt + 1));
  }
  return !namespaceExists(name);
}

async function waitForNoPids(name: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const r = await execCommand('ip', ['netns', 'pids', name], { timeoutMs: 5000 });
    if (r.code !== 0 || parsePids(r.stdout).length === 0) return;
    await sleep(20);
  }
}

/** Synchronous {@link deleteNamespace} for exit/signal handlers (no waiting, best effort). */
export function deleteNamespaceSync(name: string): boolean {
  if (!namespaceExists(name)) return true;
  killAll(parsePids(runCommandSync('ip', ['netns', 'pids', name])));
  runCommandSync('ip', ['netns', 'del', name]);
  return !namespaceExists(name);
}

/** One lab namespace as `macdemux lab list` shows it. */
export interface LabNamespaceInfo {
  name: string;
  /** The pid encoded in the name: the process that created the lab. */
  ownerPid: number;
  /** Whether that process is still alive (false = stale, removed by cleanupStaleLabs). */
  ownerAlive: boolean;
}

/** All lab namespaces (`mdx-<pid>-...`) on this machine with their owner's liveness. */
export function listLabNamespaces(): LabNamespaceInfo[] {
  const out: LabNamespaceInfo[] = [];
  for (const name of listNamespaces()) {
    const owner = parseLabNamespace(name);
    if (owner) out.push({ name, ownerPid: owner.pid, ownerAlive: isPidAlive(owner.pid) });
  }
  return out;
}

/**
 * Remove the namespaces of dead lab runs: every `mdx-<pid>-...` namespace whose pid has no /proc entry.
 * Processes inside are killed first. Resolves to the names removed. Labs of live processes are untouched.
 */
export async function cleanupStaleLabs(): Promise<string[]> {
  const stale = staleNamespaces(listNamespaces(), isPidAlive);
  const removed: string[] = [];
  for (const name of stale) {
    if (await deleteNamespace(name)) removed.push(name);
    else log('lab').warn({ event: 'lab.stale-kept', netns: name }, 'could not remove stale lab namespace');
  }
  if (removed.length) log('lab').info({ event: 'lab.stale-removed', removed }, 'removed stale lab namespaces');
  return removed;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
