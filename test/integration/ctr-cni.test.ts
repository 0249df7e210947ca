/**
 * `macdemux-cni` under real containerd (1.6) with `ctr run --cni`: containerd with private root,
 * state and socket inside a lab namespace (the master's); ctr reads its CNI config only from
 * /etc/cni/net.d and plugins only from /opt/cni/bin and /usr/lib/cni, so the test writes a uniquely
 * named conflist there (sorted first: ctr takes the first as its default network) and a symlink
 * /opt/cni/bin/macdemux-cni when none exists, and removes both after. Two containers ping; each
 * `ctr run --rm` exit calls DEL (with an empty CNI_NETNS), which frees the lease.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execCommand, Lab, runCommand, type ExecResult, type Namespace } from '../../src/lab/index.ts';
import { needsRoot } from '../support.ts';
import { busyboxOciArchive, Daemon, OCI_IMAGE_NAME, ROOT, tempDir, until } from './container-helpers.ts';

const CNI_CONF_DIR = '/etc/cni/net.d';
const CNI_BIN_LINK = '/opt/cni/bin/macdemux-cni';

describe('macdemux-cni under containerd (ctr run --cni)', { skip: needsRoot, timeout: 180_000 }, () => {
  let lab: Lab;
  let host: Namespace;
  let dir: string;
  let containerd: Daemon | undefined;
  let confFile: string;
  let madeLink = false;
  let madeBinDir = false;
  const running: Daemon[] = [];

  const ctr = (args: string[], timeoutMs = 60_000): Promise<ExecResult> =>
    execCommand('nsenter', [`--net=/run/netns/${host.name}`, 'ctr', '--address', join(dir, 'containerd.sock'), ...args], { timeoutMs });
  // runc's state goes to a private root too (its default, /run/containerd/runc, is shared by every
  // containerd on the machine); container ids carry the pid.
  const runArgs = (id: string) => ['run', '--rm', '--cni', '--snapshotter', 'native', '--runc-root', join(dir, 'runc'), OCI_IMAGE_NAME, `${id}-${process.pid}`];
  const files = (d: string) => (existsSync(d) ? readdirSync(d) : []);
  const leases = () => files(join(dir, 'ipam', 'mdctr')).filter((f) => /^\d/.test(f));

  before(async () => {
    lab = await Lab.create();
    host = await lab.addNamespace('ctrhost');
    const peer = await lab.addNamespace('ctrpeer');
    await lab.addVeth({ ns: host, name: 'eth0' }, { ns: peer, name: 'wire', addresses: ['10.88.0.1/24'] });
    dir = tempDir('containerd');
    writeFileSync(join(dir, 'config.toml'), [
      'version = 2',
      `root = "${join(dir, 'root')}"`,
      `state = "${join(dir, 'state')}"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = "${join(dir, 'containerd.sock')}"`,
      '[ttrpc]',
      `  address = "${join(dir, 'containerd.sock.ttrpc')}"`,
      '',
    ].join('\n'));
    containerd = new Daemon('containerd', 'nsenter', [`--net=/run/netns/${host.name}`, 'containerd', '--config', join(dir, 'config.toml')]);
    assert.ok(await until(async () => (await ctr(['version'], 5000)).code === 0, 30_000, 200), `containerd did not start: ${containerd.output.slice(-2000)}`);
    const imp = await ctr(['images', 'import', '--snapshotter', 'native', busyboxOciArchive()]);
    assert.equal(imp.code, 0, imp.stderr);
    mkdirSync(CNI_CONF_DIR, { recursive: true });
    confFile = join(CNI_CONF_DIR, `00-macdemux-test-${process.pid}.conflist`);
    writeFileSync(confFile, JSON.stringify({
      cniVersion: '1.0.0',
      name: 'mdctr',
      plugins: [{
        type: 'macdemux-cni',
        master: 'eth0',
        mode: 'bridge',
        dataDir: join(dir, 'attach'),
        ipam: { type: 'host-local', dataDir: join(dir, 'ipam'), ranges: [[{ subnet: '10.88.0.0/24', gateway: '10.88.0.1' }]], routes: [{ dst: '0.0.0.0/0' }] },
      }],
    }));
    if (!existsSync(CNI_BIN_LINK)) {
      madeBinDir = !existsSync('/opt/cni');
      mkdirSync('/opt/cni/bin', { recursive: true });
      symlinkSync(join(ROOT, 'bin', 'macdemux-cni'), CNI_BIN_LINK);
      madeLink = true;
    }
  });

  after(async () => {
    if (confFile) rmSync(confFile, { force: true });
    if (madeLink && lstatSync(CNI_BIN_LINK, { throwIfNoEntry: false })) unlinkSync(CNI_BIN_LINK);
    if (madeBinDir) rmSync('/opt/cni', { recursive: true, force: true });
    if (containerd) {
      const ids = (await ctr(['containers', 'ls', '-q'], 10_000)).stdout.split(/\s+/).filter(Boolean);
      for (const id of ids) {
        await ctr(['task', 'kill', '-s', 'KILL', id], 10_000);
        await ctr(['task', 'delete', '-f', id], 10_000);
        await ctr(['snapshots', '--snapshotter', 'native', 'rm', id], 10_000);
        await ctr(['containers', 'delete', id], 10_000);
      }
      for (const d of running) await d.stop(5000);
      await containerd.stop();
      // Shims of our containerd (found by its unique socket path) outlive it when a task is stuck.
      for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
        let cmd = '';
        try {
          cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        } catch {
          continue;
        }
        if (cmd.includes('containerd-shim') && cmd.includes(join(dir, 'containerd.sock'))) process.kill(Number(pid), 'SIGKILL');
      }
    }
    if (dir) await runCommand('rm', ['-rf', dir]).catch(() => {});
    await lab?.destroy();
  });

  it('two containers on the default CNI network ping each other; every exit frees its lease (DEL)', async () => {
    // t1 runs in the background (ctr stays attached, so its exit runs DEL); t2 pings it.
    const t1 = new Daemon('ctr t1', 'nsenter', [`--net=/run/netns/${host.name}`, 'ctr', '--address', join(dir, 'containerd.sock'), ...runArgs('t1'), 'sleep', '3600']);
    running.push(t1);
    assert.ok(await until(() => leases().length === 1, 20_000), `t1 got no address: ${t1.output}`);
    const t1ip = leases()[0]!;
    assert.ok(await until(async () => (await ctr(['task', 'ls'])).stdout.includes('RUNNING'), 10_000));
    const t2 = await ctr([...runArgs('t2'), 'sh', '-c', `ip addr show eth0 && ip route && ping -c 2 -W 2 ${t1ip} && ping -c 1 -W 2 10.88.0.1`]);
    assert.equal(t2.code, 0, t2.stdout + t2.stderr);
    assert.match(t2.stdout, /inet 10\.88\.0\.\d+\/24/);
    assert.match(t2.stdout, /default via 10\.88\.0\.1 dev eth0/);
    assert.deepEqual(leases(), [t1ip], "t2's lease freed when it exited");
    await ctr(['task', 'kill', '-s', 'KILL', `t1-${process.pid}`]);
    await t1.exited;
    assert.deepEqual(leases(), [], "t1's lease freed");
    assert.deepEqual(files(join(dir, 'attach')), [], 'no attachment records left');
    const links = JSON.parse(await host.run('ip', ['-j', 'link', 'show'])).map((l: { ifname: string }) => l.ifname).sort();
    assert.deepEqual(links, ['eth0', 'lo']);
  });
});
