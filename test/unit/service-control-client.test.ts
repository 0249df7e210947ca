/**
 * The control API client and a server that closes idle connections: each request has its own
 * connection, so a request made after the event loop was blocked (the CNI plugin runs its IPAM
 * plugin synchronously between two requests) never writes into a connection the server has
 * already closed (EPIPE / ECONNRESET with a pooled keep-alive socket).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { apiRequest } from '../../src/service/control-client.ts';

/** The control server in a child process (its idle-connection timer runs while this one is blocked). */
function serverProcess(sock: string) {
  const api = pathToFileURL(join(import.meta.dirname, '..', '..', 'src', 'service', 'control-api.ts')).href;
  const script = `
    const { serveControl } = await import(${JSON.stringify(api)});
    const echo = async (b) => b;
    const none = async () => [];
    const h = { status: none, networks: none, ports: none, counters: none, createNetwork: echo, removeNetwork: echo, addEndpoint: echo, deleteEndpoint: echo, patchPort: echo, reload: none };
    const server = await serveControl(${JSON.stringify(sock)}, h);
    server.keepAliveTimeout = 2000; // the daemon's is Node's default (5 s, closed after 6 s with Node's 1 s buffer); the race is the same
    console.log('ready');`;
  return spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
}

/** Block this thread (no event loop turns), as spawnSync of a slow IPAM plugin does. */
function blockFor(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

test('a request after the server closed the idle connection while the client was blocked succeeds', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mdx-ctl-client-'));
  const sock = join(dir, 'api.sock');
  const server = serverProcess(sock);
  try {
    await new Promise<void>((resolve, reject) => {
      server.stdout!.once('data', () => resolve());
      server.once('exit', (code) => reject(new Error(`server exited ${code}`)));
    });
    assert.equal((await apiRequest(sock, 'GET', '/networks')).status, 200);
    await new Promise((r) => setTimeout(r, 1)); // the response's socket goes back to a pool, if any
    // Meanwhile the server closes the idle connection (after keepAliveTimeout + 1 s); a pooled
    // keep-alive socket would be picked before this thread sees the close: EPIPE on the write.
    blockFor(3500);
    const r = await apiRequest(sock, 'POST', '/endpoints', { name: 'e1', pad: 'x'.repeat(4096) });
    assert.equal(r.status, 201);
    assert.equal((r.body as { name: string }).name, 'e1');
  } finally {
    server.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
