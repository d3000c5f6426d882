import assert from 'node:assert/strict';
import { createMemoryState, createMemoryStore } from '../../lib/state/memory-store.ts';
import type { StoreEntry } from '../../lib/state/state-store.ts';
import { createManualClock } from '../support/manual-clock.ts';
import type { ManualClock } from '../support/manual-clock.ts';

describe('memory state store', () => {
  let clock: ManualClock;
  beforeEach(() => {
    clock = createManualClock(1_000_000);
  });

  describe('windowed counters', () => {
    it('sums failures and totals added inside the window', async () => {
      const store = createMemoryStore({ clock });
      await store.addToWindow('openai-a', 1, 1, 10_000);
      clock.advance(3_000);
      await store.addToWindow('openai-a', 2, 3, 10_000);
      assert.deepEqual(await store.addToWindow('openai-a', 0, 1, 10_000), { failures: 3, total: 5 });
    });

    it('keeps a count until its bucket is ten buckets old, and drops it exactly then', async () => {
      const c = createManualClock(0);
      const store = createMemoryStore({ clock: c });
      await store.addToWindow('x', 1, 1, 1000); // bucket 0 covers 0..99 ms
      c.advance(999); // bucket 9: still inside
      assert.deepEqual(await store.addToWindow('x', 0, 0, 1000), { failures: 1, total: 1 });
      c.advance(1); // bucket 10: bucket 0 left the window
      assert.deepEqual(await store.addToWindow('x', 0, 0, 1000), { failures: 0, total: 0 });
    });

    it('lets a count added late in a bucket leave with its bucket, not a full window later', async () => {
      const c = createManualClock(50); // middle of bucket 0 (100 ms buckets)
      const store = createMemoryStore({ clock: c });
      await store.addToWindow('x', 1, 1, 1000);
      c.advance(949); // 999: bucket 9
      assert.equal((await store.addToWindow('x', 0, 0, 1000)).failures, 1);
      c.advance(1); // 1000: bucket 10, 950 ms after the add
      assert.equal((await store.addToWindow('x', 0, 0, 1000)).failures, 0);
    });

    it('counts separate counters separately', async () => {
      const store = createMemoryStore({ clock });
      await store.addToWindow('a', 2, 2, 10_000);
      assert.deepEqual(await store.addToWindow('b', 1, 1, 10_000), { failures: 1, total: 1 });
    });
  });

  describe('keys with a TTL', () => {
    it('returns what was put, with the time it was written', () => {
      const store = createMemoryStore({ clock });
      store.put('breaker:a', { state: 'open' }, 5_000);
      assert.deepEqual(store.get('breaker:a'), { value: { state: 'open' }, at: 1_000_000 });
    });

    it('forgets a key when its TTL has passed, to the millisecond', () => {
      const store = createMemoryStore({ clock });
      store.put('k', 1, 5_000);
      clock.advance(4_999);
      assert.equal(store.get('k')?.value, 1);
      clock.advance(1);
      assert.equal(store.get('k'), undefined);
    });

    it('replaces a value and restarts its TTL on a second put', () => {
      const store = createMemoryStore({ clock });
      store.put('k', 'closed', 1_000);
      clock.advance(900);
      store.put('k', 'open', 1_000);
      clock.advance(900);
      assert.deepEqual(store.get('k'), { value: 'open', at: 1_000_900 });
    });

    it('calls every listener synchronously on put, in order', () => {
      const store = createMemoryStore({ clock });
      const seen: Array<[string, StoreEntry | undefined, string]> = [];
      store.onChange((key, entry) => seen.push([key, entry, 'first']));
      store.onChange((key, entry) => seen.push([key, entry, 'second']));
      store.put('breaker:a', 'open', 1_000);
      assert.deepEqual(seen, [
        ['breaker:a', { value: 'open', at: 1_000_000 }, 'first'],
        ['breaker:a', { value: 'open', at: 1_000_000 }, 'second'],
      ]);
    });

    it('still calls later listeners when one throws, then reports the error to the writer', () => {
      const store = createMemoryStore({ clock });
      let reached = false;
      store.onChange(() => {
        throw new Error('listener bug');
      });
      store.onChange(() => {
        reached = true;
      });
      assert.throws(() => store.put('k', 1, 1_000), /listener bug/);
      assert.equal(reached, true);
      assert.equal(store.get('k')?.value, 1);
    });

    it('merges an entry from elsewhere only when it is at least as new as the local one', () => {
      const store = createMemoryStore({ clock });
      const changes: string[] = [];
      store.onChange((key, entry) => changes.push(`${key}=${String(entry?.value)}`));
      store.put('k', 'local', 10_000); // at 1_000_000
      assert.equal(store.merge('k', { value: 'older', at: 999_999 }, 1_010_000), false);
      assert.equal(store.merge('k', { value: 'local', at: 1_000_000 }, 1_010_000), false); // same: no event
      assert.equal(store.merge('k', { value: 'newer', at: 1_000_001 }, 1_010_000), true);
      assert.deepEqual(changes, ['k=local', 'k=newer']);
      assert.equal(store.get('k')?.value, 'newer');
    });
  });

  describe('leases', () => {
    it('is held by the first replica to ask, and refused to another until it expires', async () => {
      const state = createMemoryState();
      const a = createMemoryStore({ clock, replicaId: 'a', state });
      const b = createMemoryStore({ clock, replicaId: 'b', state });
      assert.equal(await a.acquireLease('probe:openai-a', 3_000), true);
      assert.equal(await b.acquireLease('probe:openai-a', 3_000), false);
      clock.advance(2_999);
      assert.equal(await b.acquireLease('probe:openai-a', 3_000), false);
      clock.advance(1);
      assert.equal(await b.acquireLease('probe:openai-a', 3_000), true, 'b takes over the expired lease');
      assert.equal(await a.renewLease('probe:openai-a', 3_000), false, 'a learns it lost the lease');
    });

    it('is re-acquired and renewed by its holder, which keeps it past the first TTL', async () => {
      const state = createMemoryState();
      const a = createMemoryStore({ clock, replicaId: 'a', state });
      const b = createMemoryStore({ clock, replicaId: 'b', state });
      assert.equal(await a.acquireLease('l', 1_000), true);
      assert.equal(await a.acquireLease('l', 1_000), true);
      clock.advance(900);
      assert.equal(await a.renewLease('l', 1_000), true);
      clock.advance(900); // 1800 ms after the first acquire
      assert.equal(await b.acquireLease('l', 1_000), false);
    });

    it('cannot be renewed once expired, nor by a replica that does not hold it', async () => {
      const state = createMemoryState();
      const a = createMemoryStore({ clock, replicaId: 'a', state });
      const b = createMemoryStore({ clock, replicaId: 'b', state });
      await a.acquireLease('l', 1_000);
      assert.equal(await b.renewLease('l', 1_000), false);
      clock.advance(1_000);
      assert.equal(await a.renewLease('l', 1_000), false);
    });

    it('is free for another replica as soon as its holder releases it, and only its holder can', async () => {
      const state = createMemoryState();
      const a = createMemoryStore({ clock, replicaId: 'a', state });
      const b = createMemoryStore({ clock, replicaId: 'b', state });
      await a.acquireLease('l', 10_000);
      await b.releaseLease('l');
      assert.equal(await b.acquireLease('l', 10_000), false);
      await a.releaseLease('l');
      assert.equal(await b.acquireLease('l', 10_000), true);
    });
  });

  it('shares keys and change events between stores on one state, like replicas on one Redis', () => {
    const state = createMemoryState();
    const a = createMemoryStore({ clock, replicaId: 'a', state });
    const b = createMemoryStore({ clock, replicaId: 'b', state });
    const seenByB: string[] = [];
    b.onChange((key) => seenByB.push(key));
    a.put('breaker:x', 'open', 1_000);
    assert.equal(b.get('breaker:x')?.value, 'open');
    assert.deepEqual(seenByB, ['breaker:x']);
  });

  it('reports memory mode and starts and closes at once', async () => {
    const store = createMemoryStore();
    assert.equal(store.mode(), 'memory');
    assert.match(store.replicaId, /^[0-9a-f-]{36}$/);
    await store.start();
    await store.close();
  });
});

describe('manual clock', () => {
  it('fires due timers in time order as it advances, including ones set by a callback', () => {
    const clock = createManualClock(0);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push(`b@${clock.now()}`), 20);
    clock.setTimeout(() => {
      fired.push(`a@${clock.now()}`);
      clock.setTimeout(() => fired.push(`c@${clock.now()}`), 5);
    }, 10);
    const cleared = clock.setTimeout(() => fired.push('never'), 15);
    clock.clearTimeout(cleared);
    clock.advance(19);
    assert.deepEqual(fired, ['a@10', 'c@15']);
    clock.advance(1);
    assert.deepEqual(fired, ['a@10', 'c@15', 'b@20']);
    assert.equal(clock.now(), 20);
    assert.equal(clock.pending(), 0);
  });
});
