/**
 * `macdemux demo` end to end: builds its lab, runs the userspace engine and the Linux bridge with
 * traffic, prints the comparison table, leaves nothing behind; Ctrl-C tears down too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { needsRoot } from '../support.ts';
import { listNamespaces } from '../../src/lab/index.ts';

const bin = fileURLToPath(new URL('../../bin/macdemux.js', import.meta.url));

function runDemo(args: string[], opts: { interruptAfterMs?: number; timeoutMs: number }): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string; pid: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, 'demo', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timers: NodeJS.Timeout[] = [setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs)];
    if (opts.interruptAfterMs) {
      // Interrupt once the engine phase is running (its live view is printing).
      const poll = setInterval(() => {
        if (/macdemux \(userspace engine\)|Linux bridge \(kernel\)/.test(stderr)) {
          clearInterval(poll);
          timers.push(setTimeout(() => child.kill('SIGINT'), opts.interruptAfterMs));
        }
      }, 100);
      timers.push(poll);
    }
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      timers.forEach((t) => clearTimeout(t));
      resolve({ code, signal, stdout, stderr, pid: child.pid! });
    });
  });
}

const leftovers = (pid: number): string[] => listNamespaces().filter((n) => n.startsWith(`mdx-${pid}-`));

test('demo --seconds 2 prints the comparison table and tears down', { skip: needsRoot, timeout: 90_000 }, async () => {
  const r = await runDemo(['--seconds', '2'], { timeoutMs: 80_000 });
  assert.equal(r.code, 0, `exit code; stderr:\n${r.stderr.slice(-2000)}`);
  assert.match(r.stdout, /\| forwarder \| offered Mpps \| forwarded Mpps \| loss \| CPU ns\/pkt \(all cores\) \| per port Mpps \|/);
  const row = (name: string): string[] | undefined =>
    r.stdout.split('\n').find((l) => l.startsWith(`| ${name} |`))?.split('|').map((c) => c.trim());
  const bridge = row('linux-bridge');
  assert.ok(bridge, 'linux-bridge row');
  assert.ok(Number(bridge[3]) > 0, `bridge forwarded ${bridge[3]}`);
  assert.equal(bridge[6]!.split(' / ').length, 3, 'three endpoints by default');
  const engine = row('macdemux');
  assert.ok(engine, 'macdemux row');
  if (!/skipped/.test(engine[2]!)) {
    assert.ok(Number(engine[3]) > 0, `macdemux forwarded ${engine[3]}`);
    assert.match(r.stdout, /macdemux forwarded \d+\.\d\dx the Linux bridge/);
    assert.match(r.stdout, /note: macdemux backend: tc \(auto: "[^"]+" is a veth device with one worker/, 'the demo runs the default backend, tc on its veth uplink');
  }
  // Live view lines (not a TTY: one line a second) for both forwarders.
  assert.match(r.stderr, /\[Linux bridge \(kernel\) \d+s\] offered .* fwd .* \| p1 /);
  assert.deepEqual(leftovers(r.pid), []);
});

test('demo --json reports both phases; Ctrl-C stops traffic and tears the lab down', { skip: needsRoot, timeout: 90_000 }, async () => {
  const r = await runDemo(['--seconds', '30', '--ports', '2', '--json'], { interruptAfterMs: 800, timeoutMs: 80_000 });
  assert.equal(r.code, 130, `exit code after SIGINT; stderr:\n${r.stderr.slice(-2000)}`);
  const result = JSON.parse(r.stdout) as { ports: number; phases: Array<{ forwarder: string; status: string }>; notes: string[] };
  assert.equal(result.ports, 2);
  assert.ok(result.notes.some((n) => /interrupted/.test(n)));
  assert.match(r.stderr, /interrupted: stopping traffic and tearing the lab down/);
  assert.deepEqual(leftovers(r.pid), []);
});
