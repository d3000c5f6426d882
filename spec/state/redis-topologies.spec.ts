import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { Cluster, Redis } from 'ioredis';
import { createLogger } from '../../lib/observe/logger.ts';
import { createRedisStore } from '../../lib/state/redis-store.ts';
import type { RedisStoreOptions } from '../../lib/state/redis-store.ts';
import type { StateStore } from '../../lib/state/state-store.ts';
import { startRedisCluster, startRedisSentinel } from '../support/redis-topology.ts';
import type { RedisClusterSetup, RedisSentinelSetup } from '../support/redis-topology.ts';

interface LogLine {
  level: number;
  msg: string;
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return Date.now() - started;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function storeFactory(where: () => Partial<RedisStoreOptions>) {
  const stores: StateStore[] = [];
  let n = 0;
  return {
    stores,
    async open(extra: Partial<RedisStoreOptions> = {}): Promise<{ store: StateStore; lines: LogLine[] }> {
      const lines: LogLine[] = [];
      const sink = new Writable({
        write(chunk: Buffer, _encoding, done) {
          for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as LogLine);
          done();
        },
      });
      const store = createRedisStore({
        keyPrefix: `t${++n}:`,
        log: createLogger('info', sink),
        reconcileIntervalMs: 300,
        commandTimeoutMs: 300,
        ...where(),
        ...extra,
      });
      stores.push(store);
      await store.start();
      return { store, lines };
    },
    close: () => Promise.all(stores.splice(0).map((s) => s.close())),
  };
}

/**
 * Five puts on `from`, each heard by `to` within 100 ms. The reconcile (every 300 ms here) would bring each
 * within 100 ms only by luck (1 in 3), so five in a row mean the subscription is live.
 */
async function heardByPubSub(from: StateStore, to: StateStore): Promise<void> {
  for (let i = 0; i < 5; i++) {
    const key = `pubsub:${Date.now()}:${i}`;
    const heard = new Promise<void>((resolve) => to.onChange((k) => k === key && resolve()));
    from.put(key, i, 30_000);
    const late = await Promise.race([heard.then(() => false), sleep(100).then(() => true)]);
    assert.equal(late, false, `put ${i} was not heard by pub/sub within 100 ms`);
    await sleep(50);
  }
}

const warnings = (lines: LogLine[]) => lines.filter((l) => l.level === 40).map((l) => l.msg);
const errors = (lines: LogLine[]) => lines.filter((l) => l.level >= 50).map((l) => l.msg);

describe('redis state store on a real Redis Sentinel set-up', function () {
  this.timeout(30_000);
  let sentinel: RedisSentinelSetup;
  const factory = storeFactory(() => ({ sentinels: sentinel.sentinels, name: sentinel.name }));

  before(async () => {
    sentinel = await startRedisSentinel();
  });
  after(async () => {
    await sentinel?.stop();
  });
  afterEach(() => factory.close());

  it('follows a planned failover (SENTINEL FAILOVER) where the old master lives on as a replica, and writes reach the new master', async () => {
    const a = await factory.open({ keyPrefix: 'planned:' });
    const b = await factory.open({ keyPrefix: 'planned:' });
    assert.equal(a.store.mode(), 'redis');
    const oldMaster = await sentinel.currentMaster();
    await sentinel.failover();
    const newMaster = await sentinel.currentMaster();
    assert.notEqual(newMaster, oldMaster);

    const fresh = new Redis(newMaster, '127.0.0.1');
    try {
      // Both move to the new master when the sentinels announce it, not when the old one is demoted
      // (~10 s later): until then it would take writes that the fleet never sees again.
      await waitFor('a put after the failover to reach the new master and b', async () => {
        a.store.put('breaker:x', { state: 'open', n: Date.now() }, 30_000);
        await sleep(100);
        const stored = await fresh.get('planned:kv:breaker:x');
        return stored !== null && JSON.stringify(b.store.get('breaker:x')?.value) === JSON.stringify(JSON.parse(stored).value);
      }, 3000);
      await waitFor('both to say redis', () => a.store.connected() && b.store.connected());
      await heardByPubSub(a.store, b.store);
      assert.deepEqual(await a.store.addToWindow('w', 1, 1, 10_000), { failures: 1, total: 1 });
      assert.deepEqual(await b.store.addToWindow('w', 1, 1, 10_000), { failures: 2, total: 2 });
      assert.equal(await fresh.exists('planned:win:w'), 1, 'the window lives on the new master');
      assert.deepEqual([...errors(a.lines), ...errors(b.lines)], []);
    } finally {
      fresh.disconnect();
    }
  });
});

describe('redis state store on a real Redis Cluster (3 masters)', function () {
  this.timeout(30_000);
  let cluster: RedisClusterSetup;
  const factory = storeFactory(() => ({ cluster: cluster.urls }));

  before(async () => {
    cluster = await startRedisCluster({ masters: 3, replicas: 0 });
  });
  after(async () => {
    await cluster?.stop();
  });
  afterEach(() => factory.close());

  // Each script touches one key (the entry, the window, the lease): a key prefix without a hash tag spreads a
  // fleet's keys over every master, one with a tag puts them all in one slot. Both must work.
  for (const keyPrefix of ['spread:', '{fleet}:']) {
    it(`runs every state operation with key prefix "${keyPrefix}" and loads the state from every master on start`, async () => {
      const a = await factory.open({ keyPrefix });
      const b = await factory.open({ keyPrefix });
      assert.equal(a.store.mode(), 'redis');
      const names = ['breaker:r/a', 'breaker:r/b', 'breaker:r/c', 'health:r/a', 'health:r/b', 'health:r/c'];
      const heard = new Set<string>();
      b.store.onChange((key) => heard.add(key));
      for (const name of names) a.store.put(name, { state: 'open' }, 30_000);
      await waitFor('b to hear every put by pub/sub', () => names.every((n) => heard.has(n)), 2000);
      const masters = new Set(await Promise.all(names.map(async (n) => (await cluster.masterFor(`${keyPrefix}kv:${n}`)).id)));
      assert.equal(masters.size, keyPrefix.startsWith('{') ? 1 : 3, 'where the keys live');

      assert.deepEqual(await a.store.addToWindow('breaker:r/a:1', 3, 3, 10_000), { failures: 3, total: 3 });
      assert.deepEqual(await b.store.addToWindow('breaker:r/a:1', 2, 4, 10_000), { failures: 5, total: 7 });
      assert.equal(await a.store.acquireLease('trial:r/a', 5000), true);
      assert.equal(await b.store.acquireLease('trial:r/a', 5000), false);
      assert.equal(await a.store.renewLease('trial:r/a', 5000), true);
      await a.store.releaseLease('trial:r/a');
      assert.equal(await b.store.acquireLease('trial:r/a', 5000), true);

      const late = await factory.open({ keyPrefix });
      assert.deepEqual(names.filter((n) => late.store.get(n) === undefined), [], 'a replica started later loads every key');
      assert.deepEqual([...a.lines, ...b.lines, ...late.lines].filter((l) => l.level >= 40).map((l) => l.msg), [], 'no command was refused (CROSSSLOT) or failed');
    });
  }

  it('keeps hearing other replicas by pub/sub when the node its subscription is on dies', async () => {
    // Only one store here: the test publishes as another replica would, and its reconcile is off.
    const { store } = await factory.open({ keyPrefix: 'sub:', reconcileIntervalMs: 60_000 });
    const subscriberNode = async () => {
      for (const node of cluster.nodes.filter((n) => n.process.alive())) {
        const client = new Redis(node.process.port, '127.0.0.1');
        try {
          if (/name=ioredis-cluster\(subscriber\)/.test(String(await client.call('CLIENT', 'LIST', 'TYPE', 'pubsub')))) return node;
        } finally {
          client.disconnect();
        }
      }
      return undefined;
    };
    const publishFrom = async (port: number, key: string) => {
      const client = new Redis(port, '127.0.0.1');
      try {
        await client.publish('sub:events', JSON.stringify({ key, value: 'open', at: Date.now(), by: 'another-replica', ttl: 30_000 }));
      } finally {
        client.disconnect();
      }
    };
    let node: Awaited<ReturnType<typeof subscriberNode>>;
    await waitFor('the subscription to be set up', async () => (node = await subscriberNode()) !== undefined);
    await publishFrom(cluster.nodes[0]?.process.port ?? 0, 'breaker:before');
    await waitFor('the first message', () => store.get('breaker:before') !== undefined, 1000);

    const dead = node as NonNullable<typeof node>;
    await dead.process.kill();
    try {
      const other = cluster.nodes.find((n) => n.process.alive()) as (typeof cluster.nodes)[number];
      await waitFor('a message published after the subscriber node died', async () => {
        await publishFrom(other.process.port, 'breaker:after');
        await sleep(100);
        return store.get('breaker:after') !== undefined;
      }, 5000);
    } finally {
      await cluster.restart(dead);
    }
  });

  it('does not claim to be back while a slot range has no master, even with nothing of its own stored there', async () => {
    // The reconnect check must cover every master: PING on any node and SCAN on the ones still reachable
    // would pass, and the next count for a key on the dead master would fail again (a flapping outage).
    const { store, lines } = await factory.open({ keyPrefix: 'flap:' });
    const dead = await cluster.masterFor('flap:win:breaker:r/a:0');
    await dead.process.kill();
    try {
      const modes = new Set<string>();
      const started = Date.now();
      while (Date.now() - started < 2000) {
        await store.addToWindow('breaker:r/a:0', 1, 1, 10_000);
        modes.add(store.mode());
        await sleep(50);
      }
      assert.deepEqual([...modes], ['redis-offline']);
      assert.deepEqual(warnings(lines), ['redis unavailable, serving on local state'], 'one outage, not one per reconnect check');
    } finally {
      await cluster.restart(dead);
    }
    await waitFor('the store to reconnect once the master is back', () => store.connected(), 5000);
  });

  it('stays offline while a slot range has no master, with one warning, and resyncs once it is back', async () => {
    const { store, lines } = await factory.open({ keyPrefix: 'down:' });
    const dead = await cluster.masterFor('down:kv:breaker:x');
    await dead.process.kill();
    store.put('breaker:x', 'open', 30_000);
    await waitFor('the outage to be noticed', () => store.mode() === 'redis-offline', 3000);
    // Several reconnect checks: each must see that a third of the slots has no reachable master.
    const modes = new Set<string>();
    for (let i = 0; i < 40; i++) {
      modes.add(store.mode());
      await sleep(50);
    }
    assert.deepEqual([...modes], ['redis-offline'], 'it never claims to share state while a shard is down');
    assert.deepEqual(warnings(lines), ['redis unavailable, serving on local state']);

    await cluster.restart(dead);
    await waitFor('the store to reconnect', () => store.connected(), 5000);
    const raw = new Cluster([{ host: '127.0.0.1', port: dead.process.port }]);
    try {
      await waitFor('the entry put during the outage to be written back', async () => (await raw.get('down:kv:breaker:x')) !== null, 3000);
    } finally {
      raw.disconnect();
    }
    assert.deepEqual(warnings(lines), ['redis unavailable, serving on local state'], 'one warning for the whole outage');
  });
});
