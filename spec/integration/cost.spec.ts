import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import type { FakeAnthropic } from '../../tools/simulator/fake-anthropic.ts';
import { startFakeAnthropic } from '../../tools/simulator/fake-anthropic.ts';
import type { FakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { startFakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import type { TestGateway } from '../support/gateway-harness.ts';
import { chatBody, postJson, startGateway } from '../support/gateway-harness.ts';

// Every figure below is worked out by hand from the vendors' published prices per million tokens,
// which spec/cost/cost-usd.spec.ts checks the pinned price table holds:
// gpt-4o-mini $0.15 in / $0.075 cached / $0.60 out; o4-mini $1.10 / $0.275 / $4.40;
// claude-sonnet-4-5 $3 in / $3.75 cache write / $0.30 cache read / $15 out.

function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const inside = line.slice(name.length + 1, line.lastIndexOf('}'));
    if (Object.entries(labels).every(([k, v]) => inside.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

/** The access records, once `n` of them are written (a stream's is written after its last byte). */
async function accessRecords(gw: TestGateway, n: number): Promise<Array<Record<string, unknown>>> {
  for (let i = 0; i < 100 && gw.access().length < n; i++) await sleep(10);
  return gw.access();
}

describe('cost of each answer: access log, metrics and x-ai-proxy-cost', function () {
  this.timeout(20_000);
  let oai: FakeOpenAI;
  let ant: FakeAnthropic;
  let gw: TestGateway;

  const openaiInstance = (name: string, model: string, more: Record<string, unknown> = {}) => ({
    name,
    provider: 'openai',
    auth: { header: { Authorization: 'Bearer sk-openai-gateway-key' } },
    options: { model },
    override: { endpoint: oai.url },
    ...more,
  });

  async function gatewayWith(routes: Array<{ id: string; uri: string; instance: Record<string, unknown>; expose?: boolean }>): Promise<TestGateway> {
    return startGateway({
      server: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
      routes: routes.map((r) => ({
        id: r.id,
        uri: r.uri,
        plugins: { 'ai-proxy-multi': { instances: [r.instance], ...(r.expose === false && { expose_instance_headers: false }) } },
      })),
    });
  }

  beforeEach(async () => {
    oai = await startFakeOpenAI({ name: 'oai' });
    ant = await startFakeAnthropic({ name: 'ant' });
  });
  afterEach(async () => {
    await gw?.close();
    await Promise.all([oai.close(), ant.close()]);
  });

  it('prices a chat answer with cached tokens: header, access log, metrics and /status agree', async () => {
    oai.setBehavior({ kind: 'ok', usage: { prompt_tokens: 1000, cached_tokens: 400, completion_tokens: 500 } });
    gw = await gatewayWith([{ id: 'chat', uri: '/v1/chat/completions', instance: openaiInstance('oai-a', 'gpt-4o-mini') }]);
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'client-key', maxRetries: 0 });
    const { data, response } = await client.chat.completions.create({ model: 'any', messages: [{ role: 'user', content: 'Hi' }] }).withResponse();
    assert.equal(data.usage?.prompt_tokens_details?.cached_tokens, 400);
    // 600 × $0.15 + 400 × $0.075 + 500 × $0.60 per million.
    assert.equal(response.headers.get('x-ai-proxy-cost'), '0.00042');
    const [access] = await accessRecords(gw, 1);
    assert.equal(access?.['cost_usd'], 0.00042);
    assert.equal(access?.['consumer'], undefined, 'no consumer, no consumer field');

    const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    assert.equal(sample(metrics, 'aipm_cost_usd_total', { route: 'chat', instance: 'oai-a', model: 'gpt-4o-mini', consumer: '' }), 0.00042);
    const status = (await (await fetch(`${gw.adminUrl}/status`)).json()) as { routes: Array<{ instances: Array<{ name: string; cost_usd: number }> }> };
    assert.equal(status.routes[0]?.instances[0]?.cost_usd, 0.00042);
  });

  it('prices a streamed answer with reasoning tokens when its usage arrives, and adds up in the counter', async () => {
    oai.setBehavior({ kind: 'ok', usage: { prompt_tokens: 2000, cached_tokens: 1000, completion_tokens: 1500, reasoning_tokens: 1000 } });
    gw = await gatewayWith([{ id: 'chat', uri: '/v1/chat/completions', instance: openaiInstance('oai-o4', 'o4-mini') }]);
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'client-key', maxRetries: 0 });
    for (let i = 0; i < 2; i++) {
      const stream = await client.chat.completions.create({ model: 'any', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'Hi' }] });
      let reasoning: number | undefined;
      for await (const chunk of stream) if (chunk.usage) reasoning = chunk.usage.completion_tokens_details?.reasoning_tokens;
      assert.equal(reasoning, 1000);
    }
    const records = await accessRecords(gw, 2);
    // 1000 × $1.10 + 1000 cached × $0.275 + 1500 × $4.40 per million.
    assert.deepEqual(records.map((r) => r['cost_usd']), [0.007975, 0.007975]);
    const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    assert.equal(sample(metrics, 'aipm_cost_usd_total', { route: 'chat', instance: 'oai-o4', model: 'o4-mini' }), 0.01595);
  });

  it('prices a streamed stream whose client did not ask for usage (the gateway asks for it)', async () => {
    oai.setBehavior({ kind: 'ok', usage: { prompt_tokens: 1000, completion_tokens: 500 } });
    gw = await gatewayWith([{ id: 'chat', uri: '/v1/chat/completions', instance: openaiInstance('oai-a', 'gpt-4o-mini') }]);
    const res = await postJson(`${gw.url}/v1/chat/completions`, chatBody({ stream: true }));
    assert.equal(res.status, 200);
    assert.ok(!res.text.includes('"usage":{'), 'the client did not get the usage chunk it did not ask for');
    assert.equal(res.headers.get('x-ai-proxy-cost'), null, 'a stream\'s cost is not known when its headers go out');
    const [access] = await accessRecords(gw, 1);
    // 1000 × $0.15 + 500 × $0.60 per million.
    assert.equal(access?.['cost_usd'], 0.00045);
  });

  it('prices Anthropic cache writes and reads, plain and streamed, through the Anthropic SDK', async () => {
    ant.setBehavior({ kind: 'ok', usage: { input_tokens: 100, cache_creation_input_tokens: 1000, cache_read_input_tokens: 2000, output_tokens: 200 } });
    gw = await gatewayWith([
      {
        id: 'messages',
        uri: '/v1/messages',
        instance: { name: 'claude', provider: 'anthropic', auth: { header: { 'x-api-key': 'sk-ant-gateway-key' } }, options: { model: 'claude-sonnet-4-5-20250929' }, override: { endpoint: ant.url } },
      },
    ]);
    const client = new Anthropic({ baseURL: gw.url, apiKey: 'client-key', maxRetries: 0 });
    const { response } = await client.messages.create({ model: 'any', max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }] }).withResponse();
    // 100 × $3 + 1000 × $3.75 + 2000 × $0.30 + 200 × $15 per million.
    assert.equal(response.headers.get('x-ai-proxy-cost'), '0.00765');
    const stream = client.messages.stream({ model: 'any', max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }] });
    const final = await stream.finalMessage();
    assert.equal(final.usage.cache_read_input_tokens, 2000);
    const records = await accessRecords(gw, 2);
    assert.deepEqual(records.map((r) => r['cost_usd']), [0.00765, 0.00765]);
  });

  it('uses an instance\'s price for a private model the table does not know', async () => {
    oai.setBehavior({ kind: 'ok', usage: { prompt_tokens: 1000, cached_tokens: 200, completion_tokens: 500 } });
    const instance = {
      name: 'llama',
      provider: 'openai-compatible',
      auth: { header: { Authorization: 'Bearer sk-private' } },
      options: { model: 'private-llama-70b' },
      override: { endpoint: oai.url },
      price: { input_mtok: 0.9, output_mtok: 1.8, cache_read_mtok: 0.1 },
    };
    gw = await gatewayWith([{ id: 'chat', uri: '/v1/chat/completions', instance }]);
    const res = await postJson(`${gw.url}/v1/chat/completions`, chatBody());
    // 800 × $0.90 + 200 × $0.10 + 500 × $1.80 per million = $0.00164.
    assert.equal(res.headers.get('x-ai-proxy-cost'), '0.00164');
    const [access] = await accessRecords(gw, 1);
    assert.equal(access?.['cost_usd'], 0.00164);
  });

  it('gives an unknown model no cost at all: no header, no cost_usd, no counter, and the answer unharmed', async () => {
    oai.setBehavior({ kind: 'ok', usage: { prompt_tokens: 1000, completion_tokens: 500 } });
    gw = await gatewayWith([{ id: 'chat', uri: '/v1/chat/completions', instance: openaiInstance('oai-x', 'not-a-real-model') }]);
    const res = await postJson(`${gw.url}/v1/chat/completions`, chatBody());
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-ai-proxy-cost'), null);
    const [access] = await accessRecords(gw, 1);
    assert.equal(access?.['total_tokens'], 1500, 'the usage was read');
    assert.equal('cost_usd' in (access ?? {}), false);
    const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    assert.equal(sample(metrics, 'aipm_cost_usd_total', { instance: 'oai-x' }), undefined);
  });

  it('keeps the cost out of the answer when the route hides the gateway\'s headers, and still logs it', async () => {
    oai.setBehavior({ kind: 'ok', usage: { prompt_tokens: 1000, completion_tokens: 500 } });
    gw = await gatewayWith([{ id: 'chat', uri: '/v1/chat/completions', instance: openaiInstance('oai-a', 'gpt-4o-mini'), expose: false }]);
    const res = await postJson(`${gw.url}/v1/chat/completions`, chatBody());
    assert.equal(res.headers.get('x-ai-proxy-cost'), null);
    assert.equal(res.headers.get('x-ai-proxy-instance'), null);
    const [access] = await accessRecords(gw, 1);
    assert.equal(access?.['cost_usd'], 0.00045);
  });
});
