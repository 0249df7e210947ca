/**
 * The reference dispatcher against hand-derived cases from drivers/net/macvlan.c (kernel 6.18):
 * macvlan_handle_frame, macvlan_multicast_rx, macvlan_queue_xmit, macvlan_forward_source.
 * The differential test ties the C++ engine to this oracle; this file ties the oracle to the kernel.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PortTable, type TableEntry } from '../../src/dataplane/port-table.ts';
import { decide, UPLINK } from '../../src/dataplane/decide.ts';
import { DropReason } from '../../src/dataplane/drop-reasons.ts';
import { parseMac, writeMac } from '../../src/dataplane/mac.ts';
import { validatePortSpec } from '../../src/dataplane/port-spec.ts';

const M = (s: string) => parseMac(s, 'mac');
const A = M('02:00:00:00:00:0a'); // slot 1
const B = M('02:00:00:00:00:0b'); // slot 2
const C = M('02:00:00:00:00:0c'); // slot 3
const S = M('02:00:00:00:00:05'); // source port, slot 4
const X = M('02:00:00:00:00:99'); // external host
const BC = 0xffffffffffff;
const MC = M('01:00:5e:00:00:01');

function frame(dst: number, src: number, opts: { ethertype?: number; vlan?: number; len?: number } = {}): Uint8Array {
  const tagged = opts.vlan !== undefined;
  const f = new Uint8Array(opts.len ?? 64);
  writeMac(f, 0, dst);
  writeMac(f, 6, src);
  const et = opts.ethertype ?? 0x0800;
  if (tagged) {
    f[12] = 0x81;
    f[13] = 0x00;
    f[14] = (opts.vlan! >> 8) & 0x0f;
    f[15] = opts.vlan! & 0xff;
    f[16] = et >> 8;
    f[17] = et & 0xff;
  } else {
    f[12] = et >> 8;
    f[13] = et & 0xff;
  }
  return f;
}

function table(modes: [string, string, string], extra: TableEntry[] = []): PortTable {
  return new PortTable([
    { slot: 1, mac: A, vlan: 0, mode: modes[0] as TableEntry['mode'] },
    { slot: 2, mac: B, vlan: 0, mode: modes[1] as TableEntry['mode'] },
    { slot: 3, mac: C, vlan: 0, mode: modes[2] as TableEntry['mode'] },
    ...extra,
  ]);
}

const sorted = (a: number[]) => [...a].sort((x, y) => x - y);

test('uplink unicast goes to the port owning the destination MAC, in every non-source mode', () => {
  for (const mode of ['private', 'vepa', 'bridge']) {
    const t = table([mode, mode, mode]);
    assert.deepEqual(decide(t, frame(B, X), UPLINK).egress, [2]);
  }
});

test('uplink unicast to an unknown MAC is dropped and counted (macvlan does not flood)', () => {
  const d = decide(table(['bridge', 'bridge', 'bridge']), frame(X, A), UPLINK);
  assert.deepEqual(d.egress, []);
  assert.equal(d.reason, DropReason.unknownUnicast);
});

test('private unicast reflected by a hairpin is delivered (no mode check on the unicast path)', () => {
  const d = decide(table(['private', 'private', 'private']), frame(B, A), UPLINK);
  assert.deepEqual(d.egress, [2]);
});

test('external broadcast reaches all non-source ports', () => {
  const t = table(['private', 'vepa', 'bridge'], [{ slot: 4, mac: S, vlan: 0, mode: 'source', sourceMacs: [] }]);
  assert.deepEqual(sorted(decide(t, frame(BC, X), UPLINK).egress), [1, 2, 3]);
});

test('reflected broadcast of a private port goes back to it only', () => {
  assert.deepEqual(decide(table(['private', 'vepa', 'bridge']), frame(BC, A), UPLINK).egress, [1]);
});

test('reflected broadcast of a vepa port reaches vepa and bridge ports, not its sender, not private', () => {
  const t = table(['vepa', 'vepa', 'bridge'], [{ slot: 5, mac: M('02:00:00:00:00:0e'), vlan: 0, mode: 'private' }]);
  assert.deepEqual(sorted(decide(t, frame(BC, A), UPLINK).egress), [2, 3]);
});

test('reflected broadcast of a bridge port reaches vepa ports only', () => {
  const t = table(['bridge', 'vepa', 'bridge']);
  assert.deepEqual(decide(t, frame(BC, A), UPLINK).egress, [2]);
});

test('bridge port transmit: unicast to a bridge port stays local, to others goes to the uplink', () => {
  const t = table(['bridge', 'bridge', 'vepa']);
  assert.deepEqual(decide(t, frame(B, A), 1), { reason: 0, egress: [2], uplink: false, uplinkVlan: 0 });
  const toVepa = decide(t, frame(C, A), 1);
  assert.deepEqual([toVepa.egress, toVepa.uplink], [[], true]);
  const toUnknown = decide(t, frame(X, A), 1);
  assert.deepEqual([toUnknown.egress, toUnknown.uplink], [[], true]);
});

test('bridge port broadcast: other bridge ports and the uplink, never the sender', () => {
  const t = table(['bridge', 'bridge', 'vepa']);
  const d = decide(t, frame(BC, A), 1);
  assert.deepEqual([d.egress, d.uplink], [[2], true]);
});

test('private and vepa transmit always goes to the uplink only', () => {
  for (const mode of ['private', 'vepa']) {
    const t = table([mode, 'bridge', 'bridge']);
    for (const dst of [B, BC, X]) {
      const d = decide(t, frame(dst, A), 1);
      assert.deepEqual([d.egress, d.uplink], [[], true], `${mode} -> ${dst}`);
    }
  }
});

test('pause frames are never flooded', () => {
  const pauseDst = M('01:80:c2:00:00:01');
  const t = table(['bridge', 'bridge', 'vepa']);
  assert.equal(decide(t, frame(pauseDst, X, { ethertype: 0x8808 }), UPLINK).reason, DropReason.pause);
  const d = decide(t, frame(pauseDst, A, { ethertype: 0x8808 }), 1);
  assert.deepEqual([d.egress, d.uplink], [[], true]);
});

test('source mode: copies by source MAC in addition to normal delivery; nodst consumes', () => {
  const src: TableEntry = { slot: 4, mac: S, vlan: 0, mode: 'source', sourceMacs: [X] };
  const t = table(['bridge', 'bridge', 'vepa'], [src]);
  assert.deepEqual(sorted(decide(t, frame(B, X), UPLINK).egress), [2, 4]);
  assert.deepEqual(sorted(decide(t, frame(BC, X), UPLINK).egress), [1, 2, 3, 4]);
  // never chosen by destination lookup
  assert.equal(decide(t, frame(S, M('02:00:00:00:00:77')), UPLINK).reason, DropReason.unknownUnicast);
  const tn = table(['bridge', 'bridge', 'vepa'], [{ ...src, nodst: true }]);
  assert.deepEqual(decide(tn, frame(B, X), UPLINK).egress, [4]);
  assert.deepEqual(decide(tn, frame(BC, X), UPLINK).egress, [4]);
});

test('source-mode clones also apply to bridge-local unicast (dev_forward_skb re-enters the rx handler)', () => {
  const t = table(['bridge', 'bridge', 'vepa'], [{ slot: 4, mac: S, vlan: 0, mode: 'source', sourceMacs: [A] }]);
  assert.deepEqual(sorted(decide(t, frame(B, A), 1).egress), [2, 4]);
});

test('passthru takes every unicast frame of its VLAN and is the only port there', () => {
  const t = new PortTable([{ slot: 7, mac: A, vlan: 0, mode: 'passthru' }]);
  assert.deepEqual(decide(t, frame(X, B), UPLINK).egress, [7]);
  assert.deepEqual(decide(t, frame(BC, B), UPLINK).egress, [7]);
  assert.throws(() => new PortTable([{ slot: 7, mac: A, vlan: 0, mode: 'passthru' }, { slot: 8, mac: B, vlan: 0, mode: 'bridge' }]));
});

test('VLANs: tagged frames reach only ports of that VLAN, untagged only untagged ports; port transmit is tagged', () => {
  const t = new PortTable([
    { slot: 1, mac: A, vlan: 0, mode: 'bridge' },
    { slot: 2, mac: A, vlan: 10, mode: 'bridge' },
    { slot: 3, mac: B, vlan: 10, mode: 'bridge' },
  ]);
  assert.deepEqual(decide(t, frame(A, X, { vlan: 10 }), UPLINK).egress, [2]);
  assert.deepEqual(decide(t, frame(A, X), UPLINK).egress, [1]);
  assert.deepEqual(sorted(decide(t, frame(BC, X, { vlan: 10 }), UPLINK).egress), [2, 3]);
  assert.equal(decide(t, frame(BC, X, { vlan: 20 }), UPLINK).reason, DropReason.unknownVlan);
  assert.deepEqual(decide(t, frame(A, X), UPLINK, 10).egress, [2]); // tag in metadata
  const d = decide(t, frame(X, B), 3);
  assert.deepEqual([d.uplink, d.uplinkVlan], [true, 10]);
  assert.deepEqual(decide(t, frame(A, B), 3).egress, [2]); // bridge-local within VLAN 10
});

test('declared multicast groups filter multicast but not broadcast', () => {
  const t = new PortTable([
    { slot: 1, mac: A, vlan: 0, mode: 'bridge', multicastGroups: [MC] },
    { slot: 2, mac: B, vlan: 0, mode: 'bridge', multicastGroups: [] },
    { slot: 3, mac: C, vlan: 0, mode: 'bridge' },
  ]);
  assert.deepEqual(sorted(decide(t, frame(MC, X), UPLINK).egress), [1, 3]);
  assert.deepEqual(sorted(decide(t, frame(M('01:00:5e:00:00:02'), X), UPLINK).egress), [3]);
  assert.deepEqual(sorted(decide(t, frame(BC, X), UPLINK).egress), [1, 2, 3]);
});

test('runts, oversized and malformed frames are dropped with their reason', () => {
  const t = table(['bridge', 'bridge', 'bridge']);
  assert.equal(decide(t, new Uint8Array(13), UPLINK).reason, DropReason.runt);
  assert.equal(decide(t, frame(A, X, { len: 1515 }), UPLINK).reason, DropReason.oversized);
  assert.equal(decide(t, frame(A, X, { vlan: 4095 }), UPLINK).reason, DropReason.malformed);
  assert.equal(decide(t, frame(A, M('03:00:00:00:00:01')), UPLINK).reason, DropReason.malformed);
  assert.equal(decide(t, frame(A, X), 42).reason, DropReason.ingressGone);
});

test('PortSpec validation names the field', () => {
  assert.throws(() => validatePortSpec({ name: 'p', mac: 'zz', backend: { kind: 'js', onFrames() {} } }), /for port.mac/);
  assert.throws(() => validatePortSpec({ name: 'p', mac: '01:00:00:00:00:01', backend: { kind: 'js', onFrames() {} } }), /unicast/);
  assert.throws(() => validatePortSpec({ name: 'p', mac: '02:00:00:00:00:01', mode: 'hub', backend: { kind: 'js', onFrames() {} } }), /port.mode/);
  assert.throws(() => validatePortSpec({ name: 'p', mac: '02:00:00:00:00:01', vlan: 4095, backend: { kind: 'js', onFrames() {} } }), /port.vlan/);
  assert.throws(() => validatePortSpec({ name: 'p', mac: '02:00:00:00:00:01', backend: { kind: 'packet', ifname: 'x'.repeat(16) } }), /backend.ifname/);
  const v = validatePortSpec({ name: 'p', mac: '02:00:00:00:00:01', mode: 'source', sourceMacs: ['02:00:00:00:00:02'], backend: { kind: 'packet', ifname: 'veth0' } });
  assert.deepEqual([v.mode, v.sourceMacs], ['source', [M('02:00:00:00:00:02')]]);
});
