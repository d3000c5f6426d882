import assert from 'node:assert/strict';
import { connect } from 'node:http2';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { loadConfigText } from '../../lib/load-config.ts';
import type { FakeAnthropic } from '../../tools/simulator/fake-anthropic.ts';
import { startFakeAnthropic } from '../../tools/simulator/fake-anthropic.ts';
import type { FakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { startFakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import type { TestGateway } from '../support/gateway-harness.ts';
import { instance, startGateway } from '../support/gateway-harness.ts';

// What the route serves: a, b and d force a model, c keeps the client's and lists what it serves.
const expected = [
  { id: 'gpt-4o-mini', owned_by: 'openai-compatible' },
  { id: 'deepseek-chat', owned_by: 'deepseek' },
  { id: 'claude-sonnet-4-5', owned_by: 'anthropic' },
  { id: 'meta-llama/llama-3-70b', owned_by: 'anthropic' },
];

describe('GET /v1/models answered from the configuration', () => {
  let a: FakeOpenAI;
  let b: FakeOpenAI;
  let c: FakeAnthropic;
  let gw: TestGateway;
  let openai: OpenAI;
  let anthropic: Anthropic;

  function config(cModels: string[]): Record<string, unknown> {
    return {
      server: { host: '127.0.0.1', port: 0 },
      admin: false,
      routes: [
        {
          id: 'r1',
          uris: ['/v1/*'],
          plugins: {
            'ai-proxy-multi': {
              instances: [
                instance('a', a.url, { options: { model: 'gpt-4o-mini' } }),
                instance('b', b.url, { provider: 'deepseek', options: { model: 'deepseek-chat' } }),
                instance('c', c.url, { provider: 'anthropic', models: cModels }),
                instance('d', b.url, { options: { model: 'gpt-4o-mini' } }),
              ],
            },
          },
        },
        {
          id: 'pt',
          uris: ['/pt/*'],
          plugins: { 'ai-proxy-multi': { models_list: 'passthrough', instances: [instance('p', a.url, { options: { model: 'only-in-config' } })] } },
        },
      ],
    };
  }

  const upstreamCalls = () => a.calls() + b.calls() + c.calls();
  const modelsAccess = () => gw.access().filter((r) => r['request_type'] === 'ai_models');

  before(async () => {
    a = await startFakeOpenAI({ name: 'a' });
    b = await startFakeOpenAI({ name: 'b' });
    c = await startFakeAnthropic({ name: 'c' });
    gw = await startGateway(config(['claude-sonnet-4-5', 'gpt-4o-mini', 'meta-llama/llama-3-70b', 'deepseek-chat']));
    openai = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'client-key', maxRetries: 0 });
    anthropic = new Anthropic({ baseURL: gw.url, apiKey: 'client-key', maxRetries: 0 });
  });
  after(async () => {
    await gw.close();
    await Promise.all([a.close(), b.close(), c.close()]);
  });

  it('lists every served model once through the OpenAI SDK, owned by the first provider serving it, with no upstream call', async () => {
    const listed = [];
    for await (const model of openai.models.list()) listed.push(model);
    assert.deepEqual(listed.map((m) => ({ id: m.id, owned_by: m.owned_by })), expected);
    for (const m of listed) {
      assert.equal(m.object, 'model');
      assert.ok(Number.isInteger(m.created) && m.created > 1_700_000_000, `created ${m.created}`);
    }
    const again = await openai.models.list();
    assert.deepEqual(again.data.map((m) => m.created), listed.map((m) => m.created), 'created is stable across calls');
    assert.equal(upstreamCalls(), 0);
  });

  it('retrieves one model through the OpenAI SDK, a slash in its id included', async () => {
    const model = await openai.models.retrieve('meta-llama/llama-3-70b');
    assert.equal(model.id, 'meta-llama/llama-3-70b');
    assert.equal(model.owned_by, 'anthropic');
    assert.equal((await openai.models.retrieve('deepseek-chat')).owned_by, 'deepseek');
    assert.equal(upstreamCalls(), 0);
  });

  it('answers an unknown model with a 404 the OpenAI SDK raises as NotFoundError', async () => {
    await assert.rejects(openai.models.retrieve('gpt-5-turbo'), (err: unknown) => {
      assert.ok(err instanceof OpenAI.NotFoundError, String(err));
      assert.equal(err.code, 'model_not_found');
      assert.match(err.message, /gpt-5-turbo/);
      return true;
    });
    assert.equal(upstreamCalls(), 0);
  });

  it('lists and retrieves through the Anthropic SDK (its default anthropic-version), pages included', async () => {
    const listed = [];
    for await (const model of anthropic.models.list()) listed.push(model);
    assert.deepEqual(listed.map((m) => m.id), expected.map((m) => m.id));
    assert.equal(listed[0]?.type, 'model');
    assert.equal(listed[0]?.display_name, 'gpt-4o-mini');
    assert.ok(!Number.isNaN(Date.parse(listed[0]?.created_at ?? '')), `created_at ${listed[0]?.created_at}`);

    const paged = [];
    for await (const model of anthropic.models.list({ limit: 3 })) paged.push(model.id);
    assert.deepEqual(paged, expected.map((m) => m.id), 'the SDK followed has_more / last_id to a second page');

    const one = await anthropic.models.retrieve('claude-sonnet-4-5');
    assert.equal(one.id, 'claude-sonnet-4-5');
    await assert.rejects(anthropic.models.retrieve('claude-9'), Anthropic.NotFoundError);
    assert.equal(upstreamCalls(), 0);
  });

  it('logs one ai_models access line per models request, with no attempt', async () => {
    const before = modelsAccess().length;
    await fetch(`${gw.url}/v1/models`);
    await fetch(`${gw.url}/v1/models/nope`, { headers: { 'anthropic-version': '2023-06-01' } });
    const lines = modelsAccess().slice(before);
    assert.equal(lines.length, 2);
    assert.deepEqual(
      lines.map((l) => [l['route'], l['status'], l['client_protocol'], l['attempts']]),
      [
        ['r1', 200, 'openai-models', []],
        ['r1', 404, 'anthropic-models', []],
      ],
    );
    assert.equal(lines[1]?.['request_llm_model'], 'nope');
  });

  it('answers HEAD with the headers of the list and no body', async () => {
    const res = await fetch(`${gw.url}/v1/models`, { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.ok(Number(res.headers.get('content-length')) > 0);
    assert.equal(await res.text(), '');
  });

  it('answers over HTTP/2 (h2c) as over HTTP/1.1', async () => {
    const session = connect(gw.url);
    try {
      const text = await new Promise<string>((resolve, reject) => {
        const stream = session.request({ ':method': 'GET', ':path': '/v1/models' });
        let body = '';
        stream.setEncoding('utf8');
        stream.on('data', (chunk: string) => (body += chunk));
        stream.on('end', () => resolve(body));
        stream.on('error', reject);
      });
      const body = JSON.parse(text) as { data: Array<{ id: string }> };
      assert.deepEqual(body.data.map((m) => m.id), expected.map((m) => m.id));
    } finally {
      session.close();
    }
  });

  it('leaves models requests to the rest of the handler on a route with models_list "passthrough"', async () => {
    const before = modelsAccess().length;
    const res = await fetch(`${gw.url}/pt/v1/models`);
    const text = await res.text();
    assert.ok(!text.includes('only-in-config'), text);
    assert.equal(modelsAccess().length, before);
    assert.equal(res.status, 200, 'passed through to the provider, which lists its own models');
    assert.equal(gw.access().at(-1)?.['request_type'], 'passthrough');
  });

  it('lists the models of the new configuration after a reload', async () => {
    const reloaded = await gw.gateway.reload(loadConfigText(JSON.stringify(config(['claude-opus-4-5'])), {}));
    assert.equal(reloaded.applied, true);
    const before = upstreamCalls();
    const listed = await openai.models.list();
    assert.deepEqual(listed.data.map((m) => m.id), ['gpt-4o-mini', 'deepseek-chat', 'claude-opus-4-5']);
    assert.equal(upstreamCalls(), before);
  });
});
