import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import type { FakeAnthropic } from '../../tools/simulator/fake-anthropic.ts';
import { startFakeAnthropic } from '../../tools/simulator/fake-anthropic.ts';
import type { FakeBedrock } from '../../tools/simulator/fake-bedrock.ts';
import { startFakeBedrock } from '../../tools/simulator/fake-bedrock.ts';
import type { FakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { startFakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import type { TestGateway } from '../support/gateway-harness.ts';
import { startGateway } from '../support/gateway-harness.ts';

// Issue 14 with the real SDKs against fakes that speak the real wire formats: the `openai` SDK's
// Responses API served by Anthropic and by Bedrock (SigV4 checked by the fake), a tool round trip each;
// thinking blocks round-tripping to an Anthropic fake that refuses unsigned ones; and the prompt-token
// estimate an Anthropic client reads from `message_start` on a converted stream.

const aws = { access_key_id: 'AKIDEXAMPLEGATEWAY', secret_access_key: 'gateway-secret-key-for-bedrock-tests' };
const region = 'us-east-1';
const claudeOnBedrock = 'anthropic.claude-sonnet-4-20250514-v1:0';

const weatherTool = {
  type: 'function' as const,
  name: 'get_weather',
  description: 'Weather of a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
  strict: true,
};

type Vendor = 'openai' | 'anthropic' | 'bedrock';

describe('the rest of the matrix with the real SDKs (issue 14)', function () {
  this.timeout(20_000);
  let oai: FakeOpenAI;
  let ant: FakeAnthropic;
  let brk: FakeBedrock;
  let gw: TestGateway | undefined;

  const instance = (name: Vendor, priority: number): object => {
    const all = {
      openai: { provider: 'openai', auth: { header: { Authorization: 'Bearer sk-openai-gateway-key' } }, options: { model: 'gpt-4o-mini' }, override: { endpoint: oai.url } },
      anthropic: { provider: 'anthropic', auth: { header: { 'x-api-key': 'sk-ant-gateway-key' } }, options: { model: 'claude-test' }, override: { endpoint: ant.url } },
      bedrock: { provider: 'bedrock', auth: { aws }, provider_conf: { region }, options: { model: claudeOnBedrock }, override: { endpoint: brk.url } },
    };
    return { name, weight: 1, priority, ...all[name] };
  };

  /** Every client protocol's route, over the vendors in the order given (first = preferred). */
  async function gatewayWith(order: Vendor[]): Promise<TestGateway> {
    const plugin = { 'ai-proxy-multi': { instances: order.map((v, i) => instance(v, order.length - i)) } };
    gw = await startGateway({
      server: { host: '127.0.0.1', port: 0 },
      admin: false,
      routes: [
        { id: 'openai', uris: ['/v1/chat/completions', '/v1/responses'], plugins: plugin },
        { id: 'anthropic', uri: '/v1/messages', plugins: plugin },
      ],
    });
    return gw;
  }

  beforeEach(async () => {
    oai = await startFakeOpenAI({ name: 'oai', behavior: { kind: 'ok', content: 'Hello from OpenAI.', chunks: 3 } });
    ant = await startFakeAnthropic({ name: 'ant', behavior: { kind: 'ok', content: 'Hello from Claude.', chunks: 3 } });
    brk = await startFakeBedrock({ name: 'brk', credentials: aws, region, behavior: { kind: 'ok', content: 'Hello from Bedrock.', chunks: 3 } });
  });
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
    await Promise.all([oai.close(), ant.close(), brk.close()]);
  });

  const openai = (g: TestGateway) => new OpenAI({ baseURL: `${g.url}/v1`, apiKey: 'client-key', maxRetries: 0 });
  const anthropic = (g: TestGateway) => new Anthropic({ baseURL: g.url, apiKey: 'client-key', maxRetries: 0 });

  it('streams a Responses tool round trip from Anthropic when Bedrock returns 503', async () => {
    brk.setBehavior({ kind: 'status', status: 503 });
    ant.setBehavior({
      kind: 'ok',
      content: 'Let me check.',
      toolUse: { name: 'get_weather', input: { city: 'Paris' } },
      thinking: { text: 'The user wants Paris weather.', signature: 'sig-ant-1' },
    });
    const g = await gatewayWith(['bedrock', 'anthropic']);
    const client = openai(g);

    const first = await client.responses.stream({ model: 'gpt-5', input: 'Weather in Paris?', tools: [weatherTool], reasoning: { effort: 'low' } }).finalResponse();
    assert.equal(first.status, 'completed');
    assert.deepEqual(first.tools, [weatherTool], 'the Response echoes the tools that were sent');
    const call = first.output.find((o) => o.type === 'function_call');
    assert.ok(call && call.type === 'function_call');
    assert.equal(call.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.arguments), { city: 'Paris' });
    assert.equal(first.output_text, 'Let me check.');
    assert.deepEqual(first.output.map((o) => o.type), ['reasoning', 'message', 'function_call']);
    const reasoning = first.output[0];
    assert.deepEqual(reasoning?.type === 'reasoning' ? reasoning.summary : [], [{ type: 'summary_text', text: 'The user wants Paris weather.' }]);
    assert.ok((first.usage?.input_tokens ?? 0) > 0 && (first.usage?.output_tokens ?? 0) > 0);
    const sent = ant.requests[0]?.json as { thinking?: unknown; tools: Array<{ name: string }> };
    assert.deepEqual(sent.thinking, { type: 'enabled', budget_tokens: 2048 }, 'reasoning.effort became a thinking budget');
    assert.equal(sent.tools[0]?.name, 'get_weather');
    assert.equal(ant.requests[0]?.headers['x-api-key'], 'sk-ant-gateway-key');
    assert.equal(ant.requests[0]?.headers['authorization'], undefined, 'the client key never reaches a provider');

    ant.setBehavior({ kind: 'ok', content: 'It is 21°C in Paris.' });
    const second = await client.responses
      .stream({
        model: 'gpt-5',
        tools: [weatherTool],
        input: [
          { role: 'user', content: 'Weather in Paris?' },
          // The whole previous output goes back, as SDK users do: reasoning, message and call items.
          ...(first.output as OpenAI.Responses.ResponseInputItem[]),
          { type: 'function_call_output', call_id: call.call_id, output: '{"tempC":21}' },
        ],
      })
      .finalResponse();
    assert.equal(second.output_text, 'It is 21°C in Paris.');
    const history = (ant.requests[1]?.json as { messages: Array<{ role: string; content: Array<Record<string, unknown>> }> }).messages;
    assert.deepEqual(history.map((m) => m.role), ['user', 'assistant', 'user']);
    assert.deepEqual(history[1]?.content.map((b) => b['type']), ['text', 'tool_use'], 'the unsigned reasoning summary is not sent back');
    assert.equal(history[1]?.content[1]?.['id'], call.call_id, 'the call id is the tool_use id');
    assert.deepEqual(history[2]?.content[0], { type: 'tool_result', tool_use_id: call.call_id, content: '{"tempC":21}' });
    assert.equal(g.access().at(-1)?.['upstream_protocol'], 'anthropic-messages');
  });

  it('streams a Responses tool round trip from Bedrock, every request SigV4-signed', async () => {
    brk.setBehavior({
      kind: 'events',
      events: [
        ['messageStart', { role: 'assistant' }],
        ['contentBlockStart', { contentBlockIndex: 0, start: { toolUse: { toolUseId: 'tooluse_paris', name: 'get_weather' } } }],
        ['contentBlockDelta', { contentBlockIndex: 0, delta: { toolUse: { input: '{"city":' } } }],
        ['contentBlockDelta', { contentBlockIndex: 0, delta: { toolUse: { input: '"Paris"}' } } }],
        ['contentBlockStop', { contentBlockIndex: 0 }],
        ['messageStop', { stopReason: 'tool_use' }],
        ['metadata', { usage: { inputTokens: 50, outputTokens: 20, totalTokens: 70 }, metrics: { latencyMs: 400 } }],
      ],
    });
    const g = await gatewayWith(['bedrock']);
    const client = openai(g);
    const first = await client.responses.stream({ model: 'gpt-5', input: 'Weather in Paris?', tools: [weatherTool], reasoning: { effort: 'medium' } }).finalResponse();
    const call = first.output.find((o) => o.type === 'function_call');
    assert.ok(call && call.type === 'function_call');
    assert.equal(call.call_id, 'tooluse_paris');
    assert.deepEqual(first.usage && [first.usage.input_tokens, first.usage.output_tokens], [50, 20]);
    assert.deepEqual(first.tools, [weatherTool]);
    const sent = brk.requests[0]?.json as { additionalModelRequestFields?: unknown; toolConfig: unknown };
    assert.deepEqual(sent.additionalModelRequestFields, { thinking: { type: 'enabled', budget_tokens: 8192 } }, 'effort reached Claude on Bedrock');

    brk.setBehavior({ kind: 'ok', content: 'It is 21°C in Paris.' });
    const second = await client.responses
      .stream({
        model: 'gpt-5',
        tools: [weatherTool],
        input: [{ role: 'user', content: 'Weather in Paris?' }, call, { type: 'function_call_output', call_id: call.call_id, output: '{"tempC":21}' }],
      })
      .finalResponse();
    assert.equal(second.output_text, 'It is 21°C in Paris.');
    assert.equal(second.status, 'completed');
    assert.deepEqual(brk.requests.map((r) => [r.signatureValid, r.modelId]), [[true, claudeOnBedrock], [true, claudeOnBedrock]]);
    const history = (brk.requests[1]?.json as { messages: Array<{ content: Array<Record<string, Record<string, unknown>>> }> }).messages;
    assert.equal(history[2]?.content[0]?.['toolResult']?.['toolUseId'], 'tooluse_paris');
  });

  it('answers responses.create (not streamed) from Bedrock, and an Anthropic 400 as an OpenAI error', async () => {
    const g = await gatewayWith(['bedrock']);
    const response = await openai(g).responses.create({ model: 'gpt-5', instructions: 'Be brief.', input: 'Hi', max_output_tokens: 300 });
    assert.equal(response.status, 'completed');
    assert.equal(response.output_text, 'Hello from Bedrock.');
    assert.ok((response.usage?.output_tokens ?? 0) > 0);
    assert.deepEqual(response.tools, []);
    const sent = brk.requests[0]?.json as { system: unknown; inferenceConfig: unknown };
    assert.deepEqual([sent.system, sent.inferenceConfig], [[{ text: 'Be brief.' }], { maxTokens: 300 }]);
    await g.close();

    ant.setBehavior({ kind: 'status', status: 400, body: { type: 'error', error: { type: 'invalid_request_error', message: 'prompt is too long' } } });
    const g2 = await gatewayWith(['anthropic']);
    await assert.rejects(openai(g2).responses.create({ model: 'gpt-5', input: 'Hi' }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.BadRequestError, String(err));
      assert.match(err.message, /prompt is too long/);
      return true;
    });
  });

  it('answers a Responses client with a failed stream in its own shape when Anthropic fails mid-stream', async () => {
    ant.setBehavior({ kind: 'stream-error', afterChunks: 1 });
    const g = await gatewayWith(['anthropic']);
    const types: string[] = [];
    const stream = await openai(g).responses.create({ model: 'gpt-5', input: 'Hi', stream: true });
    await assert.rejects(async () => {
      for await (const event of stream) types.push(event.type);
    });
    assert.equal(types[0], 'response.created');
    assert.ok(types.includes('response.output_text.delta'), types.join(', '));
  });

  it('carries a signed thinking block back to Anthropic as it is, and drops one the gateway could not sign', async () => {
    // The control: this fake refuses a thinking block without a signature, as Anthropic does.
    const direct = await fetch(`${ant.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'k', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({
        model: 'claude-test',
        max_tokens: 100,
        messages: [
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: [{ type: 'thinking', thinking: 'hmm', signature: '' }, { type: 'text', text: 'Hello' }] },
          { role: 'user', content: 'Again' },
        ],
      }),
    });
    assert.equal(direct.status, 400);

    // Turn 1 from a Bedrock model that does not sign its reasoning: the client gets an unsigned block.
    brk.setBehavior({
      kind: 'events',
      events: [
        ['messageStart', { role: 'assistant' }],
        ['contentBlockDelta', { contentBlockIndex: 0, delta: { reasoningContent: { text: 'Think about 6 times 7.' } } }],
        ['contentBlockStop', { contentBlockIndex: 0 }],
        ['contentBlockDelta', { contentBlockIndex: 1, delta: { text: '42' } }],
        ['contentBlockStop', { contentBlockIndex: 1 }],
        ['messageStop', { stopReason: 'end_turn' }],
        ['metadata', { usage: { inputTokens: 12, outputTokens: 9, totalTokens: 21 }, metrics: { latencyMs: 5 } }],
      ],
    });
    ant.setBehavior({ kind: 'status', status: 529 });
    const g = await gatewayWith(['anthropic', 'bedrock']);
    const client = anthropic(g);
    const thinking = { type: 'enabled' as const, budget_tokens: 1024 };
    const turn1 = await client.messages.stream({ model: 'claude-test', max_tokens: 2000, thinking, messages: [{ role: 'user', content: 'What is 6 × 7?' }] }).finalMessage();
    assert.deepEqual(turn1.content.map((b) => b.type), ['thinking', 'text']);
    assert.ok(turn1.content[0]?.type === 'thinking' && !turn1.content[0].signature, 'Bedrock gave no signature to carry');

    // Turn 2 reaches Anthropic: the unsigned block is left out, so Anthropic accepts the history.
    ant.setBehavior({ kind: 'ok', content: 'Yes, 42.', thinking: { text: 'Check: 6 × 7 = 42.', signature: 'sig-ant-real-1' } });
    const history = [
      { role: 'user' as const, content: 'What is 6 × 7?' },
      { role: 'assistant' as const, content: turn1.content },
      { role: 'user' as const, content: 'Sure?' },
    ];
    const turn2 = await client.messages.create({ model: 'claude-test', max_tokens: 2000, thinking, messages: history });
    assert.equal(turn2.content.find((b) => b.type === 'text')?.type === 'text' ? 'ok' : 'no', 'ok');
    const sent2 = (ant.requests.at(-1)?.json as { messages: Array<{ content: unknown }> }).messages;
    assert.deepEqual(sent2[1]?.content, [{ type: 'text', text: '42' }], 'only the unsigned thinking block was dropped');

    // Turn 3: Anthropic's own signed block goes back to Anthropic untouched (same-vendor round trip).
    const signed = turn2.content;
    const turn3 = await client.messages.create({ model: 'claude-test', max_tokens: 2000, thinking, messages: [...history, { role: 'assistant', content: signed }, { role: 'user', content: 'Thanks' }] });
    assert.equal(turn3.stop_reason, 'end_turn');
    const sent3 = (ant.requests.at(-1)?.json as { messages: Array<{ content: unknown }> }).messages;
    assert.deepEqual((sent3[3]?.content as unknown[])[0], { type: 'thinking', thinking: 'Check: 6 × 7 = 42.', signature: 'sig-ant-real-1' });
    assert.equal(ant.requests.filter((r) => r.path === '/v1/messages').length, 4, 'one 529 and three accepted turns');
  });

  for (const vendor of ['openai', 'bedrock'] as const) {
    it(`puts a prompt-token estimate in message_start and ${vendor}'s exact count in message_delta`, async () => {
      const g = await gatewayWith([vendor]);
      const prompt = 'Tell me about the weather in Paris in spring, in some detail please.';
      const stream = anthropic(g).messages.stream({ model: 'claude-test', max_tokens: 200, system: 'You are a meteorologist.', messages: [{ role: 'user', content: prompt }] });
      let started: number | undefined;
      let exact: number | null | undefined;
      // Read as LangChain's ChatAnthropic does: input tokens from message_start only.
      for await (const event of stream) {
        if (event.type === 'message_start') started = event.message.usage.input_tokens;
        if (event.type === 'message_delta') exact = event.usage.input_tokens;
      }
      assert.ok(started !== undefined && started > 10 && started < 40, `message_start input_tokens ${String(started)}`);
      const provider = vendor === 'openai' ? oai.requests[0] : brk.requests[0];
      assert.ok(provider, 'the provider was called');
      assert.ok(typeof exact === 'number' && exact > 0, `message_delta input_tokens ${String(exact)}`);
      const final = await stream.finalMessage();
      assert.equal(final.usage.input_tokens, exact, 'the exact count wins once it is known');
    });
  }
});
