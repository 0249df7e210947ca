/**
 * CNI ADD time of the installed `bin/macdemux-cni` (compiled dist/): a kernel-macvlan ADD with
 * host-local IPAM into a lab namespace, then DEL (not timed), --runs times, interleaved with
 * `node -e 0` (the floor any Node program pays) so machine noise hits both alike. Wall time per
 * spawn (spawn to exit), median and p90. Exit 1 when the ADD median exceeds --bar seconds.
 *
 *   npm run bench:cni-add -- [--runs 20] [--bar 1]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab } from '../src/lab/index.ts';
import { PACKAGE_ROOT } from '../src/package-info.ts';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

function timed(argv: string[], env: NodeJS.ProcessEnv, input?: string): { s: number; out: string; code: number | null } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0]!, argv.slice(1), { input, env, encoding: 'utf8' });
  return { s: Number(process.hrtime.bigint() - t0) / 1e9, out: r.stdout + r.stderr, code: r.status };
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor((s.length - 1) / 2)]!, p90: s[Math.min(s.length - 1, Math.ceil(0.9 * s.length) - 1)]!, min: s[0]! };
};

async function main(): Promise<void> {
  const runs = arg('runs', 20);
  const bar = arg('bar', 1);
  const lab = await Lab.create();
  const dir = mkdtempSync(join(tmpdir(), 'macdemux-cni-bench-'));
  try {
    const host = await lab.addNamespace('host');
    const ctr = await lab.addNamespace('ctr');
    const wire = await lab.addNamespace('wire');
    await lab.addVeth({ ns: host, name: 'eth0' }, { ns: wire, name: 'eth0' });
    const conf = JSON.stringify({
      cniVersion: '1.0.0',
      name: 'bench',
      type: 'macdemux-cni',
      master: 'eth0',
      dataDir: join(dir, 'cni'),
      ipam: { type: 'host-local', subnet: '10.88.0.0/24', dataDir: join(dir, 'ipam') },
    });
    const plugin = ['nsenter', `--net=/run/netns/${host.name}`, join(PACKAGE_ROOT, 'bin', 'macdemux-cni')];
    const env = (cmd: string): NodeJS.ProcessEnv => ({
      PATH: process.env.PATH,
      CNI_COMMAND: cmd,
      CNI_CONTAINERID: 'bench',
      CNI_NETNS: `/run/netns/${ctr.name}`,
      CNI_IFNAME: 'eth0',
      CNI_PATH: `${join(PACKAGE_ROOT, 'bin')}:/usr/lib/cni`,
    });
    const add: number[] = [];
    const floor: number[] = [];
    for (let i = 0; i < runs; i++) {
      const a = timed(plugin, env('ADD'), conf);
      if (a.code !== 0) throw new Error(`ADD failed: ${a.out}`);
      add.push(a.s);
      const d = timed(plugin, env('DEL'), conf);
      if (d.code !== 0) throw new Error(`DEL failed: ${d.out}`);
      floor.push(timed([process.execPath, '-e', '0'], { PATH: process.env.PATH }).s);
    }
    const A = stats(add);
    const F = stats(floor);
    const f = (x: number) => x.toFixed(3);
    console.log(`runs ${runs}, load average ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')}`);
    console.log(`macdemux-cni ADD (kernel macvlan, host-local): median ${f(A.median)} s, p90 ${f(A.p90)} s, min ${f(A.min)} s`);
    console.log(`node -e 0:                                    median ${f(F.median)} s, p90 ${f(F.p90)} s, min ${f(F.min)} s`);
    console.log(`ADD / node -e 0 (medians): ${(A.median / F.median).toFixed(2)}`);
    if (A.median > bar) {
      console.error(`ADD median ${f(A.median)} s is over the bar of ${bar} s`);
      process.exitCode = 1;
    }
  } finally {
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
