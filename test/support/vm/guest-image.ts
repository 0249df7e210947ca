/**
 * The test guest's boot image: Debian's stock kernel (the package `linux-image-amd64` depends on,
 * fetched with `apt-get download` and unpacked with `dpkg-deb -x`: never installed as the host's
 * kernel) and a busybox initramfs with the virtio network modules and guest-init.sh as /init.
 * Cached under MACDEMUX_VM_CACHE (default /var/cache/macdemux-vm), keyed by the kernel package's
 * version and a hash of the init script, modules and busybox, so a second run builds nothing.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync, copyFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '../../../src/lab/index.ts';

const here = new URL('.', import.meta.url).pathname;
const INIT = join(here, 'guest-init.sh');
/** The modules a virtio-net guest needs (their dependencies are added from `modinfo -F depends`). */
const ROOT_MODULES = ['virtio_pci', 'virtio_net'];
const BUSYBOX = '/bin/busybox';

export interface GuestImage {
  kernel: string;
  initrd: string;
  /** e.g. linux-image-6.1.0-57-amd64 6.1.192-3 */
  kernelPackage: string;
}

export function cacheRoot(): string {
  return process.env.MACDEMUX_VM_CACHE ?? '/var/cache/macdemux-vm';
}

/** The real kernel package behind the `linux-image-amd64` metapackage (e.g. linux-image-6.1.0-57-amd64). */
async function kernelPackageName(): Promise<string> {
  const depends = () => runCommand('apt-cache', ['depends', 'linux-image-amd64'], { timeoutMs: 60_000 });
  let out = await depends().catch(() => '');
  if (!/Depends: linux-image-\d/.test(out)) {
    await runCommand('apt-get', ['update', '-qq'], { timeoutMs: 300_000 });
    out = await depends();
  }
  const m = /Depends: (linux-image-\d[^\s]*)/.exec(out);
  if (!m) throw new Error(`apt-cache depends linux-image-amd64: no linux-image-6.x dependency in:\n${out}`);
  return m[1]!;
}

/** Downloads and unpacks the kernel package into the cache (once per package version). */
async function kernelTree(): Promise<{ dir: string; pkg: string; version: string; release: string }> {
  const pkg = await kernelPackageName();
  const version = (await runCommand('apt-cache', ['show', '--no-all-versions', pkg], { timeoutMs: 60_000 })).match(/^Version: (\S+)/m)?.[1];
  if (!version) throw new Error(`apt-cache show ${pkg}: no Version`);
  const dir = join(cacheRoot(), `${pkg}_${version}`);
  const release = pkg.replace(/^linux-image-/, '');
  if (existsSync(join(dir, 'tree', 'boot', `vmlinuz-${release}`))) return { dir, pkg, version, release };
  mkdirSync(dir, { recursive: true });
  const dl = join(dir, 'download');
  rmSync(dl, { recursive: true, force: true });
  mkdirSync(dl);
  await runCommand('sh', ['-c', 'cd "$1" && apt-get download -q "$2"', 'sh', dl, `${pkg}=${version}`], { timeoutMs: 600_000 });
  const deb = readdirSync(dl).find((f) => f.endsWith('.deb'));
  if (!deb) throw new Error(`apt-get download ${pkg}: no .deb in ${dl}`);
  const tmp = join(dir, 'tree.tmp');
  rmSync(tmp, { recursive: true, force: true });
  await runCommand('dpkg-deb', ['-x', join(dl, deb), tmp], { timeoutMs: 600_000 });
  rmSync(join(dir, 'tree'), { recursive: true, force: true });
  renameSync(tmp, join(dir, 'tree'));
  rmSync(dl, { recursive: true, force: true });
  return { dir, pkg, version, release };
}

/** The module files to load, dependencies first (the package ships no modules.dep: depmod runs at install). */
async function moduleOrder(modDir: string): Promise<{ name: string; path: string }[]> {
  const files = new Map<string, string>();
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ko')) files.set(e.name.slice(0, -3).replace(/-/g, '_'), p);
    }
  };
  walk(join(modDir, 'kernel'));
  const order: { name: string; path: string }[] = [];
  const visit = async (name: string, chain: string[]): Promise<void> => {
    if (order.some((m) => m.name === name)) return;
    if (chain.includes(name)) throw new Error(`module dependency cycle: ${[...chain, name].join(' -> ')}`);
    const path = files.get(name);
    if (!path) {
      const builtin = readFileSync(join(modDir, 'modules.builtin'), 'utf8');
      if (new RegExp(`/${name.replace(/_/g, '[_-]')}\\.ko$`, 'm').test(builtin)) return;
      throw new Error(`module ${name} not found in ${modDir}`);
    }
    const deps = (await runCommand('modinfo', ['-F', 'depends', path])).trim();
    for (const d of deps ? deps.split(',') : []) await visit(d.replace(/-/g, '_'), [...chain, name]);
    order.push({ name, path });
  };
  for (const m of ROOT_MODULES) await visit(m, []);
  return order;
}

/** Builds (or finds in the cache) the kernel + initramfs pair. */
export async function guestImage(): Promise<GuestImage> {
  const k = await kernelTree();
  const modDir = join(k.dir, 'tree', 'lib', 'modules', k.release);
  const mods = await moduleOrder(modDir);
  const h = createHash('sha256');
  h.update(readFileSync(INIT));
  h.update(readFileSync(BUSYBOX));
  for (const m of mods) h.update(m.name).update(readFileSync(m.path));
  const initrd = join(k.dir, `initramfs-${h.digest('hex').slice(0, 16)}.cpio.gz`);
  const kernel = join(k.dir, 'tree', 'boot', `vmlinuz-${k.release}`);
  const image = { kernel, initrd, kernelPackage: `${k.pkg} ${k.version}` };
  if (existsSync(initrd)) return image;

  const stage = join(k.dir, 'initramfs.stage');
  rmSync(stage, { recursive: true, force: true });
  for (const d of ['bin', 'modules', 'dev', 'proc', 'sys', 'tmp']) mkdirSync(join(stage, d), { recursive: true });
  copyFileSync(BUSYBOX, join(stage, 'bin', 'busybox'));
  chmodSync(join(stage, 'bin', 'busybox'), 0o755);
  copyFileSync(INIT, join(stage, 'init'));
  chmodSync(join(stage, 'init'), 0o755);
  for (const m of mods) copyFileSync(m.path, join(stage, 'modules', `${m.name}.ko`));
  writeFileSync(join(stage, 'modules', 'order'), `${mods.map((m) => m.name).join('\n')}\n`);
  const tmp = `${initrd}.tmp`;
  await runCommand('sh', ['-c', `cd "$1" && find . | cpio -o -H newc --quiet | gzip -1 > "$2"`, 'sh', stage, tmp], { timeoutMs: 120_000 });
  renameSync(tmp, initrd);
  rmSync(stage, { recursive: true, force: true });
  return image;
}
