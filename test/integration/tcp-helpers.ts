/** Real TCP stacks across a switch: iperf3 runs, a sha256-checked transfer, TCP checksum errors. */
import assert from 'node:assert/strict';
import type { Namespace } from '../../src/lab/index.ts';

/** TcpInCsumErrors from /proc/net/snmp as seen inside ns. */
export async function tcpCsumErrors(ns: Namespace): Promise<number> {
  const lines = (await ns.run('cat', ['/proc/net/snmp'])).split('\n').filter((l) => l.startsWith('Tcp:'));
  const names = lines[0]!.trim().split(/\s+/);
  const values = lines[1]!.trim().split(/\s+/);
  const i = names.indexOf('InCsumErrors');
  assert.ok(i > 0, 'TcpInCsumErrors in /proc/net/snmp');
  return Number(values[i]);
}

export async function iperf(client: Namespace, server: Namespace, ip: string, streams: number, bytes: number): Promise<void> {
  const srv = server.spawn('iperf3', ['-s', '-1', '-B', ip]);
  try {
    await new Promise((r) => setTimeout(r, 400));
    const out = await client.run('iperf3', ['-c', ip, '-P', String(streams), '-n', String(bytes), '-J'], { timeoutMs: 90_000 });
    const res = JSON.parse(out) as { end: { sum_sent: { bytes: number }; sum_received: { bytes: number } } };
    assert.ok(res.end.sum_sent.bytes >= bytes, `iperf3 -P ${streams}: sent ${res.end.sum_sent.bytes} bytes`);
    assert.ok(res.end.sum_received.bytes > 0, `iperf3 -P ${streams}: received ${res.end.sum_received.bytes} bytes`);
  } finally {
    srv.kill();
  }
}

/** Send `bytes` random bytes over TCP from client to server; both sides hash what they saw. */
export async function hashedTransfer(client: Namespace, server: Namespace, ip: string, bytes: number): Promise<void> {
  const recvScript =
    "const n=require('net'),c=require('crypto');const h=c.createHash('sha256');let b=0;" +
    "const s=n.createServer(k=>{k.on('data',d=>{h.update(d);b+=d.length});k.on('end',()=>{process.stdout.write(h.digest('hex')+' '+b);s.close()})});" +
    `s.listen(5299,'${ip}',()=>process.stderr.write('ready'))`;
  const recv = server.spawn('node', ['-e', recvScript]);
  let got = '';
  recv.stdout!.on('data', (d: Buffer) => (got += d.toString()));
  await new Promise<void>((resolve) => recv.stderr!.once('data', () => resolve()));
  const sendScript =
    `const n=require('net'),c=require('crypto');const b=c.randomBytes(${bytes});` +
    "const k=n.connect(5299,'" + ip + "',()=>{k.end(b,()=>process.stdout.write(c.createHash('sha256').update(b).digest('hex')+' '+b.length))})";
  const sent = await client.exec('node', ['-e', sendScript], { timeoutMs: 90_000 });
  assert.equal(sent.code, 0, sent.stderr);
  await new Promise<void>((resolve) => (recv.exitCode !== null ? resolve() : recv.once('exit', () => resolve())));
  assert.equal(got, sent.stdout.trim(), 'receiver hash and length = sender hash and length');
  assert.ok(got.endsWith(` ${bytes}`), `received ${got}`);
}
