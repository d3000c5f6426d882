import assert from 'node:assert/strict';
import type { FakeOpenAI, RecordedRequest } from '../../tools/simulator/fake-openai.ts';
import { startFakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import type { TestGateway } from '../support/gateway-harness.ts';
import { chatBody, instance, postJson, startGateway } from '../support/gateway-harness.ts';
import { startRedisCluster, startRedisSentinel } from '../support/redis-topology.ts';
import type { RedisClusterSetup, RedisSentinelSetup } from '../support/redis-topology.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function within(ms: number, what: string, check: () => boolean): Promise<number> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > ms) throw new Error(`not within ${ms} ms: ${what}`);
    await sleep(10);
  }
  return Date.now() - started;
}

const fromGateway = (req: RecordedRequest) => req.headers['x-test-gateway'];
const prefix = 'aipm-failover:';

/** Two gateways on one Redis set-up, with traffic through both until told to stop. */
function fleetOn(redis: () => Record<string, unknown>) {
  let a: FakeOpenAI;
  let b: FakeOpenAI;
  const gateways: TestGateway[] = [];

  const config = () => ({
    server: { host: '127.0.0.1', port: 0 },
    admin: false,
    redis: { key_prefix: prefix, reconcile_interval_ms: 500, command_timeout_ms: 300, ...redis() },
    routes: [
      {
        id: 'chat',
        uris: ['/v1/*'],
        plugins: {
          'ai-proxy-multi': {
            // A plain failure count: the hundreds of answers sent during the failover must not dilute it.
            breaker: { failure_threshold: 3, reset_timeout_ms: 30_000, volume_threshold: 1_000_000 },
            instances: [instance('a', a.url, { priority: 1 }), instance('b', b.url)],
          },
        },
      },
    ],
  });
  const call = (gw: TestGateway, tag: string) => postJson(`${gw.url}/v1/chat/completions`, chatBody(), { 'x-test-gateway': tag });
  const breakerOf = (gw: TestGateway) => gw.gateway.routes[0]?.instances.get('a')?.breaker;

  return {
    get gateways() {
      return gateways;
    },
    get a() {
      return a;
    },
    call,
    breakerOf,
    async start() {
      a = await startFakeOpenAI({ name: 'a' });
      b = await startFakeOpenAI({ name: 'b' });
      for (let i = 0; i < 2; i++) gateways.push(await startGateway(config()));
      await within(5000, 'both gateways share state through Redis', () => gateways.every((g) => g.gateway.store.connected()));
    },
    async stop() {
      await Promise.all(gateways.splice(0).map((g) => g.close()));
      await Promise.all([a?.close(), b?.close()]);
    },
    /** Sends requests through both gateways, one at a time each, until `done` resolves. */
    async trafficDuring(done: Promise<unknown>): Promise<{ sent: number; failed: string[] }> {
      let stop = false;
      const failed: string[] = [];
      let sent = 0;
      const loop = async (gw: TestGateway, tag: string) => {
        while (!stop) {
          const res = await call(gw, tag);
          sent += 1;
          if (res.status !== 200) failed.push(`${res.status} ${res.text.slice(0, 200)}`);
        }
      };
      const loops = [loop(gateways[0] as TestGateway, 'x'), loop(gateways[1] as TestGateway, 'x')];
      try {
        await done;
      } finally {
        stop = true;
        await Promise.all(loops);
      }
      return { sent, failed };
    },
  };
}

/** What both topologies must show: failover under traffic, then a breaker shared by both gateways. */
async function failoverUnderTraffic(fleet: ReturnType<typeof fleetOn>, failover: () => Promise<void>): Promise<void> {
  const [g1, g2] = fleet.gateways as [TestGateway, TestGateway];
  const { sent, failed } = await fleet.trafficDuring(
    (async () => {
      await sleep(200);
      await failover();
      // The stores find the new master by themselves and resync before they say 'redis' again.
      await within(8000, 'both gateways to reconnect after the failover', () => g1.gateway.store.connected() && g2.gateway.store.connected());
      await sleep(300);
    })(),
  );
  assert.deepEqual(failed, [], `no client request failed during the failover (${sent} sent)`);
  assert.ok(sent >= 20, `traffic kept flowing: ${sent} requests`);
  for (const g of [g1, g2]) {
    assert.deepEqual(g.logs.filter((l) => l.level >= 50).map((l) => l.msg), [], 'no error was logged');
  }

  // After the failover a fails for gateway 1 only: its breaker opens, and gateway 2 learns it from Redis.
  fleet.a.setBehavior((req) => (fromGateway(req) === '1' ? { kind: 'status', status: 503 } : { kind: 'ok' }));
  for (let i = 0; i < 3; i++) assert.equal((await fleet.call(g1, '1')).status, 200, 'each failure falls back to b');
  await within(1000, 'gateway 1 opens the breaker', () => fleet.breakerOf(g1)?.state() === 'open');
  await within(1500, 'gateway 2 sees the breaker opened on gateway 1', () => fleet.breakerOf(g2)?.state() === 'open');
  const calls = fleet.a.calls();
  for (let i = 0; i < 3; i++) assert.equal((await fleet.call(g2, '2')).status, 200);
  assert.equal(fleet.a.calls(), calls, 'gateway 2 no longer sends to a');
}

describe('a fleet on a real Redis Cluster (3 masters, 1 replica each) whose master fails', function () {
  this.timeout(30_000);
  let cluster: RedisClusterSetup;
  const fleet = fleetOn(() => ({ cluster: cluster.urls.slice(0, 3) }));

  before(async () => {
    cluster = await startRedisCluster({ masters: 3, replicas: 1 });
  });
  after(async () => {
    await cluster?.stop();
  });
  beforeEach(() => fleet.start());
  afterEach(() => fleet.stop());

  it('keeps answering every request while the master of the breaker keys dies and its replica takes over, then shares a breaker opened after it', async () => {
    await failoverUnderTraffic(fleet, async () => {
      await cluster.killMasterFor(`${prefix}kv:breaker:chat/a`);
    });
  });
});

describe('a fleet on a real Redis Sentinel set-up (master, replica, 3 sentinels) whose master fails', function () {
  this.timeout(30_000);
  let sentinel: RedisSentinelSetup;
  const fleet = fleetOn(() => ({ sentinels: sentinel.sentinels, name: sentinel.name }));

  before(async () => {
    sentinel = await startRedisSentinel();
  });
  after(async () => {
    await sentinel?.stop();
  });
  beforeEach(() => fleet.start());
  afterEach(() => fleet.stop());

  it('keeps answering every request while the master dies and the sentinels promote the replica, then shares a breaker opened after it', async () => {
    await failoverUnderTraffic(fleet, () => sentinel.killMaster());
  });
});
