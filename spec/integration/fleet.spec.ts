import assert from 'node:assert/strict';
import type { FakeOpenAI, RecordedRequest } from '../../tools/simulator/fake-openai.ts';
import { startFakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import type { TestGateway } from '../support/gateway-harness.ts';
import { chatBody, instance, postJson, startGateway } from '../support/gateway-harness.ts';
import type { RedisProcess } from '../support/redis-server.ts';
import { startRedis, startSilentServer } from '../support/redis-server.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `check` is true or `ms` passed; returns the time it took. */
async function within(ms: number, check: () => boolean): Promise<number> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > ms) throw new Error(`not true within ${ms} ms`);
    await sleep(10);
  }
  return Date.now() - started;
}

const fromGateway = (req: RecordedRequest) => req.headers['x-test-gateway'];

describe('two gateway replicas sharing one Redis', function () {
  this.timeout(30_000);
  let redis: RedisProcess;
  let a: FakeOpenAI;
  let b: FakeOpenAI;
  const gateways: TestGateway[] = [];

  const config = (plugin: Record<string, unknown> = {}, aMore: Record<string, unknown> = {}) => ({
    server: { host: '127.0.0.1', port: 0 },
    admin: false,
    redis: { url: redis.url, key_prefix: `t${Date.now()}:`, reconcile_interval_ms: 500 },
    routes: [
      {
        id: 'chat',
        uris: ['/v1/*'],
        plugins: {
          'ai-proxy-multi': {
            breaker: { failure_threshold: 3, reset_timeout_ms: 1500, window_ms: 10_000 },
            instances: [instance('a', a.url, { priority: 1, ...aMore }), instance('b', b.url)],
            ...plugin,
          },
        },
      },
    ],
  });
  async function pair(cfg: Record<string, unknown>): Promise<[TestGateway, TestGateway]> {
    const one = await startGateway(cfg);
    const two = await startGateway(cfg);
    gateways.push(one, two);
    return [one, two];
  }
  const call = (gw: TestGateway, tag: string) =>
    postJson(`${gw.url}/v1/chat/completions`, chatBody(), { 'x-test-gateway': tag });
  const breakerOf = (gw: TestGateway, name = 'a') => gw.gateway.routes[0]?.instances.get(name)?.breaker;

  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis.stop();
  });
  beforeEach(async () => {
    a = await startFakeOpenAI({ name: 'a' });
    b = await startFakeOpenAI({ name: 'b' });
  });
  afterEach(async () => {
    await Promise.all(gateways.splice(0).map((g) => g.close()));
    await Promise.all([a.close(), b.close()]);
  });

  it('benches an instance on every replica once one replica sees it fail, and lets exactly one trial through', async () => {
    a.setBehavior((req) => (fromGateway(req) === '1' ? { kind: 'status', status: 503 } : { kind: 'ok' }));
    const [g1, g2] = await pair(config());
    for (let i = 0; i < 3; i++) assert.equal((await call(g1, '1')).status, 200, 'each failure falls back to b');
    await within(500, () => breakerOf(g1)?.state() === 'open');
    const took = await within(1000, () => breakerOf(g2)?.state() === 'open');
    assert.ok(took < 1000, `replica 2 saw the open breaker after ${took} ms`);

    const before = a.calls();
    for (let i = 0; i < 5; i++) assert.equal((await call(g2, '2')).status, 200);
    assert.equal(a.calls(), before, 'replica 2 no longer sends to a, without having seen a failure itself');

    // After the reset timeout a recovers; requests from both replicas at once: only one trial reaches a.
    a.setBehavior({ kind: 'delay', ms: 400, then: { kind: 'ok' } });
    await sleep(1600);
    const calls = a.calls();
    const burst: Array<Promise<unknown>> = [];
    for (let round = 0; round < 6; round++) {
      burst.push(call(g1, '1'), call(g2, '2'));
      await sleep(40); // the first request of the burst may be the one that wins the lease
    }
    await Promise.all(burst);
    assert.equal(a.calls() - calls, 1, 'exactly one trial request reached a across both replicas');
    await within(1000, () => breakerOf(g1)?.state() === 'closed' && breakerOf(g2)?.state() === 'closed');
    a.setBehavior({ kind: 'ok' });
    const after = a.calls();
    await call(g1, '1');
    await call(g2, '2');
    assert.equal(a.calls() - after, 2, 'both replicas send to a again');
  });

  it('opens the breaker when failures split across replicas reach the threshold (3 + 2 of 5)', async () => {
    a.setBehavior({ kind: 'status', status: 500 });
    const [g1, g2] = await pair(config({ breaker: { failure_threshold: 5, reset_timeout_ms: 30_000 } }));
    for (let i = 0; i < 3; i++) await call(g1, '1');
    for (let i = 0; i < 2; i++) await call(g2, '2');
    await within(1000, () => breakerOf(g1)?.state() === 'open' && breakerOf(g2)?.state() === 'open');
  });

  it('answers 503 with Retry-After in the client protocol when every instance is benched', async () => {
    a.setBehavior({ kind: 'status', status: 503 });
    b.setBehavior({ kind: 'status', status: 503 });
    const [g1] = await pair(config({ breaker: { failure_threshold: 2, reset_timeout_ms: 20_000 } }));
    await call(g1, '1');
    await call(g1, '1');
    await within(1000, () => breakerOf(g1, 'a')?.state() === 'open' && breakerOf(g1, 'b')?.state() === 'open');
    const calls = a.calls() + b.calls();
    const res = await call(g1, '1');
    assert.equal(res.status, 503);
    assert.ok(Number(res.headers.get('retry-after')) >= 18, `retry-after ${res.headers.get('retry-after')}`);
    assert.match((res.json as { error: { message: string } }).error.message, /circuit breaker/);
    assert.equal(a.calls() + b.calls(), calls, 'failed fast, no upstream call');
  });

  it('probes each instance from one replica only, and another takes over when it stops', async () => {
    const check = { active: { type: 'http', http_path: '/v1/models', timeout: 1, healthy: { interval: 1 }, unhealthy: { interval: 1 } } };
    const [g1, g2] = await pair(config({}, { checks: check }));
    await sleep(3500);
    const probes = a.calls('/v1/models');
    assert.ok(probes >= 2 && probes <= 5, `${probes} probes in 3.5 s from two replicas (one per interval expected)`);
    const probeRequest = a.requests.filter((r) => r.path === '/v1/models').at(-1);
    assert.equal(probeRequest?.headers['authorization'], 'Bearer sk-a-secret-key-123456', 'the probe carries the instance key');

    // Stop the replica that probes; the other must take over.
    const probing = (g: TestGateway) => g.gateway.routes[0]?.instances.get('a')?.health?.snapshot().probing === true;
    assert.equal([g1, g2].filter(probing).length, 1, 'exactly one replica holds the probe lease');
    const [prober, other] = probing(g1) ? [g1, g2] : [g2, g1];
    await prober.close();
    gateways.splice(gateways.indexOf(prober), 1);
    const afterStop = a.calls('/v1/models');
    await sleep(3500);
    assert.ok(a.calls('/v1/models') - afterStop >= 2, 'the remaining replica probes');
    assert.equal(probing(other), true);
    assert.equal(other.gateway.routes[0]?.instances.get('a')?.health?.healthy(), true);
  });

  // These two send plenty of successful traffic first: a huge volume_threshold keeps the breaker on its
  // plain failure count (otherwise 3 failures among hundreds of answers rightly do not open it).
  const countOnly = { breaker: { failure_threshold: 3, reset_timeout_ms: 1500, volume_threshold: 1_000_000 } };

  it('keeps serving while Redis is down and shares a breaker opened during the outage once Redis is back', async () => {
    const [g1, g2] = await pair(config(countOnly));
    let failed = 0;
    let sent = 0;
    const traffic = (async () => {
      for (let i = 0; i < 300; i++) {
        const res = await call(i % 2 ? g1 : g2, 'x');
        sent += 1;
        if (res.status !== 200) failed += 1;
      }
    })();
    await sleep(100);
    await redis.kill();
    await traffic;
    assert.equal(sent, 300);
    assert.equal(failed, 0, 'no client request failed because Redis died');
    const warnings = g1.logs.filter((l) => /redis unavailable/.test(l.msg));
    assert.equal(warnings.length, 1, 'the outage is logged once, not per request');

    // During the outage a fails on replica 1 only: its breaker opens locally.
    a.setBehavior((req) => (fromGateway(req) === '1' ? { kind: 'status', status: 503 } : { kind: 'ok' }));
    for (let i = 0; i < 3; i++) await call(g1, '1');
    await within(500, () => breakerOf(g1)?.state() === 'open');
    assert.equal(breakerOf(g2)?.state(), 'closed', 'replica 2 cannot know yet');

    redis = await startRedis({ port: redis.port });
    await within(8000, () => breakerOf(g2)?.state() === 'open');
  });

  it('serves normally when Redis accepts connections but never answers', async () => {
    const silent = await startSilentServer();
    try {
      const cfg = config(countOnly);
      (cfg as { redis: Record<string, unknown> }).redis = { url: silent.url, command_timeout_ms: 200 };
      const started = Date.now();
      const [g1] = await pair(cfg);
      assert.ok(Date.now() - started < 5000, 'start-up is bounded');
      for (let i = 0; i < 20; i++) assert.equal((await call(g1, '1')).status, 200);
      a.setBehavior({ kind: 'status', status: 503 });
      for (let i = 0; i < 3; i++) assert.equal((await call(g1, '1')).status, 200);
      await within(1000, () => breakerOf(g1)?.state() === 'open');
    } finally {
      await Promise.all(gateways.splice(0).map((g) => g.close()));
      await silent.close();
    }
  });
});
