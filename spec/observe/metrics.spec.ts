import assert from 'node:assert/strict';
import { createMetrics } from '../../lib/observe/metrics.ts';
import { startFakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import type { FakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { instance, routeConfig, startGateway } from '../support/gateway-harness.ts';
import type { TestGateway } from '../support/gateway-harness.ts';
import { startRedis } from '../support/redis-server.ts';

const connectedLine = /^aipm_redis_connected (\d+)$/m;

describe('metrics: aipm_redis_connected', function () {
  it('reads the Redis state at each scrape, 1 or 0, and is absent when no Redis source is given', async () => {
    let up = true;
    const metrics = createMetrics(() => [], () => up);
    assert.equal(connectedLine.exec(await metrics.registry.metrics())?.[1], '1');
    up = false;
    assert.equal(connectedLine.exec(await metrics.registry.metrics())?.[1], '0');
    assert.doesNotMatch(await createMetrics(() => []).registry.metrics(), /aipm_redis_connected/);
  });

  describe('on a gateway', function () {
    let upstream: FakeOpenAI;
    const gateways: TestGateway[] = [];
    before(async () => {
      upstream = await startFakeOpenAI();
    });
    after(async () => {
      await upstream.close();
    });
    afterEach(async () => {
      await Promise.all(gateways.splice(0).map((g) => g.close()));
    });

    const admin = { admin: { host: '127.0.0.1', port: 0, api_key: 'admin-secret' } };
    async function scrape(gw: TestGateway): Promise<string> {
      const res = await fetch(`${gw.adminUrl}/metrics`, { headers: { 'x-api-key': 'admin-secret' } });
      assert.equal(res.status, 200);
      return res.text();
    }

    it('shows 1 while Redis answers and 0 once it dies, and leaves it out without Redis', async () => {
      const redis = await startRedis();
      try {
        const gw = await startGateway(routeConfig({ instances: [instance('up', upstream.url)] }, { ...admin, redis: { url: redis.url, key_prefix: 'm:' } }));
        gateways.push(gw);
        assert.equal(connectedLine.exec(await scrape(gw))?.[1], '1');
        await redis.kill();
        const started = Date.now();
        while (connectedLine.exec(await scrape(gw))?.[1] !== '0') {
          assert.ok(Date.now() - started < 3000, 'still 1 three seconds after Redis died');
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      } finally {
        await redis.stop();
      }
      const alone = await startGateway(routeConfig({ instances: [instance('up', upstream.url)] }, admin));
      gateways.push(alone);
      assert.doesNotMatch(await scrape(alone), /aipm_redis_connected/);
    });
  });
});
