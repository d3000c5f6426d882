import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { FakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { startFakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import type { TestGateway } from '../support/gateway-harness.ts';
import { chatBody, instance, postJson, startGateway } from '../support/gateway-harness.ts';

// One `/v1/*` listener that routes by what the request says (APISIX route `vars`, `priority`): the
// model in the JSON body picks the provider group, a header can override it, everything else goes to
// the default route. Real gateway, real SDK, three fake OpenAI-compatible upstreams.

describe('routing by request variables (vars, priority)', () => {
  let openai: FakeOpenAI;
  let anthropic: FakeOpenAI;
  let gemini: FakeOpenAI;
  let gw: TestGateway;
  let client: OpenAI;

  const multi = (...instances: Array<Record<string, unknown>>) => ({ 'ai-proxy-multi': { instances } });

  before(async () => {
    [openai, anthropic, gemini] = await Promise.all([startFakeOpenAI({ name: 'openai' }), startFakeOpenAI({ name: 'anthropic' }), startFakeOpenAI({ name: 'gemini' })]);
    gw = await startGateway({
      server: { host: '127.0.0.1', port: 0 },
      admin: false,
      routes: [
        {
          id: 'gpt',
          uris: ['/v1/*', '/anything'],
          vars: [['post_arg.model', '~~', '^gpt-']],
          plugins: { 'ai-proxy-multi': { instances: [instance('openai-key-1', openai.url), instance('openai-key-2', openai.url)], max_req_body_size: 4096 } },
        },
        {
          id: 'claude',
          uri: '/v1/*',
          vars: [['post_arg.model', '~*', '^claude-']],
          plugins: multi(instance('anthropic', anthropic.url), instance('bedrock', anthropic.url, { priority: -1 })),
        },
        {
          id: 'gemini',
          uri: '/v1/*',
          vars: [['OR', ['post_arg.model', 'in', ['gemini-2.5-pro', 'gemini-2.5-flash']], ['arg_provider', '==', 'google']]],
          plugins: multi(instance('gemini', gemini.url)),
        },
        {
          id: 'research',
          uri: '/v1/*',
          priority: 10,
          vars: [['http_x_team', '==', 'research'], ['post_arg.model', '!', '~~', '^claude-']],
          plugins: multi(instance('research-gemini', gemini.url)),
        },
        { id: 'anything', uri: '/anything', plugins: multi(instance('anything-claude', anthropic.url)) },
        // Last: among routes of equal priority and uri, config order decides.
        { id: 'default', uris: ['/v1/*'], plugins: multi(instance('default-openai', openai.url, { options: { model: 'gpt-4o-mini' } })) },
      ],
    });
    client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'client-key', maxRetries: 0 });
  });
  after(async () => {
    await gw.close();
    await Promise.all([openai.close(), anthropic.close(), gemini.close()]);
  });
  beforeEach(() => {
    for (const fake of [openai, anthropic, gemini]) fake.reset();
  });

  const lastRoute = () => gw.access().at(-1)?.['route'];
  const calls = () => ({ openai: openai.calls(), anthropic: anthropic.calls(), gemini: gemini.calls() });
  const ask = (model: string, options?: OpenAI.RequestOptions) =>
    client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Hi' }] }, options);

  it('sends each model family to its instance group, and an unmatched model to the default route', async () => {
    const expected: Array<[string, string, ReturnType<typeof calls>]> = [
      ['gpt-4o', 'gpt', { openai: 1, anthropic: 0, gemini: 0 }],
      ['claude-sonnet-4', 'claude', { openai: 0, anthropic: 1, gemini: 0 }],
      ['Claude-Opus-4', 'claude', { openai: 0, anthropic: 1, gemini: 0 }],
      ['gemini-2.5-flash', 'gemini', { openai: 0, anthropic: 0, gemini: 1 }],
      ['llama-3.3-70b', 'default', { openai: 1, anthropic: 0, gemini: 0 }],
    ];
    for (const [model, route, upstream] of expected) {
      for (const fake of [openai, anthropic, gemini]) fake.reset();
      const completion = await ask(model);
      assert.ok(completion.choices[0]?.message.content, model);
      assert.equal(lastRoute(), route, model);
      assert.deepEqual(calls(), upstream, model);
    }
    const defaulted = openai.requests[0]?.json as { model?: string } | undefined;
    assert.equal(defaulted?.model, 'gpt-4o-mini', 'the default route rewrote the unmatched model');
  });

  it('balances inside the chosen route: both OpenAI keys of the gpt route take turns', async () => {
    for (let i = 0; i < 4; i++) await ask('gpt-4.1');
    const instances = gw.access().slice(-4).map((a) => a['instance']);
    assert.deepEqual([...new Set(instances)].sort(), ['openai-key-1', 'openai-key-2']);
  });

  it('streams from the route the body chose', async () => {
    const stream = await client.chat.completions.create({ model: 'claude-haiku-4', messages: [{ role: 'user', content: 'Hi' }], stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    assert.ok(text.length > 0);
    assert.deepEqual(calls(), { openai: 0, anthropic: 1, gemini: 0 });
  });

  it('lets the higher-priority route win where two routes match, and skips it where its vars do not hold', async () => {
    const research = { headers: { 'x-team': 'research' } };
    await ask('gpt-4o', research);
    assert.equal(lastRoute(), 'research', 'gpt matches too, but research has priority 10');
    assert.deepEqual(calls(), { openai: 0, anthropic: 0, gemini: 1 });
    await ask('claude-sonnet-4', research);
    assert.equal(lastRoute(), 'claude', 'research excludes claude models, so the next route serves');
    await ask('gpt-4o', { headers: { 'x-team': 'ops' } });
    assert.equal(lastRoute(), 'gpt');
  });

  it('routes on a query argument without needing the body to say anything', async () => {
    await ask('some-model', { query: { provider: 'google' } });
    assert.equal(lastRoute(), 'gemini');
    assert.deepEqual(calls(), { openai: 0, anthropic: 0, gemini: 1 });
  });

  it('routes embeddings by their model too', async () => {
    const res = await client.embeddings.create({ model: 'gpt-embedding-x', input: 'hello', encoding_format: 'float' });
    assert.equal(res.data.length, 1);
    assert.equal(lastRoute(), 'gpt');
    await client.embeddings.create({ model: 'text-embedding-3-small', input: 'hello', encoding_format: 'float' });
    assert.equal(lastRoute(), 'default');
  });

  it('keeps APISIX /anything-style routes working, with and without vars on the same uri', async () => {
    const gpt = await postJson(`${gw.url}/anything`, chatBody({ model: 'gpt-4o' }));
    assert.equal(gpt.status, 200, gpt.text);
    assert.equal(lastRoute(), 'gpt');
    const other = await postJson(`${gw.url}/anything`, chatBody({ model: 'mistral-large' }));
    assert.equal(other.status, 200, other.text);
    assert.equal(lastRoute(), 'anything');
    assert.deepEqual(calls(), { openai: 1, anthropic: 1, gemini: 0 });
  });

  it("refuses a body over the chosen route's own limit, even when it was read for another candidate", async () => {
    const big = chatBody({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x'.repeat(5000) }] });
    const res = await postJson(`${gw.url}/v1/chat/completions`, big);
    assert.equal(res.status, 413, res.text);
    assert.match(res.text, /4096 bytes/);
    const fine = await postJson(`${gw.url}/v1/chat/completions`, { ...big, model: 'llama-3' });
    assert.equal(fine.status, 200, 'the default route takes bodies that large');
    assert.deepEqual(calls(), { openai: 1, anthropic: 0, gemini: 0 });
  });

  it('answers a body that is not JSON with 400 before any route is chosen, and sends nothing upstream', async () => {
    const res = await postJson(`${gw.url}/v1/chat/completions`, '{"model": "gpt-4o",');
    assert.equal(res.status, 400);
    assert.deepEqual(calls(), { openai: 0, anthropic: 0, gemini: 0 });
  });
});

describe('routing by request variables with no default route', () => {
  let up: FakeOpenAI;
  let gw: TestGateway;

  before(async () => {
    up = await startFakeOpenAI({ name: 'only' });
    gw = await startGateway({
      server: { host: '127.0.0.1', port: 0 },
      admin: false,
      routes: [
        { id: 'gpt', uri: '/v1/*', vars: [['post_arg.model', '~~', '^gpt-']], plugins: { 'ai-proxy-multi': { instances: [instance('a', up.url)] } } },
        { id: 'team', uri: '/v1/*', methods: ['POST'], vars: [['http_x_team', '==', 'a']], plugins: { 'ai-proxy-multi': { instances: [instance('b', up.url)] } } },
      ],
    });
  });
  after(async () => {
    await gw.close();
    await up.close();
  });

  it('answers 404 in the client protocol when no route holds for the request', async () => {
    const res = await postJson(`${gw.url}/v1/chat/completions`, chatBody({ model: 'claude-sonnet-4' }));
    assert.equal(res.status, 404);
    assert.equal((res.json as { error?: { message?: string } }).error?.message, 'no route for /v1/chat/completions');
    const anthropic = await postJson(`${gw.url}/v1/messages`, { model: 'claude-sonnet-4', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }] });
    assert.equal(anthropic.status, 404);
    assert.equal((anthropic.json as { type?: string }).type, 'error', 'Anthropic error shape on an Anthropic path');
    assert.equal(up.calls(), 0);
    const ok = await postJson(`${gw.url}/v1/chat/completions`, chatBody({ model: 'gpt-4o' }));
    assert.equal(ok.status, 200);
  });
});
