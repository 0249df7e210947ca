/** Switch model validation without privileges (nothing is opened before start()). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Switch } from '../../src/dataplane/index.ts';
import { UPLINK, decide } from '../../src/dataplane/decide.ts';
import { parseMac, writeMac } from '../../src/dataplane/mac.ts';

const js = { kind: 'js' as const, onFrames() {} };

test('Switch options are validated and name the field', () => {
  assert.throws(() => new Switch({ uplink: '' }), /for uplink/);
  assert.throws(() => new Switch({ uplink: 'eth0', workers: 0 }), /for workers/);
  assert.throws(() => new Switch({ uplink: 'eth0', defaultMode: 'hub' as never }), /for defaultMode/);
  assert.throws(() => new Switch({ uplink: 'eth0', maxFrameLen: 10 }), /for maxFrameLen/);
  assert.throws(() => new Switch({ uplink: 'eth0', sliceUs: 50 }), /for sliceUs/);
  assert.doesNotThrow(() => new Switch({ uplink: 'eth0', sliceUs: 0 }));
});

test('ports: unique names, unique (VLAN, MAC), passthru alone, no switching into passthru', () => {
  const s = new Switch({ uplink: 'eth0' });
  s.addPort({ name: 'a', mac: '02:00:00:00:00:01', backend: js });
  assert.throws(() => s.addPort({ name: 'a', mac: '02:00:00:00:00:02', backend: js }), /port.name/);
  assert.throws(() => s.addPort({ name: 'b', mac: '02:00:00:00:00:01', backend: js }), /MAC not used/);
  s.addPort({ name: 'b', mac: '02:00:00:00:00:01', vlan: 7, backend: js }); // same MAC, other VLAN
  assert.throws(() => s.addPort({ name: 'c', mac: '02:00:00:00:00:03', mode: 'passthru', backend: js }), /passthru/);
  s.addPort({ name: 'c', mac: '02:00:00:00:00:03', mode: 'passthru', vlan: 9, backend: js });
  assert.throws(() => s.setPortMode('a', 'passthru'), /passthru/);
  assert.throws(() => s.setPortMode('zz', 'vepa'), /for name/);
  assert.throws(() => s.removePort('zz'), /for name/);
  s.setPortMode('a', 'private');
  assert.deepEqual(s.portSpecs().map((p) => [p.name, p.mode]), [['a', 'private'], ['b', 'bridge'], ['c', 'passthru']]);
  s.removePort('b');
  assert.deepEqual(Object.keys(s.counters().ports), ['a', 'c']);
});

test('the switch table drives the oracle: a mode change changes the decision', () => {
  const s = new Switch({ uplink: 'eth0' });
  s.addPort({ name: 'a', mac: '02:00:00:00:00:01', mode: 'bridge', backend: js });
  s.addPort({ name: 'b', mac: '02:00:00:00:00:02', mode: 'bridge', backend: js });
  const f = new Uint8Array(60);
  writeMac(f, 0, parseMac('02:00:00:00:00:02', 'dst'));
  writeMac(f, 6, parseMac('02:00:00:00:00:01', 'src'));
  const slotA = s.table().entries[0]!.slot;
  const slotB = s.table().entries[1]!.slot;
  assert.deepEqual(decide(s.table(), f, slotA).egress, [slotB]);
  s.setPortMode('a', 'vepa');
  const d = decide(s.table(), f, slotA);
  assert.deepEqual([d.egress, d.uplink], [[], true]);
  assert.deepEqual(decide(s.table(), f, UPLINK).egress, [slotB]);
});

test('addPorts is all-or-nothing; 4096 ports get unique slots', () => {
  const s = new Switch({ uplink: 'eth0' });
  s.addPort({ name: 'a', mac: '02:00:00:00:00:01', backend: js });
  assert.throws(
    () => s.addPorts([
      { name: 'b', mac: '02:00:00:00:00:02', backend: js },
      { name: 'c', mac: '02:00:00:00:00:02', backend: js }, // same (VLAN, MAC) as b
    ]),
    /MAC not used/,
  );
  assert.deepEqual(Object.keys(s.counters().ports), ['a'], 'nothing was added');
  s.removePort('a');
  s.addPort({ name: 'a2', mac: '02:00:00:00:00:01', backend: js }); // the MAC is free again
  const many = Array.from({ length: 4095 }, (_, i) => ({ name: `p${i}`, mac: `02:00:00:01:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`, backend: js }));
  s.addPorts(many);
  assert.equal(s.portSpecs().length, 4096);
  assert.equal(new Set(s.table().entries.map((e) => e.slot)).size, 4096, 'unique slots');
  assert.throws(() => s.addPort({ name: 'x', mac: '02:00:00:00:00:77', mode: 'passthru', backend: js }), /passthru/);
});
