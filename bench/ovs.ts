/**
 * A private Open vSwitch instance for the `ovs` scenario: its own ovsdb-server and ovs-vswitchd,
 * started inside the switch namespace with every file (database, sockets, pidfiles, logs) under a
 * temporary directory, so a system OVS (if any) is neither used nor disturbed.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Namespace } from '../src/lab/index.ts';

const run = promisify(execFile);

/** Where Debian keeps the schema. */
export const OVS_SCHEMA_CANDIDATES = ['/usr/share/openvswitch/vswitch.ovsschema', '/usr/local/share/openvswitch/vswitch.ovsschema'];
const TOOLS = ['ovsdb-tool', 'ovsdb-server', 'ovs-vswitchd', 'ovs-vsctl', 'ovs-ofctl', 'ovs-appctl'];

async function which(cmd: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${cmd}`]);
    return true;
  } catch {
    return false;
  }
}

/** null when OVS can be used here, else why not. */
export async function ovsUnavailable(): Promise<string | null> {
  const missing: string[] = [];
  for (const t of TOOLS) if (!(await which(t))) missing.push(t);
  if (missing.length) return `Open vSwitch is not installed (missing ${missing.join(', ')}; Debian package openvswitch-switch)`;
  if (!OVS_SCHEMA_CANDIDATES.some((p) => existsSync(p))) return `vswitch.ovsschema not found (looked in ${OVS_SCHEMA_CANDIDATES.join(', ')})`;
  return null;
}

export class OvsInstance {
  private constructor(
    readonly ns: Namespace,
    readonly dir: string,
  ) {}

  private get env(): NodeJS.ProcessEnv {
    return { ...process.env, OVS_RUNDIR: this.dir, OVS_DBDIR: this.dir, OVS_LOGDIR: this.dir, OVS_SYSCONFDIR: this.dir };
  }

  private get db(): string {
    return `unix:${join(this.dir, 'db.sock')}`;
  }

  /** Start ovsdb-server and ovs-vswitchd inside `ns` (vswitchd pinned to `cpu`), files under `dir`. */
  static async start(ns: Namespace, dir: string, cpu: number): Promise<OvsInstance> {
    const ovs = new OvsInstance(ns, dir);
    const schema = OVS_SCHEMA_CANDIDATES.find((p) => existsSync(p))!;
    const db = join(dir, 'conf.db');
    const opts = { env: ovs.env, timeout: 30_000 };
    await run('ovsdb-tool', ['create', db, schema], opts);
    await run('ip', ['netns', 'exec', ns.name, 'ovsdb-server', db, `--remote=punix:${join(dir, 'db.sock')}`,
      `--pidfile=${join(dir, 'ovsdb-server.pid')}`, `--unixctl=${join(dir, 'ovsdb-server.ctl')}`,
      `--log-file=${join(dir, 'ovsdb-server.log')}`, '--detach', '--no-chdir'], opts);
    await ovs.vsctl(['--no-wait', 'init']);
    await run('ip', ['netns', 'exec', ns.name, 'taskset', '-c', String(cpu), 'ovs-vswitchd', ovs.db,
      `--pidfile=${join(dir, 'ovs-vswitchd.pid')}`, `--unixctl=${join(dir, 'ovs-vswitchd.ctl')}`,
      `--log-file=${join(dir, 'ovs-vswitchd.log')}`, '--detach', '--no-chdir'], opts);
    return ovs;
  }

  /** ovs-vsctl against this instance's database. */
  async vsctl(args: string[]): Promise<string> {
    const r = await run('ovs-vsctl', [`--db=${this.db}`, '--timeout=20', ...args], { env: this.env, timeout: 30_000 });
    return r.stdout;
  }

  /** ovs-ofctl against this instance (bridge management socket under the private run dir). */
  async ofctl(args: string[], input?: string): Promise<string> {
    const p = run('ovs-ofctl', args, { env: this.env, timeout: 60_000 });
    if (input !== undefined) {
      p.child.stdin?.end(input);
    }
    return (await p).stdout;
  }

  /** Stop both daemons (best effort; the lab kills whatever is left in the namespace). */
  async stop(): Promise<void> {
    for (const ctl of ['ovs-vswitchd.ctl', 'ovsdb-server.ctl']) {
      await run('ovs-appctl', ['-t', join(this.dir, ctl), 'exit'], { env: this.env, timeout: 10_000 }).catch(() => undefined);
    }
  }
}
