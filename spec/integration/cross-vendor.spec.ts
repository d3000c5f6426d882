import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { BedrockRuntimeClient, ConverseCommand, ConverseStreamCommand } from '@aws-sdk/client-bedrock-runtime';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import OpenAI from 'openai';
import type { FakeAnthropic } from '../../tools/simulator/fake-anthropic.ts';
import { startFakeAnthropic } from '../../tools/simulator/fake-anthropic.ts';
import type { FakeBedrock } from '../../tools/simulator/fake-bedrock.ts';
import { startFakeBedrock } from '../../tools/simulator/fake-bedrock.ts';
import type { FakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { startFakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import type { TestGateway } from '../support/gateway-harness.ts';
import { startGateway } from '../support/gateway-harness.ts';

const aws = { access_key_id: 'AKIDEXAMPLEGATEWAY', secret_access_key: 'gateway-secret-key-for-bedrock-tests' };
const region = 'us-east-1';
const claudeOnBedrock = 'anthropic.claude-3-5-sonnet-20240620-v1:0';

describe('cross-vendor serving and fallback with the real SDKs', function () {
  this.timeout(20_000);
  let oai: FakeOpenAI;
  let ant: FakeAnthropic;
  let brk: FakeBedrock;
  let gw: TestGateway;

  const instances = () => ({
    openai: {
      name: 'openai',
      provider: 'openai',
      weight: 1,
      priority: 2,
      auth: { header: { Authorization: 'Bearer sk-openai-gateway-key' } },
      options: { model: 'gpt-4o-mini' },
      override: { endpoint: oai.url },
    },
    anthropic: {
      name: 'anthropic',
      provider: 'anthropic',
      weight: 1,
      priority: 1,
      auth: { header: { 'x-api-key': 'sk-ant-gateway-key' } },
      options: { model: 'claude-test' },
      override: { endpoint: ant.url },
    },
    bedrock: {
      name: 'bedrock',
      provider: 'bedrock',
      weight: 1,
      priority: 0,
      auth: { aws },
      provider_conf: { region },
      options: { model: claudeOnBedrock },
      override: { endpoint: brk.url },
    },
  });

  /** One route per client protocol, each with the three vendors in a chosen priority order. */
  async function gatewayWith(order: Array<'openai' | 'anthropic' | 'bedrock'>): Promise<TestGateway> {
    const all = instances();
    const list = order.map((name, i) => ({ ...all[name], priority: order.length - i }));
    const plugin = { 'ai-proxy-multi': { instances: list } };
    return startGateway({
      server: { host: '127.0.0.1', port: 0 },
      admin: false,
      routes: [
        { id: 'openai', uris: ['/v1/chat/completions', '/v1/embeddings', '/v1/responses'], plugins: plugin },
        { id: 'anthropic', uri: '/v1/messages', plugins: plugin },
        { id: 'bedrock', uri: '/model/*', plugins: plugin },
      ],
    });
  }

  beforeEach(async () => {
    oai = await startFakeOpenAI({ name: 'oai', behavior: { kind: 'ok', content: 'Hello from OpenAI.', chunks: 3 } });
    ant = await startFakeAnthropic({ name: 'ant', behavior: { kind: 'ok', content: 'Hello from Claude.', chunks: 3 } });
    brk = await startFakeBedrock({ name: 'brk', credentials: aws, region, behavior: { kind: 'ok', content: 'Hello from Bedrock.', chunks: 3 } });
  });
  afterEach(async () => {
    await gw?.close();
    await Promise.all([oai.close(), ant.close(), brk.close()]);
  });

  const openaiClient = () => new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'client-key', maxRetries: 0 });
  const anthropicClient = () => new Anthropic({ baseURL: gw.url, apiKey: 'client-key', maxRetries: 0 });
  const bedrockClient = () =>
    new BedrockRuntimeClient({
      endpoint: gw.url,
      region,
      credentials: { accessKeyId: 'CLIENTKEY', secretAccessKey: 'client-secret' },
      maxAttempts: 1,
      // The AWS SDK defaults to HTTP/2 for Bedrock; the gateway's listener speaks HTTP/1.1.
      requestHandler: new NodeHttpHandler(),
    });

  it('streams a correct OpenAI answer from Anthropic when OpenAI returns 503', async () => {
    oai.setBehavior({ kind: 'status', status: 503 });
    gw = await gatewayWith(['openai', 'anthropic', 'bedrock']);
    const stream = await openaiClient().chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Hi' }],
      stream: true,
    });
    let text = '';
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(text, 'Hello from Claude.');
    assert.equal(finish, 'stop');
    const sent = ant.requests[0];
    assert.equal(sent?.headers['x-api-key'], 'sk-ant-gateway-key');
    assert.equal(sent?.headers['anthropic-version'], '2023-06-01');
    assert.equal(sent?.headers['authorization'], undefined, 'the client key never reaches a provider');
    const access = gw.access().at(-1);
    assert.equal(access?.['instance'], 'anthropic');
    assert.equal(access?.['upstream_protocol'], 'anthropic-messages');
    assert.ok(Number(access?.['completion_tokens']) > 0);
  });

  it('answers an Anthropic SDK stream from OpenAI when Anthropic is overloaded', async () => {
    ant.setBehavior({ kind: 'status', status: 529 });
    gw = await gatewayWith(['anthropic', 'openai', 'bedrock']);
    const stream = anthropicClient().messages.stream({ model: 'claude-test', max_tokens: 200, messages: [{ role: 'user', content: 'Hi' }] });
    const message = await stream.finalMessage();
    const text = message.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
    assert.equal(text, 'Hello from OpenAI.');
    assert.equal(message.stop_reason, 'end_turn');
    assert.equal(oai.calls('/v1/chat/completions'), 1);
  });

  it('answers an Anthropic SDK request from Bedrock (SigV4-signed) when Anthropic and OpenAI fail', async () => {
    ant.setBehavior({ kind: 'status', status: 500 });
    oai.setBehavior({ kind: 'status', status: 500 });
    gw = await gatewayWith(['anthropic', 'openai', 'bedrock']);
    const message = await anthropicClient().messages.create({ model: 'claude-test', max_tokens: 200, messages: [{ role: 'user', content: 'Hi' }] });
    assert.equal(message.content[0]?.type === 'text' ? message.content[0].text : '', 'Hello from Bedrock.');
    assert.equal(brk.requests[0]?.signatureValid, true);
    assert.equal(brk.requests[0]?.modelId, claudeOnBedrock);
    const stream = anthropicClient().messages.stream({ model: 'claude-test', max_tokens: 200, messages: [{ role: 'user', content: 'Hi' }] });
    assert.equal((await stream.finalText()), 'Hello from Bedrock.');
  });

  it('carries tool use across vendors: a Claude tool_use reaches an OpenAI client as tool_calls, streamed or not', async () => {
    ant.setBehavior({ kind: 'ok', content: 'Let me check.', toolUse: { name: 'get_weather', input: { city: 'Paris' } } });
    gw = await gatewayWith(['anthropic', 'openai', 'bedrock']);
    const tools = [
      { type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } },
    ];
    const completion = await openaiClient().chat.completions.create({ model: 'x', tools, messages: [{ role: 'user', content: 'Weather in Paris?' }] });
    const call = completion.choices[0]?.message.tool_calls?.[0];
    assert.equal(completion.choices[0]?.finish_reason, 'tool_calls');
    assert.equal(call?.type === 'function' ? call.function.name : undefined, 'get_weather');
    assert.deepEqual(JSON.parse(call?.type === 'function' ? call.function.arguments : '{}'), { city: 'Paris' });
    const sent = ant.requests[0]?.json as { tools: Array<{ name: string; input_schema: unknown }> };
    assert.equal(sent.tools[0]?.name, 'get_weather', 'OpenAI tools became Anthropic tools');

    const stream = openaiClient().chat.completions.stream({ model: 'x', tools, messages: [{ role: 'user', content: 'Weather in Paris?' }] });
    const final = await stream.finalChatCompletion();
    const streamed = final.choices[0]?.message.tool_calls?.[0];
    assert.deepEqual(JSON.parse(streamed?.type === 'function' ? streamed.function.arguments : '{}'), { city: 'Paris' });

    const native = await anthropicClient().messages.create({
      model: 'claude-test',
      max_tokens: 200,
      tools: [{ name: 'get_weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
    });
    assert.equal(native.stop_reason, 'tool_use');
    assert.ok(native.content.some((b) => b.type === 'tool_use' && b.name === 'get_weather'));
  });

  it('serves the Bedrock SDK natively (raw frames) and from OpenAI when Bedrock is throttled', async () => {
    gw = await gatewayWith(['bedrock', 'openai', 'anthropic']);
    const client = bedrockClient();
    const native = await client.send(new ConverseCommand({ modelId: 'my-model', messages: [{ role: 'user', content: [{ text: 'Hi' }] }] }));
    assert.equal(native.output?.message?.content?.[0]?.text, 'Hello from Bedrock.');
    assert.equal(brk.requests[0]?.signatureValid, true, 'the gateway re-signed with its own credentials');
    assert.equal(brk.requests[0]?.modelId, claudeOnBedrock, 'options.model chose the Bedrock model');

    const streamed = await client.send(new ConverseStreamCommand({ modelId: 'my-model', messages: [{ role: 'user', content: [{ text: 'Hi' }] }] }));
    let text = '';
    for await (const event of streamed.stream ?? []) text += event.contentBlockDelta?.delta?.text ?? '';
    assert.equal(text, 'Hello from Bedrock.');

    brk.setBehavior({ kind: 'status', status: 429 });
    const converted = await client.send(new ConverseStreamCommand({ modelId: 'my-model', messages: [{ role: 'user', content: [{ text: 'Hi' }] }] }));
    let fromOpenai = '';
    let stop: string | undefined;
    for await (const event of converted.stream ?? []) {
      fromOpenai += event.contentBlockDelta?.delta?.text ?? '';
      stop = event.messageStop?.stopReason ?? stop;
    }
    assert.equal(fromOpenai, 'Hello from OpenAI.');
    assert.equal(stop, 'end_turn');
    const json = await client.send(new ConverseCommand({ modelId: 'my-model', messages: [{ role: 'user', content: [{ text: 'Hi' }] }] }));
    assert.equal(json.output?.message?.content?.[0]?.text, 'Hello from OpenAI.');
    assert.ok((json.usage?.outputTokens ?? 0) > 0);
  });

  it('moves on to an instance that speaks the protocol natively when a conversion cannot express the request', async () => {
    gw = await gatewayWith(['anthropic', 'openai', 'bedrock']);
    const completion = await openaiClient().chat.completions.create({ model: 'x', n: 2, messages: [{ role: 'user', content: 'Hi' }] });
    assert.ok(completion.choices.length >= 1);
    assert.equal(ant.calls(), 0, 'Anthropic cannot return n > 1 choices: never called');
    assert.equal(oai.calls('/v1/chat/completions'), 1);
    const breaker = gw.gateway.routes[0]?.instances.get('anthropic')?.breaker;
    assert.equal(breaker?.snapshot().callsInWindow, 0, 'the refusal says nothing about the instance');
  });

  it('streams an OpenAI answer from Bedrock ConverseStream', async () => {
    gw = await gatewayWith(['bedrock', 'openai', 'anthropic']);
    const stream = await openaiClient().chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'Hi' }], stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    assert.equal(text, 'Hello from Bedrock.');
  });

  // The stop reason makes an answer whole: a provider that loses only the trailing usage event
  // (Bedrock's metadata, Anthropic's message_stop) has not cut the stream.
  it('finishes an OpenAI stream whose Bedrock upstream lost only the trailing metadata', async () => {
    const whole: Array<[string, unknown]> = [
      ['messageStart', { role: 'assistant' }],
      ['contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'Whole answer.' } }],
      ['contentBlockStop', { contentBlockIndex: 0 }],
      ['messageStop', { stopReason: 'end_turn' }],
    ];
    brk.setBehavior({ kind: 'events', events: whole });
    gw = await gatewayWith(['bedrock', 'openai', 'anthropic']);
    const stream = await openaiClient().chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'Hi' }], stream: true });
    let text = '';
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(text, 'Whole answer.');
    assert.equal(finish, 'stop');
  });

  it('serves the Bedrock SDK with its default HTTP/2 handler on the same port', async () => {
    gw = await gatewayWith(['bedrock', 'openai', 'anthropic']);
    const client = new BedrockRuntimeClient({
      endpoint: gw.url,
      region,
      credentials: { accessKeyId: 'CLIENTKEY', secretAccessKey: 'client-secret' },
      maxAttempts: 1,
    });
    try {
      const json = await client.send(new ConverseCommand({ modelId: 'm', messages: [{ role: 'user', content: [{ text: 'Hi' }] }] }));
      assert.equal(json.output?.message?.content?.[0]?.text, 'Hello from Bedrock.');
      brk.setBehavior({ kind: 'status', status: 503 });
      const streamed = await client.send(new ConverseStreamCommand({ modelId: 'm', messages: [{ role: 'user', content: [{ text: 'Hi' }] }] }));
      let text = '';
      for await (const event of streamed.stream ?? []) text += event.contentBlockDelta?.delta?.text ?? '';
      assert.equal(text, 'Hello from OpenAI.');
      const access = gw.access().at(-1);
      assert.equal(access?.['client_ip'], '127.0.0.1');
    } finally {
      client.destroy();
    }
  });

  describe('commit point', () => {
    it('falls back without a trace when Anthropic sends an error event before any content', async () => {
      ant.setBehavior({ kind: 'stream-error', afterChunks: 0 });
      gw = await gatewayWith(['anthropic', 'openai', 'bedrock']);
      const stream = anthropicClient().messages.stream({ model: 'claude-test', max_tokens: 200, messages: [{ role: 'user', content: 'Hi' }] });
      assert.equal(await stream.finalText(), 'Hello from OpenAI.');
      assert.equal(ant.calls('/v1/messages'), 1);
    });

    it('ends an Anthropic client stream with an error event when the upstream drops after content, calling it once', async () => {
      oai.setBehavior({ kind: 'stream-cut', afterChunks: 1 });
      gw = await gatewayWith(['openai', 'anthropic', 'bedrock']);
      const res = await fetch(`${gw.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'm', max_tokens: 100, stream: true, messages: [{ role: 'user', content: 'Hi' }] }),
      });
      assert.equal(res.status, 200);
      const text = await res.text();
      assert.match(text, /event: content_block_delta/);
      assert.match(text, /event: error\ndata: \{"type":"error"/);
      assert.equal(oai.calls(), 1);
      assert.equal(ant.calls(), 0, 'no retry after content');
    });

    it('ends a Bedrock client stream with an exception frame when the upstream drops after content', async () => {
      oai.setBehavior({ kind: 'stream-cut', afterChunks: 1 });
      gw = await gatewayWith(['openai', 'bedrock', 'anthropic']);
      const res = await bedrockClient().send(new ConverseStreamCommand({ modelId: 'm', messages: [{ role: 'user', content: [{ text: 'Hi' }] }] }));
      await assert.rejects(async () => {
        for await (const event of res.stream ?? []) void event;
      }, /upstream stream failed|modelStreamErrorException/i);
      assert.equal(brk.calls(), 0);
    });
  });
});
