/** Every log event emitted under src/ is documented in docs/logging.md (name and level). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

test('docs/logging.md lists every log event with its level', () => {
  const doc = readFileSync(join(ROOT, 'docs', 'logging.md'), 'utf8');
  const documented = new Set([...doc.matchAll(/^\| `([a-z0-9.-]+)` \| (\w+) \|/gm)].map((m) => `${m[1]} ${m[2]}`));
  const emitted = new Set<string>();
  for (const f of sources(join(ROOT, 'src'))) {
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/\.(trace|debug|info|warn|error|fatal)\(\s*\{\s*event: '([a-z0-9.-]+)'/g)) emitted.add(`${m[2]} ${m[1]}`);
    // A logger call without an event name cannot be documented.
    for (const m of text.matchAll(/\b(?:log\('[a-z-]+'\)|logger|this\.logger)\.(?:trace|debug|info|warn|error|fatal)\(\s*(\{[^}]*\}|[a-z]+)\s*,/g)) {
      assert.match(m[1]!, /event:/, `${f}: a log call without an event name: ${m[0]}`);
    }
  }
  assert.ok(emitted.size > 20, 'found the events');
  const missing = [...emitted].filter((e) => !documented.has(e));
  assert.deepEqual(missing, [], 'events emitted but not in docs/logging.md');
  const stale = [...documented].filter((e) => !emitted.has(e));
  assert.deepEqual(stale, [], 'events in docs/logging.md that nothing emits');
});
