import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { FakeGoogle } from '../../tools/simulator/fake-google.ts';
import { makeTestServiceAccount, startFakeGoogle } from '../../tools/simulator/fake-google.ts';
import type { FakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { startFakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import type { TestGateway } from '../support/gateway-harness.ts';
import { instance, routeConfig, startGateway } from '../support/gateway-harness.ts';

describe('OpenAI Responses clients on a chat-only provider', () => {
  let up: FakeOpenAI;
  let gw: TestGateway;
  let client: OpenAI;

  before(async () => {
    up = await startFakeOpenAI({ name: 'chat-only', behavior: { kind: 'ok', content: 'Paris is sunny today.', chunks: 4 } });
    gw = await startGateway(routeConfig({ instances: [instance('chat-only', up.url, { options: { model: 'm-chat' } })] }));
    client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  });
  after(async () => {
    await gw.close();
    await up.close();
  });
  beforeEach(() => up.reset());

  it('answers responses.create by converting to chat completions and back', async () => {
    const response = await client.responses.create({ model: 'gpt-4o-mini', instructions: 'Be terse.', input: 'Weather in Paris?' });
    assert.equal(response.object, 'response');
    assert.equal(response.status, 'completed');
    assert.equal(response.output_text, 'Paris is sunny today.');
    assert.ok((response.usage?.input_tokens ?? 0) > 0);
    const sent = up.requests[0]?.json as { model: string; messages: Array<{ role: string; content: unknown }> };
    assert.equal(up.requests[0]?.path, '/v1/chat/completions');
    assert.equal(sent.model, 'm-chat');
    assert.deepEqual(sent.messages[0], { role: 'system', content: 'Be terse.' });
    const access = gw.access().at(-1);
    assert.equal(access?.['client_protocol'], 'openai-responses');
    assert.equal(access?.['upstream_protocol'], 'openai-chat');
  });

  it('streams Responses events converted from a chat stream', async () => {
    const stream = await client.responses.create({ model: 'gpt-4o-mini', input: 'Weather in Paris?', stream: true });
    const types: string[] = [];
    let text = '';
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'response.output_text.delta') text += event.delta;
    }
    assert.equal(types[0], 'response.created');
    assert.equal(types.at(-1), 'response.completed');
    assert.equal(text, 'Paris is sunny today.');
  });
});

describe('OpenAI embeddings served by Vertex AI :predict with a service-account token', () => {
  let google: FakeGoogle;
  let gw: TestGateway;
  let client: OpenAI;

  before(async () => {
    google = await startFakeGoogle({ name: 'vertex' });
    const sa = makeTestServiceAccount(google.tokenUrl);
    google.trust(sa.publicKey, sa.clientEmail);
    gw = await startGateway(
      routeConfig({
        instances: [
          {
            name: 'vertex',
            provider: 'vertex-ai',
            weight: 1,
            provider_conf: { project_id: 'proj-1', region: 'us-central1' },
            auth: { gcp: { service_account_json: sa.json } },
            options: { model: 'text-embedding-005' },
            override: { endpoint: google.url },
          },
        ],
      }),
    );
    client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  });
  after(async () => {
    await gw.close();
    await google.close();
  });

  it('exchanges the signed JWT once, calls :predict and answers in OpenAI shape (base64 by default in the SDK)', async () => {
    const first = await client.embeddings.create({ model: 'anything', input: ['first text', 'second text'] });
    assert.equal(first.data.length, 2);
    assert.ok((first.data[0]?.embedding.length ?? 0) > 0);
    const floats = await client.embeddings.create({ model: 'anything', input: 'third', encoding_format: 'float' });
    assert.equal(floats.data.length, 1);
    assert.equal(google.tokenRequests(), 1, 'the token is cached');
    assert.equal(gw.access()[0]?.['request_type'], 'ai_embeddings', 'embeddings are logged as embeddings, not chat');
    const predict = google.requests.filter((r) => r.path.endsWith(':predict'));
    assert.equal(predict.length, 2);
    assert.equal(predict[0]?.path, '/v1/projects/proj-1/locations/us-central1/publishers/google/models/text-embedding-005:predict');
    assert.match(String(predict[0]?.headers['authorization']), /^Bearer /);
  });

  it('serves OpenAI chat from the Vertex OpenAI-compatible endpoint with the same token', async () => {
    const completion = await client.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'Hi' }] });
    assert.ok((completion.choices[0]?.message.content ?? '').length > 0);
    const chat = google.requests.filter((r) => r.path.endsWith('/chat/completions')).at(-1);
    assert.equal(chat?.path, '/v1/projects/proj-1/locations/us-central1/endpoints/openapi/chat/completions');
    assert.match(String(chat?.headers['authorization']), /^Bearer /);
  });

  it('fetches a fresh token and retries once when Vertex answers 401 to a cached one', async () => {
    google.revokeTokens();
    const before = google.tokenRequests();
    const res = await client.embeddings.create({ model: 'anything', input: 'after revocation', encoding_format: 'float' });
    assert.equal(res.data.length, 1);
    assert.equal(google.tokenRequests(), before + 1);
  });
});
