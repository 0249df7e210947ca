import { test } from 'node:test';
import assert from 'node:assert/strict';
import { registerLab, unregisterLab, destroyAllLabsSync, liveLabCount } from '../../src/lab/teardown.ts';

function fakeLab(prefix: string, log: string[], fail = false) {
  const lab = {
    prefix,
    destroySync(): void {
      log.push(prefix);
      if (fail) throw new Error('boom'); // before it could unregister itself
      unregisterLab(lab);
    },
  };
  return lab;
}

test('exit/signal hooks are installed only while a lab is live', () => {
  const base = { exit: process.listenerCount('exit'), SIGINT: process.listenerCount('SIGINT'), SIGTERM: process.listenerCount('SIGTERM') };
  const log: string[] = [];
  const a = fakeLab('mdx-1-aaaa', log);
  const b = fakeLab('mdx-1-bbbb', log);
  registerLab(a);
  registerLab(b);
  assert.equal(liveLabCount(), 2);
  assert.equal(process.listenerCount('exit'), base.exit + 1);
  assert.equal(process.listenerCount('SIGINT'), base.SIGINT + 1);
  assert.equal(process.listenerCount('SIGTERM'), base.SIGTERM + 1);
  unregisterLab(a);
  assert.equal(process.listenerCount('SIGINT'), base.SIGINT + 1, 'still one live lab');
  unregisterLab(b);
  assert.equal(liveLabCount(), 0);
  assert.equal(process.listenerCount('exit'), base.exit);
  assert.equal(process.listenerCount('SIGINT'), base.SIGINT);
  assert.equal(process.listenerCount('SIGTERM'), base.SIGTERM);
  assert.deepEqual(log, []);
});

test('destroyAllLabsSync tears down every live lab, also after one fails', () => {
  const log: string[] = [];
  const baseMonitors = process.listenerCount('uncaughtExceptionMonitor');
  const origWrite = process.stderr.write.bind(process.stderr);
  const errors: string[] = [];
  process.stderr.write = ((s: string) => (errors.push(String(s)), true)) as typeof process.stderr.write;
  try {
    registerLab(fakeLab('mdx-1-f001', log, true));
    registerLab(fakeLab('mdx-1-f002', log));
    destroyAllLabsSync();
  } finally {
    process.stderr.write = origWrite;
  }
  assert.deepEqual(log, ['mdx-1-f001', 'mdx-1-f002']);
  assert.equal(liveLabCount(), 0);
  assert.match(errors.join(''), /mdx-1-f001: teardown failed: boom/);
  assert.equal(process.listenerCount('uncaughtExceptionMonitor'), baseMonitors);
});
