/** Packet I/O: error shapes, option validation, BPF encoding, MAC helpers (no privileges needed). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openError } from '../../src/io/io-error.ts';
import { InvalidArgumentError, MacdemuxSystemError } from '../../src/errors.ts';
import {
  PacketPort,
  TapQueue,
  bpfDstMac,
  bpfEtherType,
  encodeBpf,
  formatMac,
  offloadFlags,
  openSink,
  parseMac,
  parseTcpdumpDd,
  startGenerator,
  PORT_COUNTER_NAMES,
} from '../../src/io/index.ts';

test('EPERM on socket names CAP_NET_RAW, the syscall and the interface', () => {
  const e = openError(-1, 'packet port', { ifname: 'eth9', detail: { step: 'socket' } });
  assert.ok(e instanceof MacdemuxSystemError);
  assert.equal(e.code, 'EPERM');
  assert.equal(e.errno, 1);
  assert.equal(e.syscall, 'socket');
  assert.equal(e.ifname, 'eth9');
  assert.match(e.message, /packet port "eth9": socket failed: EPERM .*CAP_NET_RAW/);
});

test('ENODEV names the interface and the namespace; setns names the namespace', () => {
  const e = openError(-19, 'packet port', { ifname: 'up0', netns: 'nsx', detail: { step: 'if_nametoindex' } });
  assert.equal(e.code, 'ENODEV');
  assert.match(e.message, /"up0": interface lookup in netns "nsx" failed: ENODEV/);
  const s = openError(-2, 'sink', { ifname: 'up0', netns: 'gone', detail: { step: 'setns' } });
  assert.equal(s.code, 'ENOENT');
  assert.match(s.message, /enter netns "gone" failed: ENOENT/);
});

test('option validation names the field before touching the kernel', () => {
  const field = (fn: () => unknown): string => {
    try {
      fn();
    } catch (e) {
      assert.ok(e instanceof InvalidArgumentError, String(e));
      return e.field;
    }
    assert.fail('did not throw');
  };
  assert.equal(field(() => PacketPort.open({ ifname: '' })), 'ifname');
  assert.equal(field(() => PacketPort.open({ ifname: 'averyveryverylongname' })), 'ifname');
  assert.equal(field(() => PacketPort.open({ ifname: 'x', blockSize: 1000 })), 'blockSize');
  assert.equal(field(() => PacketPort.open({ ifname: 'x', vlan: 'strip' as 'reinsert' })), 'vlan');
  assert.equal(field(() => PacketPort.open({ ifname: 'x', rx: false, tx: false })), 'rx/tx');
  assert.equal(field(() => startGenerator({ ifname: 'x', templates: [] })), 'templates');
  assert.equal(field(() => startGenerator({ ifname: 'x', templates: [{ dst: 'zz', src: '02:00:00:00:00:01', size: 60 }] })), 'templates[0].dst');
  assert.equal(
    field(() => startGenerator({ ifname: 'x', templates: [{ dst: '02:00:00:00:00:02', src: '02:00:00:00:00:01', size: 59 }] })),
    'templates[0].size',
  );
  assert.equal(
    field(() => startGenerator({ ifname: 'x', templates: [{ dst: '02:00:00:00:00:02', src: '02:00:00:00:00:01', size: 60, vlan: 4096 }] })),
    'templates[0].vlan',
  );
  assert.equal(field(() => startGenerator({ ifname: 'x', ratePps: -1, templates: [{ dst: '02:00:00:00:00:02', src: '02:00:00:00:00:01', size: 60 }] })), 'ratePps');
  assert.equal(field(() => openSink({ ifname: 'x', cpu: -1 })), 'cpu');
  assert.equal(field(() => TapQueue.open({ ifname: 'x', kind: 'tun' as 'tap' })), 'kind');
  assert.equal(field(() => TapQueue.openQueues({ ifname: 'x' }, 300)), 'queues');
});

test('tcpdump -dd text parses and encodes to 8-byte sock_filter entries', () => {
  const text = `{ 0x28, 0, 0, 0x0000000c },
{ 0x15, 0, 1, 0x00000800 },
{ 0x6, 0, 0, 0x00040000 },
{ 0x6, 0, 0, 0x00000000 },`;
  const insns = parseTcpdumpDd(text);
  assert.deepEqual(insns, bpfEtherType(0x0800));
  const enc = encodeBpf(text);
  assert.equal(enc.length, 32);
  const dv = new DataView(enc.buffer);
  assert.equal(dv.getUint16(0, true), 0x28);
  assert.equal(dv.getUint32(4, true), 12);
  assert.equal(enc[10], 0);
  assert.equal(enc[11], 1);
  assert.throws(() => parseTcpdumpDd('not bpf'), InvalidArgumentError);
  assert.throws(() => encodeBpf([[0x10000, 0, 0, 0]]), /filter\[0\]/);
  assert.equal(bpfDstMac('02:00:00:00:0e:01')[1]!.k, 0x02000000);
});

test('MAC helpers and offload flags', () => {
  assert.equal(formatMac(parseMac('02:AB:00:00:0e:01', 'm')), '02:ab:00:00:0e:01');
  assert.throws(() => parseMac('02:ab:00:00:0e', 'ports[1].mac'), /ports\[1\]\.mac/);
  assert.equal(offloadFlags({ csum: true, tso4: true, tso6: true }), 7);
  assert.equal(offloadFlags(0), 0);
  assert.throws(() => offloadFlags({ tso4: true }), /offloads\.csum/);
  assert.throws(() => offloadFlags({ gso: true } as never), /offloads\.gso/);
});

test('counter names match the native layout', async (t) => {
  const { io } = await import('../../src/io/native-types.ts');
  let names: string[];
  try {
    names = io().ioCounterNames();
  } catch {
    t.skip('native addon not built');
    return;
  }
  assert.deepEqual(names.slice(0, PORT_COUNTER_NAMES.length), [...PORT_COUNTER_NAMES]);
});

test('compileTcpdumpFilter runs tcpdump -dd without an interface', async (t) => {
  const { existsSync } = await import('node:fs');
  if (!['/usr/bin/tcpdump', '/usr/sbin/tcpdump', '/bin/tcpdump', '/sbin/tcpdump'].some((p) => existsSync(p))) {
    t.skip('tcpdump not installed');
    return;
  }
  const { compileTcpdumpFilter } = await import('../../src/io/index.ts');
  const insns = await compileTcpdumpFilter('ether proto 0x88b5');
  assert.deepEqual(insns, bpfEtherType(0x88b5));
  await assert.rejects(compileTcpdumpFilter('not a valid ((( filter'), /tcpdump -dd/);
});
