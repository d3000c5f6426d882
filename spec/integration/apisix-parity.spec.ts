import assert from 'node:assert/strict';
import { BedrockRuntimeClient, ConverseStreamCommand } from '@aws-sdk/client-bedrock-runtime';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { loadConfigText } from '../../lib/load-config.ts';
import { validateConfig } from '../../lib/config/validate.ts';
import { providerCatalog } from '../../lib/providers/catalog.ts';
import { getProvider, providerNames } from '../../lib/providers/registry.ts';
import { buildUpstreamBody } from '../../lib/providers/request-body.ts';
import { upstreamProtocolNames } from '../../lib/protocols/registry.ts';
import type { JsonObject, UpstreamProtocolName } from '../../lib/protocols/types.ts';
import type { FakeAnthropic } from '../../tools/simulator/fake-anthropic.ts';
import { startFakeAnthropic } from '../../tools/simulator/fake-anthropic.ts';
import type { FakeBedrock } from '../../tools/simulator/fake-bedrock.ts';
import { startFakeBedrock } from '../../tools/simulator/fake-bedrock.ts';
import type { TestGateway } from '../support/gateway-harness.ts';
import { postJson, startGateway } from '../support/gateway-harness.ts';

// APISIX 3.18 ai-proxy / ai-proxy-multi parity: fields a pasted APISIX config carries, and the
// refusals APISIX makes, each at its JSON path.

const multi = (pluginFields: JsonObject, instanceFields: JsonObject = {}): JsonObject => ({
  routes: [{
    id: 'r',
    uri: '/v1/*',
    plugins: {
      'ai-proxy-multi': {
        instances: [{ name: 'i', provider: 'openai', auth: { header: { Authorization: 'Bearer k' } }, ...instanceFields }],
        ...pluginFields,
      },
    },
  }],
});
const single = (fields: JsonObject): JsonObject => ({
  routes: [{ id: 'r', uri: '/v1/*', plugins: { 'ai-proxy': { provider: 'openai', auth: { header: { Authorization: 'Bearer k' } }, ...fields } } }],
});
const problems = (raw: JsonObject) => validateConfig(raw, providerCatalog);
const at = '/routes/0/plugins/ai-proxy-multi/instances/0/override';

describe('APISIX 3.18 parity', function () {
  this.timeout(20_000);

  describe('config fields', () => {
    it('accepts streaming_flush_interval_ms (integer >= 0) on both plugins and refuses a negative one at its path', () => {
      assert.deepEqual(problems(multi({ streaming_flush_interval_ms: 0 })), []);
      assert.deepEqual(problems(single({ streaming_flush_interval_ms: 25 })), []);
      const bad = problems(multi({ streaming_flush_interval_ms: -1 }));
      assert.deepEqual(bad.map((p) => p.path), ['/routes/0/plugins/ai-proxy-multi/streaming_flush_interval_ms']);
      assert.deepEqual(problems(single({ streaming_flush_interval_ms: 1.5 })).map((p) => p.path), ['/routes/0/plugins/ai-proxy/streaming_flush_interval_ms']);
    });

    it('refuses a key other than max_tokens in override.llm_options, naming its path', () => {
      assert.deepEqual(problems(multi({}, { override: { llm_options: { max_tokens: 5 } } })), []);
      const bad = problems(multi({}, { override: { llm_options: { max_tokens: 5, temperature: 0.2 } } }));
      assert.deepEqual(bad.map((p) => p.path), [`${at}/llm_options/temperature`]);
    });

    it('refuses max_stream_duration_ms 0 (APISIX minimum 1) and still runs uncapped when it is absent', () => {
      const bad = problems(single({ max_stream_duration_ms: 0 }));
      assert.deepEqual(bad.map((p) => p.path), ['/routes/0/plugins/ai-proxy/max_stream_duration_ms']);
      assert.deepEqual(problems(single({ max_stream_duration_ms: 1 })), []);
      const cfg = loadConfigText(JSON.stringify(single({})), {});
      assert.equal(cfg.routes[0]?.plugin.max_stream_duration_ms, 0, 'absent = no cap');
    });

    it('accepts request_body keyed by protocol or by field, refuses a mix at the offending key and a non-object protocol entry', () => {
      assert.deepEqual(problems(multi({}, { override: { request_body: { 'openai-chat': { user: 'u' }, 'anthropic-messages': {} } } })), []);
      assert.deepEqual(problems(multi({}, { override: { request_body: { user: 'u', metadata: { a: 'b' } } } })), []);
      const mixed = problems(multi({}, { override: { request_body: { 'openai-chat': { user: 'u' }, 'openai-chatt': { user: 'v' } } } }));
      assert.deepEqual(mixed.map((p) => p.path), [`${at}/request_body/openai-chatt`]);
      assert.match(mixed[0]?.message ?? '', /not a protocol name/);
      const scalar = problems(multi({}, { override: { request_body: { 'openai-chat': 'u' } } }));
      assert.deepEqual(scalar.map((p) => p.path), [`${at}/request_body/openai-chat`]);
    });
  });

  describe('override.llm_options.max_tokens per protocol x provider', () => {
    // What each protocol's body looks like, and where APISIX 3.18 puts max_tokens in it.
    const bodies: Record<UpstreamProtocolName, JsonObject> = {
      'openai-chat': { model: 'm', messages: [{ role: 'user', content: 'hi' }] },
      'openai-responses': { model: 'm', input: 'hi' },
      'openai-embeddings': { model: 'm', input: 'hi' },
      'anthropic-messages': { model: 'm', max_tokens: 4096, messages: [{ role: 'user', content: 'hi' }] },
      'bedrock-converse': { messages: [{ role: 'user', content: [{ text: 'hi' }] }] },
      'vertex-predict': { instances: [{ content: 'hi' }] },
      'google-genai': { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] },
      passthrough: { model: 'm', prompt: 'hi' },
    };
    const expected = (protocol: UpstreamProtocolName, provider: string): string | undefined => {
      switch (protocol) {
        case 'openai-chat':
          return provider === 'openai' || provider === 'gemini' ? 'max_completion_tokens' : 'max_tokens';
        case 'openai-responses':
          return 'max_output_tokens';
        case 'anthropic-messages':
          return 'max_tokens';
        case 'bedrock-converse':
          return 'inferenceConfig.maxTokens';
        case 'google-genai':
          return 'generationConfig.maxOutputTokens';
        default:
          return undefined;
      }
    };
    const base = loadConfigText(JSON.stringify(multi({}, { provider: 'openai-compatible', override: { endpoint: 'http://127.0.0.1:1', llm_options: { max_tokens: 77 } } })), {})
      .routes[0]?.plugin.instances[0];

    for (const provider of providerNames) {
      for (const protocol of upstreamProtocolNames) {
        const field = expected(protocol, provider);
        it(`${protocol} to ${provider}: ${field ?? 'not applied'}`, () => {
          assert.ok(base);
          const inst = { ...base, provider };
          const client = bodies[protocol];
          const out = JSON.parse(buildUpstreamBody(client, Buffer.from(JSON.stringify(client)), protocol, inst, getProvider(provider)).bytes.toString()) as JsonObject;
          const limits = ['max_tokens', 'max_completion_tokens', 'max_output_tokens'].filter((k) => k in out);
          const inference = out['inferenceConfig'] as JsonObject | undefined;
          if (field === undefined) {
            assert.deepEqual(limits, []);
            assert.equal(inference, undefined);
          } else if (field === 'inferenceConfig.maxTokens') {
            assert.equal(inference?.['maxTokens'], 77);
            assert.deepEqual(limits, []);
          } else if (field === 'generationConfig.maxOutputTokens') {
            assert.equal((out['generationConfig'] as JsonObject | undefined)?.['maxOutputTokens'], 77);
            assert.deepEqual(limits, []);
            assert.ok(!('model' in out), 'the model goes in the path');
          } else {
            assert.deepEqual(limits, [field], 'exactly one limit is sent');
            assert.equal(out[field], 77);
          }
        });
      }
    }
  });

  describe('Bedrock Converse on an APISIX-style /converse route (SigV4-verifying fake)', () => {
    const aws = { access_key_id: 'AKIDPARITYTEST', secret_access_key: 'parity-secret-key' };
    const region = 'us-west-2';
    let brk: FakeBedrock;
    let gw: TestGateway | undefined;

    beforeEach(async () => {
      brk = await startFakeBedrock({ name: 'brk', credentials: aws, region, behavior: { kind: 'ok', content: 'Hi from Bedrock.', chunks: 2 } });
    });
    afterEach(async () => {
      await gw?.close();
      gw = undefined;
      await brk.close();
    });

    const gateway = (options?: JsonObject) =>
      startGateway({
        server: { host: '127.0.0.1', port: 0 },
        admin: false,
        routes: [{
          id: 'bedrock',
          uris: ['/converse', '/model/*'],
          plugins: { 'ai-proxy': { provider: 'bedrock', auth: { aws }, provider_conf: { region }, override: { endpoint: brk.url }, ...(options && { options }) } },
        }],
      });
    const messages = [{ role: 'user', content: [{ text: 'Hello' }] }];

    it('sends a body with "stream": true to /converse-stream without the flag, signed', async () => {
      gw = await gateway({ model: 'anthropic.claude-3-haiku-20240307-v1:0' });
      const res = await fetch(`${gw.url}/converse`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages, stream: true }) });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/vnd.amazon.eventstream');
      await res.arrayBuffer();
      const sent = brk.requests[0];
      assert.ok(sent);
      assert.equal(sent.signatureValid, true);
      assert.equal(sent.path, '/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream');
      assert.equal('stream' in (sent.json as JsonObject), false);
    });

    it('takes the model from the body when the instance has none, as one path segment, and drops it from the body', async () => {
      gw = await gateway();
      const res = await postJson(`${gw.url}/converse`, { model: 'arn:aws:bedrock:us-west-2:1:inference-profile/us.meta/llama', messages });
      assert.equal(res.status, 200, res.text);
      const sent = brk.requests[0];
      assert.equal(sent?.signatureValid, true);
      assert.equal(sent?.path, `/model/${encodeURIComponent('arn:aws:bedrock:us-west-2:1:inference-profile/us.meta/llama')}/converse`);
      assert.equal(sent?.modelId, 'arn:aws:bedrock:us-west-2:1:inference-profile/us.meta/llama');
      assert.equal('model' in (sent?.json as JsonObject), false);
    });

    it('still takes the model from the path segment when neither instance nor body names one', async () => {
      gw = await gateway();
      const res = await postJson(`${gw.url}/model/amazon.nova-lite-v1%3A0/converse`, { messages });
      assert.equal(res.status, 200, res.text);
      assert.equal(brk.requests[0]?.modelId, 'amazon.nova-lite-v1:0');
    });

    it('serves the real AWS SDK (ConverseStream) from an instance without options.model: the model comes from its path', async () => {
      gw = await gateway();
      const client = new BedrockRuntimeClient({
        endpoint: gw.url,
        region,
        credentials: { accessKeyId: 'CLIENTKEY', secretAccessKey: 'client-secret' },
        maxAttempts: 1,
        requestHandler: new NodeHttpHandler(),
      });
      const out = await client.send(new ConverseStreamCommand({ modelId: 'us.anthropic.claude-3-5-haiku-20241022-v1:0', messages: [{ role: 'user', content: [{ text: 'Hello' }] }] }));
      let text = '';
      for await (const event of out.stream ?? []) text += event.contentBlockDelta?.delta?.text ?? '';
      assert.equal(text, 'Hi from Bedrock.');
      assert.equal(brk.requests[0]?.modelId, 'us.anthropic.claude-3-5-haiku-20241022-v1:0');
      assert.equal(brk.requests[0]?.signatureValid, true, 'the gateway re-signed with its own key');
      assert.match(brk.requests[0]?.path ?? '', /\/converse-stream$/);
    });

    it('answers 400 in Bedrock\'s error shape, without calling Bedrock, when no model is named anywhere', async () => {
      gw = await gateway();
      const res = await postJson(`${gw.url}/converse`, { messages });
      assert.equal(res.status, 400);
      assert.equal(typeof (res.json as JsonObject)['message'], 'string', res.text);
      assert.match(String((res.json as JsonObject)['message']), /model/);
      assert.equal(brk.requests.length, 0);
    });
  });

  describe('access-log fields of APISIX 3.18', () => {
    let ant: FakeAnthropic;
    let gw: TestGateway | undefined;
    const tools = [{ name: 'get_weather', description: 'Weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }];

    beforeEach(async () => {
      ant = await startFakeAnthropic({
        name: 'ant',
        behavior: { kind: 'ok', content: 'Checking.', toolUse: { name: 'get_weather', input: { city: 'Paris' } }, usage: { input_tokens: 10, output_tokens: 4, cache_read_input_tokens: 5, cache_creation_input_tokens: 7 } },
      });
      gw = await startGateway({
        server: { host: '127.0.0.1', port: 0 },
        admin: false,
        routes: [{
          id: 'r',
          uris: ['/v1/messages', '/v1/chat/completions'],
          plugins: { 'ai-proxy': { provider: 'anthropic', auth: { header: { 'x-api-key': 'sk-ant-parity' } }, options: { model: 'claude-test' }, override: { endpoint: ant.url } } },
        }],
      });
    });
    afterEach(async () => {
      await gw?.close();
      gw = undefined;
      await ant.close();
    });

    const messages = [{ role: 'user', content: 'Weather in Paris?' }];

    it('logs tokens under APISIX names, tool count, tool calls and the end user of an Anthropic answer', async () => {
      assert.ok(gw);
      const res = await postJson(`${gw.url}/v1/messages`, { model: 'claude-test', max_tokens: 100, messages, tools, metadata: { user_id: 'user-42' } });
      assert.equal(res.status, 200, res.text);
      const access = gw.access()[0];
      assert.ok(access);
      assert.equal(access['llm_stream'], false);
      assert.equal(access['llm_tool_count'], 1);
      assert.equal(access['llm_has_tool_calls'], true);
      assert.equal(access['llm_end_user_id'], 'user-42');
      assert.equal(access['llm_cache_read_input_tokens'], 5);
      assert.equal(access['llm_cache_creation_input_tokens'], 7);
      assert.equal(access['llm_total_tokens'], 10 + 5 + 7 + 4);
      assert.equal(access['llm_total_tokens'], access['total_tokens']);
    });

    it('sees tool calls in a stream converted for an OpenAI client, and names its `user`', async () => {
      assert.ok(gw);
      const openaiTools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: {} } } }];
      const res = await postJson(`${gw.url}/v1/chat/completions`, { model: 'claude-test', stream: true, messages, tools: openaiTools, user: 'end-user-7' });
      assert.equal(res.status, 200);
      assert.match(res.text, /tool_calls/);
      const access = gw.access()[0];
      assert.equal(access?.['llm_stream'], true);
      assert.equal(access?.['llm_tool_count'], 1);
      assert.equal(access?.['llm_has_tool_calls'], true);
      assert.equal(access?.['llm_end_user_id'], 'end-user-7');
      assert.equal(access?.['llm_cache_creation_input_tokens'], 7);
    });

    it('logs no tool calls and no end user for a plain request', async () => {
      assert.ok(gw);
      const res = await postJson(`${gw.url}/v1/chat/completions`, { model: 'claude-test', messages });
      assert.equal(res.status, 200, res.text);
      const access = gw.access()[0];
      assert.equal(access?.['llm_stream'], false);
      assert.equal(access?.['llm_has_tool_calls'], false);
      assert.equal('llm_tool_count' in (access ?? {}), false);
      assert.equal('llm_end_user_id' in (access ?? {}), false);
    });
  });
});
