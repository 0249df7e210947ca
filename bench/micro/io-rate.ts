/**
 * Native generator vs trafgen on the same veth, in the same run (root; lab namespaces):
 *   node --import tsx bench/micro/io-rate.ts [--seconds 3] [--rounds 2] [--json FILE]
 * Tools: native generator (default socket path), native generator with PACKET_QDISC_BYPASS (as
 * trafgen uses by default), trafgen. For each round: TX only (nothing listens on the peer), then TX with the native sink draining a
 * TPACKET_V3 ring on the peer (RX rate = frames the sink counted per second). 60-byte frames,
 * senders pinned to CPU 0, the sink to CPU 1. The machine is shared: compare within a run.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, type Namespace } from '../../src/lab/index.ts';
import { openSink, startGenerator } from '../../src/io/index.ts';

const MAC_A = '02:00:00:00:ee:01';
const MAC_B = '02:00:00:00:ee:02';

interface Row {
  round: number;
  tool: 'native' | 'native-bypass' | 'trafgen';
  rx: boolean;
  txMpps: number;
  rxMpps: number | null;
  kernelDrops: number | null;
}

async function trafgen(ns: Namespace, ifname: string, seconds: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mdx-io-trafgen-'));
  const cfg = join(dir, 't.cfg');
  writeFileSync(cfg, `{ eth(da=${MAC_B}, sa=${MAC_A}, type=0x88b6), fill(0x00, 46) }\n`);
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(
        'ip',
        ['netns', 'exec', ns.name, 'timeout', '-s', 'INT', String(seconds), 'taskset', '-c', '0', 'trafgen', '--no-sock-mem', '-Q', '-C', '--dev', ifname, '--conf', cfg, '-P', '1'],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 || code === 124 || code === 130 ? resolve() : reject(new Error(`trafgen exit ${code}: ${err}`))));
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function measure(seconds: number, rounds: number): Promise<Row[]> {
  const rows: Row[] = [];
  const lab = await Lab.create();
  try {
    const a = await lab.addNamespace('rta');
    const b = await lab.addNamespace('rtb');
    await lab.addVeth({ ns: a, name: 'ra0', mac: MAC_A }, { ns: b, name: 'rb0', mac: MAC_B });
    for (let round = 1; round <= rounds; round++) {
      for (const rx of [false, true]) {
        for (const tool of ['native', 'native-bypass', 'trafgen'] as const) {
          const sink = rx ? openSink({ ifname: 'rb0', netns: b.name, cpu: 1 }) : undefined;
          const before = await a.linkStats('ra0');
          const t0 = process.hrtime.bigint();
          if (tool !== 'trafgen') {
            const g = startGenerator({
              ifname: 'ra0',
              netns: a.name,
              templates: [{ dst: MAC_B, src: MAC_A, size: 60 }],
              durationMs: seconds * 1000,
              cpu: 0,
              qdiscBypass: tool === 'native-bypass',
            });
            await g.done;
          } else {
            await trafgen(a, 'ra0', seconds);
          }
          const s = Number(process.hrtime.bigint() - t0) / 1e9;
          const after = await a.linkStats('ra0');
          await new Promise((r) => setTimeout(r, 50));
          const st = sink ? await sink.close() : undefined;
          const tx = after.txPackets - before.txPackets;
          rows.push({
            round,
            tool,
            rx,
            txMpps: tx / s / 1e6,
            rxMpps: st ? (st.packets + st.other) / s / 1e6 : null,
            kernelDrops: st ? st.kernelDrops : null,
          });
          const r = rows[rows.length - 1]!;
          process.stdout.write(
            `round ${round} ${tool.padEnd(13)} ${rx ? 'TX+RX ring' : 'TX only  '}  tx ${r.txMpps.toFixed(3)} Mpps` +
              (r.rxMpps !== null ? `  rx ${r.rxMpps.toFixed(3)} Mpps  ring drops ${r.kernelDrops}` : '') +
              '\n',
          );
        }
      }
    }
  } finally {
    await lab.destroy();
  }
  return rows;
}

async function main(argv: string[]): Promise<number> {
  let seconds = 3;
  let rounds = 2;
  let json: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--seconds') seconds = Number(argv[++i]);
    else if (argv[i] === '--rounds') rounds = Number(argv[++i]);
    else if (argv[i] === '--json') json = argv[++i];
  }
  const rows = await measure(seconds, rounds);
  if (json) writeFileSync(json, JSON.stringify({ date: new Date().toISOString(), seconds, rows }, null, 2) + '\n');
  return 0;
}

if (process.argv[1]?.endsWith('io-rate.ts')) process.exitCode = await main(process.argv.slice(2));
