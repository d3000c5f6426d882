import assert from 'node:assert/strict';
import { APIConnectionError, APIError, OpenAI, RateLimitError } from 'openai';
import { startFakeOpenAI } from '../../../tools/simulator/fake-openai.ts';
import type { FakeOpenAI } from '../../../tools/simulator/fake-openai.ts';

// The simulator is what every integration test, the demo and the bench trust, so it is checked
// against the real OpenAI SDK: if the SDK accepts its answers, a gateway will meet the same bytes.
describe('fake OpenAI upstream', () => {
  let sim: FakeOpenAI;
  let client: OpenAI;
  const messages = [{ role: 'user' as const, content: 'Say hello' }];

  before(async () => {
    sim = await startFakeOpenAI({ name: 'sim-a' });
    client = new OpenAI({ apiKey: 'sk-test', baseURL: `${sim.url}/v1`, maxRetries: 0 });
  });
  afterEach(() => sim.reset());
  after(() => sim.close());

  it('answers a chat completion that echoes the model, with usage and its request id', async () => {
    sim.setBehavior({ kind: 'ok', content: 'Hi there' });
    const { data, response } = await client.chat.completions.create({ model: 'my-model', messages }).withResponse();
    assert.equal(data.model, 'my-model');
    assert.equal(data.choices[0]?.message.content, 'Hi there');
    assert.equal(data.choices[0]?.finish_reason, 'stop');
    assert.equal(data.usage?.total_tokens, (data.usage?.prompt_tokens ?? 0) + (data.usage?.completion_tokens ?? 0));
    assert.equal(response.headers.get('x-request-id'), 'req_sim-a_1');
    assert.ok(response.headers.get('x-ratelimit-remaining-requests'));
    assert.equal(sim.requests[0]?.headers.authorization, 'Bearer sk-test');
  });

  it('streams the configured number of chunks and a usage chunk only when include_usage is set', async () => {
    sim.setBehavior({ kind: 'ok', content: 'one two three four', chunks: 4 });
    const withUsage = await client.chat.completions.create({
      model: 'm', messages, stream: true, stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of withUsage) chunks.push(chunk);
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    assert.equal(text, 'one two three four');
    assert.equal(chunks.filter((c) => c.choices[0]?.delta.content).length, 4);
    assert.equal(chunks.at(-2)?.choices[0]?.finish_reason, 'stop');
    assert.deepEqual(chunks.at(-1)?.choices, []);
    assert.ok((chunks.at(-1)?.usage?.completion_tokens ?? 0) > 0);

    const withoutUsage = await client.chat.completions.create({ model: 'm', messages, stream: true });
    const plain = [];
    for await (const chunk of withoutUsage) plain.push(chunk);
    assert.ok(plain.every((c) => c.usage === null && c.choices.length === 1));
  });

  it('returns one embedding per input, as floats or as base64 float32 that the SDK decodes', async () => {
    const viaSdk = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['a', 'b', 'c'] });
    assert.equal(sim.requests[0]?.json && (sim.requests[0].json as { encoding_format?: string }).encoding_format, 'base64');
    assert.equal(viaSdk.data.length, 3);
    const res = await fetch(`${sim.url}/v1/embeddings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'e', input: ['a', 'b', 'c'], encoding_format: 'float' }),
    });
    const floats = (await res.json()) as { data: { embedding: number[] }[] };
    assert.deepEqual(viaSdk.data.map((d) => d.embedding), floats.data.map((d) => d.embedding));
    assert.ok(viaSdk.usage.prompt_tokens > 0);
  });

  it('lists models on any path ending /models and answers unknown paths with a 404 in OpenAI shape', async () => {
    const models = await client.models.list();
    assert.ok(models.data.some((m) => m.id === 'gpt-4o-mini'));
    const res = await fetch(`${sim.url}/v1/nope`);
    assert.equal(res.status, 404);
    const body = (await res.json()) as { error: { message: string; type: string } };
    assert.equal(body.error.type, 'invalid_request_error');
    assert.equal(sim.calls('/v1/nope'), 1);
  });

  it('serves Azure-style deployment paths and records path and query', async () => {
    const res = await fetch(`${sim.url}/openai/deployments/d1/chat/completions?api-version=2024-10-21`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'api-key': 'k' },
      body: JSON.stringify({ messages }),
    });
    assert.equal(res.status, 200);
    assert.equal(sim.requests[0]?.url, '/openai/deployments/d1/chat/completions?api-version=2024-10-21');
    assert.equal(sim.calls('/openai/'), 1);
    assert.equal(sim.calls('/v1/'), 0);
  });

  it('answers a scripted 429 with an OpenAI error body and retry-after', async () => {
    sim.setBehavior({ kind: 'status', status: 429, retryAfter: 7 });
    const err = await client.chat.completions.create({ model: 'm', messages }).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof RateLimitError);
    assert.equal(err.code, 'rate_limit_exceeded');
    assert.equal(err.headers.get('retry-after'), '7');
  });

  it('resets the connection without answering when told to drop', async () => {
    sim.setBehavior({ kind: 'drop' });
    const err = await client.chat.completions.create({ model: 'm', messages }).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof APIConnectionError);
    assert.equal(sim.calls(), 1);
  });

  it('cuts a stream after the given number of content chunks', async () => {
    sim.setBehavior({ kind: 'stream-cut', afterChunks: 2 });
    const stream = await client.chat.completions.create({ model: 'm', messages, stream: true });
    const seen: string[] = [];
    await assert.rejects(async () => {
      for await (const chunk of stream) seen.push(chunk.choices[0]?.delta.content ?? '');
    });
    assert.equal(seen.filter(Boolean).length, 2);
  });

  it('ends a stream with an in-band error event after the given chunks', async () => {
    sim.setBehavior({ kind: 'stream-error', afterChunks: 3 });
    const stream = await client.chat.completions.create({ model: 'm', messages, stream: true });
    const seen: string[] = [];
    const err = await (async () => {
      for await (const chunk of stream) seen.push(chunk.choices[0]?.delta.content ?? '');
    })().then(() => null, (e: unknown) => e);
    assert.ok(err instanceof APIError);
    assert.equal(seen.filter(Boolean).length, 3);
  });

  it('fails the scripted share of calls with flaky, and a BehaviorFn sees the call index', async () => {
    const rolls = [0.1, 0.9, 0.3, 0.7];
    let i = 0;
    sim.setBehavior({ kind: 'flaky', failRate: 0.5, random: () => rolls[i++ % rolls.length] ?? 0 });
    const statuses = [];
    for (let n = 0; n < 4; n++) {
      const res = await fetch(`${sim.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ messages }) });
      statuses.push(res.status);
      await res.arrayBuffer();
    }
    assert.deepEqual(statuses, [503, 200, 503, 200]);

    sim.setBehavior((_req, index) => (index === 4 ? { kind: 'status', status: 500 } : { kind: 'ok' }));
    const fifth = await fetch(`${sim.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ messages }) });
    assert.equal(fifth.status, 500);
  });

  it('delays before the headers and closes promptly while a request hangs', async () => {
    const slow = await startFakeOpenAI({ behavior: { kind: 'delay', ms: 150, then: { kind: 'ok' } } });
    const started = Date.now();
    const res = await fetch(`${slow.url}/v1/models`);
    assert.equal(res.status, 200);
    assert.ok(Date.now() - started >= 140);
    await res.arrayBuffer();

    slow.setBehavior({ kind: 'hang' });
    const pending = fetch(`${slow.url}/v1/models`).then(() => 'answered', () => 'failed');
    await new Promise((r) => setTimeout(r, 50));
    const closeStarted = Date.now();
    await slow.close();
    assert.ok(Date.now() - closeStarted < 1000);
    assert.equal(await pending, 'failed');
  });
});
