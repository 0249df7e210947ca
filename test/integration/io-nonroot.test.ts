/**
 * Without CAP_NET_RAW, opening a port fails with EPERM from socket() and the message names the
 * capability. Runs a child as nobody with every capability dropped (setpriv).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { needsRoot } from '../support.ts';

const ioIndex = fileURLToPath(new URL('../../src/io/index.ts', import.meta.url));
const SCRIPT = `
import { PacketPort, TapQueue, openSink } from ${JSON.stringify(ioIndex)};
const out = [];
for (const open of [() => PacketPort.open({ ifname: 'mdxnone0' }), () => openSink({ ifname: 'mdxnone0' })]) {
  try { open(); out.push({ ok: true }); }
  catch (e) { out.push({ name: e.name, code: e.code, errno: e.errno, syscall: e.syscall, ifname: e.ifname, message: e.message }); }
}
console.log(JSON.stringify(out));
`;

const skip = needsRoot || (!existsSync('/usr/bin/setpriv') && 'setpriv not installed');

const SETPRIV = ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all'];

test('non-root: EPERM from socket() names CAP_NET_RAW and the interface', { skip, timeout: 30_000 }, async (t) => {
  // The checkout must be readable by nobody (CI may clone under a private home directory).
  const readable = await new Promise<boolean>((resolve) =>
    execFile('/usr/bin/setpriv', [...SETPRIV, process.execPath, '-e', `require('fs').accessSync(${JSON.stringify(ioIndex)})`], (err) => resolve(!err)),
  );
  if (!readable) {
    t.skip('the checkout is not readable by uid 65534');
    return;
  }
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile(
      '/usr/bin/setpriv',
      [...SETPRIV, process.execPath, '--import', 'tsx', '--input-type=module', '-e', SCRIPT],
      { cwd: fileURLToPath(new URL('../..', import.meta.url)), timeout: 20_000 },
      (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out)),
    ),
  );
  const results = JSON.parse(stdout.trim().split('\n').pop()!) as Array<Record<string, unknown>>;
  assert.equal(results.length, 2);
  for (const r of results) {
    assert.equal(r.name, 'MacdemuxSystemError');
    assert.equal(r.code, 'EPERM');
    assert.equal(r.errno, 1);
    assert.equal(r.syscall, 'socket');
    assert.equal(r.ifname, 'mdxnone0');
    assert.match(String(r.message), /CAP_NET_RAW/);
    assert.match(String(r.message), /mdxnone0/);
  }
});
