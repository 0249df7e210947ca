/**
 * Control API routing and error shapes (no socket, no privileges), the metrics registry and
 * listen-address parsing, `macdemux top` rate computation, and the command-line parser.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs, UsageError } from '../../src/service/args.ts';
import { ApiError, type ControlHandlers, handle } from '../../src/service/control-api.ts';
import { type CounterSnapshot, createMetrics, parseListenAddress } from '../../src/service/metrics.ts';
import { rates } from '../../src/cli/top.ts';

function fakeHandlers(calls: string[]): ControlHandlers {
  return {
    status: async () => ({ ok: true }),
    networks: async () => [{ name: 'n' }],
    ports: async () => [],
    counters: async () => ({ ports: [] }),
    createNetwork: async (b) => (calls.push(`create ${JSON.stringify(b)}`), { name: 'x' }),
    removeNetwork: async (n) => (calls.push(`rm ${n}`), { removed: n }),
    addEndpoint: async (b) => (calls.push(`add ${JSON.stringify(b)}`), { added: true }),
    deleteEndpoint: async (n) => {
      if (n === 'cfg') throw new ApiError(409, 'declared_in_config', 'declared in the config');
      calls.push(`del ${n}`);
      return { removed: n };
    },
    patchPort: async (n, b) => (calls.push(`patch ${n} ${JSON.stringify(b)}`), { name: n }),
    reload: async () => {
      throw new Error('boom');
    },
  };
}

async function withServer(fn: (call: (method: string, path: string, body?: string, type?: string) => Promise<{ status: number; body: any; headers: Record<string, unknown> }>) => Promise<void>, calls: string[]) {
  const server: Server = createServer((req, res) => void handle(fakeHandlers(calls), req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  const call = (method: string, path: string, body?: string, type = 'application/json') =>
    new Promise<{ status: number; body: any; headers: Record<string, unknown> }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method, path, headers: body !== undefined ? { 'content-type': type } : {} }, (res) => {
        let t = '';
        res.on('data', (c) => (t += c));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(t), headers: res.headers }));
      });
      req.on('error', reject);
      if (body !== undefined) req.write(body);
      req.end();
    });
  try {
    await fn(call);
  } finally {
    server.close();
  }
}

test('control API: routes, methods and 4xx reasons', async () => {
  const calls: string[] = [];
  await withServer(async (call) => {
    assert.deepEqual((await call('GET', '/networks')).body, [{ name: 'n' }]);
    assert.equal((await call('GET', '/status?x=1')).status, 200);
    let r = await call('GET', '/nope');
    assert.equal(r.status, 404);
    assert.equal(r.body.error.code, 'not_found');
    r = await call('DELETE', '/networks');
    assert.equal(r.status, 405);
    assert.equal(r.headers.allow, 'GET, POST');
    assert.match(r.body.error.message, /DELETE is not allowed on \/networks \(allowed: GET, POST\)/);
    r = await call('POST', '/endpoints', '{"a":');
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, 'malformed_json');
    r = await call('POST', '/endpoints', '');
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, 'empty_body');
    r = await call('POST', '/endpoints', 'name=x', 'application/x-www-form-urlencoded');
    assert.equal(r.status, 415);
    r = await call('POST', '/endpoints', 'x'.repeat(70_000));
    assert.equal(r.status, 413);
    r = await call('POST', '/endpoints', '{"network":"n","name":"e"}');
    assert.equal(r.status, 201);
    r = await call('PATCH', '/ports/a%20b', '{"mode":"vepa"}');
    assert.equal(r.status, 200);
    r = await call('DELETE', '/endpoints/cfg');
    assert.equal(r.status, 409);
    assert.equal(r.body.error.code, 'declared_in_config');
    r = await call('DELETE', '/endpoints/e');
    assert.equal(r.status, 200);
    r = await call('POST', '/networks', '{"name":"net30","parent":"eth0.30"}');
    assert.equal(r.status, 201);
    r = await call('DELETE', '/networks/net30');
    assert.equal(r.status, 200);
    r = await call('POST', '/reload');
    assert.equal(r.status, 500);
    assert.equal(r.body.error.message, 'boom');
  }, calls);
  assert.deepEqual(calls, ['add {"network":"n","name":"e"}', 'patch a b {"mode":"vepa"}', 'del e', 'create {"name":"net30","parent":"eth0.30"}', 'rm net30']);
});

test('metrics: per-port, per-switch, engine and reconcile series from one snapshot', async () => {
  let scrapes = 0;
  const snap: CounterSnapshot = {
    time: 0,
    ports: [{ port: 'p1', network: 'n1', dataplane: 'userspace', rxPackets: 5, rxBytes: 300, txPackets: 7, txBytes: 420, rxDropped: 1, txDropped: 2 }],
    switches: [{ uplink: 'h:eth0', rxFrames: 100, forwarded: 90, drops: { unknownUnicast: 10 }, uplinkPort: { rxPackets: 50, rxBytes: 1, txPackets: 40, txBytes: 2, rxDropped: 0, txDropped: 0 }, ringDrops: 3, workers: [{ rxFrames: 100, forwarded: 90, loops: 4, txDropped: 0 }] }],
    leases: { n1: 1 },
    networks: 1,
  };
  const reg = createMetrics(async () => (scrapes++, snap), { total: { ok: 2, failed: 1 }, lastDurationS: 0.5 });
  const text = await reg.metrics();
  for (const line of [
    'macdemux_port_rx_packets_total{network="n1",port="p1",dataplane="userspace"} 5',
    'macdemux_port_tx_bytes_total{network="n1",port="p1",dataplane="userspace"} 420',
    'macdemux_port_drops_total{network="n1",port="p1",dataplane="userspace",reason="tx"} 2',
    'macdemux_switch_drops_total{uplink="h:eth0",reason="unknownUnicast"} 10',
    'macdemux_ring_drops_total{uplink="h:eth0"} 3',
    'macdemux_engine_batch_frames{uplink="h:eth0",worker="0"} 25',
    'macdemux_leases{network="n1"} 1',
    'macdemux_reconcile_total{result="failed"} 1',
  ])
    assert.ok(text.includes(line), `missing ${line}`);
  assert.equal(scrapes, 1, 'one snapshot per scrape');
});

test('listen addresses and argument parsing', () => {
  assert.deepEqual(parseListenAddress('127.0.0.1:9469'), { host: '127.0.0.1', port: 9469 });
  assert.deepEqual(parseListenAddress('[::1]:0'), { host: '::1', port: 0 });
  assert.deepEqual(parseListenAddress('0.0.0.0:80'), { host: '0.0.0.0', port: 80 });
  assert.throws(() => parseListenAddress('localhost'), /expected HOST:PORT/);
  assert.throws(() => parseListenAddress('a:99999'), /expected HOST:PORT/);
  const spec = { values: ['state-dir'], flags: ['json'], usage: 'u' };
  assert.deepEqual(parseArgs(['c.yaml', '--state-dir=/x', '--json'], spec), { opts: { 'state-dir': '/x', json: true }, positional: ['c.yaml'] });
  assert.throws(() => parseArgs(['--bogus'], spec), UsageError);
  assert.throws(() => parseArgs(['--state-dir'], spec), /needs a value/);
  assert.throws(() => parseArgs(['--json=1'], spec), /takes no value/);
});

test('top: rates between two snapshots', () => {
  const row = (rx: number, tx: number) => ({ port: 'p', network: 'n', dataplane: 'kernel' as const, rxPackets: rx, rxBytes: rx * 100, txPackets: tx, txBytes: tx * 100, rxDropped: 0, txDropped: 0 });
  const r = rates({ time: 0, ports: [row(0, 0)], switches: [], leases: {}, networks: 1 }, { time: 2000, ports: [row(200, 50)], switches: [], leases: {}, networks: 1 });
  assert.equal(r[0].rxPps, 100);
  assert.equal(r[0].txPps, 25);
  assert.equal(r[0].rxMbps, 0.08);
});
