/**
 * Netlink sockets opened inside other namespaces from the JS thread (nlOpen enters the namespace
 * and comes back), and the per-namespace socket reuse of withSocketPool: one socket per namespace
 * for many requests, at most `max` open, all closed when the scope ends, and the calling thread's
 * own namespace never changes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readlinkSync } from 'node:fs';
import { needsRoot } from '../support.ts';
import { withLab } from '../../src/lab/index.ts';
import { findLink, listLinks, setLink } from '../../src/devices/index.ts';
import { withRtnl, withSocketPool } from '../../src/netlink/socket.ts';

/** This process's open sockets by inode (/proc/net/netlink lists only this namespace's, so all sockets). */
function openSockets(): Set<string> {
  const mine = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m) mine.add(m[1]!);
    } catch {
      /* closed meanwhile */
    }
  }
  return mine;
}

test('sockets in other namespaces: opened from this thread, which stays in its own namespace; pooled per namespace inside withSocketPool', { skip: needsRoot }, async () => {
  await withLab(async (lab) => {
    const a = await lab.addNamespace('a');
    const b = await lab.addNamespace('b');
    const home = readlinkSync('/proc/thread-self/ns/net');
    const before = openSockets();

    // Outside a pool: a socket per operation, gone afterwards; each namespace sees its own links.
    await setLink('lo', { mtu: 9000 }, { netns: a.name });
    assert.equal((await findLink('lo', { netns: a.name }))?.mtu, 9000, 'set in a');
    assert.equal((await findLink('lo', { netns: b.name }))?.mtu, 65536, 'b is another namespace');
    assert.equal(readlinkSync('/proc/thread-self/ns/net'), home, 'the JS thread is back in its own namespace');
    assert.deepEqual(openSockets(), before, 'no socket left open');

    // Inside a pool: one socket per namespace, reused; all closed when the scope ends.
    const used = new Map<string, Set<object>>(); // socket objects (fd numbers are reused after a close)
    const seen = (ns: string) => withRtnl(ns, (s) => void (used.get(ns) ?? used.set(ns, new Set()).get(ns)!).add(s));
    await withSocketPool(async () => {
      for (let i = 0; i < 20; i++) {
        await seen(a.name);
        await seen(b.name);
        await listLinks({ netns: a.name });
      }
      assert.equal(used.get(a.name)!.size, 1, 'one socket for namespace a');
      assert.equal(used.get(b.name)!.size, 1, 'one socket for namespace b');
      assert.equal(openSockets().size, before.size + 2, 'two sockets open in the scope');
      assert.equal(readlinkSync('/proc/thread-self/ns/net'), home);
    });
    assert.deepEqual(openSockets(), before, 'the scope closed its sockets');

    // A bounded pool closes the least recently used socket: a then b then a again opens a anew.
    used.clear();
    await withSocketPool(async () => {
      await seen(a.name);
      await seen(b.name);
      await seen(a.name);
      assert.equal(used.get(a.name)!.size, 2, 'a was evicted by b (max 1) and opened again');
      assert.equal(openSockets().size, before.size + 1, 'at most one socket open');
    }, 1);
    assert.deepEqual(openSockets(), before);

    // A namespace that does not exist: the error names it, inside a pool too, and nothing is left open.
    await assert.rejects(() => findLink('lo', { netns: `${lab.prefix}-missing` }), /ENOENT/);
    await withSocketPool(() => assert.rejects(() => findLink('lo', { netns: `${lab.prefix}-missing` }), /ENOENT/));
    assert.deepEqual(openSockets(), before);
    assert.equal(readlinkSync('/proc/thread-self/ns/net'), home);
  });
});
