/**
 * macdemuxd: kill -9 in the middle of an apply and restart (state converges, no lease lost or
 * duplicated); the control API (socket mode 0600 refuses a non-root client, malformed requests
 * get 4xx with reasons, endpoints added/removed, port modes changed); SIGHUP applies only the
 * difference; Prometheus metrics; SIGTERM keeps kernel devices, --teardown-on-exit removes them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Lab } from '../../src/lab/index.ts';
import { apiRequest } from '../../src/service/control-client.ts';
import { listNetns } from '../../src/service/netns.ts';
import { needsRoot } from '../support.ts';
import { cli, DaemonProcess, nsDump, ping, removeNamespacesWithPrefix, tempDir } from './service-helpers.ts';

const N = 12;

function config(prefix: string, endpoints: number, extra: Record<string, unknown> = {}): string {
  return stringify({
    version: 1,
    networks: [
      {
        name: 'crashnet',
        parent: `${prefix}-host:eth0`,
        mode: 'bridge',
        subnet: '10.77.0.0/24',
        gateway: '10.77.0.254',
        'ip-range': '10.77.0.0/27',
        ipv6: { subnet: 'fd77::/64' },
        endpoints: Array.from({ length: endpoints }, (_, i) => ({ name: `ep${i}`, netns: `${prefix}-ep${i}` })),
        ...extra,
      },
    ],
  });
}

function leasesOf(stateDir: string): Record<string, { ipv4: string; ipv6: string; mac: string }> {
  const f = join(stateDir, 'leases.json');
  return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')).leases.crashnet ?? {}) : {};
}

function ownedOf(stateDir: string): string[] {
  const f = join(stateDir, 'owned.json');
  return existsSync(f) ? JSON.parse(readFileSync(f, 'utf8')).resources.map((r: any) => `${r.kind}:${r.netns ?? ''}/${r.name}`).sort() : [];
}

test('kill -9 mid-apply, restart: state converges, no lease lost or duplicated', { skip: needsRoot }, async () => {
  const lab = await Lab.create();
  const dir = tempDir('crash');
  const state = join(dir, 'state');
  const cfg = join(dir, 'crash.yaml');
  const daemons: DaemonProcess[] = [];
  try {
    const host = await lab.addNamespace('host');
    const peer = await lab.addNamespace('peer');
    await lab.addVeth({ ns: host, name: 'eth0' }, { ns: peer, name: 'eth0' });
    writeFileSync(cfg, config(lab.prefix, N));
    const hostBefore = nsDump(host.name);
    const seen: Record<string, { ipv4: string; ipv6: string; mac: string }> = {};
    // Kill at three different points: after 1, then 6 more, then 5 more created resources (of 24).
    for (const killAfter of [1, 6, 5]) {
      const d = new DaemonProcess(['--config', cfg, '--state-dir', state, '--metrics', 'off', '--step-delay-ms', '40']);
      daemons.push(d);
      await d.waitFor(() => d.count((l) => l.event === 'resource.created') >= killAfter, 30_000, `${killAfter} created resources`);
      d.child.kill('SIGKILL');
      await d.exited;
      const l = leasesOf(state);
      // Every lease handed out before is still there, with the same address and MAC.
      for (const [ep, lease] of Object.entries(seen)) assert.deepEqual(l[ep], lease, `lease of ${ep} kept across kill -9`);
      Object.assign(seen, l);
      assert.ok(existsSync(join(state, 'lock')), 'the dead daemon left its lock behind');
    }
    // Restart without delay: converges.
    const d = new DaemonProcess(['--config', cfg, '--state-dir', state, '--metrics', 'off', '--teardown-on-exit']);
    daemons.push(d);
    await d.event('daemon.ready', 60_000);
    const final = leasesOf(state);
    assert.equal(Object.keys(final).length, N, 'one lease per endpoint');
    for (const [ep, lease] of Object.entries(seen)) assert.deepEqual(final[ep], lease, `lease of ${ep} unchanged after restart`);
    const v4 = Object.values(final).map((l) => l.ipv4);
    const v6 = Object.values(final).map((l) => l.ipv6);
    const macs = Object.values(final).map((l) => l.mac);
    assert.equal(new Set(v4).size, N, 'no duplicate IPv4');
    assert.equal(new Set(v6).size, N, 'no duplicate IPv6');
    assert.equal(new Set(macs).size, N, 'no duplicate MAC');
    // Each endpoint namespace carries exactly its lease.
    for (let i = 0; i < N; i++) {
      const ns = `${lab.prefix}-ep${i}`;
      const info = JSON.parse(spawnSync('ip', ['-n', ns, '-j', 'addr', 'show', 'eth0'], { encoding: 'utf8' }).stdout)[0];
      const global = info.addr_info.filter((a: any) => a.scope === 'global').map((a: any) => `${a.local}/${a.prefixlen}`).sort();
      assert.deepEqual(global, [`${final[`ep${i}`].ipv4}/24`, `${final[`ep${i}`].ipv6}/64`].sort(), `${ns} addresses`);
      assert.equal(info.address, final[`ep${i}`].mac, `${ns} MAC`);
    }
    // Ownership records exactly the endpoints' links and namespaces.
    const expected = Array.from({ length: N }, (_, i) => [`link:${lab.prefix}-ep${i}/eth0`, `netns:/${lab.prefix}-ep${i}`]).flat().sort();
    assert.deepEqual(ownedOf(state), expected);
    assert.ok(ping(`${lab.prefix}-ep0`, final.ep11.ipv4), 'ep0 reaches ep11');
    // While the daemon owns the state: `up` asks it to reload, `down` refuses.
    const since = d.mark();
    const up = cli(['up', cfg, '--state-dir', state]);
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stdout, /reloaded/);
    await d.event('config.reloaded', 10_000, since);
    const down = cli(['down', cfg, '--state-dir', state]);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /in use by pid \d+.*stop the daemon first/);
    // SIGTERM with --teardown-on-exit: everything created is removed, the host is as before.
    assert.equal(await d.stop('SIGTERM'), 0);
    assert.deepEqual(listNetns().filter((n) => n.startsWith(`${lab.prefix}-ep`)), []);
    assert.deepEqual(nsDump(host.name), hostBefore);
    assert.deepEqual(leasesOf(state), {});
    assert.ok(!existsSync(join(state, 'lock')), 'lock released');
  } finally {
    for (const d of daemons) await d.stop('SIGKILL');
    await removeNamespacesWithPrefix(lab.prefix);
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('control API: 0600 socket refuses non-root, 4xx with reasons, endpoints and modes; SIGHUP reload; metrics; SIGTERM keeps devices', { skip: needsRoot }, async () => {
  const lab = await Lab.create();
  const dir = tempDir('api');
  chmodSync(dir, 0o755); // so the socket's own mode is what refuses
  const state = join(dir, 'state');
  const socket = join(dir, 'api.sock');
  const cfg = join(dir, 'api.yaml');
  let d: DaemonProcess | undefined;
  try {
    const host = await lab.addNamespace('host');
    const peer = await lab.addNamespace('peer');
    await lab.addVeth({ ns: host, name: 'eth0' }, { ns: peer, name: 'eth0' });
    writeFileSync(cfg, config(lab.prefix, 2));
    d = new DaemonProcess(['--config', cfg, '--state-dir', state, '--socket', socket, '--metrics', '127.0.0.1:0']);
    await d.event('daemon.ready');
    const metricsAddr = (await d.event('metrics.listening')).address as string;

    // Permissions: the socket is 0600 and a uid-65534 client is refused.
    assert.equal(statSync(socket).mode & 0o777, 0o600);
    const probe = `require('net').connect(${JSON.stringify(socket)}).on('connect',()=>{console.log('CONNECTED');process.exit(0)}).on('error',e=>{console.log(e.code);process.exit(3)})`;
    const asNobody = () => spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', probe], { encoding: 'utf8' });
    const denied = asNobody();
    assert.equal(denied.stdout.trim(), 'EACCES', denied.stderr);
    chmodSync(socket, 0o666); // control: the same client connects when the mode allows it
    assert.equal(asNobody().stdout.trim(), 'CONNECTED');
    chmodSync(socket, 0o600);

    const call = (method: string, path: string, body?: unknown) => apiRequest(socket, method, path, body);
    const err = (r: { body: unknown }) => (r.body as { error: { code: string; message: string } }).error;

    // Reads.
    const nets = await call('GET', '/networks');
    assert.equal(nets.status, 200);
    assert.equal((nets.body as any[])[0].name, 'crashnet');
    const ports = (await call('GET', '/ports')).body as any[];
    assert.deepEqual(ports.map((p) => p.name), ['ep0', 'ep1']);
    assert.equal(ports[0].ipv4, '10.77.0.1');

    // Malformed requests: 4xx with reasons.
    let r = await call('POST', '/endpoints', '{"network": ');
    assert.equal(r.status, 400);
    assert.equal(err(r).code, 'malformed_json');
    r = await call('POST', '/endpoints', { network: 'crashnet', name: 'e9', netns: `${lab.prefix}-e9`, colour: 'red', ip: '10.77.0.254' });
    assert.equal(r.status, 400);
    assert.match(err(r).message, /colour: unknown key/);
    r = await call('POST', '/endpoints', { network: 'crashnet', name: 'e9', netns: `${lab.prefix}-e9`, ip: '10.77.0.254' });
    assert.equal(r.status, 400);
    assert.match(err(r).message, /ip: 10\.77\.0\.254 is the network's gateway/);
    r = await call('POST', '/endpoints', { network: 'nonet', name: 'e9', netns: 'x' });
    assert.equal(r.status, 404);
    assert.match(err(r).message, /no network "nonet"/);
    r = await call('POST', '/endpoints', { network: 'crashnet', name: 'ep0', netns: 'x' });
    assert.equal(r.status, 409);
    r = await call('PATCH', '/ports/ep0', { mode: 'hairpin' });
    assert.equal(r.status, 400);
    assert.match(err(r).message, /mode: expected one of private, vepa, bridge, passthru, source/);
    r = await call('PATCH', '/ports/ep0', { mode: 'vepa', mtu: 9000 });
    assert.equal(r.status, 400);
    r = await call('PATCH', '/ports/nope', { mode: 'vepa' });
    assert.equal(r.status, 404);
    r = await call('DELETE', '/endpoints/ep0');
    assert.equal(r.status, 409);
    assert.match(err(r).message, /declared in/);
    r = await call('PUT', '/networks');
    assert.equal(r.status, 405);
    r = await call('GET', '/nothing');
    assert.equal(r.status, 404);
    const bad = spawnSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--unix-socket', socket, '-X', 'POST', '-H', 'content-type: text/plain', '-d', 'hi', 'http://x/endpoints'], { encoding: 'utf8' });
    if (bad.status === 0) assert.equal(bad.stdout, '415');

    // Add an endpoint, see it work, change its mode, delete it.
    r = await call('POST', '/endpoints', { network: 'crashnet', name: 'e9', netns: `${lab.prefix}-e9` });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const e9 = r.body as any;
    assert.equal(e9.ipv4, '10.77.0.3');
    assert.ok(ping(`${lab.prefix}-e9`, '10.77.0.1'), 'the added endpoint reaches ep0');
    r = await call('PATCH', '/ports/e9', { mode: 'private' });
    assert.equal(r.status, 200);
    const mode = () => JSON.parse(spawnSync('ip', ['-n', `${lab.prefix}-e9`, '-d', '-j', 'link', 'show', 'eth0'], { encoding: 'utf8' }).stdout)[0].linkinfo.info_data.mode;
    assert.equal(mode(), 'private');
    assert.ok(!ping(`${lab.prefix}-e9`, '10.77.0.1', 1, 1), 'private port cannot reach a sibling');

    // SIGHUP: add a third config endpoint; only the difference is applied (the mode change stays).
    const created = d.count((l) => l.event === 'resource.created');
    let since = d.mark();
    writeFileSync(cfg, config(lab.prefix, 3));
    d.child.kill('SIGHUP');
    const reloaded = await d.event('config.reloaded', 20_000, since);
    assert.deepEqual(reloaded.changed, ['crashnet']);
    const done = await d.event('apply.done', 20_000, since);
    assert.equal(done.removed, 0);
    assert.equal(d.count((l) => l.event === 'resource.created') - created, 2, 'only ep2 (netns + link) created');
    assert.equal(mode(), 'private', 'the API mode change survives the reload');
    // An invalid file is rejected and the running config kept.
    since = d.mark();
    writeFileSync(cfg, 'networks: [{name: x}]\n');
    d.child.kill('SIGHUP');
    const rej = await d.event('reload.rejected', 20_000, since);
    assert.match(JSON.stringify(rej.issues), /networks\[0\]\.parent/);
    assert.equal(((await call('GET', '/ports')).body as any[]).length, 4);
    writeFileSync(cfg, config(lab.prefix, 3));

    // Metrics.
    const text = await (await fetch(`http://${metricsAddr}/metrics`)).text();
    assert.match(text, /macdemux_port_rx_packets_total\{network="crashnet",port="e9",dataplane="kernel"\} [1-9]/);
    assert.match(text, /macdemux_port_drops_total\{network="crashnet",port="ep0",dataplane="kernel",reason="rx"\} 0/);
    assert.match(text, /macdemux_leases\{network="crashnet"\} 4/);
    assert.match(text, /macdemux_reconcile_total\{result="ok"\} [1-9]/);

    r = await call('DELETE', '/endpoints/e9');
    assert.equal(r.status, 200);
    assert.ok(!listNetns().includes(`${lab.prefix}-e9`), 'the API endpoint and its namespace are gone');

    // `macdemux status` and `macdemux top` talk to the daemon.
    const st = spawnSync(process.execPath, [join(import.meta.dirname, '..', '..', 'bin', 'macdemux.js'), 'status', '--socket', socket], { encoding: 'utf8' });
    assert.equal(st.status, 0, st.stderr);
    assert.match(st.stdout, /crashnet .* kernel .* bridge/);
    assert.match(st.stdout, /ep2 .* 10\.77\.0\.\d+\/24/);
    const top = spawnSync(process.execPath, [join(import.meta.dirname, '..', '..', 'bin', 'macdemux.js'), 'top', '--socket', socket, '--interval', '0.3', '--count', '2'], { encoding: 'utf8' });
    assert.equal(top.status, 0, top.stderr);
    assert.match(top.stdout, /PORT +NETWORK +DATAPLANE +RX pps/);
    assert.equal(top.stdout.match(/^ep1 /gm)?.length, 2);

    // SIGTERM without --teardown-on-exit keeps the kernel devices (documented choice).
    assert.equal(await d.stop('SIGTERM'), 0);
    assert.ok(listNetns().includes(`${lab.prefix}-ep0`));
    assert.ok(ping(`${lab.prefix}-ep0`, '10.77.0.2'), 'kernel data plane keeps working without the daemon');
    assert.ok(!existsSync(socket), 'socket removed on stop');
  } finally {
    await d?.stop('SIGKILL');
    spawnSync(process.execPath, [join(import.meta.dirname, '..', '..', 'bin', 'macdemux.js'), 'down', '--state-dir', state], { encoding: 'utf8' });
    await removeNamespacesWithPrefix(lab.prefix);
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});
