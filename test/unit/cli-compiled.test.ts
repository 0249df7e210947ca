/**
 * The installed CLI runs the compiled JavaScript in dist/ (built by `npm install`/`npm ci` through
 * `prepare`, and by `npm test`'s pretest): every command module is compiled, the bins load no
 * TypeScript loader, and the dispatcher finds commands and the addon from dist/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { COMMANDS } from '../../src/cli.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'macdemux.js');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  bin: Record<string, string>;
};

function cli(...args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
}

test('every CLI command is compiled to dist/src/cli/<command>.js', () => {
  for (const command of Object.keys(COMMANDS)) {
    assert.ok(existsSync(join(ROOT, 'dist', 'src', 'cli', `${command}.js`)), `dist/src/cli/${command}.js (run npm run build)`);
  }
  assert.ok(existsSync(join(ROOT, 'dist', 'src', 'cli.d.ts')), 'declarations are emitted');
});

test('the bins import dist/ and never a TypeScript loader', () => {
  for (const [name, rel] of Object.entries(pkg.bin)) {
    const src = readFileSync(join(ROOT, rel), 'utf8');
    assert.doesNotMatch(src, /tsx|\.ts['"]/, `${name} (${rel}) must run compiled code`);
    assert.match(src, /^#!\/usr\/bin\/env node\n/, `${name} has a node shebang`);
  }
});

test('macdemux --version prints the package version', () => {
  const r = cli('--version');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `macdemux ${pkg.version}\n`);
});

test('the compiled dispatcher loads a command module and the addon from build/Release; unknown commands exit 2', () => {
  const ok = cli('link', 'help');
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /link add NAME type macvlan/);
  // A netlink dump (no privileges needed) goes through the native addon, found from dist/.
  const show = cli('link', 'show', 'lo');
  assert.equal(show.status, 0, show.stderr);
  assert.match(show.stdout, /\blo\b/);
  const bad = cli('no-such-command');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /unknown command "no-such-command"/);
});
