/**
 * The 'auto' backend rule (src/dataplane/backend.ts) with injected facts: xdp on a NIC, tc on a
 * virtual uplink with one worker where tcx links can be made, packet otherwise, each with a reason
 * that says why; and which start failures under 'auto' fall back to the rings.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseBackend, DEFAULT_BACKEND, fallbackAfter } from '../../src/dataplane/backend.ts';
import { MacdemuxSystemError } from '../../src/errors.ts';

test('auto is the default backend', () => {
  assert.equal(DEFAULT_BACKEND, 'auto');
});

test('auto: xdp on a NIC, tc on a virtual device with one worker and tcx, packet otherwise', () => {
  const nic = chooseBackend('auto', 'eth1', { linkKind: undefined, workers: 4 });
  assert.equal(nic.backend, 'xdp');
  assert.match(nic.reason, /^auto: "eth1" is a NIC; .*native XDP/);

  const veth = chooseBackend('auto', 'up0', { linkKind: 'veth', workers: 1, tcx: true });
  assert.equal(veth.backend, 'tc');
  assert.match(veth.reason, /^auto: "up0" is a veth device with one worker: a tc program forwards known unicast as whole skbs/);
  assert.equal(chooseBackend('auto', 'br-up', { linkKind: 'bridge', workers: 1, tcx: true }).backend, 'tc', 'any virtual kind');

  const multi = chooseBackend('auto', 'up0', { linkKind: 'veth', workers: 2, tcx: true });
  assert.equal(multi.backend, 'packet');
  assert.match(multi.reason, /the switch has 2 workers; the tc fast path runs one worker/);

  const old = chooseBackend('auto', 'up0', { linkKind: 'veth', workers: 1, tcx: 'tcx links: EINVAL (Invalid argument); Linux 6.6+ has them' });
  assert.equal(old.backend, 'packet');
  assert.match(old.reason, /tc fast path is not available here \(tcx links: EINVAL .*Linux 6\.6\+/);

  const noPriv = chooseBackend('auto', 'up0', { linkKind: 'veth', workers: 1, tcx: 'loading a BPF program: EPERM (Operation not permitted)' });
  assert.equal(noPriv.backend, 'packet');
  assert.match(noPriv.reason, /EPERM/);
});

test('a named backend is used as named, whatever the facts', () => {
  for (const b of ['packet', 'xdp', 'tc'] as const) {
    assert.deepEqual(chooseBackend(b, 'up0', { linkKind: 'veth', workers: 3, tcx: 'no' }), { backend: b, reason: 'requested' });
  }
});

test('a fast path that cannot start under auto falls back to packet with the reason; nothing else does', () => {
  const tc = { backend: 'tc' as const, reason: 'auto: ...' };
  const eperm = new MacdemuxSystemError({ errno: -1, syscall: 'engineCreate', message: 'switch uplink "up0": attaching the tc program needs CAP_NET_ADMIN and CAP_BPF' });
  const fb = fallbackAfter(tc, 'auto', 'up0', eperm);
  assert.equal(fb?.backend, 'packet');
  assert.match(fb!.reason, /^auto: the tc fast path could not start on "up0" \(.*CAP_BPF\), so AF_PACKET rings$/);
  for (const errno of [-22, -95, -13, -524]) {
    const e = new MacdemuxSystemError({ errno, syscall: 'engineCreate', message: `errno ${errno}` });
    assert.equal(fallbackAfter(tc, 'auto', 'up0', e)?.backend, 'packet', `errno ${errno}`);
  }
  const xdp = fallbackAfter({ backend: 'xdp', reason: 'auto: ...' }, 'auto', 'eth1', new MacdemuxSystemError({ errno: -95, syscall: 'engineCreate', message: "the device's driver has no native XDP" }));
  assert.match(xdp!.reason, /^auto: XDP could not start on "eth1"/);

  const enodev = new MacdemuxSystemError({ errno: -19, syscall: 'engineCreate', message: 'no such device' });
  assert.equal(fallbackAfter(tc, 'auto', 'up0', enodev), undefined, 'ENODEV: packet would fail the same way');
  assert.equal(fallbackAfter(tc, 'tc', 'up0', eperm), undefined, 'an explicit tc fails with its error');
  assert.equal(fallbackAfter({ backend: 'packet', reason: 'auto: ...' }, 'auto', 'up0', eperm), undefined, 'packet has nothing to fall back to');
  assert.equal(fallbackAfter(tc, 'auto', 'up0', new Error('plain')), undefined);
});
