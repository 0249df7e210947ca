/**
 * `macdemux switch` in the foreground: ns1 pings ns2 through it (bridge mode), it prints one rate
 * line a second to stderr (not a TTY here), and SIGTERM stops it cleanly with exit code 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { withLab } from '../../src/lab/index.ts';
import { needsRoot } from '../support.ts';
import { parsePortArg } from '../../src/cli/switch.ts';

const BIN = fileURLToPath(new URL('../../bin/macdemux.js', import.meta.url));

test('--port parsing: device, mac, mode, vlan, name, source list; errors name the field', () => {
  assert.deepEqual(parsePortArg('p1,mac=02:00:00:00:00:01,mode=vepa,vlan=10,name=a', 'bridge', 0), {
    name: 'a',
    mode: 'vepa',
    vlan: 10,
    mac: '02:00:00:00:00:01',
    backend: { kind: 'packet', ifname: 'p1' },
  });
  assert.deepEqual(parsePortArg('tap:vm1,mac=02:00:00:00:00:02,mode=source,source=02:00:00:00:00:09+02:00:00:00:00:0a', 'bridge', 1).sourceMacs, [
    '02:00:00:00:00:09',
    '02:00:00:00:00:0a',
  ]);
  assert.throws(() => parsePortArg('p1,mode=vepa', 'bridge', 2), /--port\[2\]\.mac/);
  assert.throws(() => parsePortArg('p1,mac=02:00:00:00:00:01,vlan=5000', 'bridge', 0), /--port\[0\]\.vlan/);
  assert.throws(() => parsePortArg('p1,mac=02:00:00:00:00:01,mode=hub', 'bridge', 0), /--port\[0\]\.mode/);
});

test('macdemux switch runs in the foreground, prints rates, forwards, stops on SIGTERM', { skip: needsRoot, timeout: 90_000 }, async () => {
  await withLab(async (lab) => {
    const sw = await lab.addNamespace('sw');
    const ns1 = await lab.addNamespace('ns1');
    const ns2 = await lab.addNamespace('ns2');
    const wire = await lab.addNamespace('wire');
    await lab.addVeth({ ns: sw, name: 'up0' }, { ns: wire, name: 'w0' });
    await lab.addVeth({ ns: sw, name: 'p1' }, { ns: ns1, name: 'e1', mac: '02:6d:64:00:03:01', addresses: ['10.78.0.1/24'] });
    await lab.addVeth({ ns: sw, name: 'p2' }, { ns: ns2, name: 'e2', mac: '02:6d:64:00:03:02', addresses: ['10.78.0.2/24'] });
    const child = spawn(process.execPath, [BIN, 'switch', '-n', sw.name, '--uplink', 'up0', '--mode', 'bridge',
      '--port', 'p1,mac=02:6d:64:00:03:01', '--port', 'p2,mac=02:6d:64:00:03:02,name=second', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const t0 = Date.now();
      while (!stderr.includes('started') && Date.now() - t0 < 20_000 && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
      assert.match(stderr, /started/, stderr);
      // the default backend (auto) on a veth uplink with one worker: the tc fast path, said on the start line
      assert.match(stderr, /1 worker\(s\); backend tc \(tc; auto: "up0" is a veth device with one worker: /, stderr);
      assert.equal(await ns1.ping('10.78.0.2', { count: 3, timeoutS: 2 }), true, 'ns1 reaches ns2 through the CLI switch');
      const tl = Date.now();
      while (stderr.split('\n').filter((l) => /^\[\d+s\] uplink rx/.test(l)).length < 2 && Date.now() - tl < 10_000)
        await new Promise((r) => setTimeout(r, 200));
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, stderr);
    const rateLines = stderr.split('\n').filter((l) => /^\[\d+s\] uplink rx/.test(l));
    assert.ok(rateLines.length >= 2, `one rate line a second:\n${stderr}`);
    assert.match(stderr, /second: rx/);
    assert.match(stderr, /stopped; \d+ frames received/);
    const final = JSON.parse(stdout) as { ports: Record<string, { txPackets: number }>; backend: { backend: string } };
    assert.equal(final.backend.backend, 'tc');
    assert.ok(final.ports.second!.txPackets >= 3, 'port "second" transmitted the echo requests');
  });
});
