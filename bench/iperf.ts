/**
 * TCP throughput through a forwarder: iperf3 server in sink 1's namespace, client in the generator
 * namespace, one stream, offloads off (so this is TCP at MTU-sized segments, not GSO super-frames).
 */
import { spawnSync } from 'node:child_process';
import type { Testbed } from './testbed.ts';

export function hasIperf3(): boolean {
  return spawnSync('sh', ['-c', 'command -v iperf3'], { stdio: 'ignore' }).status === 0;
}

/** Gbit/s received by the server, or null with a reason. */
export async function tcpThroughput(tb: Testbed, seconds: number): Promise<{ gbps: number | null; reason?: string }> {
  const sink = tb.sinks[0];
  if (!tb.tcp || !sink?.ip) return { gbps: null, reason: 'no TCP path in this scenario' };
  if (!hasIperf3()) return { gbps: null, reason: 'iperf3 is not installed' };
  const port = '5201';
  const server = sink.ns.spawn('iperf3', ['-s', '-1', '--forceflush', '-B', sink.ip, '-p', port]);
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error('iperf3 server did not start')), 5000);
      server.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        if (/listening/i.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      });
      server.on('exit', () => {
        clearTimeout(timer);
        reject(new Error(`iperf3 server exited: ${out.trim()}`));
      });
    });
    const r = await tb.gen.ns.exec('iperf3', ['-c', sink.ip, '-p', port, '-t', String(seconds), '-J', '--connect-timeout', '3000'], {
      timeoutMs: (seconds + 15) * 1000,
    });
    let json: { end?: { sum_received?: { bits_per_second?: number } }; error?: string };
    try {
      json = JSON.parse(r.stdout) as typeof json;
    } catch {
      return { gbps: null, reason: `iperf3 client failed: ${(r.stderr || r.stdout).trim().slice(0, 200)}` };
    }
    const bps = json.end?.sum_received?.bits_per_second;
    if (typeof bps !== 'number') return { gbps: null, reason: `iperf3: ${json.error ?? 'no result'}` };
    return { gbps: bps / 1e9 };
  } catch (err) {
    return { gbps: null, reason: (err as Error).message };
  } finally {
    if (server.exitCode === null) server.kill('SIGKILL');
  }
}
