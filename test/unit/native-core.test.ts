/**
 * The C++ unit tests of the addon's core (addon/test/: decision, port table, frame parse, ring
 * walk bounds), built by cmake next to the addon as mdx_core_tests: run here so `npm test` fails
 * when one of them does. No Node.js in that binary, no privileges.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const candidates = ['build/mdx_core_tests', 'build/Release/mdx_core_tests', 'build/Debug/mdx_core_tests'].map((p) => join(root, p));

test('C++ core unit tests (addon/test) pass', () => {
  const bin = candidates.find((p) => existsSync(p));
  assert.ok(bin, `mdx_core_tests not built (looked in ${candidates.join(', ')}); run npm run build:native`);
  const r = spawnSync(bin, [], { encoding: 'utf8', timeout: 60_000 });
  const out = `${r.stdout}${r.stderr}`;
  assert.equal(r.status, 0, out);
  const cases = out.match(/^ok \d+ - /gm)?.length ?? 0;
  assert.ok(cases >= 10, `expected the core's cases to run, saw ${cases}:\n${out}`);
  assert.doesNotMatch(out, /^not ok/m);
});
