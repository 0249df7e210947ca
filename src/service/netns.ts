/**
 * Named network namespaces (`ip netns` bind mounts under /run/netns, run with iproute2) and the
 * checksum offload of the service's veth ends (over ethtool netlink, src/devices/offloads.ts).
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';
import { setLink } from '../devices/links.ts';
import { setOffloads } from '../devices/offloads.ts';

const run = promisify(execFile);

/** Run a command; throws with its stderr on failure. */
export async function sh(cmd: string, args: string[], timeoutMs = 10_000): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, { timeout: timeoutMs, maxBuffer: 16 << 20 });
    return stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${(e.stderr ?? '').trim() || e.message}`);
  }
}

/** Whether the named namespace (or the namespace file at an absolute path) exists. */
export function netnsExists(name: string): boolean {
  return existsSync(name.startsWith('/') ? name : `/run/netns/${name}`);
}

/** Names of all named namespaces. */
export function listNetns(): string[] {
  try {
    return readdirSync('/run/netns');
  } catch {
    return [];
  }
}

/** Create a named namespace with `lo` up. */
export async function createNetns(name: string): Promise<void> {
  await sh('ip', ['netns', 'add', name]);
  await sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
}

/** Run `ip -force -batch -` over the given lines; resolves to its stderr (per-line errors), rejects only when ip cannot run. */
function ipBatch(lines: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['-force', '-batch', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => void (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', () => resolve(stderr));
    child.stdin.end(lines.map((l) => `${l}\n`).join(''));
  });
}

/**
 * Run `ip -batch` over the lines split into one part per CPU (at most 4), in parallel: setting up
 * or tearing down a network namespace runs its pernet init/exit code (net/core/net_namespace.c)
 * outside the RTNL lock, so namespaces are made side by side. The first line runs alone: the first
 * `ip netns add` on a machine turns /run/netns into a shared mount point, which two at once would
 * both do. Resolves to the joined stderr.
 */
async function ipBatchParallel(lines: string[]): Promise<string> {
  const parts = Math.max(1, Math.min(4, availableParallelism(), Math.floor(lines.length / 64)));
  if (parts === 1) return ipBatch(lines);
  const first = await ipBatch(lines.slice(0, 1));
  const rest = lines.slice(1);
  const size = Math.ceil(rest.length / parts);
  const chunks = Array.from({ length: parts }, (_, i) => rest.slice(i * size, (i + 1) * size)).filter((c) => c.length);
  return first + (await Promise.all(chunks.map(ipBatch))).join('');
}

/**
 * Create many named namespaces with `ip -batch` (a few processes, not two per namespace: at
 * thousands of endpoints the spawns were most of the cost), then set each one's `lo` up over
 * rtnetlink. Resolves to the names that could not be created, with ip's reason.
 */
export async function createNetnsAll(names: readonly string[]): Promise<Map<string, string>> {
  const failed = new Map<string, string>();
  if (!names.length) return failed;
  const stderr = await ipBatchParallel(names.map((n) => `netns add ${n}`));
  for (const n of names) {
    if (!netnsExists(n)) {
      failed.set(n, `ip netns add ${n}: ${stderr.split('\n').find((l) => l.includes(n))?.trim() || stderr.trim() || 'not created'}`);
      continue;
    }
    try {
      await setLink('lo', { up: true }, { netns: n });
    } catch (err) {
      failed.set(n, `${n}: lo up: ${(err as Error).message}`);
    }
  }
  return failed;
}

/** Delete many named namespaces with one `ip -batch`; resolves to the names still there, with ip's reason. */
export async function deleteNetnsAll(names: readonly string[]): Promise<Map<string, string>> {
  const left = new Map<string, string>();
  const there = names.filter((n) => netnsExists(n));
  if (!there.length) return left;
  const stderr = await ipBatchParallel(there.map((n) => `netns del ${n}`));
  for (const n of there) if (netnsExists(n)) left.set(n, `ip netns del ${n}: ${stderr.split('\n').find((l) => l.includes(n))?.trim() || stderr.trim() || 'still there'}`);
  return left;
}

/** Delete a named namespace (the bind mount; the namespace dies with its last user). */
export async function deleteNetns(name: string): Promise<void> {
  if (!netnsExists(name)) return;
  await sh('ip', ['netns', 'del', name]);
}

/** Turn off TX checksum offload (and with it TSO) on a veth end, so frames that cross AF_PACKET carry valid checksums. */
export async function disableTxOffload(ifname: string, netns?: string): Promise<void> {
  await setOffloads(ifname, { tx: false }, netns ? { netns } : {});
}
