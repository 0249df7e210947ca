/**
 * The package's front door: `import ... from 'macdemux'` (a self-reference through package.json
 * `exports`, which resolves to the compiled dist/src/index.js) gives the public API, one name each,
 * and `exports` points at declarations for it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  exports: Record<string, { types: string; import: string } | string>;
};
// A variable, so that typechecking this file does not need dist/ (built by pretest or npm install).
const PACKAGE = pkg.name;

const CLASSES = ['Switch', 'PacketPort', 'FrameBatch', 'TapQueue', 'TapBatch', 'Lab', 'Namespace', 'MacdemuxSystemError', 'InvalidArgumentError', 'ConfigError'];
const FUNCTIONS = ['startGenerator', 'openSink', 'startRelay', 'withLab', 'loadConfig', 'parseConfig', 'validateConfig', 'parseMac', 'formatMac', 'validateIfname'];
const DEVICES = ['createMacvlan', 'createVeth', 'createBridge', 'deleteLink', 'getLink', 'listLinks', 'addAddress', 'addRoute', 'getOffloads', 'setOffloads'];

test('import from "macdemux" resolves to the compiled entry and has the public API', async () => {
  assert.equal(pkg.name, 'macdemux');
  const api = (await import(PACKAGE)) as Record<string, unknown> & { devices: Record<string, unknown> };
  for (const name of CLASSES) assert.equal(typeof api[name], 'function', `${name} is exported`);
  for (const name of FUNCTIONS) assert.equal(typeof api[name], 'function', `${name}() is exported`);
  assert.equal(typeof api.devices, 'object', 'devices namespace');
  for (const name of DEVICES) assert.equal(typeof api.devices[name], 'function', `devices.${name}() is exported`);
  assert.deepEqual(api.MACVLAN_MODES, ['private', 'vepa', 'bridge', 'passthru', 'source']);
  // One error class per concept: the API's errors are the ones the modules throw.
  assert.throws(() => (api.parseMac as (s: string, f?: string) => unknown)('zz'), api.InvalidArgumentError as never);
  assert.throws(() => new (api.Switch as new (o: unknown) => unknown)({ uplink: 'eth0', workers: 0 }), api.InvalidArgumentError as never);
});

test('package.json exports "." has types (dist .d.ts) and the ESM entry, both built', () => {
  const dot = pkg.exports['.'];
  assert.ok(dot && typeof dot === 'object', 'exports["."] is a conditions object');
  assert.match(dot.types, /^\.\/dist\/src\/index\.d\.ts$/);
  assert.match(dot.import, /^\.\/dist\/src\/index\.js$/);
  assert.equal(Object.keys(dot)[0], 'types', '"types" comes first (TypeScript reads conditions in order)');
  const dts = readFileSync(join(ROOT, dot.types), 'utf8');
  for (const name of [...CLASSES, ...FUNCTIONS, 'devices', 'SwitchOptions', 'PortSpec', 'ServiceConfig', 'MacvlanMode']) {
    assert.match(dts, new RegExp(`\\b${name}\\b`), `${dot.types} declares ${name}`);
  }
  assert.ok(existsSync(join(ROOT, dot.import)));
});
