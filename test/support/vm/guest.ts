/**
 * Boots the test guest (guest-image.ts) under QEMU inside a lab namespace and collects the markers
 * guest-init.sh prints on its serial console. QEMU runs with `-nodefaults` (no NIC but the ones asked
 * for, never user-mode networking), its serial console on a pipe, a timeout, and is stopped by its PID
 * (the lab kills it too if the test dies first). Accelerator: KVM when the stock kernel boots under it
 * (probed once per host kernel and cached), else TCG: on a nested-KVM host a stock guest kernel hangs.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import type { Namespace } from '../../../src/lab/index.ts';
import { cacheRoot, guestImage, type GuestImage } from './guest-image.ts';

/** One virtio NIC of the guest and what the guest does on it. */
export interface GuestNic {
  /**
   * The `-netdev` backend, without `id=`: e.g. `tap,ifname=tap0,script=no,downscript=no,vhost=off,queues=2`.
   * `fds=@` is replaced by the fd numbers of `open` (opened in the launching shell, after any uid change).
   */
  netdev: string;
  /** Files opened read-write as the NIC's queue fds (e.g. a macvtap character device, once per queue). */
  open?: string[];
  mac: string;
  queues: number;
  /** Guest interface name (eth0, eth1, ... in the order given). */
  ifname: string;
  addr4: string;
  addr6: string;
  peer4: string;
  peer6: string;
  mtu: number;
  /** guest-init.sh check letters: p ping, 6 ping6, j jumbo, d download, u upload, q queues, b bench. */
  checks: string;
}

export interface GuestOptions {
  ns: Namespace;
  nics: GuestNic[];
  /** TCP port of the peer-server.mjs. */
  port: number;
  /** Bytes per TCP transfer. */
  bytes: number;
  /** Run QEMU as this uid:gid (setpriv) instead of root. */
  user?: { uid: number; gid: number };
  /** Kill QEMU after this long (default 240 s). */
  timeoutMs?: number;
  /** Appends the serial console here too. */
  logFile?: string;
  /** Extra fds to pass to QEMU (e.g. received over SCM_RIGHTS): stdio index 3.. of the child. */
  stdio?: ('pipe' | 'ignore' | number)[];
  /** Replaces the launch command (the QEMU argv is appended), e.g. a launcher script. */
  launcher?: string[];
  accel?: 'kvm' | 'tcg';
}

/** One marker: "MDXVM <if> <check> ok|fail <detail>". */
export interface Marker {
  ifname: string;
  check: string;
  ok: boolean;
  detail: string;
}

export interface GuestResult {
  markers: Marker[];
  console: string;
  /** True when the guest printed "MDXVM done" (it ran every check). */
  done: boolean;
  accel: 'kvm' | 'tcg';
  bootMs: number;
  totalMs: number;
}

/** Builds the QEMU argv (without the binary) for a guest. */
export function qemuArgs(image: GuestImage, o: GuestOptions, accel: 'kvm' | 'tcg'): string[] {
  // no_timer_check: a TCG guest on a busy host fails the IO-APIC timer check and panics (arch/x86/kernel/apic/io_apic.c)
  const append = ['console=ttyS0', 'panic=-1', 'no_timer_check', 'quiet', 'loglevel=3', `mdx.port=${o.port}`, `mdx.bytes=${o.bytes}`];
  for (const n of o.nics) append.push(`mdx.nic=${[n.ifname, n.addr4, n.addr6, n.peer4, n.peer6, n.mtu, n.checks].join(',')}`);
  const args = ['-nodefaults', '-no-reboot', '-display', 'none', '-serial', 'stdio', '-m', '512', '-smp', '2'];
  args.push('-accel', accel === 'kvm' ? 'kvm' : 'tcg', ...(accel === 'kvm' ? ['-cpu', 'host'] : []));
  args.push('-kernel', image.kernel, '-initrd', image.initrd, '-append', append.join(' '));
  let fd = 3 + (o.stdio?.length ?? 0);
  o.nics.forEach((n, i) => {
    let netdev = n.netdev;
    if (n.open?.length) {
      const fds = n.open.map(() => fd++);
      netdev = netdev.replace('fds=@', n.open.length === 1 ? `fd=${fds[0]}` : `fds=${fds.join(':')}`);
    }
    args.push('-netdev', `${netdev},id=n${i}`);
    const mq = n.queues > 1 ? `,mq=on,vectors=${2 * n.queues + 2}` : '';
    args.push('-device', `virtio-net-pci,netdev=n${i},mac=${n.mac}${mq}`);
  });
  return args;
}

/** A shell script that opens the NICs' `open` files as fds 3.. and execs QEMU with the rest of argv. */
function launchScript(o: GuestOptions): string[] {
  const opens: string[] = [];
  let fd = 3 + (o.stdio?.length ?? 0);
  for (const n of o.nics) for (const f of n.open ?? []) opens.push(`${fd++}<>'${f.replace(/'/g, `'\\''`)}'`);
  const script = `${opens.length ? `exec ${opens.join(' ')} || exit 97; ` : ''}exec "$@"`;
  return ['sh', '-c', script, 'guest-launch'];
}

/** Boots a guest, waits for "MDXVM done" (or exit/timeout), stops QEMU by PID, returns the markers. */
export async function runGuest(o: GuestOptions): Promise<GuestResult> {
  const image = await guestImage();
  const accel = o.accel ?? (await probeAccel(o.ns, image));
  return bootOnce(image, o, accel);
}

async function bootOnce(image: GuestImage, o: GuestOptions, accel: 'kvm' | 'tcg'): Promise<GuestResult> {
  const argv = [...launchScript(o), ...(o.launcher ?? []), 'qemu-system-x86_64', ...qemuArgs(image, o, accel)];
  const priv = o.user ? [...tunForUser(), 'setpriv', `--reuid=${o.user.uid}`, `--regid=${o.user.gid}`, '--clear-groups', '--'] : [];
  const [cmd, ...args] = [...priv, ...argv];
  const started = Date.now();
  const child = o.ns.spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe', ...(o.stdio ?? [])] });
  let out = '';
  let bootMs = 0;
  const markers: Marker[] = [];
  let done = false;
  const console_: string[] = [];
  const finished = new Promise<void>((resolve) => {
    const timer = setTimeout(() => stop(child), o.timeoutMs ?? 240_000);
    const onData = (b: Buffer): void => {
      const text = b.toString('latin1');
      if (o.logFile) appendFileSync(o.logFile, text);
      out += text;
      const lines = out.split(/\r?\n/);
      out = lines.pop()!;
      for (const line of lines) {
        console_.push(line);
        const m = /MDXVM (\S+)(?: (\S+))?(?: (ok|fail))?(?: (.*))?$/.exec(line);
        if (!m) continue;
        if (m[1] === 'boot' && m[2] === 'ok') bootMs = Date.now() - started;
        else if (m[1] === 'done') done = true;
        else if (m[3]) markers.push({ ifname: m[1]!, check: m[2]!, ok: m[3] === 'ok', detail: m[4] ?? '' });
      }
      if (done) stop(child);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (b: Buffer) => {
      console_.push(`[qemu stderr] ${b.toString().trimEnd()}`);
      if (o.logFile) appendFileSync(o.logFile, b);
    });
    child.on('exit', () => {
      clearTimeout(timer);
      consoleText = console_.join('\n') + (out ? `\n${out}` : '');
      resolve();
    });
  });
  let consoleText = '';
  await finished;
  return { markers, console: consoleText, done, accel, bootMs, totalMs: Date.now() - started };
}

/**
 * Some hosts keep /dev/net/tun at 0600 (no udev rule), so an unprivileged QEMU cannot open a tap it
 * owns by name. Like a distribution's 0666 rule, but only for QEMU: a node of the same device
 * (10:200, Documentation/admin-guide/devices.txt) with mode 0666, bind-mounted over /dev/net/tun in
 * the mount namespace `ip netns exec` gave the launch (private, so the host's node is untouched).
 * The tap's owner/group (TUNSETOWNER/TUNSETGROUP) still decide which taps the user may attach.
 */
function tunForUser(): string[] {
  const dir = join(cacheRoot(), 'tun');
  const node = join(dir, 'tun');
  if (!existsSync(node)) {
    mkdirSync(dir, { recursive: true });
    execFileSync('mknod', ['-m', '666', `${node}.tmp`, 'c', '10', '200']);
    renameSync(`${node}.tmp`, node);
  }
  return ['sh', '-c', 'mount --bind "$1" /dev/net/tun && shift && exec "$@"', 'tun-bind', node];
}

/** SIGTERM, then SIGKILL after 3 s, by PID (the child is QEMU itself: every wrapper execs). */
function stop(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  try {
    process.kill(child.pid, 'SIGTERM');
  } catch {
    return;
  }
  setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }, 3000).unref();
}

/**
 * KVM when /dev/kvm exists and the stock kernel reaches /init under it within 40 s, else TCG.
 * Probed once per host kernel release; the answer is cached next to the guest image.
 * MACDEMUX_VM_ACCEL=kvm|tcg overrides it.
 */
export async function probeAccel(ns: Namespace, image: GuestImage): Promise<'kvm' | 'tcg'> {
  const forced = process.env.MACDEMUX_VM_ACCEL;
  if (forced === 'kvm' || forced === 'tcg') return forced;
  if (!existsSync('/dev/kvm')) return 'tcg';
  const file = join(cacheRoot(), `accel-${release()}`);
  if (existsSync(file)) {
    const v = readFileSync(file, 'utf8').trim();
    if (v === 'kvm' || v === 'tcg') return v;
  }
  const r = await bootOnce(image, { ns, nics: [], port: 1, bytes: 0, timeoutMs: 40_000 }, 'kvm');
  const accel = r.done ? 'kvm' : 'tcg';
  mkdirSync(cacheRoot(), { recursive: true });
  writeFileSync(file, `${accel}\n`);
  return accel;
}
