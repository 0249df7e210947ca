/**
 * Ownership proven in the kernel: every device macdemux creates carries its mark (IFLA_IFALIAS
 * `macdemux:<state-id>:<netns>/<name>`); `up` and `down` never delete or rewrite a device without
 * it, whatever owned.json says; state directories another user could write to are refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Lab } from '../../src/lab/index.ts';
import { listNetns } from '../../src/service/netns.ts';
import { needsRoot } from '../support.ts';
import { cli, removeNamespacesWithPrefix, tempDir } from './service-helpers.ts';

const linkOf = (ns: string, dev: string) => JSON.parse(spawnSync('ip', ['-n', ns, '-j', 'link', 'show', dev], { encoding: 'utf8' }).stdout || '[]')[0];

test('devices carry the mark; a foreign device under a recorded name or in a forged record is never deleted or rewritten', { skip: needsRoot }, async () => {
  const lab = await Lab.create();
  const dir = tempDir('own');
  const state = join(dir, 'state');
  const cfg = join(dir, 'own.yaml');
  const ns = (n: string) => `${lab.prefix}-${n}`;
  try {
    const host = await lab.addNamespace('host');
    const peer = await lab.addNamespace('peer');
    await lab.addVeth({ ns: host, name: 'eth0' }, { ns: peer, name: 'eth0' });
    writeFileSync(
      cfg,
      stringify({
        networks: [
          { name: 'k', parent: `${host.name}:eth0`, subnet: '10.71.0.0/24', endpoints: [{ name: 'k1', netns: ns('k1') }, { name: 'k2', netns: ns('k2') }] },
          { name: 'u', parent: `${host.name}:eth0`, dataplane: 'userspace', subnet: '10.72.0.0/24', endpoints: [{ name: 'u1', netns: ns('u1') }] },
        ],
      }),
    );
    let r = cli(['up', cfg, '--state-dir', state]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const id = JSON.parse(readFileSync(join(state, 'owned.json'), 'utf8')).id as string;
    assert.match(id, /^[0-9a-f]{8,}$/);
    assert.equal(linkOf(ns('k1'), 'eth0').ifalias, `macdemux:${id}:${ns('k1')}/eth0`);
    const owned = JSON.parse(readFileSync(join(state, 'owned.json'), 'utf8'));
    const port = owned.resources.find((x: any) => x.endpoint === 'u1').peer;
    assert.equal(linkOf(ns('u1'), 'eth0').ifalias, `macdemux:${id}:${ns('u1')}/eth0`);
    assert.equal(linkOf(host.name, port.name).ifalias, `macdemux:${id}:${host.name}/${port.name}`, 'the switch port end carries its mark too');

    // A foreign veth takes a recorded endpoint's name: `up` refuses and leaves it (and its peer) alone.
    spawnSync('ip', ['-n', ns('k2'), 'link', 'del', 'eth0']);
    spawnSync('ip', ['-n', ns('k2'), 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'theirs']);
    const foreign = linkOf(ns('k2'), 'eth0');
    r = cli(['up', cfg, '--state-dir', state]);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /does not carry its mark/);
    assert.equal(linkOf(ns('k2'), 'eth0').ifindex, foreign.ifindex, 'foreign device not replaced');
    assert.equal(linkOf(ns('k2'), 'eth0').address, foreign.address, 'foreign device not rewritten');

    // A forged record (root wrote it, but names a device macdemux did not create): `down` leaves it.
    spawnSync('ip', ['-n', host.name, 'link', 'add', 'victim0', 'type', 'veth', 'peer', 'name', 'victim1']);
    owned.resources.push({ kind: 'link', netns: host.name, name: 'victim0', role: 'endpoint', network: 'k', endpoint: 'forged', type: 'veth' });
    writeFileSync(join(state, 'owned.json'), JSON.stringify(owned));
    r = cli(['down', cfg, '--state-dir', state]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.ok(linkOf(host.name, 'victim0'), 'the forged record deleted nothing');
    assert.equal(linkOf(ns('k2'), 'eth0')?.ifindex, foreign.ifindex, 'the foreign veth survives down');
    assert.ok(linkOf(ns('k2'), 'theirs'), 'and its peer');
    assert.equal(linkOf(host.name, port.name), undefined, 'our own devices are removed');
    assert.ok(!listNetns().includes(ns('k1')));
  } finally {
    cli(['down', '--state-dir', state]);
    await removeNamespacesWithPrefix(lab.prefix);
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('state directories not owned by the caller, or writable by group/others, are refused before anything is read', { skip: needsRoot }, async () => {
  const dir = tempDir('sdir');
  try {
    chmodSync(dir, 0o755);
    const cfg = join(dir, 'c.yaml');
    writeFileSync(cfg, stringify({ networks: [] }));
    // World-writable, owned by an unprivileged user, who drops a forged owned.json.
    const evil = join(dir, 'evil');
    mkdirSync(evil, { mode: 0o777 });
    chmodSync(evil, 0o777);
    chownSync(evil, 65534, 65534);
    writeFileSync(join(evil, 'owned.json'), JSON.stringify({ version: 1, resources: [{ kind: 'link', name: 'lo', role: 'endpoint', network: 'x', type: 'veth' }] }));
    for (const cmd of [['down', '--state-dir', evil], ['up', cfg, '--state-dir', evil]]) {
      const r = cli(cmd);
      assert.equal(r.code, 1, `${cmd[0]}: ${r.stdout}`);
      assert.match(r.stderr, /state directory .*evil is owned by uid 65534, not by this user \(uid 0\): refused/);
    }
    // Root's own, but group-writable.
    const loose = join(dir, 'loose');
    mkdirSync(loose);
    chmodSync(loose, 0o770);
    const r = cli(['down', '--state-dir', loose]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /writable by its group \(mode 770\): refused/);
    // A symlink to a good directory is refused too.
    const good = join(dir, 'good');
    mkdirSync(good, { mode: 0o700 });
    spawnSync('ln', ['-s', good, join(dir, 'link')]);
    assert.match(cli(['down', '--state-dir', join(dir, 'link')]).stderr, /is a symbolic link: refused/);
    assert.equal(cli(['down', '--state-dir', good]).code, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
