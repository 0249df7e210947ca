/**
 * The Docker plugin's boundary without privileges: CreateNetwork bodies as dockerd 20.10 sends them
 * (strings under com.docker.network.generic, gateway with prefix), VLAN parents, and the HTTP
 * server's contract (Plugin.Activate, 500 with {"Err"} on failure, a hung call times out).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseParent } from '../../src/net/index.ts';
import { DockerDriver, listenPlugin, parseCreateNetwork, ROUTES } from '../../src/plugins/docker/index.ts';

const ID = 'a209ba7cc1a50ac1dc06b0252116ced7af440dddc436dc87e962a127c8fc2756';
const body = (generic: Record<string, string>, v4: Record<string, unknown> = { AddressSpace: 'LocalDefault', Pool: '172.16.86.0/24', Gateway: '172.16.86.1/24', AuxAddresses: { host: '172.16.86.223/24' } }) => ({
  NetworkID: ID,
  Options: { 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': generic },
  IPv4Data: [v4],
  IPv6Data: [],
});

test('parseCreateNetwork: the seed network as dockerd sends it', () => {
  const n = parseCreateNetwork(body({ parent: 'eth0' }));
  assert.deepEqual(n, { id: ID, parent: { name: 'eth0', dev: 'eth0' }, mode: 'bridge', dataplane: 'kernel', subnet: '172.16.86.0/24', gateway: '172.16.86.1' });
});

test('parseCreateNetwork: VLAN parent means userspace; mode, host shim, mtu', () => {
  const n = parseCreateNetwork(body({ parent: 'eth0.10', mode: 'vepa', 'host-shim': '172.16.86.223', mtu: '1400' }));
  assert.deepEqual(n.parent, { name: 'eth0.10', dev: 'eth0', vlan: 10 });
  assert.equal(n.dataplane, 'userspace');
  assert.equal(n.mode, 'vepa');
  assert.equal(n.hostShim, '172.16.86.223');
  assert.equal(n.mtu, 1400);
  assert.equal(parseCreateNetwork(body({ parent: 'eth0', macvlan_mode: 'private' })).mode, 'private', "Docker macvlan's own option name");
});

test('parseCreateNetwork: refusals name the option', () => {
  assert.throws(() => parseCreateNetwork(body({})), /-o parent/);
  assert.throws(() => parseCreateNetwork(body({ parent: 'eth0', mode: 'source' })), /-o mode/);
  assert.throws(() => parseCreateNetwork(body({ parent: 'eth0.10', dataplane: 'kernel' })), /802\.1Q/);
  assert.throws(() => parseCreateNetwork(body({ parent: 'eth0', dataplane: 'dpdk' })), /-o dataplane/);
  assert.throws(() => parseCreateNetwork(body({ parent: 'eth0', colour: 'blue' })), /-o colour/);
  assert.throws(() => parseCreateNetwork(body({ parent: 'eth0.5000' })), /VLAN id/);
  assert.throws(() => parseCreateNetwork(body({ parent: 'eth0', 'host-shim': 'fd00::1' })), /IPv4/);
  assert.throws(() => parseCreateNetwork({ ...body({ parent: 'eth0' }), NetworkID: 'x' }), /NetworkID/);
});

test('parseParent: DEV, DEV.VID, and an explicit vlan that must agree', () => {
  assert.deepEqual(parseParent('ens33'), { name: 'ens33', dev: 'ens33' });
  assert.deepEqual(parseParent('bond0.20'), { name: 'bond0.20', dev: 'bond0', vlan: 20 });
  assert.deepEqual(parseParent('eth0', 'master', 30), { name: 'eth0', dev: 'eth0', vlan: 30 });
  assert.throws(() => parseParent('eth0.10', 'master', 20), /vlan/);
  assert.throws(() => parseParent('eth0.0'), /VLAN id/);
});

function call(sock: string, path: string, payload: unknown): Promise<{ status: number; body: any; type: string }> {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(payload);
    const req = request({ socketPath: sock, path, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text), type: String(res.headers['content-type']) }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

test('server: Activate, capabilities, errors as 500 {"Err"}, a hung call is answered with a timeout', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mdx-dp-unit-'));
  const driver = await DockerDriver.open(join(dir, 'state'));
  const sock = join(dir, 'p.sock');
  const server = await listenPlugin(driver, sock, 300, { ...ROUTES, '/NetworkDriver.Hang': () => new Promise(() => {}) });
  try {
    const act = await call(sock, '/Plugin.Activate', {});
    assert.deepEqual(act.body, { Implements: ['NetworkDriver'] });
    assert.match(act.type, /application\/vnd\.docker\.plugins\.v1/);
    assert.deepEqual((await call(sock, '/NetworkDriver.GetCapabilities', {})).body, { Scope: 'local', ConnectivityScope: 'local' });
    const bad = await call(sock, '/NetworkDriver.CreateNetwork', body({ parent: 'eth0', mode: 'sideways' }));
    assert.equal(bad.status, 500);
    assert.match(bad.body.Err, /-o mode/);
    const unknown = await call(sock, '/NetworkDriver.Join', { NetworkID: ID, EndpointID: ID });
    assert.equal(unknown.status, 500);
    assert.match(unknown.body.Err, /endpoint a209ba7cc1a5 is not known/);
    const hung = await call(sock, '/NetworkDriver.Hang', {});
    assert.equal(hung.status, 500);
    assert.match(hung.body.Err, /timed out after 300 ms/);
    // The queue moves on after a timeout.
    assert.equal((await call(sock, '/NetworkDriver.DeleteNetwork', { NetworkID: ID })).status, 200, 'deleting an unknown network is a no-op');
    assert.equal((await call(sock, '/NetworkDriver.Nope', {})).status, 500);
  } finally {
    await new Promise((r) => server.close(r));
    await driver.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
