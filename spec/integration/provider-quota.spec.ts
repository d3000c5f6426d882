import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import type { FakeAnthropic } from '../../tools/simulator/fake-anthropic.ts';
import { startFakeAnthropic } from '../../tools/simulator/fake-anthropic.ts';
import type { Behavior, FakeOpenAI, RecordedRequest } from '../../tools/simulator/fake-openai.ts';
import { startFakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import type { TestGateway } from '../support/gateway-harness.ts';
import { instance, postJson, startGateway } from '../support/gateway-harness.ts';
import type { RedisProcess } from '../support/redis-server.ts';
import { startRedis } from '../support/redis-server.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function within(ms: number, check: () => boolean): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > ms) throw new Error(`not true within ${ms} ms`);
    await sleep(10);
  }
}

const tagOf = (req: RecordedRequest) => String(req.headers['x-test-gateway']);
const chat = { model: 'client-model', messages: [{ role: 'user', content: 'Hi' }] };
const message = { model: 'client-model', max_tokens: 50, messages: [{ role: 'user', content: 'Hi' }] };

describe('provider quota headers: the fleet stops sending to a key its provider says is used up', function () {
  this.timeout(30_000);
  let redis: RedisProcess;
  const gateways: TestGateway[] = [];
  const fakes: Array<{ close(): Promise<void> }> = [];

  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis.stop();
  });
  afterEach(async () => {
    await Promise.all(gateways.splice(0).map((g) => g.close()));
    await Promise.all(fakes.splice(0).map((f) => f.close()));
  });

  function config(routes: Array<{ id: string; uri: string; instances: unknown[] }>): Record<string, unknown> {
    return {
      server: { host: '127.0.0.1', port: 0 },
      admin: false,
      redis: { url: redis.url, key_prefix: `q${Date.now()}:`, reconcile_interval_ms: 500 },
      routes: routes.map((r) => ({ id: r.id, uri: r.uri, plugins: { 'ai-proxy-multi': { instances: r.instances } } })),
    };
  }
  async function pair(cfg: Record<string, unknown>): Promise<[TestGateway, TestGateway]> {
    const one = await startGateway(cfg);
    const two = await startGateway(cfg);
    gateways.push(one, two);
    return [one, two];
  }
  const quotaOf = (gw: TestGateway, name: string) => gw.gateway.routes[0]?.instances.get(name)?.quota;

  /**
   * Sends through both gateways in turn for `ms`, each answer a 200; returns how many went, per gateway.
   * Every one must be answered by another instance while the held one is out.
   */
  async function trafficFor(ms: number, send: (gw: TestGateway, tag: string) => Promise<number>, g1: TestGateway, g2: TestGateway): Promise<number> {
    const started = Date.now();
    let sent = 0;
    while (Date.now() - started < ms) {
      assert.equal(await send(g1, '1'), 200);
      assert.equal(await send(g2, '2'), 200);
      sent += 2;
      await sleep(25);
    }
    return sent;
  }

  it('OpenAI: `x-ratelimit-remaining-requests: 0` with a 2 s reset keeps both gateways off the key until the reset', async () => {
    let announced = 0;
    const held = await startFakeOpenAI({
      name: 'held',
      behavior: (_req, i) => {
        if (i > 0) return { kind: 'ok' };
        announced = Date.now();
        return { kind: 'ok', headers: { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '2s' } };
      },
    });
    const spare = await startFakeOpenAI({ name: 'spare' });
    fakes.push(held, spare);
    const [g1, g2] = await pair(config([{ id: 'chat', uri: '/v1/chat/completions', instances: [instance('held', held.url, { priority: 1 }), instance('spare', spare.url)] }]));
    const send = async (gw: TestGateway, tag: string) => (await postJson(`${gw.url}/v1/chat/completions`, chat, { 'x-test-gateway': tag })).status;

    assert.equal(await send(g1, '1'), 200);
    assert.equal(held.calls(), 1, 'the first request went to the higher priority instance');
    await within(500, () => quotaOf(g2, 'held')?.allows() === false);

    // Until shortly before the reset, everything goes to the spare, from both gateways.
    const sent = await trafficFor(1700 - (Date.now() - announced), send, g1, g2);
    assert.ok(sent >= 4, `traffic was sent while the key was held (${sent})`);
    assert.equal(held.calls(), 1, 'no request reached the used-up key');
    assert.equal(spare.requests.filter((r) => tagOf(r) === '1').length, sent / 2);
    assert.equal(spare.requests.filter((r) => tagOf(r) === '2').length, sent / 2);

    // After the reset both gateways send to it again.
    await sleep(Math.max(0, 2100 - (Date.now() - announced)));
    assert.equal(await send(g1, '1'), 200);
    assert.equal(await send(g2, '2'), 200);
    assert.deepEqual(held.requests.slice(1).map(tagOf), ['1', '2']);
    const warned = [...g1.logs, ...g2.logs].filter((l) => /no requests left \(x-ratelimit-remaining-requests: 0, reset 2s\)/.test(l.msg));
    assert.equal(warned.length, 1, 'one warn, by the gateway that saw the header');
  });

  it('Anthropic: `anthropic-ratelimit-tokens-remaining: 0` with an RFC 3339 reset keeps both gateways off the key until then', async () => {
    let resetAt = 0;
    const held = await startFakeAnthropic({
      name: 'held',
      behavior: (_req, i) => {
        if (i > 0) return { kind: 'ok' };
        resetAt = Date.now() + 2000;
        return {
          kind: 'ok',
          headers: {
            'anthropic-ratelimit-tokens-remaining': '0',
            'anthropic-ratelimit-tokens-reset': new Date(resetAt).toISOString(),
            'anthropic-ratelimit-requests-remaining': '900',
          },
        };
      },
    });
    const spare = await startFakeAnthropic({ name: 'spare' });
    fakes.push(held, spare);
    const claude = (name: string, url: string, more: Record<string, unknown> = {}) => ({
      name,
      provider: 'anthropic',
      auth: { header: { 'x-api-key': `sk-ant-${name}-key` } },
      options: { model: 'claude-sonnet-4-5' },
      override: { endpoint: url },
      ...more,
    });
    const [g1, g2] = await pair(config([{ id: 'messages', uri: '/v1/messages', instances: [claude('held', held.url, { priority: 1 }), claude('spare', spare.url)] }]));
    const send = async (gw: TestGateway, tag: string) => (await postJson(`${gw.url}/v1/messages`, message, { 'x-test-gateway': tag })).status;

    assert.equal(await send(g1, '1'), 200);
    await within(500, () => quotaOf(g2, 'held')?.allows() === false);
    const sent = await trafficFor(resetAt - 300 - Date.now(), send, g1, g2);
    assert.ok(sent >= 4);
    assert.equal(held.calls(), 1, 'no request reached the key with no tokens left');

    await sleep(Math.max(0, resetAt + 100 - Date.now()));
    assert.equal(await send(g2, '2'), 200);
    assert.equal(await send(g1, '1'), 200);
    assert.deepEqual(held.requests.slice(1).map(tagOf), ['2', '1']);
  });

  it('answers 429 with the earliest reset as Retry-After, in the client\'s shape, when every instance is used up', async () => {
    const zero = (reset: string) => ({ kind: 'ok' as const, headers: { 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': reset } });
    const a = await startFakeOpenAI({ name: 'a', behavior: zero('5s') });
    const b = await startFakeOpenAI({ name: 'b', behavior: zero('2s') });
    fakes.push(a, b);
    const instances = [instance('a', a.url, { priority: 1 }), instance('b', b.url)];
    const [g1, g2] = await pair(
      config([
        { id: 'chat', uri: '/v1/chat/completions', instances },
        { id: 'messages', uri: '/v1/messages', instances },
      ]),
    );
    // Two answers use both keys up (a, then b on the next pick); every later request is refused at once.
    assert.equal((await postJson(`${g1.url}/v1/chat/completions`, chat)).status, 200);
    assert.equal((await postJson(`${g1.url}/v1/chat/completions`, chat)).status, 200);
    assert.equal(a.calls() + b.calls(), 2);
    await within(500, () => quotaOf(g2, 'a')?.allows() === false && quotaOf(g2, 'b')?.allows() === false);

    const openai = new OpenAI({ baseURL: `${g2.url}/v1`, apiKey: 'client-key', maxRetries: 0 });
    const refused = await openai.chat.completions.create({ model: 'client-model', messages: [{ role: 'user', content: 'Hi' }] }).then(
      () => assert.fail('expected a 429'),
      (err: unknown) => err,
    );
    assert.ok(refused instanceof OpenAI.RateLimitError, `a RateLimitError, got ${String(refused)}`);
    assert.equal(refused.status, 429);
    assert.equal((refused.error as { type?: string }).type, 'rate_limit_error');
    assert.equal(refused.headers?.get('retry-after'), '2', 'the earlier of the two resets (b: 2 s), in whole seconds');
    const ms = Number(refused.headers?.get('retry-after-ms'));
    assert.ok(ms > 1000 && ms <= 2000, `retry-after-ms ${ms}`);

    // The Anthropic SDK on the same instances gets Anthropic's error shape.
    const anthropic = new Anthropic({ baseURL: g1.url, apiKey: 'client-key', maxRetries: 0 });
    const refusedToo = await anthropic.messages.create(message as Anthropic.MessageCreateParamsNonStreaming).then(
      () => assert.fail('expected a 429'),
      (err: unknown) => err,
    );
    assert.ok(refusedToo instanceof Anthropic.RateLimitError);
    assert.deepEqual((refusedToo.error as { type?: string; error?: { type?: string } }).error?.type, 'rate_limit_error');
    assert.equal(a.calls() + b.calls(), 2, 'nothing was sent to a used-up key');
    const access = g2.access().at(-1);
    assert.equal(access?.['status'], 429);
    assert.deepEqual(access?.['attempts'], []);

    // Once b's reset has passed, it serves again.
    await sleep(Math.max(0, ms + 100));
    assert.equal((await postJson(`${g2.url}/v1/chat/completions`, chat)).status, 200);
    assert.equal(b.calls(), 2);
  });

  it('works on one gateway without Redis, and shows the hold in /status and the metrics', async () => {
    const only = await startFakeOpenAI({ name: 'only', behavior: { kind: 'ok', headers: { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '1m0s' } } });
    fakes.push(only);
    const gw = await startGateway({
      server: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
      routes: [{ id: 'chat', uri: '/v1/chat/completions', plugins: { 'ai-proxy-multi': { instances: [instance('only', only.url)] } } }],
    });
    gateways.push(gw);
    assert.equal((await postJson(`${gw.url}/v1/chat/completions`, chat)).status, 200);
    const refused = await postJson(`${gw.url}/v1/chat/completions`, chat);
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get('retry-after'), '60');
    assert.match((refused.json as { error: { message: string } }).error.message, /out of provider quota/);
    assert.equal(only.calls(), 1);

    const status = (await (await fetch(`${gw.adminUrl}/status`)).json()) as { routes: Array<{ instances: Array<{ provider_quota: { until: string; reason: string } | null }> }> };
    const held = status.routes[0]?.instances[0]?.provider_quota;
    assert.match(held?.reason ?? '', /no requests left \(x-ratelimit-remaining-requests: 0, reset 1m0s\)/);
    const untilMs = Date.parse(held?.until ?? '') - Date.now();
    assert.ok(untilMs > 55_000 && untilMs <= 60_000, `held for about a minute (${untilMs} ms left)`);
    const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    assert.match(metrics, /aipm_instance_provider_quota_held\{route="chat",instance="only"\} 1/);
  });

  it('reads the headers of a passed-through answer too', async () => {
    const only = await startFakeOpenAI({ name: 'only', behavior: { kind: 'ok', headers: { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '30s' } } });
    fakes.push(only);
    const gw = await startGateway({
      server: { host: '127.0.0.1', port: 0 },
      admin: false,
      routes: [{ id: 'all', uri: '/v1/*', plugins: { 'ai-proxy-multi': { models_list: 'passthrough', instances: [instance('only', only.url)] } } }],
    });
    gateways.push(gw);
    const listed = await fetch(`${gw.url}/v1/models`);
    assert.equal(listed.status, 200);
    assert.equal(listed.headers.get('x-ratelimit-remaining-requests'), '0', 'relayed to the client as it came');
    const refused = await postJson(`${gw.url}/v1/chat/completions`, chat);
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get('retry-after'), '30');
    assert.equal((await fetch(`${gw.url}/v1/models`)).status, 429, 'pass-through is held out too');
    assert.equal(only.calls(), 1);
  });

  it('Azure OpenAI: whole-second resets, and -1 (no limit reported) ignored', async () => {
    let i = 0;
    const azure = await startFakeOpenAI({
      name: 'azure',
      behavior: (): Behavior => {
        i += 1;
        // First an answer that reports no limit at all, then one with no tokens left for 2 s.
        if (i === 1) return { kind: 'ok', headers: { 'x-ratelimit-remaining-tokens': '-1', 'x-ratelimit-reset-tokens': '0' } };
        return { kind: 'ok', headers: { 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '2', 'x-ratelimit-remaining-requests': '99' } };
      },
    });
    fakes.push(azure);
    const deployment = {
      name: 'azure',
      provider: 'azure-openai',
      auth: { header: { 'api-key': 'azure-gateway-key' } },
      options: { model: 'gpt-4o-mini' },
      override: { endpoint: azure.url },
    };
    const gw = await startGateway({
      server: { host: '127.0.0.1', port: 0 },
      admin: false,
      routes: [{ id: 'chat', uri: '/v1/chat/completions', plugins: { 'ai-proxy-multi': { instances: [deployment] } } }],
    });
    gateways.push(gw);
    assert.equal((await postJson(`${gw.url}/v1/chat/completions`, chat)).status, 200);
    assert.equal((await postJson(`${gw.url}/v1/chat/completions`, chat)).status, 200, '-1 is not a used-up limit');
    assert.match(azure.requests[1]?.path ?? '', /^\/openai\/deployments\/gpt-4o-mini\/chat\/completions/);
    const refused = await postJson(`${gw.url}/v1/chat/completions`, chat);
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get('retry-after'), '2');
    assert.equal(azure.calls(), 2);
  });
});
