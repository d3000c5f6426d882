import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { FakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { startFakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import type { TestGateway } from '../support/gateway-harness.ts';
import { chatBody, instance, postJson, startGateway } from '../support/gateway-harness.ts';
import type { RedisProcess } from '../support/redis-server.ts';
import { startRedis } from '../support/redis-server.ts';

// Consumer and route limits through real gateways: fleet-wide on one real redis-server, per replica
// without it (or once it is gone), tokens charged from streamed usage, and the APISIX ai-rate-limiting
// scenarios.
const KEY = 'ck-limited-app-0123456789';
const auth = { authorization: `Bearer ${KEY}` };

interface Setup {
  consumer?: Record<string, unknown>;
  plugin?: Record<string, unknown>;
  rateLimiting?: Record<string, unknown>;
  redis?: { url: string; key_prefix: string };
}

function config(fakes: FakeOpenAI[], setup: Setup): Record<string, unknown> {
  return {
    server: { host: '127.0.0.1', port: 0 },
    admin: false,
    ...(setup.redis ? { redis: setup.redis } : {}),
    consumers: [{ name: 'app', keys: [KEY], ...setup.consumer }],
    routes: [
      {
        id: 'chat',
        uris: ['/v1/*'],
        auth: 'required',
        plugins: {
          'ai-proxy-multi': {
            instances: fakes.map((f, i) => instance(f.name, f.url, { priority: fakes.length - i, options: { model: 'gpt-4o-mini' } })),
            ...setup.plugin,
          },
          ...(setup.rateLimiting ? { 'ai-rate-limiting': setup.rateLimiting } : {}),
        },
      },
    ],
  };
}

const chat = (gw: TestGateway, headers: Record<string, string> = auth, body = chatBody()) => postJson(`${gw.url}/v1/chat/completions`, body, headers);
const tenTokens = { kind: 'ok' as const, usage: { prompt_tokens: 5, completion_tokens: 5 } };
let prefixes = 0;
const prefix = () => `limits${++prefixes}-${process.pid}:`;

describe('consumer and route limits', function () {
  this.timeout(30_000);
  let a: FakeOpenAI;
  let b: FakeOpenAI;
  const gateways: TestGateway[] = [];
  const start = async (cfg: Record<string, unknown>) => {
    const gw = await startGateway(cfg);
    gateways.push(gw);
    return gw;
  };

  before(async () => {
    a = await startFakeOpenAI({ name: 'a', behavior: tenTokens });
    b = await startFakeOpenAI({ name: 'b', behavior: tenTokens });
  });
  after(async () => {
    await Promise.all([a.close(), b.close()]);
  });
  beforeEach(() => {
    a.reset();
    b.reset();
  });
  afterEach(async () => {
    await Promise.all(gateways.splice(0).map((g) => g.close()));
  });

  describe('shared by two gateways through one redis-server', () => {
    let redis: RedisProcess;
    beforeEach(async () => {
      redis = await startRedis();
    });
    afterEach(async () => {
      await Promise.all(gateways.splice(0).map((g) => g.close()));
      await redis.stop();
    });

    it('admits exactly 10 of 16 concurrent requests across both for a limit of 10 requests', async () => {
      const shared = { url: redis.url, key_prefix: prefix() };
      const cfg = config([a], { consumer: { limits: { requests: { limit: 10, time_window: 60 } } }, redis: shared });
      const [one, two] = [await start(cfg), await start(cfg)];
      const answers = await Promise.all(Array.from({ length: 16 }, (_, i) => chat(i % 2 === 0 ? one : two)));
      const ok = answers.filter((r) => r.status === 200);
      const refused = answers.filter((r) => r.status === 429);
      assert.equal(ok.length, 10);
      assert.equal(refused.length, 6);
      assert.equal(a.calls(), 10, 'refused requests never reached the provider');
      const sample = refused[0];
      assert.equal(sample?.headers.get('x-ratelimit-limit-requests'), '10', 'our limit, not the provider\'s');
      assert.equal(sample?.headers.get('x-ratelimit-remaining-requests'), '0');
      assert.match(sample?.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
      assert.match(sample?.headers.get('x-ratelimit-reset-requests') ?? '', /^\d+s$/);
      assert.deepEqual((sample?.json as { error: { type: string } }).error.type, 'rate_limit_error');
      assert.match((sample?.json as { error: { message: string } }).error.message, /consumer app has used its limit of 10 requests per 60 s/);
    });

    it('shares a token window: streamed usage charged on one gateway is seen by the other', async () => {
      a.setBehavior({ kind: 'ok', usage: { prompt_tokens: 10, completion_tokens: 10 } });
      const cfg = config([a], { consumer: { limits: { tokens: { limit: 30, time_window: 60 } } }, redis: { url: redis.url, key_prefix: prefix() } });
      const [one, two] = [await start(cfg), await start(cfg)];
      const stream = (gw: TestGateway) => chat(gw, auth, chatBody({ stream: true }));
      const first = await stream(one);
      assert.equal(first.status, 200);
      assert.match(first.text, /data: \[DONE\]/);
      const second = await stream(two);
      assert.equal(second.headers.get('x-ratelimit-remaining-tokens'), '10', 'the other gateway\'s 20 tokens are counted');
      const third = await stream(one);
      assert.equal(third.status, 429);
      assert.equal(a.calls(), 2);
    });

    it('keeps limiting on each replica\'s own counts once Redis is killed, and says so', async () => {
      const shared = { url: redis.url, key_prefix: prefix() };
      const cfg = config([a], { consumer: { limits: { requests: { limit: 4, time_window: 60 } } }, redis: shared });
      const [one, two] = [await start(cfg), await start(cfg)];
      assert.equal((await chat(one)).status, 200);
      assert.equal((await chat(two)).status, 200);
      await redis.kill();
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) statuses.push((await chat(one)).status);
      // Counted by this replica alone from the outage on: the limit is looser, never off.
      assert.deepEqual(statuses, [200, 200, 200, 200, 429, 429]);
      assert.ok(
        one.logs.some((l) => l.level === 40 && /rate limits and budgets are counted by this replica alone/.test(l.msg)),
        'a warn line says limits are counted locally',
      );
    });
  });

  it('without Redis each gateway enforces the limit on its own', async () => {
    const cfg = config([a], { consumer: { limits: { requests: { limit: 3, time_window: 60 } } } });
    const [one, two] = [await start(cfg), await start(cfg)];
    const statuses = [];
    for (const gw of [one, one, one, one, two, two, two, two]) statuses.push((await chat(gw)).status);
    assert.deepEqual(statuses, [200, 200, 200, 429, 200, 200, 200, 429]);
  });

  it('counts pass-through requests against a consumer\'s request limit, with our headers in place of the provider\'s', async () => {
    const gw = await start(config([a], { consumer: { limits: { requests: { limit: 2, time_window: 60 } } }, plugin: { models_list: 'passthrough' } }));
    const get = () => fetch(`${gw.url}/v1/models`, { headers: auth });
    const answers = [await get(), await get(), await get()];
    assert.deepEqual(answers.map((r) => r.status), [200, 200, 429]);
    assert.equal(answers[0]?.headers.get('x-ratelimit-limit-requests'), '2');
    assert.equal(answers[1]?.headers.get('x-ratelimit-remaining-requests'), '0');
    assert.equal(a.calls('/v1/models'), 2);
    await Promise.all(answers.map((r) => r.body?.cancel()));
  });

  it('charges streamed answers when their usage arrives and refuses once the token window is spent', async () => {
    a.setBehavior({ kind: 'ok', usage: { prompt_tokens: 10, completion_tokens: 10 } });
    const gw = await start(config([a], { consumer: { limits: { tokens: { limit: 30, time_window: 60 } } } }));
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: KEY, maxRetries: 0 });
    const remaining: Array<string | null> = [];
    for (let i = 0; i < 2; i++) {
      const { data: stream, response } = await client.chat.completions
        .create({ model: 'x', messages: [{ role: 'user', content: 'Hi' }], stream: true })
        .withResponse();
      remaining.push(response.headers.get('x-ratelimit-remaining-tokens'));
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
      assert.ok(text.length > 0);
    }
    assert.deepEqual(remaining, ['30', '10']);
    await assert.rejects(
      client.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'Hi' }], stream: true }),
      (err: unknown) => err instanceof OpenAI.RateLimitError && /40|used its limit of 30 total tokens/.test(err.message),
    );
    assert.equal(a.calls(), 2);
  });

  it('charges an estimate for a stream cut before its usage, and logs that it did', async () => {
    a.setBehavior({ kind: 'stream-cut', afterChunks: 2 });
    const gw = await start(config([a], { consumer: { limits: { tokens: { limit: 1000, time_window: 60 } } } }));
    const body = chatBody({ stream: true, messages: [{ role: 'user', content: 'x'.repeat(400) }] });
    const cut = await chat(gw, auth, body);
    assert.equal(cut.status, 200);
    const record = gw.access().at(-1);
    assert.equal(record?.['usage_estimated'], true);
    assert.ok(gw.logs.some((l) => l.level === 40 && /carried no usage \(stream cut before its usage\); limits charged an estimate of \d+ tokens/.test(l.msg)));
    a.setBehavior(tenTokens);
    const next = await chat(gw);
    const left = Number(next.headers.get('x-ratelimit-remaining-tokens'));
    assert.ok(left <= 1000 - 100, `an estimate of at least 100 tokens (400 bytes of prompt) was charged, ${left} left`);
  });

  it('refuses a consumer over its budget at the request the price says, with a clear message', async () => {
    // 1000 USD per million tokens: each answer's 10 tokens cost $0.01, so a $0.025 budget admits three.
    const price = { input_mtok: 1000, output_mtok: 1000 };
    const cfg = config([a], { consumer: { budget_usd: 0.025, budget_window: 3600 } });
    const route = (cfg['routes'] as Array<{ plugins: { 'ai-proxy-multi': { instances: Array<Record<string, unknown>> } } }>)[0];
    const first = route?.plugins['ai-proxy-multi'].instances[0];
    if (first) first['price'] = price;
    const gw = await start(cfg);
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push(await chat(gw));
    assert.deepEqual(statuses.map((r) => r.status), [200, 200, 200, 429]);
    assert.match((statuses[3]?.json as { error: { message: string } }).error.message, /consumer app has spent its budget of \$0.025 per 3600 s/);
    assert.equal(a.calls(), 3);
  });

  describe('ai-rate-limiting next to ai-proxy-multi', () => {
    const instanceLimits = { instances: [{ name: 'a', limit: 10, time_window: 60 }, { name: 'b', limit: 10, time_window: 60 }] };

    it('APISIX\'s scenario: request 1 on the higher priority instance, 2 on the other, 3 refused with 429', async () => {
      const gw = await start(config([a, b], { plugin: { fallback_strategy: 'instance_health_and_rate_limiting' }, rateLimiting: instanceLimits }));
      const answers = [await chat(gw), await chat(gw), await chat(gw)];
      assert.deepEqual(answers.map((r) => r.status), [200, 200, 429]);
      assert.deepEqual(answers.slice(0, 2).map((r) => r.headers.get('x-ai-proxy-instance')), ['a', 'b']);
      assert.match(answers[2]?.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
      assert.match((answers[2]?.json as { error: { message: string } }).error.message, /every instance of route chat is over its rate limit/);
      assert.equal(a.calls() + b.calls(), 2);
    });

    it('the array form ["rate_limiting", ...] picks the same way', async () => {
      const gw = await start(config([a, b], { plugin: { fallback_strategy: ['rate_limiting', 'http_429'] }, rateLimiting: instanceLimits }));
      const answers = [await chat(gw), await chat(gw), await chat(gw)];
      assert.deepEqual(answers.map((r) => r.headers.get('x-ai-proxy-instance') ?? r.status), ['a', 'b', 429]);
    });

    it('without rate_limiting, instance limits are not consulted (APISIX\'s meaning)', async () => {
      const gw = await start(config([a, b], { rateLimiting: instanceLimits }));
      const answers = [await chat(gw), await chat(gw), await chat(gw)];
      assert.deepEqual(answers.map((r) => r.headers.get('x-ai-proxy-instance')), ['a', 'a', 'a']);
    });

    it('a route limit refuses with rejected_code and rejected_msg and shows its quota headers', async () => {
      const gw = await start(config([a], {
        rateLimiting: { limit: 15, time_window: 60, rejected_code: 503, rejected_msg: 'route quota spent' },
      }));
      const answers = [await chat(gw), await chat(gw), await chat(gw)];
      assert.deepEqual(answers.map((r) => r.status), [200, 200, 503]);
      assert.deepEqual(answers.map((r) => r.headers.get('x-ratelimit-remaining-tokens')), ['15', '5', '0']);
      assert.equal(answers[0]?.headers.get('x-ratelimit-limit-tokens'), '15');
      assert.equal((answers[2]?.json as { error: { message: string } }).error.message, 'route quota spent');
      assert.ok(answers[2]?.headers.get('retry-after'));
    });

    it('show_limit_quota_header false leaves the provider\'s own headers alone; rejected_code defaults to 429', async () => {
      const gw = await start(config([a], { rateLimiting: { limit: 5, time_window: 60, show_limit_quota_header: false } }));
      const first = await chat(gw);
      assert.equal(first.headers.get('x-ratelimit-limit-tokens'), null);
      assert.equal(first.headers.get('x-ratelimit-limit-requests'), '10000', 'the provider\'s header is relayed');
      const refused = await postJson(`${gw.url}/v1/messages`, { model: 'c', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }] }, auth);
      assert.equal(refused.status, 429);
      assert.equal((refused.json as { type: string; error: { type: string } }).error.type, 'rate_limit_error', 'in the Anthropic shape');
      assert.equal((refused.json as { type: string }).type, 'error');
    });

    it('rules count per key value: one team spent, another still served', async () => {
      const gw = await start(config([a], { rateLimiting: { rules: [{ count: 10, time_window: 60, key: '$http_x_team' }] } }));
      const team = (t: string) => ({ ...auth, 'x-team': t });
      assert.equal((await chat(gw, team('red'))).status, 200);
      assert.equal((await chat(gw, team('red'))).status, 429);
      assert.equal((await chat(gw, team('blue'))).status, 200);
    });
  });
});
