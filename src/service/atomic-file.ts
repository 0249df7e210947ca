/**
 * Crash-safe file replacement: write a temporary file in the same directory, fsync it, rename it
 * over the target, fsync the directory. After a crash at any point the target holds either the old
 * or the new content, never a mix or nothing.
 */
import { lstat, mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

let seq = 0;

/** Replace `path` with `data` atomically and durably (mode applies to the new file). */
export async function writeFileAtomic(path: string, data: string, mode = 0o600): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}-${++seq}`);
  const fh = await open(tmp, 'w', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

/** Read a JSON file; undefined when it does not exist. A corrupt file throws (never silently empty). */
export async function readJsonFile(path: string): Promise<unknown | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${path}: corrupt state file (${(err as Error).message}); move it away to start over`);
  }
}

/** Remove temporary files left by a crash in the middle of {@link writeFileAtomic}. */
export async function removeStaleTemporaries(dir: string, name: string): Promise<void> {
  const prefix = `.${name}.tmp-`;
  for (const f of await readdir(dir).catch(() => [] as string[])) {
    if (f.startsWith(prefix)) await unlink(join(dir, f)).catch(() => {});
  }
}

/**
 * Create a state directory (and parents) private to the caller, and refuse one that another user
 * could have written to: it must be a real directory (not a symlink), owned by the caller, and not
 * group- or other-writable (else anyone could forge the records macdemux acts on).
 */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const st = await lstat(dir);
  const uid = process.getuid?.() ?? 0;
  const fix = `(chown ${uid} ${dir} && chmod 700 ${dir}, or use another --state-dir)`;
  if (st.isSymbolicLink()) throw new StateDirError(`state directory ${dir} is a symbolic link: refused ${fix}`);
  if (!st.isDirectory()) throw new StateDirError(`state directory ${dir} is not a directory: refused`);
  if (st.uid !== uid) throw new StateDirError(`state directory ${dir} is owned by uid ${st.uid}, not by this user (uid ${uid}): refused ${fix}`);
  if (st.mode & 0o022) throw new StateDirError(`state directory ${dir} is writable by ${st.mode & 0o002 ? 'others' : 'its group'} (mode ${(st.mode & 0o777).toString(8)}): refused ${fix}`);
}

/** A state directory that cannot be trusted. */
export class StateDirError extends Error {
  readonly code = 'ERR_MACDEMUX_STATE_DIR';
  constructor(message: string) {
    super(message);
    this.name = 'StateDirError';
  }
}
