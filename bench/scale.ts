/**
 * Scale of `macdemux up` / `macdemux down`: one kernel-macvlan network on a /16 whose parent is a
 * veth end in a lab namespace, N endpoints each in its own namespace (created by macdemux, with
 * an IPAM address and a default route via the gateway). For each size, times `up` (from nothing)
 * and `down` (back to nothing) as child processes of the installed CLI (bin/macdemux.js) and
 * prints endpoints/s. Exit 1 when the largest size is above the bars (up <= --up-bar s,
 * down <= --down-bar s at 4096 endpoints, scaled linearly for other sizes) or a run fails.
 *
 *   npm run bench:scale -- [--max 4096] [--quick] [--sizes 1024,4096] [--up-bar 60] [--down-bar 30] [--cli bin/macdemux.js]
 *
 * Sizes: 256, 1024, 4096 up to --max; --quick = 256 and 1024; --sizes N,M,... exactly those. Everything (the lab, the endpoint
 * namespaces, the state directory) is removed at the end, also on failure.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Lab } from '../src/lab/index.ts';
import { PACKAGE_ROOT } from '../src/package-info.ts';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

/** The CLI to time (default: this tree's; `--cli PATH` times another build, e.g. main's, side by side). */
const CLI = process.argv.includes('--cli') ? process.argv[process.argv.indexOf('--cli') + 1]! : join(PACKAGE_ROOT, 'bin', 'macdemux.js');

/** Run the CLI; wall seconds, exit code, output tail and the apply/teardown phase log (if any). */
function macdemux(args: string[]): { s: number; code: number | null; tail: string; phases?: Record<string, number> } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    maxBuffer: 256 << 20,
    env: { ...process.env, MACDEMUX_LOG_LEVEL: 'info' },
  });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  let phases: Record<string, number> | undefined;
  for (const line of (r.stderr ?? '').split('\n')) {
    if (!line.includes('"phaseMs"')) continue;
    try {
      phases = (JSON.parse(line) as { phaseMs?: Record<string, number> }).phaseMs;
    } catch {
      /* not a JSON log line */
    }
  }
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  return { s, code: r.status, tail: out.slice(-2000), ...(phases ? { phases } : {}) };
}

/** Remove named namespaces left behind (a failed run): one `ip -batch` for all of them. */
function removeLeftovers(prefix: string): void {
  const left = existsSync('/run/netns') ? readdirSync('/run/netns').filter((n) => n.startsWith(`${prefix}-e`)) : [];
  if (!left.length) return;
  spawnSync('ip', ['-force', '-batch', '-'], { input: left.map((n) => `netns del ${n}\n`).join(''), encoding: 'utf8' });
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const max = arg('max', quick ? 1024 : 4096);
  const upBar = arg('up-bar', 60);
  const downBar = arg('down-bar', 30);
  const sizesArg = process.argv.includes('--sizes') ? process.argv[process.argv.indexOf('--sizes') + 1]! : undefined;
  const sizes = sizesArg ? sizesArg.split(',').map(Number) : (quick ? [256, 1024] : [256, 1024, 4096]).filter((n) => n <= max);
  if (sizes.some((n) => !Number.isInteger(n) || n < 1 || n > 65000)) throw new Error(`--sizes: expected endpoint counts 1..65000, got ${sizesArg}`);
  if (!sizesArg && (!sizes.length || !sizes.includes(max))) sizes.push(max);
  const lab = await Lab.create();
  const dir = mkdtempSync(join(tmpdir(), 'macdemux-scale-bench-'));
  let failed = false;
  try {
    const host = await lab.addNamespace('host');
    const wire = await lab.addNamespace('wire');
    await lab.addVeth({ ns: host, name: 'eth0' }, { ns: wire, name: 'eth0' });
    console.log(`# macdemux up/down scale: one kernel macvlan network (bridge mode) on a /16, parent ${host.name}:eth0, each endpoint in its own namespace`);
    console.log('endpoints  up_s   up_eps   down_s  down_eps  phases_ms (up | down)');
    const rows: { n: number; up: number; down: number }[] = [];
    for (const n of sizes) {
      const state = join(dir, `state-${n}`);
      const cfg = join(dir, `scale-${n}.yaml`);
      const endpoints = Array.from({ length: n }, (_, i) => ({ name: `e${i}`, netns: `${lab.prefix}-e${i}` }));
      writeFileSync(
        cfg,
        stringify({
          version: 1,
          networks: [{ name: 'scale', parent: { netns: host.name, dev: 'eth0' }, mode: 'bridge', dataplane: 'kernel', subnet: '10.20.0.0/16', gateway: '10.20.0.1', endpoints }],
        }),
      );
      try {
        const up = macdemux(['up', cfg, '--state-dir', state]);
        if (up.code !== 0) throw new Error(`up of ${n} endpoints exited ${up.code}:\n${up.tail}`);
        const down = macdemux(['down', cfg, '--state-dir', state]);
        if (down.code !== 0) throw new Error(`down of ${n} endpoints exited ${down.code}:\n${down.tail}`);
        const fmt = (p?: Record<string, number>) => (p ? Object.entries(p).map(([k, v]) => `${k}=${Math.round(v)}`).join(' ') : '-');
        const phases = `${fmt(up.phases)} | ${fmt(down.phases)}`;
        console.log(
          `${String(n).padStart(9)}  ${up.s.toFixed(1).padStart(5)}  ${(n / up.s).toFixed(0).padStart(6)}  ${down.s.toFixed(1).padStart(6)}  ${(n / down.s).toFixed(0).padStart(8)}  ${phases}  (${((up.s * 1000) / n).toFixed(1)} / ${((down.s * 1000) / n).toFixed(1)} ms per endpoint; load ${loadavg()[0]!.toFixed(1)})`,
        );
        rows.push({ n, up: up.s, down: down.s });
      } finally {
        macdemux(['down', cfg, '--state-dir', state]); // no-op after a successful down
        removeLeftovers(lab.prefix);
      }
    }
    const last = rows[rows.length - 1]!;
    const scale = last.n / 4096;
    const ok = last.up <= upBar * scale && last.down <= downBar * scale;
    if (rows.length > 1) {
      const first = rows[0]!;
      const k = last.n / first.n;
      console.log(`# ${first.n} -> ${last.n} endpoints (x${k}): up x${(last.up / first.up).toFixed(1)}, down x${(last.down / first.down).toFixed(1)} (linear: x${k})`);
    }
    console.log(`# bars at ${last.n} endpoints: up <= ${(upBar * scale).toFixed(1)} s, down <= ${(downBar * scale).toFixed(1)} s: ${ok ? 'ok' : 'ABOVE'}`);
    if (!ok) failed = true;
  } catch (err) {
    console.error((err as Error).message);
    failed = true;
  } finally {
    removeLeftovers(lab.prefix);
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
  process.exit(failed ? 1 : 0);
}

await main();
