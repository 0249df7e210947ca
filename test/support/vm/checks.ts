/**
 * Assertions on one guest NIC's markers against what its peer saw: every check the NIC asked for
 * printed ok, and the TCP transfers' sizes and SHA-256 match on both ends.
 */
import assert from 'node:assert/strict';
import type { GuestNic, GuestResult } from './guest.ts';
import type { PeerServer } from './peer.ts';

const NAMES: Record<string, string> = { p: 'ping', 6: 'ping6', j: 'jumbo', d: 'download', u: 'upload', q: 'queues', b: 'bench' };

/** Asserts the NIC's checks passed (the guest's console is in the message when one did not). */
export function assertNicChecks(r: GuestResult, nic: GuestNic, peer: PeerServer, bytes: number): void {
  const mine = r.markers.filter((m) => m.ifname === nic.ifname);
  const why = (): string => `\n--- guest console (${r.accel}) ---\n${r.console.split('\n').slice(-60).join('\n')}`;
  for (const check of ['link', ...[...nic.checks].map((c) => NAMES[c]!)]) {
    const m = mine.find((x) => x.check === check);
    assert.ok(m, `${nic.ifname}: no "${check}" marker${why()}`);
    assert.ok(m.ok, `${nic.ifname} ${check}: ${m.detail}${why()}`);
  }
  if (nic.checks.includes('q')) {
    const q = mine.find((x) => x.check === 'queues')!;
    assert.match(q.detail, new RegExp(`tx=${nic.queues} rx=${nic.queues}`), `${nic.ifname}: guest queues`);
  }
  if (nic.checks.includes('d')) {
    const got = /bytes=(\d+) sha256=([0-9a-f]{64})/.exec(mine.find((x) => x.check === 'download')!.detail);
    assert.ok(got, 'download marker has bytes and sha256');
    const sent = peer.find('get', nic.peer4).filter((t) => t.sha256 === got[2]);
    assert.equal(Number(got[1]), bytes, 'download size');
    assert.equal(sent.length, 1, `${nic.ifname}: the guest's download hash matches what ${nic.peer4} sent`);
  }
  if (nic.checks.includes('u')) {
    const sent = /bytes=(\d+) sha256=([0-9a-f]{64})/.exec(mine.find((x) => x.check === 'upload')!.detail);
    assert.ok(sent, 'upload marker has bytes and sha256');
    const got = peer.find('put', nic.peer4).filter((t) => t.sha256 === sent[2] && t.bytes === bytes);
    assert.equal(got.length, 1, `${nic.ifname}: ${nic.peer4} received the guest's ${bytes} bytes intact`);
  }
}
