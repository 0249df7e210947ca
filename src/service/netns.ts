/**
 * Named network namespaces (`ip netns` bind mounts under /run/netns, run with iproute2) and the
 * checksum offload of the service's veth ends (over ethtool netlink, src/devices/offloads.ts).
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { promisify } from 'node:util';
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

/** Delete a named namespace (the bind mount; the namespace dies with its last user). */
export async function deleteNetns(name: string): Promise<void> {
  if (!netnsExists(name)) return;
  await sh('ip', ['netns', 'del', name]);
}

/** Turn off TX checksum offload (and with it TSO) on a veth end, so frames that cross AF_PACKET carry valid checksums. */
export async function disableTxOffload(ifname: string, netns?: string): Promise<void> {
  await setOffloads(ifname, { tx: false }, netns ? { netns } : {});
}
