/**
 * VM TCP throughput, one guest, one boot, three NICs side by side: Linux bridge + tap, kernel
 * macvtap (fds from macdemux's character device), and the macdemux VM port on the userspace switch.
 * The guest (test/support/vm) sends and receives BYTES over one TCP connection per direction with
 * QEMU's default offloads; the peer times each transfer (accept to last byte). Under TCG absolute
 * numbers are low; compare the ratios.
 *
 *   node --import tsx bench/vm-tcp.ts [--bytes N] [--json FILE]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withLab } from '../src/lab/index.ts';
import { makeMacvtapNode } from '../src/devices/macvtap-node.ts';
import { runGuest, type GuestNic } from '../test/support/vm/guest.ts';
import { PeerServer } from '../test/support/vm/peer.ts';
import { JUMBO, bridgePath, macvtapNic, peerVeth, vmLab, vmPortPath } from '../test/support/vm/paths.ts';

interface Row {
  path: string;
  /** MB/s (10^6 bytes), guest <- peer and guest -> peer; undefined when the transfer failed. */
  download?: number;
  upload?: number;
  detail: string;
}

const argv = process.argv.slice(2);
const arg = (k: string): string | undefined => {
  const i = argv.indexOf(k);
  return i >= 0 ? argv[i + 1] : undefined;
};
const BYTES = Number(arg('--bytes') ?? 64 * 1024 * 1024);
const PORT = 5002;
process.env.MACDEMUX_LOG_LEVEL ??= 'warn';

const dir = mkdtempSync(join(tmpdir(), 'mdx-vmbench-'));
const rows: Row[] = [];
let accel = '';
try {
  await withLab(async (lab) => {
    const l = await vmLab(lab);
    const bench = (n: GuestNic): GuestNic => ({ ...n, checks: 'b' });
    const bridge = bench(await bridgePath(lab, l, { queues: 1, ifname: 'eth0' }));
    const up = await peerVeth(lab, l, 12);
    await l.hv.ip(['link', 'add', 'link', up, 'name', 'mvt12', 'address', '52:54:00:00:12:02', 'mtu', String(JUMBO), 'type', 'macvtap', 'mode', 'bridge']);
    await l.hv.ip(['link', 'set', 'dev', 'mvt12', 'up']);
    const node = await makeMacvtapNode({ ifname: 'mvt12', netns: l.hv.name, dir });
    const macvtap = bench(await macvtapNic(l, { queues: 1, ifname: 'eth1', node: node.path }));
    const { nic, sw } = await vmPortPath(lab, l, { queues: 1, ifname: 'eth2', user: { uid: 0, gid: 0 }, extra: ['--teardown-on-exit', '--state-dir', join(dir, 'switch-state')] });
    const vmport = bench(nic);
    const peer = await PeerServer.start(l.peer, PORT);
    const nics: [string, GuestNic][] = [['Linux bridge + tap', bridge], ['kernel macvtap', macvtap], ['macdemux VM port', vmport]];
    const r = await runGuest({ ns: l.hv, nics: nics.map(([, n]) => n), port: PORT, bytes: BYTES, timeoutMs: 600_000 });
    peer.stop();
    await sw.stop();
    accel = r.accel;
    if (!r.done) console.error(`guest did not finish (${r.totalMs} ms):\n${r.console.split('\n').slice(-30).join('\n')}`);
    for (const [name, n] of nics) {
      const mark = r.markers.find((m) => m.ifname === n.ifname && m.check === 'bench');
      const rate = (op: 'get' | 'put'): number | undefined => {
        const t = peer.find(op, n.peer4).find((x) => x.bytes === BYTES && !x.error);
        return t ? BYTES / 1e6 / (t.ms / 1000) : undefined;
      };
      const download = rate('get');
      const upload = rate('put');
      rows.push({ path: name, ...(download !== undefined ? { download } : {}), ...(upload !== undefined ? { upload } : {}), detail: mark ? `${mark.ok ? 'ok' : 'fail'} ${mark.detail}` : 'no marker' });
    }
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const base = rows[0]!;
const fmt = (v?: number): string => (v === undefined ? 'failed' : v.toFixed(1));
const ratio = (v?: number, b?: number): string => (v === undefined || b === undefined ? '-' : `${(v / b).toFixed(2)}x`);
console.log(`VM TCP, ${BYTES} bytes per direction, one connection, QEMU virtio-net (vnet_hdr on, vhost=off), ${accel.toUpperCase()}`);
console.log('| path | guest -> peer MB/s | ratio | peer -> guest MB/s | ratio | guest |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.path} | ${fmt(r.upload)} | ${ratio(r.upload, base.upload)} | ${fmt(r.download)} | ${ratio(r.download, base.download)} | ${r.detail} |`);
const json = arg('--json');
if (json) writeFileSync(json, JSON.stringify({ bytes: BYTES, accel, rows }, null, 2));
