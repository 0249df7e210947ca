/**
 * Output for people: `macdemux up` and `down` print each change once as a human line on stdout
 * and no structured log lines (the CLI logs warnings and errors only unless --log-level asks);
 * --log-json --log-level info gives JSON lines on stderr instead.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Lab } from '../../src/lab/index.ts';
import { needsRoot } from '../support.ts';
import { removeNamespacesWithPrefix, ROOT, tempDir } from './service-helpers.ts';

function run(args: string[]): { code: number; stdout: string; stderr: string } {
  const env = { ...process.env };
  delete env.MACDEMUX_LOG_LEVEL;
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'macdemux.js'), ...args], { encoding: 'utf8', env, timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test('up/down: one human line per change, no JSON log lines; --log-json --log-level info for the events', { skip: needsRoot, timeout: 120_000 }, async () => {
  const lab = await Lab.create();
  const dir = tempDir('out');
  const state = join(dir, 'state');
  const cfg = join(dir, 'out.yaml');
  try {
    const host = await lab.addNamespace('host');
    const peer = await lab.addNamespace('peer');
    await lab.addVeth({ ns: host, name: 'eth0' }, { ns: peer, name: 'eth0' });
    writeFileSync(cfg, stringify({
      version: 1,
      networks: [{ name: 'outnet', parent: `${host.name}:eth0`, subnet: '10.78.0.0/24', endpoints: [{ name: 'e1', netns: `${lab.prefix}-e1` }, { name: 'e2', netns: `${lab.prefix}-e2` }] }],
    }));
    const up = run(['up', cfg, '--state-dir', state]);
    assert.equal(up.code, 0, up.stderr);
    const changes = up.stdout.split('\n').filter((l) => /^[+~-] /.test(l));
    assert.ok(changes.length >= 4, up.stdout); // 2 namespaces + 2 macvlans at least
    assert.equal(new Set(changes).size, changes.length, `each change once:\n${up.stdout}`);
    assert.doesNotMatch(up.stderr, /^\{/m, `no JSON log lines on stderr:\n${up.stderr}`);
    assert.doesNotMatch(up.stdout, /^\{/m);

    const down = run(['--log-json', '--log-level', 'info', 'down', cfg, '--state-dir', state]);
    assert.equal(down.code, 0, down.stderr);
    const removed = down.stdout.split('\n').filter((l) => /^- /.test(l));
    assert.equal(new Set(removed).size, removed.length, down.stdout);
    const events = down.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { event?: string; level: number });
    assert.ok(events.length > 0 && events.every((e) => typeof e.level === 'number'), `JSON log lines with --log-json:\n${down.stderr}`);
  } finally {
    run(['down', cfg, '--state-dir', state]);
    await lab.destroy();
    await removeNamespacesWithPrefix(lab.prefix);
  }
});
