/**
 * Helpers of the container-runtime tests: a busybox-static rootfs tarball (the image every runtime
 * imports; no registry is reachable), daemons started by PID inside lab namespaces and stopped by
 * that PID, and a dockerd "host" with its own mount namespace so that /run/docker/plugins (where
 * dockerd looks for the plugin socket) is private to it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execCommand, runCommand, type ExecResult } from '../../src/lab/index.ts';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BUSYBOX = '/bin/busybox';
const APPLETS = ['sh', 'ash', 'ping', 'ip', 'ifconfig', 'route', 'sleep', 'cat', 'ls', 'hostname', 'true', 'arp', 'udhcpc'];

/** Debian's docker.io client (API 1.41, as dockerd 20.10); a newer client elsewhere on PATH
 * refuses `--mac-address` with `--network` against this daemon. */
const DOCKER_CLI = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';

/** A private temporary directory. */
export function tempDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `mdx-ct-${tag}-`));
}

/**
 * A tarball of a minimal rootfs (busybox-static and its applets as symlinks), cached in the temp
 * directory under the hash of the binary and the applet list, so a change builds a new one.
 */
export function busyboxTarball(): string {
  const hash = createHash('sha256').update(readFileSync(BUSYBOX)).update(APPLETS.join(',')).digest('hex').slice(0, 12);
  const out = join(tmpdir(), `macdemux-busybox-rootfs-${hash}.tar`);
  if (existsSync(out)) return out;
  const dir = tempDir('rootfs');
  try {
    for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'run']) mkdirSync(join(dir, d));
    copyFileSync(BUSYBOX, join(dir, 'bin', 'busybox'));
    chmodSync(join(dir, 'bin', 'busybox'), 0o755);
    for (const a of APPLETS) symlinkSync('busybox', join(dir, 'bin', a));
    const tmp = `${out}.${process.pid}`;
    const r = spawnSyncTar(dir, tmp);
    if (r) throw new Error(`tar failed: ${r}`);
    renameSync(tmp, out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

function spawnSyncTar(dir: string, out: string): string | undefined {
  const r = spawnSync('tar', ['-C', dir, '-cf', out, '.'], { encoding: 'utf8' });
  return r.status === 0 ? undefined : r.stderr;
}

/** The name under which {@link busyboxOciArchive} is imported. */
export const OCI_IMAGE_NAME = 'localhost/macdemux/busybox:latest';

/**
 * An OCI image archive (oci-layout, index.json, blobs) around the busybox rootfs tarball, for
 * `ctr images import` (which takes images, not rootfs tarballs); cached next to the tarball.
 */
export function busyboxOciArchive(): string {
  const layerPath = busyboxTarball();
  const out = layerPath.replace(/\.tar$/, '.oci.tar');
  if (existsSync(out)) return out;
  const dir = tempDir('oci');
  try {
    const blobs = join(dir, 'blobs', 'sha256');
    mkdirSync(blobs, { recursive: true });
    const put = (data: Buffer): { digest: string; size: number } => {
      const hex = createHash('sha256').update(data).digest('hex');
      writeFileSync(join(blobs, hex), data);
      return { digest: `sha256:${hex}`, size: data.length };
    };
    const layer = put(readFileSync(layerPath));
    const config = put(Buffer.from(JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['sh'], Env: ['PATH=/bin'] },
      rootfs: { type: 'layers', diff_ids: [layer.digest] },
    })));
    const manifest = put(Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
    })));
    writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    writeFileSync(join(dir, 'index.json'), JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'io.containerd.image.name': OCI_IMAGE_NAME } }],
    }));
    const tmp = `${out}.${process.pid}`;
    const err = spawnSyncTar(dir, tmp);
    if (err) throw new Error(`tar failed: ${err}`);
    renameSync(tmp, out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

/** A long-running child (a daemon), with its output kept for failure messages; stopped by PID. */
export class Daemon {
  readonly child: ChildProcess;
  output = '';
  readonly exited: Promise<number | null>;

  constructor(
    readonly label: string,
    cmd: string,
    args: string[],
    env: NodeJS.ProcessEnv = {},
  ) {
    this.child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env }, detached: false });
    const keep = (d: Buffer) => {
      this.output += d.toString('utf8');
      if (this.output.length > 200_000) this.output = this.output.slice(-100_000);
    };
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Wait until the output matches `re` (rejects when the process exits first or after `ms`). */
  async waitFor(re: RegExp, ms = 30_000): Promise<void> {
    const t0 = Date.now();
    while (!re.test(this.output)) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`${this.label} exited: ${this.output.slice(-2000)}`);
      if (Date.now() - t0 > ms) throw new Error(`${this.label}: no ${re} after ${ms} ms: ${this.output.slice(-2000)}`);
      await sleep(50);
    }
  }

  /** SIGTERM by PID, SIGKILL after `graceMs`; resolves when it has exited. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    process.kill(this.pid, 'SIGTERM');
    const timer = setTimeout(() => {
      try {
        process.kill(this.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll `fn` until it returns true (false after `ms`). */
export async function until(fn: () => Promise<boolean> | boolean, ms = 10_000, stepMs = 100): Promise<boolean> {
  const t0 = Date.now();
  for (;;) {
    if (await fn()) return true;
    if (Date.now() - t0 > ms) return false;
    await sleep(stepMs);
  }
}

/**
 * A Docker "host": dockerd inside the lab namespace `netns` (its parents live there) and inside a
 * private mount namespace with its own tmpfs on /run/docker, plus the macdemux plugin in the same
 * two namespaces (dockerd finds it at /run/docker/plugins/macdemux.sock).
 */
export class DockerHost {
  readonly dir: string;
  readonly sock: string;
  dockerd!: Daemon;
  plugin: Daemon | undefined;
  readonly pluginStateDir: string;

  constructor(
    readonly netns: string,
    tag: string,
  ) {
    this.dir = tempDir(`docker-${tag}`);
    this.sock = join(this.dir, 'docker.sock');
    this.pluginStateDir = join(this.dir, 'plugin-state');
  }

  /** Start dockerd (and wait for its API) and the plugin, and import the busybox image as `bb`. */
  async start(): Promise<void> {
    mkdirSync('/run/docker', { recursive: true }); // the mount point of each host's private tmpfs
    const d = this.dir;
    const script = [
      'set -e',
      'mount -t tmpfs -o mode=0711 tmpfs /run/docker',
      `exec nsenter --net=/run/netns/${this.netns} dockerd --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false ` +
        `--bridge=none --userland-proxy=false --storage-driver=vfs --shutdown-timeout=2 --data-root ${d}/data --exec-root ${d}/exec ` +
        `-H unix://${this.sock} --pidfile ${d}/docker.pid`,
    ].join('\n');
    // unshare -m makes mounts private by default; without --fork the PID is dockerd's own.
    this.dockerd = new Daemon(`dockerd(${this.netns})`, 'unshare', ['-m', 'sh', '-c', script]);
    const up = await until(async () => (await this.docker(['version', '--format', '{{.Server.Version}}'])).code === 0, 30_000, 200);
    if (!up) throw new Error(`dockerd did not come up: ${this.dockerd.output.slice(-3000)}`);
    await this.startPlugin();
    const img = await this.docker(['import', busyboxTarball(), 'bb:latest']);
    if (img.code !== 0) throw new Error(`docker import: ${img.stderr}`);
  }

  /** Start the plugin in dockerd's namespaces; resolves when it listens. */
  async startPlugin(): Promise<void> {
    this.plugin = new Daemon(`plugin(${this.netns})`, 'nsenter', [
      `--mount=/proc/${this.dockerd.pid}/ns/mnt`,
      `--net=/run/netns/${this.netns}`,
      process.execPath,
      join(ROOT, 'bin', 'macdemux.js'),
      'docker-plugin',
      '--state-dir',
      this.pluginStateDir,
    ], { MACDEMUX_LOG_LEVEL: 'info' });
    await this.plugin.waitFor(/listening on/);
  }

  async stopPlugin(): Promise<void> {
    await this.plugin?.stop();
    this.plugin = undefined;
  }

  /** `docker -H ... ARGS` (never throws; a private --config dir). */
  docker(args: string[], timeoutMs = 60_000): Promise<ExecResult> {
    return execCommand(DOCKER_CLI, ['--config', join(this.dir, 'cli'), '-H', `unix://${this.sock}`, ...args], { timeoutMs });
  }

  /** `docker ARGS`, throwing with stderr (and the plugin's recent log) on failure. */
  async ok(args: string[]): Promise<string> {
    const r = await this.docker(args);
    if (r.code !== 0) throw new Error(`docker ${args.join(' ')}: ${r.stderr.trim()}\nplugin: ${this.plugin?.output.slice(-1500) ?? ''}`);
    return r.stdout.trim();
  }

  /** Remove every container, stop plugin and dockerd by PID, remove the directory. */
  async stop(): Promise<void> {
    if (this.dockerd && this.dockerd.child.exitCode === null) {
      const ids = (await this.docker(['ps', '-aq'], 20_000)).stdout.split(/\s+/).filter(Boolean);
      if (ids.length) await this.docker(['rm', '-f', ...ids], 30_000);
    }
    await this.stopPlugin();
    await this.dockerd?.stop(15_000);
    await runCommand('rm', ['-rf', this.dir]).catch(() => {});
  }
}

/** Interface names in a namespace (`ip -j link`). */
export async function linkNames(netns: string): Promise<string[]> {
  const out = await runCommand('ip', ['-n', netns, '-j', 'link', 'show']);
  return (JSON.parse(out) as { ifname: string }[]).map((l) => l.ifname);
}
