import assert from 'node:assert/strict';
import Anthropic, { APIConnectionError, APIError, InternalServerError } from '@anthropic-ai/sdk';
import { startFakeAnthropic } from '../../../tools/simulator/fake-anthropic.ts';
import type { FakeAnthropic } from '../../../tools/simulator/fake-anthropic.ts';

// Checked against the real Anthropic SDK: if the SDK accepts the simulator's answers, a gateway
// converting to or from Anthropic meets the same bytes it would meet at api.anthropic.com.
describe('fake Anthropic upstream', () => {
  let sim: FakeAnthropic;
  let client: Anthropic;
  const messages = [{ role: 'user' as const, content: 'Weather in Paris?' }];
  const tools = [{ name: 'get_weather', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } } } }];

  before(async () => {
    sim = await startFakeAnthropic({ name: 'sim-c' });
    client = new Anthropic({ apiKey: 'sk-ant-test', baseURL: sim.url, maxRetries: 0 });
  });
  afterEach(() => sim.reset());
  after(() => sim.close());

  it('answers messages.create with a message that echoes the model, with usage and its request-id', async () => {
    sim.setBehavior({ kind: 'ok', content: 'Sunny, 21C.' });
    const { data, response } = await client.messages.create({ model: 'claude-x', max_tokens: 64, messages }).withResponse();
    assert.equal(data.model, 'claude-x');
    assert.deepEqual(data.content, [{ type: 'text', text: 'Sunny, 21C.' }]);
    assert.equal(data.stop_reason, 'end_turn');
    assert.ok(data.usage.input_tokens > 0 && data.usage.output_tokens > 0);
    assert.equal(response.headers.get('request-id'), 'req_sim-c_1');
    // SDK 1.x (API version 2026-10-21) sends the key as a Bearer token; older ones as x-api-key.
    const headers = sim.requests[0]?.headers;
    assert.ok(headers?.['x-api-key'] === 'sk-ant-test' || headers?.authorization === 'Bearer sk-ant-test');
    assert.ok(sim.requests[0]?.headers['anthropic-version']);
  });

  it('streams text deltas that the SDK accumulates into the whole message, usage included', async () => {
    sim.setBehavior({ kind: 'ok', content: 'one two three four', chunks: 4, usage: { cache_read_input_tokens: 100 } });
    const stream = client.messages.stream({ model: 'claude-x', max_tokens: 64, messages });
    const deltas: string[] = [];
    stream.on('text', (t) => deltas.push(t));
    const final = await stream.finalMessage();
    assert.equal(deltas.length, 4);
    assert.equal(deltas.join(''), 'one two three four');
    assert.deepEqual(final.content, [{ type: 'text', text: 'one two three four' }]);
    assert.equal(final.stop_reason, 'end_turn');
    assert.equal(final.usage.cache_read_input_tokens, 100);
    assert.ok(final.usage.output_tokens > 1);
  });

  it('answers with a tool_use block when the request offers tools, plain and streamed', async () => {
    sim.setBehavior({ kind: 'ok', content: 'Checking.', toolUse: { name: 'get_weather', input: { city: 'Paris' } } });
    const plain = await client.messages.create({ model: 'm', max_tokens: 64, messages, tools });
    assert.equal(plain.stop_reason, 'tool_use');
    const block = plain.content[1];
    assert.ok(block?.type === 'tool_use');
    assert.deepEqual([block.name, block.input], ['get_weather', { city: 'Paris' }]);

    const streamed = await client.messages.stream({ model: 'm', max_tokens: 64, messages, tools }).finalMessage();
    assert.equal(streamed.stop_reason, 'tool_use');
    const streamedBlock = streamed.content[1];
    assert.ok(streamedBlock?.type === 'tool_use');
    assert.deepEqual(streamedBlock.input, { city: 'Paris' });

    const withoutTools = await client.messages.create({ model: 'm', max_tokens: 64, messages });
    assert.equal(withoutTools.stop_reason, 'end_turn');
    assert.equal(withoutTools.content.length, 1);
  });

  it('returns errors in Anthropic shape, which the SDK maps to its typed errors with the request id', async () => {
    sim.setBehavior({ kind: 'status', status: 529 });
    await assert.rejects(client.messages.create({ model: 'm', max_tokens: 8, messages }), (err) => {
      assert.ok(err instanceof InternalServerError);
      assert.equal(err.status, 529);
      assert.equal(err.type, 'overloaded_error');
      assert.equal(err.requestID, 'req_sim-c_1');
      return true;
    });
  });

  it('ends a stream with an overloaded error event after the configured number of deltas', async () => {
    sim.setBehavior({ kind: 'stream-error', afterChunks: 2 });
    const stream = client.messages.stream({ model: 'm', max_tokens: 8, messages });
    const deltas: string[] = [];
    stream.on('text', (t) => deltas.push(t));
    await assert.rejects(stream.finalMessage(), (err) => err instanceof APIError && err.type === 'overloaded_error');
    assert.equal(deltas.length, 2);
  });

  it('cuts a stream mid-way, which the SDK reports as a failure rather than a short answer', async () => {
    sim.setBehavior({ kind: 'stream-cut', afterChunks: 1 });
    await assert.rejects(client.messages.stream({ model: 'm', max_tokens: 8, messages }).finalMessage());
  });

  it('rejects a request without a key (401) or without anthropic-version (400), in Anthropic shape', async () => {
    const unauthenticated = await fetch(`${sim.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'm', max_tokens: 8, messages }),
    });
    assert.equal(unauthenticated.status, 401);
    assert.equal(((await unauthenticated.json()) as { error: { type: string } }).error.type, 'authentication_error');
    const res = await fetch(`${sim.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'k' },
      body: JSON.stringify({ model: 'm', max_tokens: 8, messages }),
    });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { type: string; error: { type: string; message: string }; request_id: string };
    assert.equal(body.type, 'error');
    assert.equal(body.error.type, 'invalid_request_error');
    assert.match(body.error.message, /anthropic-version/);
    assert.equal(body.request_id, res.headers.get('request-id'));
  });

  it('rejects what the real API rejects: no max_tokens, or text before a tool_result', async () => {
    const post = (body: object) =>
      fetch(`${sim.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': 'k', 'anthropic-version': '2023-06-01' },
        body: JSON.stringify(body),
      });
    assert.equal((await post({ model: 'm', messages })).status, 400);
    const misplaced = [
      { role: 'user', content: 'Go' },
      { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'f', input: {} }] },
      { role: 'user', content: [{ type: 'text', text: 'here' }, { type: 'tool_result', tool_use_id: 't1', content: 'ok' }] },
    ];
    const res = await post({ model: 'm', max_tokens: 8, messages: misplaced });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: { message: string } }).error.message, /tool_result/);
  });

  it('answers with a signed thinking block, plain and streamed, and refuses one sent back unsigned', async () => {
    sim.setBehavior({ kind: 'ok', content: '42', thinking: { text: '6 × 7.', signature: 'sig-1' } });
    const plain = await client.messages.create({ model: 'm', max_tokens: 2000, messages });
    assert.deepEqual(plain.content[0], { type: 'thinking', thinking: '6 × 7.', signature: 'sig-1' });
    const streamed = await client.messages.stream({ model: 'm', max_tokens: 2000, messages }).finalMessage();
    assert.deepEqual(streamed.content.map((b) => b.type), ['thinking', 'text']);
    assert.equal(streamed.content[0]?.type === 'thinking' ? streamed.content[0].signature : '', 'sig-1');
    const back = (signature: string) => [...messages, { role: 'assistant' as const, content: [{ type: 'thinking' as const, thinking: '6 × 7.', signature }] }, { role: 'user' as const, content: 'Sure?' }];
    await client.messages.create({ model: 'm', max_tokens: 2000, messages: back('sig-1') });
    await assert.rejects(client.messages.create({ model: 'm', max_tokens: 2000, messages: back('') }), (err: unknown) => err instanceof APIError && err.status === 400);
  });

  it('lists models, drops connections and counts calls per path', async () => {
    const models = await client.models.list();
    assert.deepEqual(models.data.map((m) => m.id), ['claude-sonnet-4-5', 'claude-haiku-4-5']);
    sim.setBehavior({ kind: 'drop' });
    await assert.rejects(client.messages.create({ model: 'm', max_tokens: 8, messages }), APIConnectionError);
    assert.equal(sim.calls('/v1/messages'), 1);
    assert.equal(sim.calls('/v1/models'), 1);
    assert.equal(sim.calls(), 2);
  });
});
