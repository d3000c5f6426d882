import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { createLogger } from '../../lib/observe/logger.ts';
import { createRedisStore } from '../../lib/state/redis-store.ts';
import type { RedisStoreOptions } from '../../lib/state/redis-store.ts';
import type { StateStore } from '../../lib/state/state-store.ts';
import { startRedis, startSilentServer } from '../support/redis-server.ts';
import type { RedisProcess } from '../support/redis-server.ts';

interface LogLine {
  level: number;
  msg: string;
}

const warnLevel = 40;
const infoLevel = 30;
const errorLevel = 50;

async function waitFor(what: string, check: () => boolean, timeoutMs = 5000): Promise<number> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return Date.now() - started;
}

async function timed<T>(work: Promise<T>): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  const value = await work;
  return { value, ms: Date.now() - started };
}

describe('redis state store when Redis is down, dies, comes back or hangs', function () {
  const stores: StateStore[] = [];
  const redises: RedisProcess[] = [];

  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    await Promise.all(redises.splice(0).map((r) => r.stop()));
  });

  function create(url: string, extra: Partial<RedisStoreOptions> = {}): { store: StateStore; lines: LogLine[] } {
    const lines: LogLine[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as LogLine);
        done();
      },
    });
    const store = createRedisStore({ url, keyPrefix: 'o:', log: createLogger('info', sink), reconcileIntervalMs: 200, commandTimeoutMs: 200, ...extra });
    stores.push(store);
    return { store, lines };
  }
  const warnings = (lines: LogLine[]) => lines.filter((l) => l.level === warnLevel).map((l) => l.msg);

  async function redisThenKilledPort(): Promise<number> {
    const probe = await startRedis();
    await probe.kill();
    return probe.port; // a port nothing listens on now
  }

  it('starts fast when Redis is down, serves from local state, and warns once', async () => {
    const port = await redisThenKilledPort();
    const { store, lines } = create(`redis://127.0.0.1:${port}`);
    const { ms } = await timed(store.start());
    assert.ok(ms < 1600, `start() took ${ms} ms`);
    assert.equal(store.mode(), 'redis-offline');
    assert.deepEqual(await store.addToWindow('c', 1, 1, 10_000), { failures: 1, total: 1 });
    assert.deepEqual(await store.addToWindow('c', 1, 2, 10_000), { failures: 2, total: 3 });
    store.put('breaker:x', 'open', 10_000);
    assert.equal(store.get('breaker:x')?.value, 'open');
    assert.equal(await store.acquireLease('probe:x', 10_000), true);
    assert.equal(await store.renewLease('probe:x', 10_000), true);
    await new Promise((resolve) => setTimeout(resolve, 500)); // several reconnect attempts
    assert.deepEqual(warnings(lines), ['redis unavailable, serving on local state']);
  });

  it('connects by itself once Redis appears, and writes what was put meanwhile', async () => {
    const port = await redisThenKilledPort();
    const { store: a, lines } = create(`redis://127.0.0.1:${port}`);
    await a.start();
    assert.equal(a.connected(), false);
    a.put('breaker:x', 'open', 30_000);
    redises.push(await startRedis({ port }));
    await waitFor('the store to reconnect', () => a.mode() === 'redis');
    assert.equal(a.connected(), true);
    assert.ok(lines.some((l) => l.level === infoLevel && l.msg === 'redis reconnected, state resynced'));
    const { store: b } = create(`redis://127.0.0.1:${port}`);
    await b.start();
    assert.equal(b.get('breaker:x')?.value, 'open');
  });

  it('keeps answering when Redis is killed in use: nothing throws, one warning per outage', async () => {
    const redis = await startRedis();
    redises.push(redis);
    const { store, lines } = create(redis.url);
    await store.start();
    assert.equal(store.mode(), 'redis');
    await store.addToWindow('c', 1, 1, 10_000);
    await redis.kill();
    for (let i = 0; i < 50; i++) {
      store.put(`k${i % 5}`, i, 10_000);
      const totals = await store.addToWindow('c', 1, 1, 10_000);
      assert.ok(totals.total >= 1);
      assert.equal(store.get(`k${i % 5}`)?.value, i);
      await store.acquireLease('probe:x', 1_000);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(store.mode(), 'redis-offline');
    assert.deepEqual(warnings(lines), ['redis unavailable, serving on local state']);
  });

  it('shows the other replica a put made during the outage once Redis restarts on the same port', async () => {
    const redis = await startRedis();
    const { store: a, lines: aLines } = create(redis.url);
    const { store: b } = create(redis.url);
    await Promise.all([a.start(), b.start()]);
    await redis.kill();
    await waitFor('a to notice', () => a.mode() === 'redis-offline');
    a.put('breaker:x', 'open', 30_000); // e.g. a breaker opened while Redis was away
    assert.equal(b.get('breaker:x'), undefined);
    redises.push(await startRedis({ port: redis.port }));
    const ms = await waitFor('b to see the put', () => b.get('breaker:x')?.value === 'open');
    assert.ok(ms < 4000, `resynced after ${ms} ms`);
    assert.equal(a.mode(), 'redis');
    assert.equal(aLines.filter((l) => l.msg === 'redis reconnected, state resynced').length, 1);
  });

  it('bounds start(), every call and close() when Redis accepts connections but never answers', async () => {
    const silent = await startSilentServer();
    try {
      const { store } = create(silent.url);
      const start = await timed(store.start());
      assert.ok(start.ms < 1700, `start() took ${start.ms} ms`);
      assert.equal(store.mode(), 'redis-offline');
      const calls = await timed(
        Promise.all([store.addToWindow('c', 1, 1, 10_000), store.acquireLease('l', 1_000), store.renewLease('l', 1_000), store.releaseLease('l')]),
      );
      assert.ok(calls.ms < 300, `calls took ${calls.ms} ms`);
      assert.deepEqual(calls.value[0], { failures: 1, total: 1 });
      store.put('k', 1, 1_000);
      assert.equal(store.get('k')?.value, 1);
      const close = await timed(store.close());
      assert.ok(close.ms < 1000, `close() took ${close.ms} ms`);
    } finally {
      await silent.close();
    }
  });

  it('falls back within the command timeout when Redis hangs mid-use, and recovers when it wakes', async () => {
    const redis = await startRedis();
    redises.push(redis);
    const { store, lines } = create(redis.url);
    await store.start();
    assert.equal(store.mode(), 'redis');
    await store.addToWindow('c', 2, 2, 10_000);
    redis.pause();
    // Another counter: the timed-out increment may still be applied when Redis wakes.
    const hung = await timed(store.addToWindow('h', 1, 1, 10_000));
    assert.ok(hung.ms < 400, `took ${hung.ms} ms`);
    assert.deepEqual(hung.value, { failures: 1, total: 1 }, 'counted locally');
    assert.equal(store.mode(), 'redis-offline');
    const next = await timed(store.acquireLease('probe:x', 1_000));
    assert.ok(next.ms < 50, 'offline calls do not wait for Redis again');
    redis.resume();
    await waitFor('recovery', () => store.mode() === 'redis');
    assert.deepEqual(await store.addToWindow('c', 0, 0, 10_000), { failures: 2, total: 2 }, 'back on the shared window');
    assert.deepEqual(warnings(lines), ['redis unavailable, serving on local state']);
  });

  it('sends a hung Redis one timed-out command, then only a reconnect check per interval; every call answers at once', async () => {
    const redis = await startRedis();
    redises.push(redis);
    const raw = new Redis(redis.url);
    try {
      const { store, lines } = create(redis.url, { commandTimeoutMs: 300, reconcileIntervalMs: 250 });
      await store.start();
      await store.addToWindow('c', 1, 1, 10_000); // loads the script, so later calls are one EVALSHA each
      await raw.config('RESETSTAT');
      redis.pause();
      const first = await timed(store.addToWindow('c', 1, 1, 10_000));
      assert.ok(first.ms >= 280 && first.ms < 900, `the first call gave up after ${first.ms} ms, not at command_timeout_ms`);
      assert.equal(store.connected(), false);
      const hungSince = Date.now();
      let slowest = 0;
      let calls = 0;
      while (Date.now() - hungSince < 1200) {
        const call = await timed(Promise.all([store.addToWindow('c', 1, 1, 10_000), store.acquireLease('probe:x', 5_000), store.renewLease('probe:x', 5_000)]));
        slowest = Math.max(slowest, call.ms);
        calls += 3;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.ok(calls > 100, `only ${calls} calls`);
      assert.ok(slowest < 100, `a call during the hang took ${slowest} ms`);
      redis.resume();
      await waitFor('recovery', () => store.connected());
      // Redis ran what had queued up while it was stopped: that shows what the store sent it.
      const stats = await raw.info('commandstats');
      const count = (cmd: string) => Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
      assert.equal(count('evalsha') + count('eval'), 1, 'only the call that timed out reached Redis');
      // Checks at +250, +800, +1350 ms after opening (each waits 300 ms for its PING), then the one that passed.
      const pings = count('ping');
      assert.ok(pings >= 2 && pings <= 5, `${pings} reconnect checks in ~1.5 s at a 250 ms interval`);
      assert.deepEqual(warnings(lines), ['redis unavailable, serving on local state']);
      assert.equal(lines.filter((l) => l.msg === 'redis reconnected, state resynced').length, 1);
    } finally {
      raw.disconnect();
    }
  });

  it('takes a refusal from Redis (a key of the wrong type) as Redis being up: that call is answered locally, once logged', async () => {
    const redis = await startRedis();
    redises.push(redis);
    const raw = new Redis(redis.url);
    try {
      const { store, lines } = create(redis.url);
      await store.start();
      await raw.set('o:win:c', 'not a hash');
      assert.deepEqual(await store.addToWindow('c', 1, 1, 10_000), { failures: 1, total: 1 });
      assert.deepEqual(await store.addToWindow('c', 1, 2, 10_000), { failures: 2, total: 3 });
      assert.equal(store.mode(), 'redis');
      assert.equal(store.connected(), true);
      store.put('k', 'v', 10_000);
      let stored: string | null = null;
      for (let i = 0; i < 100 && stored === null; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        stored = await raw.get('o:kv:k');
      }
      assert.ok(stored, 'other commands still go to Redis');
      assert.deepEqual(warnings(lines), []);
      const errors = lines.filter((l) => l.level === errorLevel).map((l) => l.msg);
      assert.deepEqual(errors, ['redis rejected a state command, using local state for it']);
    } finally {
      raw.disconnect();
    }
  });

  it('answers locally before start() without counting it as an outage', async () => {
    const redis = await startRedis();
    redises.push(redis);
    const { store, lines } = create(redis.url);
    assert.deepEqual(await store.addToWindow('c', 1, 1, 10_000), { failures: 1, total: 1 });
    await store.start();
    assert.equal(store.mode(), 'redis');
    assert.deepEqual(warnings(lines), []);
  });

  it('closes promptly whatever state Redis is in, and twice', async () => {
    const redis = await startRedis();
    const { store: up } = create(redis.url);
    await up.start();
    assert.ok((await timed(up.close())).ms < 600);
    const { store: down } = create(redis.url);
    await down.start();
    await redis.kill();
    assert.ok((await timed(down.close())).ms < 600);
    await down.close();
    const { store: never } = create(redis.url);
    assert.ok((await timed(never.close())).ms < 600, 'closing a store that never started');
  });
});
