/**
 * The libFuzzer harness of the data plane core (addon/fuzz/fuzz_dataplane.cc: PortTable::Build,
 * ParseFrame, Decide), built with clang under AddressSanitizer + UBSan into build/fuzz/ and run
 * for a bounded time (MDX_FUZZ_SECONDS, default 30) from a corpus kept between runs. Any crash,
 * sanitizer report or broken invariant fails the test (the reproducer is left in build/fuzz/).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');
const OUT = join(ROOT, 'build', 'fuzz');
const SECONDS = Number(process.env.MDX_FUZZ_SECONDS ?? 30);

/** The core's sources the harness links. */
function coreSources(): string[] {
  return ['addon/dataplane/port_table.cc', 'addon/dataplane/epochs.cc', 'addon/dataplane/fdb.cc'].map((p) => join(ROOT, p));
}

test('libFuzzer: PortTable::Build, ParseFrame and Decide under ASan/UBSan', { timeout: (SECONDS + 240) * 1000 }, () => {
  mkdirSync(join(OUT, 'corpus'), { recursive: true });
  const bin = join(OUT, 'fuzz_dataplane');
  const cc = spawnSync(
    'clang++-14',
    ['-std=c++17', '-O1', '-g', '-fsanitize=fuzzer,address,undefined', '-fno-sanitize-recover=undefined', '-fno-exceptions', `-I${join(ROOT, 'addon')}`,
      join(ROOT, 'addon', 'fuzz', 'fuzz_dataplane.cc'), ...coreSources(), '-o', bin],
    { encoding: 'utf8' },
  );
  assert.equal(cc.status, 0, cc.stderr);
  const run = spawnSync(bin, [`-max_total_time=${SECONDS}`, '-print_final_stats=1', `-artifact_prefix=${OUT}/`, '-rss_limit_mb=1024', join(OUT, 'corpus')], {
    encoding: 'utf8',
    env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=1', UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1' },
  });
  const tail = run.stderr.split('\n').slice(-40).join('\n');
  assert.equal(run.status, 0, tail);
  const runs = Number(/Done (\d+) runs/.exec(run.stderr)?.[1] ?? 0);
  assert.ok(runs > 1000, `the fuzzer ran (${runs} runs)\n${tail}`);
});
