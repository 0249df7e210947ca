/**
 * Every answer of the service is true: an API call or reload the kernel or the engine did not
 * apply fails with the reason and nothing is kept of it; later changes are not blocked by it; API
 * mode overrides do not freeze later config changes; `up` refuses another config file while a
 * daemon serves one; a daemon whose config cannot be applied exits non-zero and rolls back what
 * its run created (also when the failure comes midway).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Lab } from '../../src/lab/index.ts';
import { apiRequest } from '../../src/service/control-client.ts';
import { listNetns } from '../../src/service/netns.ts';
import { needsRoot } from '../support.ts';
import { cli, DaemonProcess, labConfig, ping, removeNamespacesWithPrefix, ROOT, tempDir } from './service-helpers.ts';

const ifindexOf = (ns: string, dev: string) => JSON.parse(spawnSync('ip', ['-n', ns, '-j', 'link', 'show', dev], { encoding: 'utf8' }).stdout || '[{}]')[0]?.ifindex;
/** The daemon's exit code, or 'running' after 60 s (a daemon that should have refused). */
const exitOf = (d: DaemonProcess) => Promise.race([d.exited, new Promise<string>((r) => setTimeout(() => r('running'), 60_000).unref())]);
const leasesOf = (state: string) => (existsSync(join(state, 'leases.json')) ? JSON.parse(readFileSync(join(state, 'leases.json'), 'utf8')).leases : {});

test('API and reload: refused changes answer 4xx/5xx with the reason, keep nothing and block nothing', { skip: needsRoot }, async () => {
  const lab = await Lab.create();
  const dir = tempDir('truth');
  const state = join(dir, 'state');
  const cfg = join(dir, 'a.yaml');
  const other = join(dir, 'b.yaml');
  let d: DaemonProcess | undefined;
  const ns = (n: string) => `${lab.prefix}-${n}`;
  const doc = (mode: string, extra: Record<string, unknown>[] = [], us2mode = 'passthru') => ({
    networks: [
      { name: 'us1', parent: `${ns('host')}:eth0`, dataplane: 'userspace', mode, subnet: '10.61.0.0/24', endpoints: [{ name: 'a1', netns: ns('a1') }, { name: 'a2', netns: ns('a2') }, ...extra] },
      { name: 'us2', parent: `${ns('host')}:eth1`, dataplane: 'userspace', mode: us2mode, subnet: '10.62.0.0/24', endpoints: [{ name: 'p1', netns: ns('p1') }] },
      { name: 'kpt', parent: `${ns('host')}:eth2`, mode: 'passthru', subnet: '10.63.0.0/24', endpoints: [{ name: 'kp1', netns: ns('kp1') }] },
    ],
  });
  try {
    const host = await lab.addNamespace('host');
    const peer = await lab.addNamespace('peer');
    const h = await lab.addNamespace('H');
    await lab.addVeth({ ns: host, name: 'eth0' }, { ns: peer, name: 'eth0' });
    await lab.addVeth({ ns: host, name: 'eth1' }, { ns: peer, name: 'eth1' });
    await lab.addVeth({ ns: host, name: 'eth2' }, { ns: peer, name: 'eth2' });
    await h.ip(['link', 'add', 'up1', 'type', 'veth', 'peer', 'name', 'up1p']); // not ours
    const foreign = ifindexOf(h.name, 'up1');
    writeFileSync(cfg, stringify(doc('bridge')));
    d = new DaemonProcess(['--config', cfg, '--state-dir', state, '--metrics', 'off']);
    await d.event('daemon.ready', 60_000);
    const sock = join(state, 'macdemuxd.sock');
    const call = (method: string, path: string, body?: unknown) => apiRequest(sock, method, path, body);
    const ports = async () => ((await call('GET', '/ports')).body as any[]).filter((p) => p.name !== 'kp1').map((p) => `${p.name}:${p.mode}`).sort();
    // A kernel passthru port reports the device's real MAC (the parent's), not its lease's.
    const kp1 = ((await call('GET', '/ports')).body as any[]).find((p) => p.name === 'kp1');
    const parentMac = JSON.parse(spawnSync('ip', ['-n', host.name, '-j', 'link', 'show', 'eth2'], { encoding: 'utf8' }).stdout)[0].address;
    assert.equal(kp1.mac, parentMac);
    const enginePorts = async () => ((await call('GET', '/counters')).body as any).ports.filter((p: any) => p.dataplane === 'userspace').map((p: any) => p.port).sort();

    // 1. An endpoint whose interface name is taken by a device macdemux did not create: refused.
    let r = await call('POST', '/endpoints', { network: 'us1', name: 'z2', netns: h.name, ifname: 'up1' });
    assert.ok(r.status >= 400 && r.status < 600, `refused, got ${r.status} ${JSON.stringify(r.body)}`);
    assert.match((r.body as any).error.message, /up1 already exists/);
    assert.ok(!readFileSync(join(state, 'api-endpoints.json'), { flag: 'a+' }).toString().includes('z2'), 'nothing saved for z2');
    assert.deepEqual(await ports(), ['a1:bridge', 'a2:bridge', 'p1:passthru']);
    assert.equal(ifindexOf(h.name, 'up1'), foreign, 'the foreign device is untouched');
    assert.ok(!('z2' in (leasesOf(state).us1 ?? {})), 'no lease for z2');
    // ... and the next valid endpoint is applied all the way into the engine.
    r = await call('POST', '/endpoints', { network: 'us1', name: 'z3', netns: ns('z3') });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.deepEqual(await enginePorts(), ['a1', 'a2', 'p1', 'z3']);
    assert.ok(ping(ns('z3'), (r.body as any).ipv4 === '10.61.0.3' ? '10.61.0.1' : '10.61.0.1', 2), 'z3 reaches a1 through the engine');

    // 2. A port PATCHed (even to its own mode) follows later config changes of its network.
    r = await call('PATCH', '/ports/a1', { mode: 'bridge' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    r = await call('PATCH', '/ports/a2', { mode: 'vepa' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    writeFileSync(cfg, stringify(doc('private')));
    let up = cli(['up', cfg, '--state-dir', state]);
    assert.equal(up.code, 0, up.stderr);
    assert.deepEqual(await ports(), ['a1:private', 'a2:private', 'p1:passthru', 'z3:private']);

    // A userspace network leaving passthru: applied for real (the port is re-added) and reported as such.
    writeFileSync(cfg, stringify(doc('private', [], 'vepa')));
    up = cli(['up', cfg, '--state-dir', state]);
    assert.equal(up.code, 0, up.stderr);
    assert.deepEqual(await ports(), ['a1:private', 'a2:private', 'p1:vepa', 'z3:private']);
    assert.deepEqual(await enginePorts(), ['a1', 'a2', 'p1', 'z3']);

    // A reload the kernel cannot apply: non-zero exit with the reason, the running config kept.
    writeFileSync(cfg, stringify(doc('private', [{ name: 'z4', netns: h.name, ifname: 'up1' }], 'vepa')));
    up = cli(['up', cfg, '--state-dir', state]);
    assert.notEqual(up.code, 0, up.stdout);
    assert.match(up.stderr, /up1 already exists/);
    assert.ok(!((await call('GET', '/networks')).body as any[])[0].endpoints.includes('z4'));
    assert.equal(ifindexOf(h.name, 'up1'), foreign);
    // ... and does not block the next one.
    writeFileSync(cfg, stringify(doc('bridge', [], 'vepa')));
    up = cli(['up', cfg, '--state-dir', state]);
    assert.equal(up.code, 0, up.stderr);
    assert.deepEqual(await ports(), ['a1:bridge', 'a2:bridge', 'p1:vepa', 'z3:bridge']);

    // `up` of another file on the daemon's state dir: refused (the daemon serves a.yaml).
    writeFileSync(other, stringify({ networks: [] }));
    up = cli(['up', other, '--state-dir', state]);
    assert.notEqual(up.code, 0, up.stdout);
    assert.match(up.stderr, /serves .*a\.yaml, not .*b\.yaml/);
    assert.equal(((await call('GET', '/networks')).body as any[]).length, 3, 'still serving a.yaml');
    assert.equal(await d.stop('SIGTERM'), 0);
  } finally {
    await d?.stop('SIGKILL');
    cli(['down', '--state-dir', state]);
    await removeNamespacesWithPrefix(lab.prefix);
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a config that cannot be applied: the daemon exits 1 with the reason and leaves nothing (checked before, rolled back midway)', { skip: needsRoot }, async () => {
  const lab = await Lab.create();
  const dir = tempDir('refuse');
  const state = join(dir, 'state');
  const cfg = join(dir, 'refuse.yaml');
  const ns = (n: string) => `${lab.prefix}-${n}`;
  let d: DaemonProcess | undefined;
  try {
    const host = await lab.addNamespace('host');
    const peer = await lab.addNamespace('peer');
    await lab.addVeth({ ns: host, name: 'eth0' }, { ns: peer, name: 'eth0' });
    // Checked before anything changes: a missing parent device.
    writeFileSync(
      cfg,
      stringify({
        networks: [
          { name: 'good', parent: `${host.name}:eth0`, subnet: '10.8.0.0/24', endpoints: [{ name: 'g1', netns: ns('g1') }] },
          { name: 'ghost', parent: `${host.name}:nope0`, subnet: '10.9.0.0/24', endpoints: [{ name: 'x1', netns: ns('x1') }] },
        ],
      }),
    );
    d = new DaemonProcess(['--config', cfg, '--state-dir', state, '--metrics', 'off']);
    assert.equal(await exitOf(d), 1);
    assert.ok(d.lines.some((l) => /device nope0 does not exist in namespace/.test(l.msg ?? '')), d.lines.map((l) => l.msg).join('\n'));
    assert.deepEqual(listNetns().filter((n) => n === ns('g1') || n === ns('x1')), [], 'no namespace created');
    assert.deepEqual(leasesOf(state), {}, 'no lease committed');
    // Midway: a foreign device appears in an endpoint namespace after the checks passed.
    const eps = Array.from({ length: 6 }, (_, i) => ({ name: `e${i}`, netns: ns(`e${i}`) }));
    writeFileSync(cfg, stringify({ networks: [{ name: 'mid', parent: `${host.name}:eth0`, subnet: '10.10.0.0/24', endpoints: eps }] }));
    d = new DaemonProcess(['--config', cfg, '--state-dir', state, '--metrics', 'off', '--step-delay-ms', '150']);
    await d.waitFor((l) => l.event === 'resource.created' && l.resource === `netns ${ns('e5')}`, 30_000, 'netns e5 created');
    spawnSync('ip', ['-n', ns('e5'), 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'x5']);
    assert.equal(await exitOf(d), 1);
    assert.ok(d.lines.some((l) => /eth0 already exists/.test(l.msg ?? '')));
    assert.deepEqual(listNetns().filter((n) => /-e[0-4]$/.test(n) && n.startsWith(lab.prefix)), [], 'what the run created is rolled back');
    assert.ok(listNetns().includes(ns('e5')), 'the namespace holding a foreign device is left in place');
    assert.deepEqual(leasesOf(state), {}, 'leases only for applied endpoints');
    assert.deepEqual(JSON.parse(readFileSync(join(state, 'owned.json'), 'utf8')).resources, []);
  } finally {
    await d?.stop('SIGKILL');
    cli(['down', '--state-dir', state]);
    await removeNamespacesWithPrefix(lab.prefix);
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the shipped examples, run with `up` where their parents do not exist: refused with the reason, no namespace or lease left', { skip: needsRoot }, async () => {
  const dir = tempDir('examples');
  // A prefix no namespace has: the examples' parents (host1:eth0, ...) become <prefix>-host1:eth0.
  const prefix = `mdxex${process.pid}`;
  try {
    for (const file of readdirSync(join(ROOT, 'examples')).filter((f) => f.endsWith('.yaml'))) {
      const state = join(dir, `state-${file}`);
      const cfg = labConfig(file, prefix, dir);
      const up = cli(['up', cfg, '--state-dir', state]);
      assert.equal(up.code, 1, `${file}: ${up.stdout}${up.stderr}`);
      assert.match(up.stdout, /namespace mdxex\d+-host\d? does not exist/, file);
      assert.deepEqual(listNetns().filter((n) => n.startsWith(prefix)), [], `${file}: no namespace created`);
      assert.deepEqual(leasesOf(state), {}, `${file}: no lease committed`);
    }
  } finally {
    await removeNamespacesWithPrefix(prefix);
    rmSync(dir, { recursive: true, force: true });
  }
});
