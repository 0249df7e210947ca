import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { needsRoot } from '../support.ts';
import { Lab, withLab, cleanupStaleLabs, listNamespaces, runCommand } from '../../src/lab/index.ts';
import { InvalidArgumentError } from '../../src/errors.ts';

const BIN = fileURLToPath(new URL('../../bin/macdemux.js', import.meta.url));
const LAB_MODULE = fileURLToPath(new URL('../../src/lab/index.ts', import.meta.url));

function labNamespaces(prefix: string): string[] {
  return listNamespaces().filter((n) => n.startsWith(`${prefix}-`));
}

test('two namespaces + veth: IPv4 and IPv6 ping, MAC/ifindex as ip reports them', { skip: needsRoot }, async () => {
  await withLab(async (lab) => {
    assert.match(lab.prefix, /^mdx-\d+-[0-9a-f]{4}$/);
    const a = await lab.addNamespace('a');
    const b = await lab.addNamespace('b');
    assert.equal(a.name, `${lab.prefix}-a`);
    const [ea, eb] = await lab.addVeth(
      { ns: a, name: 'va', mac: '02:00:00:00:0a:01', mtu: 1400, addresses: ['10.77.0.1/24', 'fd77::1/64'] },
      { ns: b, name: 'vb', addresses: ['10.77.0.2/24', 'fd77::2/64'] },
    );
    assert.equal(ea.mac, '02:00:00:00:0a:01');
    // the oracle: ip's own view of each end
    const [ja] = JSON.parse(await runCommand('ip', ['-n', a.name, '-j', 'link', 'show', 'dev', 'va']));
    const [jb] = JSON.parse(await runCommand('ip', ['-n', b.name, '-j', 'link', 'show', 'dev', 'vb']));
    assert.equal(ja.ifindex, ea.ifindex);
    assert.equal(jb.ifindex, eb.ifindex);
    assert.equal(jb.address, eb.mac);
    assert.equal(ja.mtu, 1400);
    assert.ok(ja.flags.includes('UP') && jb.flags.includes('UP'));
    // the root namespace did not get them
    const root = JSON.parse(await runCommand('ip', ['-j', 'link', 'show'])) as { ifname: string }[];
    assert.ok(!root.some((l) => l.ifname === 'va' || l.ifname === 'vb'));
    // lo is up in each namespace
    assert.ok(await a.ping('127.0.0.1'));

    const before = await b.linkStats('vb');
    assert.equal(await a.ping('10.77.0.2', { count: 2 }), true);
    assert.equal(await b.ping('fd77::1'), true);
    assert.equal(await a.ping('10.77.0.9', { count: 1, timeoutS: 1 }), false);
    const after = await b.linkStats('vb');
    assert.ok(after.rxPackets >= before.rxPackets + 2, `rx ${before.rxPackets} -> ${after.rxPackets}`);
    assert.ok(after.txPackets >= before.txPackets + 2);
  });
});

test('destroy removes every namespace, kills processes inside, is idempotent', { skip: needsRoot }, async () => {
  const lab = await Lab.create();
  const names = [];
  for (const s of ['x', 'y', 'z']) names.push((await lab.addNamespace(s)).name);
  const [x, y] = lab.namespaces;
  await lab.addVeth({ ns: x!, name: 'e0' }, { ns: y!, name: 'e0' });
  const tracked = x!.spawn('sleep', ['300']);
  // an untracked background process: only `ip netns pids` finds it
  const bg = (await y!.run('sh', ['-c', 'sleep 300 >/dev/null 2>&1 & echo $!'])).trim();
  assert.match(bg, /^\d+$/);
  assert.ok(existsSync(`/proc/${bg}`));
  assert.deepEqual(labNamespaces(lab.prefix).sort(), names.sort());

  await Promise.all([lab.destroy(), lab.destroy()]);
  await lab.destroy();
  assert.deepEqual(labNamespaces(lab.prefix), []);
  const ipList = await runCommand('ip', ['netns', 'list']);
  for (const n of names) assert.ok(!ipList.includes(n), `${n} still in ip netns list`);
  assert.ok(tracked.exitCode !== null || tracked.signalCode !== null, 'spawned child was killed');
  await waitFor(() => !existsSync(`/proc/${bg}`) || isZombie(bg), 2000);
  await assert.rejects(lab.addNamespace('late'), /destroyed/);
});

test('destroy racing addNamespace leaves nothing behind', { skip: needsRoot }, async () => {
  const lab = await Lab.create();
  const adds = ['r1', 'r2', 'r3'].map((s) => lab.addNamespace(s).then(
    () => 'ok',
    (e: Error) => e.message,
  ));
  await new Promise((r) => setTimeout(r, 5));
  await lab.destroy();
  const outcomes = await Promise.all(adds);
  for (const o of outcomes) assert.ok(o === 'ok' || /destroyed/.test(o), o);
  assert.deepEqual(labNamespaces(lab.prefix), []);
});

test('argument checks: long interface names, foreign namespaces, duplicate suffix', { skip: needsRoot }, async () => {
  await withLab(async (lab) => {
    const a = await lab.addNamespace('a');
    await assert.rejects(lab.addVeth({ ns: a, name: 'x'.repeat(16) }, { ns: a, name: 'y' }), (e: unknown) => {
      assert.ok(e instanceof InvalidArgumentError);
      assert.equal(e.field, 'a.name');
      return true;
    });
    await assert.rejects(lab.addVeth({ ns: a, name: 'y0' }, { ns: a, name: 'y1', mac: 'ff:ff:ff:ff:ff:ff' }), { field: 'b.mac' });
    await assert.rejects(lab.addNamespace('a'), InvalidArgumentError);
    await withLab(async (other) => {
      const o = await other.addNamespace('o');
      await assert.rejects(lab.addVeth({ ns: a, name: 'p0' }, { ns: o, name: 'p1' }), { field: 'b.ns' });
    });
    // nothing was created by the failed calls
    assert.deepEqual(await a.links(), ['lo']);
  });
});

test('bridge: ports enslaved, hairpin on, stp off; offloads:false turns off tso/gso/gro', { skip: needsRoot }, async () => {
  await withLab(async (lab) => {
    const sw = await lab.addNamespace('sw');
    const h1 = await lab.addNamespace('h1');
    const h2 = await lab.addNamespace('h2');
    await lab.addVeth({ ns: h1, name: 'eth0', addresses: ['10.78.0.1/24'], offloads: false }, { ns: sw, name: 'p1' });
    await lab.addVeth({ ns: h2, name: 'eth0', addresses: ['10.78.0.2/24'] }, { ns: sw, name: 'p2' });
    const br = await lab.addBridge(sw, 'br0', { ports: ['p1', 'p2'], hairpin: ['p2'], ageingTime: 10 });
    assert.ok(br.ifindex > 0);
    const ports = JSON.parse(await sw.bridge(['-j', '-d', 'link', 'show'])) as { ifname: string; master: string; hairpin: boolean; state: string }[];
    const p1 = ports.find((p) => p.ifname === 'p1');
    const p2 = ports.find((p) => p.ifname === 'p2');
    assert.equal(p1?.master, 'br0');
    assert.equal(p2?.master, 'br0');
    assert.equal(p1?.hairpin, false);
    assert.equal(p2?.hairpin, true);
    const [bj] = JSON.parse(await sw.ip(['-d', '-j', 'link', 'show', 'dev', 'br0']));
    assert.equal(bj.linkinfo.info_data.stp_state, 0);
    assert.equal(bj.linkinfo.info_data.ageing_time, 1000);
    assert.equal(await h1.ping('10.78.0.2'), true);

    const k = await h1.run('ethtool', ['-k', 'eth0']);
    assert.match(k, /^tcp-segmentation-offload: off/m);
    assert.match(k, /^generic-segmentation-offload: off/m);
    assert.match(k, /^generic-receive-offload: off/m);
    const k2 = await h2.run('ethtool', ['-k', 'eth0']);
    assert.match(k2, /^generic-segmentation-offload: on/m, 'default leaves veth offloads alone');
  });
});

test('exec: exit codes, stdin, timeout; cleanupStaleLabs leaves live labs alone', { skip: needsRoot }, async () => {
  await withLab(async (lab) => {
    const a = await lab.addNamespace('a');
    assert.equal((await a.exec('sh', ['-c', 'exit 7'])).code, 7);
    assert.equal((await a.exec('cat', [], { input: 'hello' })).stdout, 'hello');
    const t0 = Date.now();
    const r = await a.exec('sleep', ['10'], { timeoutMs: 300 });
    assert.ok(r.timedOut && r.signal === 'SIGKILL' && Date.now() - t0 < 5000);
    await assert.rejects(a.run('sh', ['-c', 'echo boom >&2; exit 1']), /boom/);
    // the namespace really is separate: only lo in it
    assert.deepEqual(await a.links(), ['lo']);
    const rootForward = (await runCommand('sysctl', ['-n', 'net.ipv4.ip_forward'])).trim();
    const rootV6 = (await runCommand('sysctl', ['-n', 'net.ipv6.conf.default.disable_ipv6'])).trim();
    const q = await lab.addNamespace('q', { ipv6: false, sysctls: { 'net.ipv4.ip_forward': rootForward === '1' ? 0 : 1 } });
    assert.equal(await q.readSysctl('net.ipv6.conf.default.disable_ipv6'), '1');
    assert.equal(await q.readSysctl('net.ipv4.ip_forward'), rootForward === '1' ? '0' : '1');
    assert.equal((await runCommand('sysctl', ['-n', 'net.ipv4.ip_forward'])).trim(), rootForward, 'root namespace untouched');
    assert.equal((await runCommand('sysctl', ['-n', 'net.ipv6.conf.default.disable_ipv6'])).trim(), rootV6);
    await assert.rejects(q.sysctl({ 'bad key': 1 }), InvalidArgumentError);
    const removed = await cleanupStaleLabs();
    assert.ok(!removed.includes(a.name));
    assert.ok(listNamespaces().includes(a.name));
  });
});

/** Start a child node process that builds a lab (2 namespaces + a sleeper inside) and reports it. */
async function startLabChild(extra = ''): Promise<{ child: ReturnType<typeof spawn>; prefix: string; sleeper: number; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> }> {
  const script = `
    import { Lab } from ${JSON.stringify(LAB_MODULE)};
    const lab = await Lab.create();
    const a = await lab.addNamespace('a');
    const b = await lab.addNamespace('b');
    await lab.addVeth({ ns: a, name: 'v0' }, { ns: b, name: 'v1' });
    const s = a.spawn('sleep', ['300'], { stdio: 'ignore' });
    console.log(JSON.stringify({ prefix: lab.prefix, sleeper: s.pid }));
    ${extra}
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, MACDEMUX_LOG_LEVEL: 'warn' },
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child did not report its lab; stderr: ${err}`)), 30_000);
    child.stdout!.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(out.slice(0, nl));
      }
    });
    void exited.then(() => reject(new Error(`child exited early; stderr: ${err}`)));
  });
  const { prefix, sleeper } = JSON.parse(line) as { prefix: string; sleeper: number };
  assert.equal(labNamespaces(prefix).length, 2);
  assert.ok(existsSync(`/proc/${sleeper}`));
  return { child, prefix, sleeper, exited };
}

test('a SIGKILLed lab owner leaves namespaces that cleanupStaleLabs removes', { skip: needsRoot }, async () => {
  const { child, prefix, sleeper, exited } = await startLabChild();
  child.kill('SIGKILL');
  await exited;
  // SIGKILL allows no teardown: the namespaces (and the sleeper inside) are left behind
  const left = labNamespaces(prefix);
  // `macdemux lab list --json` reports them as stale
  const listed = JSON.parse(await runCommand(process.execPath, [BIN, 'lab', 'list', '--json'])) as { name: string; ownerPid: number; stale: boolean }[];
  // (names still present after the listing existed during it; a concurrent run may have removed others)
  for (const n of labNamespaces(prefix)) {
    assert.deepEqual(listed.find((l) => l.name === n), { name: n, ownerPid: child.pid, ownerAlive: false, stale: true });
  }
  const removed = await cleanupStaleLabs();
  // (a concurrent test run's Lab.create() may have cleaned some of them first, which is the same code)
  assert.ok(left.every((n) => removed.includes(n) || !listNamespaces().includes(n)));
  assert.deepEqual(labNamespaces(prefix), []);
  await waitFor(() => !existsSync(`/proc/${sleeper}`) || isZombie(String(sleeper)), 2000);
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  test(`${signal} to a lab owner removes its namespaces and re-raises the signal`, { skip: needsRoot }, async () => {
    const { child, prefix, sleeper, exited } = await startLabChild();
    child.kill(signal);
    const { code, signal: sig } = await exited;
    assert.ok(sig === signal || code === (signal === 'SIGINT' ? 130 : 143), `exit ${code} ${sig}`);
    assert.deepEqual(labNamespaces(prefix), []);
    await waitFor(() => !existsSync(`/proc/${sleeper}`) || isZombie(String(sleeper)), 2000);
  });
}

test('an uncaught exception and process.exit() in a lab owner remove its namespaces', { skip: needsRoot }, async () => {
  const thrower = await startLabChild(`setTimeout(() => { throw new Error('boom'); }, 50);`);
  const r1 = await thrower.exited;
  assert.equal(r1.code, 1);
  assert.deepEqual(labNamespaces(thrower.prefix), []);
  const exiter = await startLabChild(`setTimeout(() => process.exit(3), 50);`);
  const r2 = await exiter.exited;
  assert.equal(r2.code, 3);
  assert.deepEqual(labNamespaces(exiter.prefix), []);
});

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail('condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function isZombie(pid: string): boolean {
  try {
    return /\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}
