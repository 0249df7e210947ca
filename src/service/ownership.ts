/**
 * What this state directory's config created (namespaces and links), persisted in
 * `<state-dir>/owned.json` with atomic writes. A resource is recorded *before* it is created
 * (write-ahead). A record alone proves nothing (a file can be forged, a foreign device can take
 * a recorded name): every link macdemux creates also carries a mark the kernel keeps with the
 * device, its alias (IFLA_IFALIAS) `macdemux:<state-id>:<netns>/<name>`, and macdemux deletes or
 * rewrites only devices that carry their mark. Also: the state directory's lock.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { readJsonFile, removeStaleTemporaries, writeFileAtomic } from './atomic-file.ts';

/** A namespace created by macdemux. */
export interface OwnedNetns {
  kind: 'netns';
  name: string;
}

/** A link created by macdemux (for a veth: this end; deleting it removes the peer too). */
export interface OwnedLink {
  kind: 'link';
  /** Namespace it lives in (undefined: the daemon's own). */
  netns?: string;
  name: string;
  role: 'endpoint' | 'shim' | 'tap';
  network: string;
  endpoint?: string;
  /** Device type created: macvlan, macvtap, veth, or tun (a userspace VM port's persistent tap). */
  type: 'macvlan' | 'macvtap' | 'veth' | 'tun';
  /** veth: the other end (the switch port in the parent's namespace). */
  peer?: { netns?: string; name: string };
  /**
   * `switch`: a VM tap made by `macdemux switch --port vm:` (no config declares it): `down`
   * removes it (if it carries its mark), an apply of a config never does.
   */
  origin?: 'switch';
}

export type OwnedResource = OwnedNetns | OwnedLink;

/** Stable key of a resource: `netns:NAME` or `link:NETNS/NAME` (empty NETNS = own namespace). */
export function resourceKey(r: { kind: 'netns'; name: string } | { kind: 'link'; netns?: string; name: string }): string {
  return r.kind === 'netns' ? `netns:${r.name}` : `link:${r.netns ?? ''}/${r.name}`;
}

const FILE = 'owned.json';

/** The persisted ownership records of one state directory. */
export class OwnershipStore {
  private resources: Map<string, OwnedResource>;
  private configPath: string | undefined;

  private constructor(
    readonly path: string,
    /** This state directory's id (random, made once), part of every mark. */
    readonly id: string,
    configPath: string | undefined,
    resources: Map<string, OwnedResource>,
  ) {
    this.configPath = configPath;
    this.resources = resources;
  }

  static async open(dir: string): Promise<OwnershipStore> {
    await removeStaleTemporaries(dir, FILE);
    const raw = (await readJsonFile(join(dir, FILE))) as { id?: string; config?: string; resources?: OwnedResource[] } | undefined;
    const map = new Map<string, OwnedResource>();
    for (const r of raw?.resources ?? []) map.set(resourceKey(r), r);
    const id = typeof raw?.id === 'string' && /^[0-9a-f]{8,32}$/.test(raw.id) ? raw.id : randomBytes(6).toString('hex');
    const store = new OwnershipStore(join(dir, FILE), id, raw?.config, map);
    if (id !== raw?.id) await store.save();
    return store;
  }

  /** The mark a link created by this state directory carries as its alias. */
  mark(netns: string | undefined, name: string): string {
    return `macdemux:${this.id}:${netns ?? ''}/${name}`;
  }

  /** Whether a live device carries the mark of (netns, name): only then is it ours to change or delete. */
  marked(link: { alias?: string }, netns: string | undefined, name: string): boolean {
    return link.alias === this.mark(netns, name);
  }

  /** The config file this state belongs to (absolute path), if recorded. */
  get config(): string | undefined {
    return this.configPath;
  }

  /**
   * Bind the state to a config file. Refuses another config while resources are recorded (the
   * other config's resources would be torn down as "no longer declared").
   */
  async bindConfig(file: string, force = false): Promise<void> {
    const abs = resolve(file);
    if (this.configPath && this.configPath !== abs && this.resources.size && !force) {
      throw new Error(
        `state directory holds resources of ${this.configPath}, not ${abs}: use another --state-dir, or run \`macdemux down ${this.configPath}\` first`,
      );
    }
    if (this.configPath !== abs) {
      this.configPath = abs;
      await this.save();
    }
  }

  has(key: string): boolean {
    return this.resources.has(key);
  }

  get(key: string): OwnedResource | undefined {
    return this.resources.get(key);
  }

  list(): OwnedResource[] {
    return [...this.resources.values()];
  }

  /** Record a resource (before creating it) and persist. */
  async record(r: OwnedResource): Promise<void> {
    await this.recordAll([r]);
  }

  /**
   * Record resources (before creating any of them) and persist them in one atomic write, so a
   * batch of n costs one write, not n writes of a growing file.
   */
  async recordAll(rs: readonly OwnedResource[]): Promise<void> {
    let changed = false;
    for (const r of rs) {
      const key = resourceKey(r);
      if (JSON.stringify(this.resources.get(key)) === JSON.stringify(r)) continue;
      this.resources.set(key, r);
      changed = true;
    }
    if (changed || this.dirty) await this.save();
  }

  /**
   * Forget a resource (after removing it). Persisted at once, or with `later` at the next write
   * ({@link flush}): a record whose resource is gone is harmless after a crash (the next run finds
   * nothing under it and forgets it), so forgets may be batched; records may not.
   */
  async forget(key: string, later = false): Promise<void> {
    if (!this.resources.delete(key)) return;
    if (later) this.dirty = true;
    else await this.save();
  }

  /** Persist forgets made with `later` (no write when there are none). */
  async flush(): Promise<void> {
    if (this.dirty) await this.save();
  }

  /** Forgets not yet persisted. */
  private dirty = false;

  private async save(): Promise<void> {
    const resources = [...this.resources.values()].sort((a, b) => resourceKey(a).localeCompare(resourceKey(b)));
    await writeFileAtomic(this.path, `${JSON.stringify({ version: 1, id: this.id, config: this.configPath, resources }, null, 2)}\n`);
    this.dirty = false;
  }
}

/** Whether a process is alive (signal 0). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** An exclusive lock on a state directory (a pid file; a dead owner's lock is taken over). */
export class StateLock {
  private constructor(readonly path: string) {}

  static async acquire(dir: string, what = 'macdemux'): Promise<StateLock> {
    const path = join(dir, 'lock');
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fh = await open(path, 'wx', 0o600);
        await fh.writeFile(`${process.pid} ${what}\n`);
        await fh.close();
        return new StateLock(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const text = await readFile(path, 'utf8').catch(() => '');
      const pid = Number(text.split(/\s/)[0]);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        const err = new Error(`state directory ${dir} is in use by pid ${pid} (${text.trim().split(' ').slice(1).join(' ') || 'unknown'})`) as Error & { code: string; pid: number };
        err.code = 'ERR_MACDEMUX_LOCKED';
        err.pid = pid;
        throw err;
      }
      await unlink(path).catch(() => {});
    }
    // Last resort: overwrite (the owner is gone).
    await writeFile(path, `${process.pid} ${what}\n`, { mode: 0o600 });
    return new StateLock(path);
  }

  async release(): Promise<void> {
    const text = await readFile(this.path, 'utf8').catch(() => '');
    if (Number(text.split(/\s/)[0]) === process.pid) await unlink(this.path).catch(() => {});
  }
}
