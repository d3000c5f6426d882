import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { createLogger } from '../../lib/observe/logger.ts';
import { createStateStore } from '../../lib/state/create-store.ts';
import { createRedisStore } from '../../lib/state/redis-store.ts';
import type { RedisStoreOptions } from '../../lib/state/redis-store.ts';
import type { StateStore } from '../../lib/state/state-store.ts';
import { createManualClock } from '../support/manual-clock.ts';
import { startRedis } from '../support/redis-server.ts';
import type { RedisProcess } from '../support/redis-server.ts';

const quietLog = createLogger('silent');

async function waitFor(what: string, check: () => boolean, timeoutMs = 3000): Promise<number> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return Date.now() - started;
}

describe('redis state store, two replicas on one Redis', function () {
  let redis: RedisProcess;
  let raw: Redis;
  let prefix: string;
  const stores: StateStore[] = [];
  let n = 0;

  before(async () => {
    redis = await startRedis();
    raw = new Redis(redis.url);
  });
  after(async () => {
    raw.disconnect();
    await redis.stop();
  });
  beforeEach(() => {
    prefix = `t${++n}:`;
  });
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });

  async function waitForKey(key: string, client: Redis = raw): Promise<string> {
    const started = Date.now();
    for (;;) {
      const value = await client.get(key);
      if (value !== null) return value;
      if (Date.now() - started > 2000) throw new Error(`${key} never reached Redis`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  async function open(extra: Partial<RedisStoreOptions> = {}): Promise<StateStore> {
    const store = createRedisStore({ url: redis.url, keyPrefix: prefix, log: quietLog, reconcileIntervalMs: 60_000, ...extra });
    stores.push(store);
    await store.start();
    return store;
  }

  it('delivers a put on one replica to the other replica and its listeners within 300 ms, by pub/sub', async () => {
    const a = await open();
    const b = await open();
    assert.equal(a.mode(), 'redis');
    const heard = new Promise<number>((resolve) => b.onChange((key) => key === 'breaker:x' && resolve(Date.now())));
    const sent = Date.now();
    a.put('breaker:x', { state: 'open' }, 30_000);
    const latency = (await heard) - sent;
    assert.ok(latency < 300, `took ${latency} ms`);
    assert.deepEqual(b.get('breaker:x')?.value, { state: 'open' });
  });

  it('loads the current state before start() resolves, so a restarted replica sees an open breaker at once', async () => {
    const a = await open();
    a.put('breaker:x', 'open', 30_000);
    await waitForKey(`${prefix}kv:breaker:x`);
    const late = await open();
    assert.equal(late.get('breaker:x')?.value, 'open');
  });

  it('sums window counts across replicas: 3 failures here and 2 there make 5', async () => {
    const a = await open();
    const b = await open();
    await a.addToWindow('openai-a', 3, 3, 10_000);
    const totals = await b.addToWindow('openai-a', 2, 4, 10_000);
    assert.deepEqual(totals, { failures: 5, total: 7 });
    assert.deepEqual(await a.addToWindow('openai-a', 0, 0, 10_000), { failures: 5, total: 7 });
  });

  it('drops counts from the shared window by the gateway clock, exactly one window after their bucket', async () => {
    const clock = createManualClock(5_000_000);
    const a = await open({ clock });
    const b = await open({ clock });
    await a.addToWindow('x', 2, 2, 1_000);
    clock.advance(999);
    assert.deepEqual(await b.addToWindow('x', 1, 1, 1_000), { failures: 3, total: 3 });
    clock.advance(1);
    assert.deepEqual(await b.addToWindow('x', 0, 0, 1_000), { failures: 1, total: 1 });
  });

  it('gives a lease to one replica only, and lets the other take it over once it expires', async () => {
    const a = await open();
    const b = await open();
    assert.equal(await a.acquireLease('probe:x', 300), true);
    assert.equal(await b.acquireLease('probe:x', 300), false);
    assert.equal(await a.acquireLease('probe:x', 300), true, 'the holder may ask again');
    assert.equal(await a.renewLease('probe:x', 300), true);
    assert.equal(await b.renewLease('probe:x', 300), false);
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal(await b.acquireLease('probe:x', 300), true);
    assert.equal(await a.renewLease('probe:x', 300), false, 'the old holder learns it lost the lease');
  });

  it('frees a lease for the other replica when its holder releases it', async () => {
    const a = await open();
    const b = await open();
    await a.acquireLease('probe:x', 10_000);
    await b.releaseLease('probe:x');
    assert.equal(await b.acquireLease('probe:x', 10_000), false, 'only the holder can release');
    await a.releaseLease('probe:x');
    assert.equal(await b.acquireLease('probe:x', 10_000), true);
  });

  it('keeps the newest write on every replica when a replica with an older clock writes after it', async () => {
    const aClock = createManualClock(2_000_000);
    const bClock = createManualClock(1_000_000);
    const a = await open({ clock: aClock });
    const b = await open({ clock: bClock, reconcileIntervalMs: 100 });
    a.put('k', 'newer', 60_000);
    await waitFor('b to hear a', () => b.get('k')?.value === 'newer');
    b.put('k', 'older', 60_000); // stamped 1_000_000: Redis refuses it
    assert.equal(b.get('k')?.value, 'older', 'the writer sees its own write at once');
    bClock.advance(100); // b's reconcile repairs its mirror from Redis
    await waitFor('b to converge', () => b.get('k')?.value === 'newer');
    assert.equal(a.get('k')?.value, 'newer');
  });

  it('expires a remote entry in the mirror when it expires in Redis', async () => {
    const a = await open();
    const b = await open();
    a.put('short', 1, 150);
    await waitFor('b to hear a', () => b.get('short') !== undefined);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(b.get('short'), undefined);
  });

  it('is built from the redis config block, passing ioredis options such as db through', async () => {
    const store = await createStateStore({ url: redis.url, key_prefix: prefix, options: { db: 3 } }, quietLog);
    stores.push(store);
    await store.start();
    assert.equal(store.mode(), 'redis');
    store.put('k', 'v', 10_000);
    const db3 = new Redis(`${redis.url}/3`);
    try {
      const stored = await waitForKey(`${prefix}kv:k`, db3);
      assert.deepEqual(JSON.parse(stored), { value: 'v', at: store.get('k')?.at, by: store.replicaId, ttl: 10_000 });
      assert.equal(await raw.exists(`${prefix}kv:k`), 0, 'nothing in db 0');
    } finally {
      db3.disconnect();
    }
  });

  it('is an in-memory store when there is no redis block', async () => {
    assert.equal((await createStateStore(null, quietLog)).mode(), 'memory');
  });
});
