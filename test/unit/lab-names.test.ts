import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  makePrefix,
  namespaceName,
  validateCidr,
  validatePrefix,
  parseLabNamespace,
  staleNamespaces,
} from '../../src/lab/names.ts';
import { InvalidArgumentError } from '../../src/errors.ts';
import { Namespace } from '../../src/lab/namespace.ts';

test('prefix is mdx-<pid>-<4 hex> and differs between labs', () => {
  const p = makePrefix();
  assert.match(p, /^mdx-\d+-[0-9a-f]{4}$/);
  assert.equal(parseLabNamespace(`${p}-gen`)?.pid, process.pid);
  assert.equal(makePrefix(4242).split('-')[1], '4242');
  const many = new Set(Array.from({ length: 64 }, () => makePrefix()));
  assert.ok(many.size > 50, `64 prefixes should be mostly distinct, got ${many.size}`);
});

test('namespace name is <prefix>-<suffix>; bad suffixes are rejected naming the field', () => {
  assert.equal(namespaceName('mdx-1-abcd', 'sw'), 'mdx-1-abcd-sw');
  for (const bad of ['', 'a/b', 'a b', '-x', '../x', 'x'.repeat(80)]) {
    assert.throws(() => namespaceName('mdx-1-abcd', bad), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'suffix', bad);
  }
  assert.throws(() => validatePrefix('has space'), InvalidArgumentError);
  assert.equal(validatePrefix('mdxbench'), 'mdxbench');
  // a prefix naming another pid would be removed as stale by other runs
  assert.throws(() => validatePrefix('mdx-1-abcd', 'opts.prefix', 4242), { field: 'opts.prefix' });
  assert.equal(validatePrefix('mdx-4242-run1', 'prefix', 4242), 'mdx-4242-run1');
});

test('CIDRs carry their family', () => {
  assert.deepEqual(validateCidr('10.0.0.1/24'), { cidr: '10.0.0.1/24', family: 4 });
  assert.equal(validateCidr('fd00::1/64').family, 6);
  for (const bad of ['10.0.0.1', '10.0.0.256/24', '10.0.0.1/33', 'fd00::1/129', 'x/1']) {
    assert.throws(() => validateCidr(bad), InvalidArgumentError, bad);
  }
});

test('stale = lab-named namespace whose owner pid is not alive; others are never stale', () => {
  const alive = new Set([100, 200]);
  const names = ['mdx-100-aaaa-a', 'mdx-300-bbbb-a', 'mdx-300-bbbb-b', 'mdxbp-gen', 'other', 'mdx-x-1', 'mdx-0-cccc-a'];
  assert.deepEqual(staleNamespaces(names, (p) => alive.has(p)), ['mdx-300-bbbb-a', 'mdx-300-bbbb-b']);
  assert.equal(parseLabNamespace('mdxbp-gen'), undefined);
  assert.equal(parseLabNamespace('mdx-0-cccc-a'), undefined);
});

test('Namespace validates ping and linkStats arguments before running anything', async () => {
  const ns = new Namespace('mdx-1-abcd-unit');
  assert.equal(ns.path, '/run/netns/mdx-1-abcd-unit');
  await assert.rejects(ns.ping('1.2.3.4; rm -rf /'), InvalidArgumentError);
  await assert.rejects(ns.ping('10.0.0.1', { count: 0 }), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'opts.count');
  await assert.rejects(ns.linkStats('x'.repeat(16)), InvalidArgumentError);
  assert.throws(() => new Namespace('bad/name'), InvalidArgumentError);
});
