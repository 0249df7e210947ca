/**
 * The default backend ('auto') on a veth uplink, as a user gets it:
 * - a Switch with default options takes the tc fast path (one worker, tcx links here) and forwards,
 *   the outside's unicast to the port redirected by the tc program;
 * - with 2 workers it takes the AF_PACKET rings and says why;
 * - `macdemux switch` in a process that may not load BPF (no CAP_BPF, no CAP_SYS_ADMIN): the probe
 *   says so and the switch runs on the rings;
 * - in a process whose probe passes but whose tc program cannot load (no CAP_PERFMON, no
 *   CAP_SYS_ADMIN: the verifier refuses the program, EINVAL): the start falls back to the rings with
 *   the reason, while `--backend tc` fails with the error.
 *
 *   wire ns: w0 (10.95.0.9) ══ up0 ─ switch ─ p1 ══ e1 (ns1, 10.95.0.1)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { withLab, type Lab, type Namespace } from '../../src/lab/index.ts';
import { Switch } from '../../src/dataplane/index.ts';
import { XDP_STAT } from '../../src/dataplane/xdp-program.ts';
import { kernelHasTcx, needsRoot } from '../support.ts';

const BIN = fileURLToPath(new URL('../../bin/macdemux.js', import.meta.url));
const M1 = '02:6d:64:00:1a:01';

const skip = needsRoot || (kernelHasTcx() ? false : 'the kernel has no tcx links (Linux 6.6+): auto takes packet there (unit-tested)');

async function topology(lab: Lab): Promise<{ sw: Namespace; wire: Namespace; ns1: Namespace }> {
  const sw = await lab.addNamespace('sw');
  const wire = await lab.addNamespace('wire', { ipv6: false });
  const ns1 = await lab.addNamespace('ns1', { ipv6: false });
  await lab.addVeth({ ns: sw, name: 'up0' }, { ns: wire, name: 'w0', addresses: ['10.95.0.9/24'] });
  await lab.addVeth({ ns: sw, name: 'p1' }, { ns: ns1, name: 'e1', mac: M1, addresses: ['10.95.0.1/24'] });
  return { sw, wire, ns1 };
}

test('auto on a veth uplink: tc with one worker (forwards in the kernel), packet with 2 workers, each with its reason', { skip, timeout: 90_000 }, async () => {
  await withLab(async (lab) => {
    const t = await topology(lab);
    const s = new Switch({ uplink: 'up0', netns: t.sw.name });
    s.addPort({ name: 'p1', mac: M1, backend: { kind: 'packet', ifname: 'p1' } });
    await s.start();
    try {
      const b = s.backend()!;
      assert.equal(b.backend, 'tc', b.reason);
      assert.equal(b.xdpState, 'tc', 'tc program attached and in sync');
      assert.match(b.reason, /^auto: "up0" is a veth device with one worker: a tc program forwards known unicast/);
      assert.equal(await t.wire.ping('10.95.0.1', { count: 3, timeoutS: 2 }), true, 'outside reaches the port');
      await new Promise((r) => setTimeout(r, 300)); // worker 0 folds the program's counters every 200 ms
      const x = s.xdpStats()!;
      assert.ok(x[XDP_STAT.forwarded]! >= 3, `the tc program redirected the echo requests (${x[XDP_STAT.forwarded]})`);
      assert.ok(x[XDP_STAT.upTxFrames]! >= 3, `the port's tc program sent the replies (${x[XDP_STAT.upTxFrames]})`);
    } finally {
      await s.stop();
    }

    const s2 = new Switch({ uplink: 'up0', netns: t.sw.name, workers: 2 });
    s2.addPort({ name: 'p1', mac: M1, backend: { kind: 'packet', ifname: 'p1' } });
    await s2.start();
    try {
      const b = s2.backend()!;
      assert.equal(b.backend, 'packet');
      assert.equal(b.xdpState, undefined);
      assert.match(b.reason, /^auto: "up0" is a veth device and the switch has 2 workers; the tc fast path runs one worker/);
      assert.equal(await t.wire.ping('10.95.0.1', { count: 3, timeoutS: 2 }), true, 'outside reaches the port');
      assert.ok(s2.counters().ports.p1!.txPackets >= 3, 'the engine forwarded the echo requests');
    } finally {
      await s2.stop();
    }
  });
});

/** `macdemux switch` run inside the switch namespace by a process without `drop` capabilities. */
async function cliSwitch(sw: Namespace, drop: string, extra: string[], whileRunning: () => Promise<void>): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const child = spawn('ip', ['netns', 'exec', sw.name, 'setpriv', '--bounding-set', drop, process.execPath, BIN, 'switch', '--uplink', 'up0',
    '--port', `p1,mac=${M1}`, '--json', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const running = () => child.exitCode === null && child.signalCode === null;
  try {
    const t0 = Date.now();
    // the start line, or the process ends by itself (a start that failed)
    while (!/started \(Ctrl-C to stop\)/.test(stderr) && running() && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 100));
    if (/started \(Ctrl-C to stop\)/.test(stderr)) await whileRunning();
  } finally {
    if (running()) child.kill('SIGTERM');
  }
  return { code: await exited, stderr, stdout };
}

test('auto where BPF cannot be used: the CLI runs on the rings and says why; --backend tc fails', { skip, timeout: 120_000 }, async () => {
  await withLab(async (lab) => {
    const t = await topology(lab);
    const pings = async () => assert.equal(await t.wire.ping('10.95.0.1', { count: 2, timeoutS: 2 }), true, 'outside reaches the port');

    // no right to load BPF: the probe's answer
    const noBpf = await cliSwitch(t.sw, '-sys_admin,-bpf', [], pings);
    assert.equal(noBpf.code, 0, noBpf.stderr);
    assert.match(noBpf.stderr, /backend packet \(auto: "up0" is a veth device, but the tc fast path is not available here \(loading a BPF program: EPERM .*needs CAP_BPF/, noBpf.stderr);
    assert.equal((JSON.parse(noBpf.stdout) as { backend: { backend: string } }).backend.backend, 'packet');

    // the probe passes, the tc program does not load (EINVAL without CAP_PERFMON): fallback at start
    const noPerfmon = await cliSwitch(t.sw, '-sys_admin,-perfmon', [], pings);
    assert.equal(noPerfmon.code, 0, noPerfmon.stderr);
    assert.match(noPerfmon.stderr, /backend packet \(auto: the tc fast path could not start on "up0" \(.*EINVAL.*\), so AF_PACKET rings\)/, noPerfmon.stderr);
    const final = JSON.parse(noPerfmon.stdout) as { backend: { backend: string }; ports: Record<string, { txPackets: number }> };
    assert.equal(final.backend.backend, 'packet');
    assert.ok(final.ports.p1!.txPackets >= 2, 'the rings forwarded the echo requests');

    // named: the error, no fallback
    const named = await cliSwitch(t.sw, '-sys_admin,-perfmon', ['--backend', 'tc'], pings);
    assert.notEqual(named.code, 0, named.stderr);
    assert.match(named.stderr, /EINVAL/);
    assert.doesNotMatch(named.stderr, /started/);
  });
});
