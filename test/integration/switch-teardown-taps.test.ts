/**
 * `macdemux switch --teardown-on-exit` deletes only the VM taps macdemux made: the one this run
 * created goes, a tap someone else made (adopted as it is, unmarked) stays.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Lab } from '../../src/lab/index.ts';
import { vmTapInfo } from '../../src/devices/vm-tap.ts';
import { needsRoot } from '../support.ts';
import { cli, tempDir } from './service-helpers.ts';

test('switch --teardown-on-exit deletes the VM tap it created and leaves an adopted foreign tap', { skip: needsRoot, timeout: 120_000 }, async () => {
  const lab = await Lab.create();
  const dir = tempDir('swtd');
  try {
    const sw = await lab.addNamespace('sw');
    const far = await lab.addNamespace('far');
    await lab.addVeth({ ns: sw, name: 'up0' }, { ns: far, name: 'f0' });
    await sw.ip(['tuntap', 'add', 'dev', 'tforeign', 'mode', 'tap', 'vnet_hdr']);
    const r = cli(['switch', '-n', sw.name, '--uplink', 'up0', '--port', 'vm:tmine,mac=02:6d:64:00:1c:01', '--port', 'vm:tforeign,mac=02:6d:64:00:1c:02', '--duration', '1', '--teardown-on-exit', '--state-dir', join(dir, 'state')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /VM tap tforeign ready \(queues attached: 0; not recorded: it existed already without macdemux's mark/);
    assert.match(r.stderr, /leaving tap tforeign: it existed already without macdemux's mark/);
    assert.equal(await vmTapInfo('tmine', sw.name), undefined, 'the tap the switch created is deleted');
    const foreign = await vmTapInfo('tforeign', sw.name);
    assert.ok(foreign?.vnetHdr, 'the tap someone else made is still there');
  } finally {
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});
