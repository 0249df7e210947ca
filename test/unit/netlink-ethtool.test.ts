/** ethtool netlink bitsets (src/netlink/ethtool.ts): the verbose forms the kernel sends, no I/O. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Attrs, MessageBuilder, NLMSG_HDRLEN } from '../../src/netlink/message.ts';
import { ETHTOOL_A_BITSET, ETHTOOL_A_BITSET_BIT, ETHTOOL_A_BITSET_BITS_BIT, decodeBitsetNames } from '../../src/netlink/ethtool.ts';

/** A bitset attribute's content: optional NOMASK, then one BIT per [name, value]. */
function bitset(list: boolean, bits: [string, boolean][]): Attrs {
  const b = new MessageBuilder(0, 0);
  if (list) b.attr(ETHTOOL_A_BITSET.NOMASK, new Uint8Array(0));
  b.u32(ETHTOOL_A_BITSET.SIZE, 64);
  b.nest(ETHTOOL_A_BITSET.BITS, (n) => {
    bits.forEach(([name, on], i) =>
      n.nest(ETHTOOL_A_BITSET_BITS_BIT, (bit) => {
        bit.u32(ETHTOOL_A_BITSET_BIT.INDEX, i);
        bit.string(ETHTOOL_A_BITSET_BIT.NAME, name);
        if (on) bit.attr(ETHTOOL_A_BITSET_BIT.VALUE, new Uint8Array(0));
      }),
    );
  });
  return Attrs.parse(b.finish(1).subarray(NLMSG_HDRLEN));
}

test('list form (NOMASK): every listed bit is set', () => {
  assert.deepEqual([...decodeBitsetNames(bitset(true, [['rx-gro', false], ['tx-checksum-ip-generic', false]]))], ['rx-gro', 'tx-checksum-ip-generic']);
});

test('value/mask form: only bits with ETHTOOL_A_BITSET_BIT_VALUE are set', () => {
  assert.deepEqual([...decodeBitsetNames(bitset(false, [['rx-gro', false], ['tx-generic-segmentation', true]]))], ['tx-generic-segmentation']);
});

test('an empty bitset is an empty set; a compact one is refused (names were asked for)', () => {
  const empty = new MessageBuilder(0, 0).u32(ETHTOOL_A_BITSET.SIZE, 64).attr(ETHTOOL_A_BITSET.NOMASK, new Uint8Array(0));
  assert.equal(decodeBitsetNames(Attrs.parse(empty.finish(1).subarray(NLMSG_HDRLEN))).size, 0);
  const compact = new MessageBuilder(0, 0).u32(ETHTOOL_A_BITSET.SIZE, 32).u32(ETHTOOL_A_BITSET.VALUE, 5);
  assert.throws(() => decodeBitsetNames(Attrs.parse(compact.finish(1).subarray(NLMSG_HDRLEN))), /compact ethtool bitset/);
});
