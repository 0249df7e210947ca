/**
 * Regression tests of the control plane's smaller promises: malformed %-encoding and deeply
 * nested JSON are 400s; `--metrics :P` needs an explicit host; a busy metrics port names the
 * cause; `--socket` at a regular file leaves it alone; usage errors exit 2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { type ControlHandlers, handle, serveControl } from '../../src/service/control-api.ts';
import { parseListenAddress, serveMetrics } from '../../src/service/metrics.ts';

const ROOT = join(import.meta.dirname, '..', '..');

const handlers: ControlHandlers = {
  status: async () => ({}),
  networks: async () => [],
  ports: async () => [],
  counters: async () => ({}),
  createNetwork: async (b) => b,
  removeNetwork: async (n) => ({ removed: n }),
  addEndpoint: async (b) => b,
  deleteEndpoint: async (n) => ({ removed: n }),
  patchPort: async (n) => ({ name: n }),
  reload: async () => ({}),
};

async function call(server: Server, method: string, path: string, body?: string): Promise<{ status: number; body: any }> {
  const port = (server.address() as AddressInfo).port;
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      let t = '';
      res.on('data', (c) => (t += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(t) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('control API: malformed %-encoding and 20 KB of nested JSON are 400, not 500', async () => {
  const server = createServer((req, res) => void handle(handlers, req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  try {
    let r = await call(server, 'DELETE', '/endpoints/%E0%A4%A');
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, 'malformed_path');
    r = await call(server, 'PATCH', '/ports/%zz', '{"mode":"vepa"}');
    assert.equal(r.status, 400);
    const nested = '['.repeat(10_000) + ']'.repeat(10_000);
    r = await call(server, 'POST', '/endpoints', nested);
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, 'too_deep');
    r = await call(server, 'POST', '/endpoints', `{"name":"${'['.repeat(100)}"}`);
    assert.equal(r.status, 201, 'brackets inside strings do not count');
  } finally {
    server.close();
  }
});

test('--metrics needs an explicit host; a busy port says who to blame', async () => {
  assert.throws(() => parseListenAddress(':9469'), /give the host: 127\.0\.0\.1:9469 \(this machine only\) or 0\.0\.0\.0:9469/);
  const a = await serveMetrics(new Registry(), '127.0.0.1:0');
  try {
    await assert.rejects(serveMetrics(new Registry(), a.address), /metrics address 127\.0\.0\.1:\d+ is in use \(another macdemuxd\?\): give each daemon its own --metrics HOST:PORT, or --metrics off/);
  } finally {
    a.server.close();
  }
});

test('--socket at a regular file: refused, the file is kept', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mdx-sock-'));
  try {
    const file = join(dir, 'precious.txt');
    writeFileSync(file, 'keep me');
    await assert.rejects(serveControl(file, handlers), /exists and is not a socket: refused/);
    assert.equal(readFileSync(file, 'utf8'), 'keep me');
    // A stale socket is still replaced.
    const sock = join(dir, 's.sock');
    const first = await serveControl(sock, handlers);
    first.close();
    await new Promise((r) => setTimeout(r, 10));
    writeFileSync(join(dir, 'x'), '');
    const second = await serveControl(sock, handlers);
    second.close();
    assert.ok(!existsSync(join(dir, 'nothing')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('usage errors exit 2 (unknown option, missing value)', () => {
  for (const args of [['up', 'x.yaml', '--bogus'], ['down', '--state-dir'], ['status', '--nope']]) {
    const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'macdemux.js'), ...args], { encoding: 'utf8' });
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /unknown option|needs a value/);
  }
});
