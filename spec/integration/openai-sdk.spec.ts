import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { FakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { startFakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import type { TestGateway } from '../support/gateway-harness.ts';
import { instance, routeConfig, startGateway } from '../support/gateway-harness.ts';

describe('the official OpenAI SDK pointed at the gateway', () => {
  let a: FakeOpenAI;
  let b: FakeOpenAI;
  let gw: TestGateway;
  let client: OpenAI;

  before(async () => {
    a = await startFakeOpenAI({ name: 'a' });
    b = await startFakeOpenAI({ name: 'b' });
    gw = await startGateway(
      routeConfig({
        instances: [
          instance('a', a.url, { weight: 4, options: { model: 'gpt-4o-mini' } }),
          instance('b', b.url, { weight: 1, options: { model: 'gpt-4o-mini' } }),
        ],
      }),
    );
    client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'client-key-not-forwarded', maxRetries: 0 });
  });
  after(async () => {
    await gw.close();
    await Promise.all([a.close(), b.close()]);
  });
  beforeEach(() => {
    a.reset();
    b.reset();
  });

  it('completes a chat and spreads requests 4:1 by weight', async () => {
    for (let i = 0; i < 10; i++) {
      const completion = await client.chat.completions.create({ model: 'anything', messages: [{ role: 'user', content: 'Hi' }] });
      assert.equal(completion.object, 'chat.completion');
      assert.ok((completion.choices[0]?.message.content ?? '').length > 0);
      assert.equal(completion.model, 'gpt-4o-mini', 'the instance option rewrote the model');
    }
    assert.equal(a.calls(), 8);
    assert.equal(b.calls(), 2);
  });

  it('streams a chat completion', async () => {
    const stream = await client.chat.completions.create({
      model: 'anything',
      messages: [{ role: 'user', content: 'Hi' }],
      stream: true,
    });
    let text = '';
    let chunks = 0;
    for await (const chunk of stream) {
      chunks += 1;
      text += chunk.choices[0]?.delta.content ?? '';
    }
    assert.ok(chunks >= 3);
    assert.ok(text.length > 0);
  });

  it('survives a failing instance without the SDK noticing', async () => {
    a.setBehavior({ kind: 'status', status: 503 });
    try {
      for (let i = 0; i < 5; i++) {
        const completion = await client.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'Hi' }] });
        assert.ok(completion.choices[0]);
      }
      assert.equal(b.calls(), 5);
    } finally {
      a.setBehavior({ kind: 'ok' });
    }
  });

  it('creates embeddings, base64-encoded by default as the SDK asks', async () => {
    const res = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['first', 'second'] });
    assert.equal(res.data.length, 2);
    assert.ok(Array.isArray(res.data[0]?.embedding));
    assert.ok((res.data[0]?.embedding.length ?? 0) > 0);
    assert.ok(res.usage.prompt_tokens > 0);
  });

  it('surfaces a provider error as the SDK error class for its status', async () => {
    a.setBehavior({ kind: 'status', status: 400 });
    b.setBehavior({ kind: 'status', status: 400 });
    try {
      await assert.rejects(
        client.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'Hi' }] }),
        (err: unknown) => err instanceof OpenAI.BadRequestError,
      );
    } finally {
      a.setBehavior({ kind: 'ok' });
      b.setBehavior({ kind: 'ok' });
    }
  });
});
