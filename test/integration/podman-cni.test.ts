/**
 * `macdemux-cni` under real podman (4.3, CNI backend): a private containers.conf (CONTAINERS_CONF)
 * with network_backend "cni", runc, the ulimits this machine needs, a private CNI config dir and
 * plugin dirs, private storage; podman runs inside a lab namespace that holds the master. Two
 * containers on a macdemux-cni network ping each other; --ip and --mac-address arrive through
 * CNI_ARGS/runtimeConfig; `podman rm` calls DEL and leaves no lease and no attachment behind.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execCommand, Lab, runCommand, type ExecResult, type Namespace } from '../../src/lab/index.ts';
import { needsRoot } from '../support.ts';
import { busyboxTarball, tempDir } from './container-helpers.ts';
import { cniBinDir, REFERENCE_PLUGINS } from './cni-helpers.ts';

describe('macdemux-cni under podman (CNI backend)', { skip: needsRoot, timeout: 180_000 }, () => {
  let lab: Lab;
  let host: Namespace;
  let dir: string;

  const podman = (args: string[]): Promise<ExecResult> =>
    execCommand('nsenter', [
      `--net=/run/netns/${host.name}`,
      'env',
      `CONTAINERS_CONF=${join(dir, 'containers.conf')}`,
      'podman',
      '--root', join(dir, 'root'),
      '--runroot', join(dir, 'runroot'),
      '--storage-driver', 'vfs',
      ...args,
    ], { timeoutMs: 90_000 });
  const ok = async (args: string[]) => {
    const r = await podman(args);
    assert.equal(r.code, 0, `podman ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const files = (d: string) => (existsSync(d) ? readdirSync(d) : []);
  const leases = () => files(join(dir, 'ipam', 'mdnet')).filter((f) => /^\d/.test(f));

  before(async () => {
    lab = await Lab.create();
    host = await lab.addNamespace('pmhost');
    const peer = await lab.addNamespace('pmpeer');
    await lab.addVeth({ ns: host, name: 'eth0' }, { ns: peer, name: 'wire', addresses: ['10.77.0.1/24'] });
    dir = tempDir('podman');
    for (const d of ['cni', 'tmp']) mkdirSync(join(dir, d));
    writeFileSync(join(dir, 'containers.conf'), [
      '[containers]',
      'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]',
      '[engine]',
      'runtime = "runc"', // crun refuses this machine's hybrid cgroups
      'cgroup_manager = "cgroupfs"', // no systemd
      'events_logger = "file"',
      `tmp_dir = "${join(dir, 'tmp')}"`,
      '[network]',
      'network_backend = "cni"',
      `network_config_dir = "${join(dir, 'cni')}"`,
      `cni_plugin_dirs = ["${cniBinDir()}", "${REFERENCE_PLUGINS}"]`,
      '',
    ].join('\n'));
    writeFileSync(join(dir, 'cni', 'mdnet.conflist'), JSON.stringify({
      cniVersion: '1.0.0',
      name: 'mdnet',
      plugins: [{
        type: 'macdemux-cni',
        master: 'eth0',
        mode: 'bridge',
        dataDir: join(dir, 'attach'),
        ipam: { type: 'host-local', dataDir: join(dir, 'ipam'), ranges: [[{ subnet: '10.77.0.0/24', gateway: '10.77.0.1' }]], routes: [{ dst: '0.0.0.0/0' }] },
      }],
    }));
    await ok(['import', busyboxTarball(), 'bb']);
  });

  after(async () => {
    if (dir && host) {
      await podman(['rm', '-f', '-t', '0', '--all']).catch(() => {});
      await runCommand('rm', ['-rf', dir]).catch(() => {});
    }
    await lab?.destroy();
  });

  it('podman sees the network; two containers on it ping each other and the wire', async () => {
    assert.match(await ok(['network', 'ls', '--format', '{{.Name}} {{.Driver}}']), /mdnet macdemux-cni/);
    await ok(['run', '-d', '--name', 'p1', '--network', 'mdnet', 'bb', 'sleep', '3600']);
    await ok(['run', '-d', '--name', 'p2', '--network', 'mdnet', '--ip', '10.77.0.50', '--mac-address', '02:77:00:00:00:50', 'bb', 'sleep', '3600']);
    const p2 = await ok(['exec', 'p2', 'ip', 'addr', 'show', 'eth0']);
    assert.match(p2, /inet 10\.77\.0\.50\/24/, '--ip reached IPAM');
    assert.match(p2, /02:77:00:00:00:50/, '--mac-address reached the plugin');
    assert.match(await ok(['exec', 'p1', 'ip', 'route']), /default via 10\.77\.0\.1/);
    assert.equal((await podman(['exec', 'p1', 'ping', '-c', '2', '-W', '2', '10.77.0.50'])).code, 0, 'p1 reaches p2');
    assert.equal((await podman(['exec', 'p2', 'ping', '-c', '2', '-W', '2', '10.77.0.1'])).code, 0, 'p2 reaches the wire');
    assert.equal(leases().length, 2);
    assert.equal(files(join(dir, 'attach', 'mdnet')).length, 2);
  });

  it('podman rm calls DEL: leases and attachment records are gone, nothing left in the host namespace', async () => {
    await ok(['rm', '-f', '-t', '0', 'p1', 'p2']);
    assert.deepEqual(leases(), []);
    assert.deepEqual(files(join(dir, 'attach')), []);
    const links = JSON.parse(await host.run('ip', ['-j', 'link', 'show'])).map((l: { ifname: string }) => l.ifname).sort();
    assert.deepEqual(links, ['eth0', 'lo']);
  });
});
