/**
 * A libcni-like client for the tests: exec a CNI plugin with the CNI environment and the network
 * configuration on stdin, inside a lab namespace (the runtime's), as libcni's invoke package does
 * (prevResult is added to the config for CHECK and DEL, like libcni's buildOneConfig).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, tempDir } from './container-helpers.ts';

/** A CNI bin dir: macdemux-cni plus Debian's reference plugins (host-local, static, dhcp, macvlan). */
export function cniBinDir(): string {
  const dir = join(tempDir('cnibin'), 'bin');
  mkdirSync(dir);
  symlinkSync(join(ROOT, 'bin', 'macdemux-cni'), join(dir, 'macdemux-cni'));
  return dir;
}

export const REFERENCE_PLUGINS = '/usr/lib/cni';

export interface CniCall {
  code: number;
  /** Parsed stdout (result or error), undefined when empty. */
  json: any;
  stdout: string;
  stderr: string;
}

export interface Attachment {
  containerId: string;
  netns: string;
  ifname?: string;
  args?: string;
}

/** Run `plugin` (a path) for `command` in `runtimeNs` with config `conf`. */
export function execPlugin(plugin: string, command: string, conf: object, runtimeNs: string, a: Partial<Attachment> = {}, path: string[] = []): CniCall {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    CNI_COMMAND: command,
    CNI_PATH: path.join(':'),
    ...(a.containerId !== undefined ? { CNI_CONTAINERID: a.containerId } : {}),
    ...(a.netns !== undefined ? { CNI_NETNS: a.netns } : {}),
    ...(a.ifname !== undefined || a.containerId !== undefined ? { CNI_IFNAME: a.ifname ?? 'eth0' } : {}),
    ...(a.args ? { CNI_ARGS: a.args } : {}),
  };
  const r = spawnSync('nsenter', [`--net=/run/netns/${runtimeNs}`, plugin], { input: JSON.stringify(conf), env, encoding: 'utf8', timeout: 30_000 });
  const stdout = r.stdout ?? '';
  let json: any;
  try {
    json = stdout.trim() ? JSON.parse(stdout) : undefined;
  } catch {
    json = undefined;
  }
  return { code: r.status ?? -1, json, stdout, stderr: r.stderr ?? '' };
}

/** The shape of a JSON value: keys and value types, recursively (arrays by their first element). */
export function shapeOf(v: unknown): unknown {
  if (Array.isArray(v)) return v.length ? [shapeOf(v[0])] : [];
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, shapeOf((v as Record<string, unknown>)[k])]));
  return typeof v;
}
