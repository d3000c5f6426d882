import assert from 'node:assert/strict';
import { ApiError, GoogleGenAI } from '@google/genai';
import type { Content, GenerateContentResponse } from '@google/genai';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import type { FakeAnthropic } from '../../tools/simulator/fake-anthropic.ts';
import { startFakeAnthropic } from '../../tools/simulator/fake-anthropic.ts';
import type { FakeGemini } from '../../tools/simulator/fake-gemini.ts';
import { startFakeGemini } from '../../tools/simulator/fake-gemini.ts';
import type { FakeGoogle } from '../../tools/simulator/fake-google.ts';
import { makeTestServiceAccount, startFakeGoogle } from '../../tools/simulator/fake-google.ts';
import type { FakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { startFakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import type { RecordedRequest } from '../../tools/simulator/fake-server.ts';
import type { TestGateway } from '../support/gateway-harness.ts';
import { postJson, startGateway } from '../support/gateway-harness.ts';

// The official @google/genai SDK pointed at the gateway (httpOptions.baseUrl, its own API key), served by
// OpenAI, Anthropic and native Gemini / Vertex instances, each a fake speaking its vendor's wire format.

const CLIENT_KEY = 'AIzaSy-client-own-google-key-0123456789';
const GEMINI_KEY = 'AIzaSy-gateway-gemini-key-9876543210';

function sdk(gw: TestGateway, apiVersion?: string): GoogleGenAI {
  // No retries: a gateway failure must show as it is, not be hidden by the SDK trying again.
  return new GoogleGenAI({ apiKey: CLIENT_KEY, httpOptions: { baseUrl: gw.url, ...(apiVersion && { apiVersion }), retryOptions: { attempts: 1 } } });
}

async function collect(stream: AsyncGenerator<GenerateContentResponse>): Promise<GenerateContentResponse[]> {
  const chunks: GenerateContentResponse[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

const textOf = (chunks: GenerateContentResponse[]): string => chunks.map((c) => c.text ?? '').join('');

/** Nothing the client sent as its credential reaches a provider: not a header, not the URL. */
function assertNoClientKey(requests: readonly RecordedRequest[]): void {
  assert.ok(requests.length > 0, 'the provider was called');
  for (const r of requests) {
    assert.ok(!r.url.includes(CLIENT_KEY), `client key in ${r.url}`);
    assert.ok(!JSON.stringify(r.headers).includes(CLIENT_KEY), 'client key in the headers sent upstream');
    assert.ok(!r.body.toString('utf8').includes(CLIENT_KEY), 'client key in the body sent upstream');
  }
}

const routes = (instances: unknown[]) => ({
  server: { host: '127.0.0.1', port: 0 },
  admin: false,
  routes: [{ id: 'google', uris: ['/v1beta/*', '/v1/*'], plugins: { 'ai-proxy-multi': { instances } } }],
});

describe('@google/genai SDK through the gateway', function () {
  this.timeout(20_000);
  let oai: FakeOpenAI;
  let ant: FakeAnthropic;
  let gem: FakeGemini;
  let gw: TestGateway;

  const openaiInstance = (priority = 1) => ({
    name: 'openai',
    provider: 'openai',
    priority,
    auth: { header: { Authorization: 'Bearer sk-openai-gateway-key' } },
    options: { model: 'gpt-4o-mini' },
    override: { endpoint: oai.url },
  });
  const anthropicInstance = (priority = 0) => ({
    name: 'anthropic',
    provider: 'anthropic',
    priority,
    auth: { header: { 'x-api-key': 'sk-ant-gateway-key' } },
    options: { model: 'claude-test' },
    override: { endpoint: ant.url },
  });
  const geminiInstance = (priority = 0) => ({
    name: 'gemini',
    provider: 'gemini',
    priority,
    auth: { header: { 'x-goog-api-key': GEMINI_KEY } },
    provider_conf: { api: 'native' },
    override: { endpoint: gem.url },
  });

  beforeEach(async () => {
    oai = await startFakeOpenAI({ name: 'oai', behavior: { kind: 'ok', content: 'Hello from OpenAI.', chunks: 3 } });
    ant = await startFakeAnthropic({ name: 'ant', behavior: { kind: 'ok', content: 'Hello from Claude.', chunks: 3 } });
    gem = await startFakeGemini({ name: 'gem', apiKey: GEMINI_KEY, behavior: { kind: 'ok', content: 'Hello from Gemini.', chunks: 3 } });
  });
  afterEach(async () => {
    await gw?.close();
    await Promise.all([oai.close(), ant.close(), gem.close()]);
  });

  describe('served by an OpenAI instance', () => {
    it('streams generateContentStream (the SDK default /v1 path) as Gemini chunks with text, finish reason and usage', async () => {
      gw = await startGateway(routes([openaiInstance()]));
      const chunks = await collect(
        await sdk(gw).models.generateContentStream({
          model: 'gemini-2.5-flash',
          contents: 'Say hello',
          config: { systemInstruction: 'Be brief.', temperature: 0.2, maxOutputTokens: 50, stopSequences: ['END'] },
        }),
      );
      assert.equal(textOf(chunks), 'Hello from OpenAI.');
      const last = chunks.at(-1);
      assert.equal(last?.candidates?.[0]?.finishReason, 'STOP');
      assert.ok((last?.usageMetadata?.promptTokenCount ?? 0) > 0, 'prompt tokens reach the client');
      assert.equal(last?.usageMetadata?.totalTokenCount, (last?.usageMetadata?.promptTokenCount ?? 0) + (last?.usageMetadata?.candidatesTokenCount ?? 0));
      const sent = oai.requests[0]?.json as Record<string, unknown>;
      assert.equal(oai.requests[0]?.path, '/v1/chat/completions');
      assert.deepEqual(sent['messages'], [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Say hello' },
      ]);
      assert.equal(sent['temperature'], 0.2);
      assert.equal(sent['max_completion_tokens'], 50);
      assert.deepEqual(sent['stop'], ['END']);
      assert.equal(sent['stream'], true);
      assertNoClientKey(oai.requests);
    });

    it('answers generateContent on /v1beta with text and usage, the access log naming the model from the path', async () => {
      gw = await startGateway(routes([{ ...openaiInstance(), options: {} }]));
      const res = await sdk(gw, 'v1beta').models.generateContent({ model: 'gemini-2.5-flash', contents: 'Say hello' });
      assert.equal(res.text, 'Hello from OpenAI.');
      assert.equal(res.candidates?.[0]?.finishReason, 'STOP');
      assert.ok((res.usageMetadata?.candidatesTokenCount ?? 0) > 0);
      assert.equal((oai.requests[0]?.json as Record<string, unknown>)['model'], 'gemini-2.5-flash', 'the model in the path is the model asked for');
      const access = gw.access()[0];
      assert.equal(access?.['request_llm_model'] ?? access?.['llm_model'], 'gemini-2.5-flash');
    });

    it('serves the SDK in Vertex express mode too (its /v1beta1/publishers/google/models/… path)', async () => {
      gw = await startGateway({ ...routes([]), routes: [{ id: 'vertex', uris: ['/v1beta1/*'], plugins: { 'ai-proxy-multi': { instances: [openaiInstance()] } } }] });
      const vertex = new GoogleGenAI({ vertexai: true, apiKey: CLIENT_KEY, httpOptions: { baseUrl: gw.url, retryOptions: { attempts: 1 } } });
      const chunks = await collect(await vertex.models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'Say hello' }));
      assert.equal(textOf(chunks), 'Hello from OpenAI.');
      assertNoClientKey(oai.requests);
    });

    it('sends a function round trip as paired tool calls and tool results', async () => {
      gw = await startGateway(routes([openaiInstance()]));
      const contents: Content[] = [
        { role: 'user', parts: [{ text: 'Weather in Paris?' }] },
        { role: 'model', parts: [{ functionCall: { name: 'get_weather', args: { city: 'Paris' } } }] },
        { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { output: '21C' } } }] },
      ];
      await sdk(gw).models.generateContent({
        model: 'gemini-2.5-flash',
        contents,
        config: { tools: [{ functionDeclarations: [{ name: 'get_weather', description: 'Weather', parametersJsonSchema: { type: 'object', properties: { city: { type: 'string' } } } }] }] },
      });
      const sent = oai.requests[0]?.json as { messages: Array<Record<string, any>>; tools: unknown[] };
      const call = sent.messages[1]?.['tool_calls']?.[0];
      assert.equal(call?.function?.name, 'get_weather');
      assert.deepEqual(JSON.parse(call?.function?.arguments), { city: 'Paris' });
      assert.deepEqual(sent.messages[2], { role: 'tool', tool_call_id: call?.id, content: '21C' });
      assert.deepEqual(sent.tools, [{ type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }]);
    });
  });

  describe('falling back', () => {
    it('streams from Anthropic when the OpenAI instance answers 503', async () => {
      oai.setBehavior({ kind: 'status', status: 503 });
      gw = await startGateway(routes([openaiInstance(1), anthropicInstance(0)]));
      const chunks = await collect(await sdk(gw).models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'Say hello' }));
      assert.equal(textOf(chunks), 'Hello from Claude.');
      assert.equal(chunks.at(-1)?.candidates?.[0]?.finishReason, 'STOP');
      assert.ok((chunks.at(-1)?.usageMetadata?.promptTokenCount ?? 0) > 0);
      assert.equal(oai.calls(), 1);
      const sent = ant.requests[0]?.json as Record<string, unknown>;
      assert.deepEqual(sent['messages'], [{ role: 'user', content: 'Say hello' }]);
      assert.equal(sent['stream'], true);
      assertNoClientKey([...oai.requests, ...ant.requests]);
    });

    it('answers generateContent from Anthropic after a 503, and runs a tool round trip with Claude ids', async () => {
      oai.setBehavior({ kind: 'status', status: 503 });
      ant.setBehavior({ kind: 'ok', content: 'Checking.', toolUse: { name: 'get_weather', input: { city: 'Paris' } } });
      gw = await startGateway(routes([openaiInstance(1), anthropicInstance(0)]));
      const tools = [{ functionDeclarations: [{ name: 'get_weather', parametersJsonSchema: { type: 'object', properties: { city: { type: 'string' } } } }] }];
      const first = await sdk(gw).models.generateContent({ model: 'gemini-2.5-flash', contents: 'Weather in Paris?', config: { tools } });
      const call = first.functionCalls?.[0];
      assert.equal(call?.name, 'get_weather');
      assert.deepEqual(call?.args, { city: 'Paris' });
      assert.ok(call?.id, 'the call keeps the provider id for the response');
      ant.setBehavior({ kind: 'ok', content: 'It is 21C.' });
      const second = await sdk(gw).models.generateContent({
        model: 'gemini-2.5-flash',
        contents: [
          { role: 'user', parts: [{ text: 'Weather in Paris?' }] },
          first.candidates?.[0]?.content as Content,
          { role: 'user', parts: [{ functionResponse: { id: call?.id, name: 'get_weather', response: { output: '21C' } } }] },
        ],
        config: { tools },
      });
      assert.equal(second.text, 'It is 21C.');
      const sent = ant.requests.at(-1)?.json as { messages: Array<{ role: string; content: Array<Record<string, unknown>> }> };
      const toolUse = sent.messages[1]?.content.find((b) => b['type'] === 'tool_use');
      const toolResult = sent.messages[2]?.content.find((b) => b['type'] === 'tool_result');
      assert.equal(toolUse?.['id'], call?.id);
      assert.equal(toolResult?.['tool_use_id'], call?.id);
    });
  });

  describe('a gemini instance with provider_conf.api "native"', () => {
    it('gets the client body as it is on /v1beta/models/{model}:streamGenerateContent?alt=sse with the gateway key', async () => {
      gw = await startGateway(routes([geminiInstance()]));
      const chunks = await collect(await sdk(gw).models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'Say hello', config: { temperature: 0.3 } }));
      assert.equal(textOf(chunks), 'Hello from Gemini.');
      const req = gem.requests[0];
      assert.equal(req?.url, '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
      assert.equal(req?.headers['x-goog-api-key'], GEMINI_KEY);
      assert.deepEqual((req?.json as Record<string, unknown>)['generationConfig'], { temperature: 0.3 });
      assertNoClientKey(gem.requests);
    });

    it('serves an OpenAI chat client, streamed, with a function call converted to tool_calls', async () => {
      gem.setBehavior({ kind: 'ok', content: 'Let me check.', thought: 'The user wants weather.', functionCall: { name: 'get_weather', args: { city: 'Paris' } } });
      gw = await startGateway({ ...routes([geminiInstance()]), routes: [{ id: 'chat', uri: '/v1/chat/completions', plugins: { 'ai-proxy-multi': { instances: [geminiInstance()] } } }] });
      const client = new OpenAI({ apiKey: 'sk-client', baseURL: `${gw.url}/v1`, maxRetries: 0 });
      const stream = await client.chat.completions.create({
        model: 'gemini-2.5-flash',
        messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Weather in Paris?' }],
        tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
        max_tokens: 100,
        stream: true,
        stream_options: { include_usage: true },
      });
      let text = '';
      let args = '';
      let name = '';
      let finish: string | null = null;
      let usage: OpenAI.CompletionUsage | undefined;
      for await (const chunk of stream) {
        const delta = chunk.choices[0]?.delta;
        text += delta?.content ?? '';
        for (const c of delta?.tool_calls ?? []) {
          name += c.function?.name ?? '';
          args += c.function?.arguments ?? '';
        }
        finish = chunk.choices[0]?.finish_reason ?? finish;
        usage = chunk.usage ?? usage;
      }
      assert.equal(text, 'Let me check.');
      assert.equal(name, 'get_weather');
      assert.deepEqual(JSON.parse(args), { city: 'Paris' });
      assert.equal(finish, 'tool_calls');
      assert.ok(usage && usage.completion_tokens_details?.reasoning_tokens && usage.completion_tokens_details.reasoning_tokens > 0, 'thought tokens are reasoning tokens');
      const req = gem.requests[0];
      assert.equal(req?.url, '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
      const body = req?.json as Record<string, unknown>;
      assert.deepEqual(body['systemInstruction'], { parts: [{ text: 'Be brief.' }] });
      assert.deepEqual(body['generationConfig'], { maxOutputTokens: 100 });
      assert.deepEqual(body['tools'], [{ functionDeclarations: [{ name: 'get_weather', parametersJsonSchema: { type: 'object', properties: { city: { type: 'string' } } } }] }]);
    });

    it('gives an OpenAI chat client the thought signature of a Gemini call, which the next turn takes back to a fake that requires it', async () => {
      await gem.close();
      gem = await startFakeGemini({ name: 'gem3', apiKey: GEMINI_KEY, requireThoughtSignatures: true, behavior: { kind: 'ok', content: '', functionCall: { name: 'get_weather', args: { city: 'Paris' } } } });
      gw = await startGateway({ ...routes([]), routes: [{ id: 'chat', uri: '/v1/chat/completions', plugins: { 'ai-proxy-multi': { instances: [geminiInstance()] } } }] });
      const client = new OpenAI({ apiKey: 'sk-client', baseURL: `${gw.url}/v1`, maxRetries: 0 });
      const tools: OpenAI.ChatCompletionTool[] = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
      const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Weather in Paris?' }];
      const first = await client.chat.completions.create({ model: 'gemini-3-pro-preview', messages, tools });
      const message = first.choices[0]?.message;
      const call = message?.tool_calls?.[0];
      assert.ok(call && call.type === 'function');
      assert.equal(first.choices[0]?.finish_reason, 'tool_calls');
      // The usual client loop: append the assistant message as it came, then the tool's answer.
      messages.push(message as OpenAI.ChatCompletionMessageParam, { role: 'tool', tool_call_id: call.id, content: '21C' });
      gem.setBehavior({ kind: 'ok', content: 'It is 21C.' });
      const second = await client.chat.completions.create({ model: 'gemini-3-pro-preview', messages, tools });
      assert.equal(second.choices[0]?.message.content, 'It is 21C.');
      const sent = gem.requests[1]?.json as { contents: Array<{ role: string; parts: Array<Record<string, unknown>> }> };
      assert.equal(sent.contents[1]?.parts[0]?.['thoughtSignature'], Buffer.from('signed-by-gem3-1').toString('base64'));
      assert.deepEqual(sent.contents[2]?.parts[0], { functionResponse: { id: call.id, name: 'get_weather', response: { output: '21C' } } });
    });

    it('streams to an Anthropic SDK client (through chat), thinking and tool use included', async () => {
      gem.setBehavior({ kind: 'ok', content: 'Let me check.', thought: 'Weather needs a tool.', functionCall: { name: 'get_weather', args: { city: 'Paris' } } });
      gw = await startGateway({ ...routes([]), routes: [{ id: 'claude', uri: '/v1/messages', plugins: { 'ai-proxy-multi': { instances: [geminiInstance()] } } }] });
      const client = new Anthropic({ apiKey: 'sk-ant-client', baseURL: gw.url, maxRetries: 0 });
      const stream = client.messages.stream({
        model: 'gemini-2.5-flash',
        max_tokens: 200,
        system: 'Be brief.',
        messages: [{ role: 'user', content: 'Weather in Paris?' }],
        tools: [{ name: 'get_weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
      });
      const message = await stream.finalMessage();
      assert.deepEqual(message.content.map((b) => b.type), ['thinking', 'text', 'tool_use']);
      const toolUse = message.content.find((b) => b.type === 'tool_use');
      assert.deepEqual(toolUse?.type === 'tool_use' ? toolUse.input : undefined, { city: 'Paris' });
      assert.equal(message.stop_reason, 'tool_use');
      assert.ok(message.usage.output_tokens > 0);
      const body = gem.requests[0]?.json as Record<string, unknown>;
      assert.equal(gem.requests[0]?.url, '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
      assert.deepEqual(body['systemInstruction'], { parts: [{ text: 'Be brief.' }] });
      assert.equal((body['generationConfig'] as Record<string, unknown>)['maxOutputTokens'], 200);
    });

    it('passes countTokens (the SDK default /v1 path) through to Google\'s own tree with the gateway key', async () => {
      gw = await startGateway(routes([geminiInstance()]));
      const res = await sdk(gw).models.countTokens({ model: 'gemini-2.5-flash', contents: 'Count these words please' });
      assert.ok((res.totalTokens ?? 0) > 0);
      assert.equal(gem.requests[0]?.url, '/v1/models/gemini-2.5-flash:countTokens');
      assert.equal(gem.requests[0]?.headers['x-goog-api-key'], GEMINI_KEY);
      assertNoClientKey(gem.requests);
    });

    it('falls back to OpenAI when Gemini\'s stream fails before any content, and ends a stream that fails later with an error the SDK throws', async () => {
      gem.setBehavior({ kind: 'stream-error', afterChunks: 0 });
      gw = await startGateway(routes([geminiInstance(1), openaiInstance(0)]));
      const chunks = await collect(await sdk(gw).models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'Say hello' }));
      assert.equal(textOf(chunks), 'Hello from OpenAI.', 'the error came before the commit point: invisible to the client');
      gem.setBehavior({ kind: 'stream-error', afterChunks: 2 });
      const text: string[] = [];
      await assert.rejects(
        (async () => {
          for await (const c of await sdk(gw).models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'Say hello' })) text.push(c.text ?? '');
        })(),
        (err: unknown) => err instanceof ApiError && err.status >= 500,
      );
      assert.ok(text.join('').length > 0, 'content came before the error');
      assert.equal(oai.calls(), 1, 'after the commit point nothing is retried');
    });

    it('relays a Gemini 429 to the SDK in Google\'s error shape', async () => {
      gem.setBehavior({ kind: 'status', status: 429 });
      gw = await startGateway(routes([geminiInstance()]));
      await assert.rejects(sdk(gw).models.generateContent({ model: 'gemini-2.5-flash', contents: 'Hi' }), (err: unknown) => {
        assert.ok(err instanceof ApiError);
        assert.equal(err.status, 429);
        assert.match(err.message, /RESOURCE_EXHAUSTED/);
        return true;
      });
    });
  });

  describe('client credentials and bad requests', () => {
    it('strips a ?key= credential: never forwarded to the provider, never logged', async () => {
      gw = await startGateway(routes([geminiInstance()]));
      const res = await postJson(`${gw.url}/v1beta/models/gemini-2.5-flash:generateContent?key=${CLIENT_KEY}`, { contents: [{ role: 'user', parts: [{ text: 'Hi' }] }] });
      assert.equal(res.status, 200);
      assertNoClientKey(gem.requests);
      assert.ok(!JSON.stringify(gw.logs).includes(CLIENT_KEY), 'the client key is not in any log line');
    });

    it('refuses a body without contents with a Google-shaped 400 the SDK reports', async () => {
      gw = await startGateway(routes([openaiInstance()]));
      const res = await postJson(`${gw.url}/v1beta/models/gemini-2.5-flash:generateContent`, { contents: [] }, { 'x-goog-api-key': CLIENT_KEY });
      assert.equal(res.status, 400);
      const error = (res.json as { error: Record<string, unknown> }).error;
      assert.equal(error['code'], 400);
      assert.equal(error['status'], 'INVALID_ARGUMENT');
      assert.match(String(error['message']), /contents/);
      assert.equal(oai.calls(), 0);
    });

    it('refuses a request a provider cannot take (a googleSearch tool on OpenAI) in Google\'s shape', async () => {
      gw = await startGateway(routes([openaiInstance()]));
      await assert.rejects(sdk(gw).models.generateContent({ model: 'gemini-2.5-flash', contents: 'Hi', config: { tools: [{ googleSearch: {} }] } }), (err: unknown) => {
        assert.ok(err instanceof ApiError);
        assert.equal(err.status, 400);
        assert.match(err.message, /googleSearch/);
        return true;
      });
      assert.equal(oai.calls(), 0);
    });
  });
});

describe('a vertex-ai instance with provider_conf.api "native"', function () {
  this.timeout(20_000);
  let google: FakeGoogle;
  let gw: TestGateway;
  afterEach(async () => {
    await gw?.close();
    await google?.close();
  });

  it('gets generateContent on the publisher model path with an OAuth token, and a Google SDK client its answer', async () => {
    google = await startFakeGoogle({ name: 'vertex', behavior: { kind: 'ok', content: 'Hello from Vertex.' } });
    const account = makeTestServiceAccount(google.tokenUrl);
    google.trust(account.publicKey, account.clientEmail);
    gw = await startGateway(
      routes([
        {
          name: 'vertex',
          provider: 'vertex-ai',
          auth: { gcp: { service_account_json: account.json } },
          provider_conf: { project_id: 'proj', region: 'europe-west4', api: 'native' },
          options: { model: 'google/gemini-2.0-flash-001' },
          override: { endpoint: google.url },
        },
      ]),
    );
    const res = await sdk(gw).models.generateContent({ model: 'gemini-2.5-flash', contents: 'Say hello' });
    assert.equal(res.text, 'Hello from Vertex.');
    const chunks = await collect(await sdk(gw).models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'Say hello' }));
    assert.equal(textOf(chunks), 'Hello from Vertex.');
    const paths = google.requests.filter((r) => r.path !== '/token').map((r) => r.url);
    assert.deepEqual(paths, [
      '/v1/projects/proj/locations/europe-west4/publishers/google/models/gemini-2.0-flash-001:generateContent',
      '/v1/projects/proj/locations/europe-west4/publishers/google/models/gemini-2.0-flash-001:streamGenerateContent?alt=sse',
    ]);
    assertNoClientKey(google.requests);
  });
});
