import assert from 'node:assert/strict';
import type { ConsumerConfig, RouteConfig } from '../../lib/config/types.ts';
import { RateLimitedError } from '../../lib/errors.ts';
import { createLimitCounter } from '../../lib/limits/limit-counter.ts';
import { compileRuleKey, createRequestLimits } from '../../lib/limits/request-limits.ts';
import { createMemoryStore } from '../../lib/state/memory-store.ts';
import { captureLogger } from '../support/gateway-harness.ts';
import { createManualClock } from '../support/manual-clock.ts';

const consumer = (limits: ConsumerConfig['limits']): ConsumerConfig => ({ name: 'app', key_digests: [], labels: {}, limits });
const route = (rate: RouteConfig['rate_limiting']): RouteConfig => ({ id: 'chat', auth: 'optional', rate_limiting: rate } as RouteConfig);
const vars = (headers: Record<string, string> = {}) => ({ path: '/v1/chat/completions', query: {}, headers, remoteAddr: '10.0.0.1' });

describe('request limits', () => {
  const setup = (r: RouteConfig) => {
    const clock = createManualClock(600_000);
    const { log } = captureLogger();
    return { clock, limits: createRequestLimits(r, createLimitCounter(createMemoryStore({ clock }), clock, log)) };
  };

  it('reads rule keys with their $variables, and skips a rule whose variables are all empty', () => {
    const key = compileRuleKey('team:$http_x_team/$remote_addr');
    assert.equal(key.length, 4);
    const { limits } = setup(route({ limit_strategy: 'total_tokens', instances: [], rules: [{ limit: 5, time_window: 60, key: '$http_x_team' }], show_limit_quota_header: true, rejected_code: 429 }));
    assert.equal(limits.applies(undefined), true);
    return limits.admit(undefined, vars()).then((a) => assert.deepEqual(a.headers, {}, 'no team: the rule does not apply'));
  });

  it('gives back a refused request, so a window refills on time however often a client retries', async () => {
    const { clock, limits } = setup(route(null));
    const app = consumer({ requests: { limit: 2, time_window: 10 } });
    await limits.admit(app, vars());
    await limits.admit(app, vars());
    for (let i = 0; i < 5; i++) {
      clock.advance(1000);
      await assert.rejects(limits.admit(app, vars()), (err: unknown) => err instanceof RateLimitedError && err.status === 429);
    }
    clock.advance(5000); // 10 s after the two admitted requests: only they were ever counted
    const admitted = await limits.admit(app, vars());
    assert.equal(admitted.headers['x-ratelimit-remaining-requests'], '1');
  });

  it('refuses once the token window is spent, with the tightest limit in the headers', async () => {
    const { limits } = setup(route({ route: { limit: 100, time_window: 60 }, limit_strategy: 'prompt_tokens', instances: [], rules: [], show_limit_quota_header: true, rejected_code: 503 }));
    const app = consumer({ tokens: { limit: 1000, time_window: 60 } });
    const first = await limits.admit(app, vars());
    assert.equal(first.headers['x-ratelimit-limit-tokens'], '100');
    await first.charge({ prompt_tokens: 100, completion_tokens: 500, total_tokens: 600 }, undefined);
    await assert.rejects(limits.admit(app, vars()), (err: unknown) =>
      err instanceof RateLimitedError && err.status === 503 && /route chat has used its limit of 100 prompt tokens per 60 s/.test(err.message) &&
      err.headers['x-ratelimit-remaining-tokens'] === '0' && Number(err.headers['retry-after']) > 0);
  });
});
