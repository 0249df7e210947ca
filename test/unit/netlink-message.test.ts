import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  Attrs,
  MessageBuilder,
  encodeIfInfoMsg,
  parseMessages,
  decodeIfInfoMsg,
  encodeIfAddrMsg,
  decodeIfAddrMsg,
  encodeRtMsg,
  decodeRtMsg,
  writeU16,
  writeU32,
  writeS32,
} from '../../src/netlink/message.ts';
import { decodeDonePayload, decodeErrorPayload } from '../../src/netlink/ack.ts';
import { ackError } from '../../src/netlink/socket.ts';
import { IFLA, IFLA_INFO, IFLA_MACVLAN, NLA_F_NESTED, NLM_F, NLMSG, NLMSGERR_ATTR, RTM } from '../../src/netlink/constants.ts';
import { decodeLink } from '../../src/devices/link-info.ts';

/** The macvlan create recipe of kernel-macvlan.md 2.5, byte for byte (little-endian host). */
test('MessageBuilder encodes a macvlan create request like iproute2', () => {
  const b = new MessageBuilder(RTM.NEWLINK, NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL)
    .raw(encodeIfInfoMsg({}))
    .string(IFLA.IFNAME, 'mv0')
    .u32(IFLA.LINK, 7)
    .attr(IFLA.ADDRESS, Buffer.from('020000000001', 'hex'))
    .nest(IFLA.LINKINFO, (li) =>
      li.string(IFLA_INFO.KIND, 'macvlan').nest(IFLA_INFO.DATA, (d) => d.u32(IFLA_MACVLAN.MODE, 4).u16(IFLA_MACVLAN.FLAGS, 1)),
    );
  const msg = b.finish(42);
  const expected = [
    '60000000', '1000', '0506', '2a000000', '00000000', // nlmsghdr: len 96, type 16, flags 0x605, seq 42
    '00000000000000000000000000000000', // ifinfomsg
    '0800', '0300', '6d763000', // IFLA_IFNAME "mv0\0"
    '0800', '0500', '07000000', // IFLA_LINK 7
    '0a00', '0100', '020000000001', '0000', // IFLA_ADDRESS, padded
    '2400', '1280', // IFLA_LINKINFO | NESTED, len 36
    '0c00', '0100', '6d6163766c616e00', // INFO_KIND "macvlan\0"
    '1400', '0280', // INFO_DATA | NESTED, len 20
    '0800', '0100', '04000000', // MODE bridge
    '0600', '0200', '0100', '0000', // FLAGS nopromisc, padded
  ].join('');
  assert.equal(msg.toString('hex'), expected);
  assert.equal(msg.length, 96);
});

test('MessageBuilder grows past its initial buffer and refuses unbalanced nests', () => {
  const b = new MessageBuilder(RTM.NEWLINK, 0).raw(encodeIfInfoMsg({}));
  b.begin(IFLA.LINKINFO);
  for (let i = 0; i < 200; i++) b.u32(100 + (i % 10), i);
  assert.throws(() => b.finish(1), /open nested/);
  b.end();
  const msg = b.finish(1);
  assert.equal(msg.readUInt32LE(0), msg.length);
  const [m] = parseMessages(msg);
  const li = Attrs.parse(m.payload, 16).nested(IFLA.LINKINFO);
  assert.ok(li);
  assert.equal(li.list.length, 200);
  assert.equal(li.list[199].data.readUInt32LE(0), 199);
  assert.throws(() => new MessageBuilder(1, 0).end(), /without begin/);
});

test('parseMessages splits a multi-message datagram and stops at truncation', () => {
  const a = new MessageBuilder(RTM.NEWLINK, NLM_F.MULTI).raw(encodeIfInfoMsg({ index: 3, flags: 0x1003 })).string(IFLA.IFNAME, 'a').finish(5);
  const b = new MessageBuilder(NLMSG.DONE, NLM_F.MULTI).raw(Buffer.alloc(4)).finish(5);
  const msgs = parseMessages(Buffer.concat([a, b]));
  assert.deepEqual(msgs.map((m) => [m.type, m.seq, m.flags]), [[RTM.NEWLINK, 5, NLM_F.MULTI], [NLMSG.DONE, 5, NLM_F.MULTI]]);
  assert.equal(decodeIfInfoMsg(msgs[0].payload).index, 3);
  // A datagram cut in the middle of the second message yields only the first.
  assert.equal(parseMessages(Buffer.concat([a, b]).subarray(0, a.length + 10)).length, 1);
  // A header claiming a length below 16 stops parsing instead of looping.
  const bad = Buffer.alloc(32);
  writeU32(bad, 0, 4);
  assert.equal(parseMessages(bad).length, 0);
});

test('Attrs getters: nested flag, strings, integers, missing attributes', () => {
  const msg = new MessageBuilder(1, 0)
    .string(3, 'eth0')
    .u8(16, 6)
    .u16(2, 0xbeef)
    .s32(9, -1)
    .nest(18, (n) => n.string(1, 'veth'))
    .finish(1);
  const a = Attrs.parse(parseMessages(msg)[0].payload);
  assert.equal(a.str(3), 'eth0');
  assert.equal(a.u8(16), 6);
  assert.equal(a.u16(2), 0xbeef);
  assert.equal(a.s32(9), -1);
  assert.equal(a.u32(77), undefined);
  assert.equal(a.list.find((x) => x.type === 18)?.nested, true);
  assert.equal(a.nested(18)?.str(1), 'veth');
  // On the wire the nest's nla_type (at 12 + 8 + 8 + 8 + 2) carries NLA_F_NESTED; parsed, it is masked off.
  assert.equal(parseMessages(msg)[0].payload.readUInt16LE(38), 18 | NLA_F_NESTED);
  assert.equal(a.list[4].type, 18);
});

test('fixed headers round-trip: ifaddrmsg, rtmsg', () => {
  const ia = { family: 10, prefixLen: 64, flags: 2, scope: 253, index: 9 };
  assert.deepEqual(decodeIfAddrMsg(encodeIfAddrMsg(ia)), ia);
  const rt = { family: 2, dstLen: 24, srcLen: 0, tos: 0, table: 254, protocol: 3, scope: 253, type: 1, flags: 0 };
  assert.deepEqual(decodeRtMsg(encodeRtMsg(rt)), rt);
  assert.throws(() => decodeIfInfoMsg(Buffer.alloc(8)), RangeError);
});

/** Build an NLMSG_ERROR payload as the kernel does. */
function errorPayload(errno: number, request: Buffer, opts: { capped: boolean; tlvs?: Buffer }): { payload: Buffer; flags: number } {
  const echoed = opts.capped ? request.subarray(0, 16) : request;
  const head = Buffer.alloc(4);
  writeS32(head, 0, errno);
  let payload = Buffer.concat([head, echoed]);
  let flags = opts.capped ? NLM_F.CAPPED : 0;
  if (opts.tlvs) {
    const pad = Buffer.alloc((4 - (payload.length % 4)) % 4);
    payload = Buffer.concat([payload, pad, opts.tlvs]);
    flags |= NLM_F.ACK_TLVS;
  }
  return { payload, flags };
}

function tlv(type: number, data: Buffer): Buffer {
  const h = Buffer.alloc(4);
  writeU16(h, 0, 4 + data.length);
  writeU16(h, 2, type);
  const pad = Buffer.alloc((4 - (data.length % 4)) % 4);
  return Buffer.concat([h, data, pad]);
}

test('extended ack: error text and offset after a full (uncapped) echo of an odd-length request', () => {
  const req = new MessageBuilder(RTM.NEWLINK, 0x605).raw(encodeIfInfoMsg({})).string(IFLA.IFNAME, 'br9').u32(IFLA.NUM_TX_QUEUES, 5000).finish(77);
  const tlvs = Buffer.concat([
    tlv(NLMSGERR_ATTR.MSG, Buffer.from('Invalid number of transmit queues\0')),
    tlv(NLMSGERR_ATTR.OFFS, Buffer.from([40, 0, 0, 0])),
  ]);
  const { payload, flags } = errorPayload(-22, req, { capped: false, tlvs });
  const ack = decodeErrorPayload(payload, flags);
  assert.equal(ack.error, -22);
  assert.equal(ack.seq, 77);
  assert.equal(ack.message, 'Invalid number of transmit queues');
  assert.equal(ack.offset, 40);
  const err = ackError(ack, 'RTM_NEWLINK', { what: 'bridge', ifname: 'br9', op: 'create' });
  assert.equal(err.code, 'EINVAL');
  assert.equal(err.errno, 22);
  assert.equal(err.syscall, 'RTM_NEWLINK');
  assert.equal(err.ifname, 'br9');
  assert.equal(err.kernelMessage, 'Invalid number of transmit queues');
  assert.match(err.message, /^bridge "br9": create failed: EINVAL \(.*\): Invalid number of transmit queues$/);
});

test('positive ACK (capped) with a warning; EPERM names CAP_NET_ADMIN', () => {
  const req = new MessageBuilder(RTM.NEWLINK, 0x605).raw(encodeIfInfoMsg({})).string(IFLA.IFNAME, 'mv1').finish(3);
  const ok = errorPayload(0, req, { capped: true, tlvs: tlv(NLMSGERR_ATTR.MSG, Buffer.from('just a warning\0')) });
  assert.deepEqual(decodeErrorPayload(ok.payload, ok.flags), { error: 0, seq: 3, message: 'just a warning' });
  const plain = errorPayload(0, req, { capped: true });
  assert.deepEqual(decodeErrorPayload(plain.payload, plain.flags), { error: 0, seq: 3 });
  const perm = errorPayload(-1, req, { capped: false });
  const err = ackError(decodeErrorPayload(perm.payload, perm.flags), 'RTM_NEWLINK', { what: 'macvlan', ifname: 'mv1', op: 'create' });
  assert.equal(err.code, 'EPERM');
  assert.match(err.message, /^macvlan "mv1": create failed: EPERM .*CAP_NET_ADMIN/);
});

test('NLMSG_DONE payload: status and TLVs; truncated error payloads do not throw', () => {
  const st = Buffer.alloc(4);
  writeS32(st, 0, -4);
  assert.deepEqual(decodeDonePayload(Buffer.concat([st, tlv(NLMSGERR_ATTR.MSG, Buffer.from('dump interrupted\0'))]), NLM_F.ACK_TLVS), {
    error: -4,
    message: 'dump interrupted',
  });
  assert.equal(decodeDonePayload(Buffer.alloc(0), 0).error, 0);
  assert.equal(decodeErrorPayload(Buffer.alloc(2), 0).error, -71);
});

test('decodeLink: a macvlan in source mode with nodst and an allow-list', () => {
  const m = new MessageBuilder(RTM.NEWLINK, 0)
    .raw(encodeIfInfoMsg({ index: 12, flags: 0x1043 | 0x10000 }))
    .string(IFLA.IFNAME, 'mv7')
    .u32(IFLA.MTU, 1400)
    .u32(IFLA.LINK, 4)
    .attr(IFLA.ADDRESS, Buffer.from('02aabbccddee', 'hex'))
    .u8(IFLA.OPERSTATE, 6)
    .u32(IFLA.PROMISCUITY, 0)
    .s32(IFLA.LINK_NETNSID, 3)
    .nest(IFLA.LINKINFO, (li) =>
      li.string(IFLA_INFO.KIND, 'macvlan').nest(IFLA_INFO.DATA, (d) =>
        d
          .u32(IFLA_MACVLAN.MODE, 16)
          .u16(IFLA_MACVLAN.FLAGS, 2)
          .u32(IFLA_MACVLAN.MACADDR_COUNT, 2)
          .nest(IFLA_MACVLAN.MACADDR_DATA, (l) =>
            l.attr(IFLA_MACVLAN.MACADDR, Buffer.from('020000000001', 'hex')).attr(IFLA_MACVLAN.MACADDR, Buffer.from('020000000002', 'hex')),
          )
          .u32(IFLA_MACVLAN.BC_QUEUE_LEN, 1000)
          .u32(IFLA_MACVLAN.BC_QUEUE_LEN_USED, 2000),
      ),
    )
    .finish(1);
  const l = decodeLink(parseMessages(m)[0]);
  assert.equal(l.name, 'mv7');
  assert.equal(l.ifindex, 12);
  assert.equal(l.kind, 'macvlan');
  assert.equal(l.mac, '02:aa:bb:cc:dd:ee');
  assert.equal(l.mtu, 1400);
  assert.equal(l.operstate, 'UP');
  assert.equal(l.up, true);
  assert.equal(l.lowerUp, true);
  assert.deepEqual(l.flags, ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP']);
  assert.equal(l.parentIndex, 4);
  assert.equal(l.netnsId, 3);
  assert.deepEqual(l.macvlan, {
    mode: 'source',
    nopromisc: false,
    nodst: true,
    flags: 2,
    sourceMacs: ['02:00:00:00:00:01', '02:00:00:00:00:02'],
    macaddrCount: 2,
    bcQueueLen: 1000,
    bcQueueLenUsed: 2000,
  });
});

test('fuzz: random datagrams never make the parsers throw or read out of bounds', () => {
  for (let i = 0; i < 3000; i++) {
    const buf = randomBytes(1 + (i % 200));
    if (i % 3 === 0 && buf.length >= 4) writeU32(buf, 0, Math.min(buf.length, 16 + (i % 64)));
    for (const m of parseMessages(buf)) {
      assert.ok(m.payload.length <= buf.length);
      const a = Attrs.parse(m.payload);
      for (const x of a.list) assert.ok(x.data.length <= m.payload.length);
      decodeErrorPayload(m.payload, m.flags);
      decodeDonePayload(m.payload, m.flags);
      if (m.payload.length >= 16) decodeLink(m);
    }
  }
});
