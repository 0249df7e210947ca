/**
 * The committed light skeleton (addon/xdp/demux.skel.h, what the addon builds with) must be what
 * scripts/build-xdp.sh makes from addon/xdp/demux.bpf.c today: an edit of the program without a
 * regenerated header fails here. clang, bpftool and libbpf-dev come from scripts/ensure-system-deps.sh.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

test('addon/xdp/{demux,gen}.skel.h are generated from addon/xdp/{demux,gen}.bpf.c', () => {
  const fresh = execFileSync('bash', [join(root, 'scripts', 'build-xdp.sh'), '--print'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const committed = ['demux.skel.h', 'gen.skel.h'].map((f) => readFileSync(join(root, 'addon', 'xdp', f), 'utf8')).join('');
  assert.ok(fresh.includes('mdx_demux__load'), 'build-xdp.sh printed a skeleton');
  assert.ok(fresh === committed, 'addon/xdp/*.skel.h are stale: run scripts/build-xdp.sh and commit the headers');
});
