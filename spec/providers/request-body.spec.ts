import assert from 'node:assert/strict';
import { loadConfigText } from '../../lib/load-config.ts';
import { deepFreeze } from '../../lib/config/normalise.ts';
import type { InstanceConfig } from '../../lib/config/types.ts';
import type { JsonObject, ProtocolName } from '../../lib/protocols/types.ts';
import { buildUpstreamBody } from '../../lib/providers/request-body.ts';
import type { UpstreamBody } from '../../lib/providers/request-body.ts';
import { getProvider } from '../../lib/providers/registry.ts';

/** One instance as the real loader normalises it from a config file. */
function instance(fields: JsonObject): InstanceConfig {
  const text = JSON.stringify({
    routes: [{ id: 'r', uri: '/*', plugins: { 'ai-proxy-multi': { instances: [{ name: 'i', ...fields }] } } }],
  });
  const found = loadConfigText(text, {}).routes[0]?.plugin.instances[0];
  assert.ok(found);
  return found;
}

/** Builds the upstream body from a frozen client body, so any mutation of the input throws. */
function build(client: JsonObject, protocol: ProtocolName, inst: InstanceConfig, raw?: Buffer): UpstreamBody {
  const bytes = raw ?? Buffer.from(JSON.stringify(client));
  return buildUpstreamBody(deepFreeze(structuredClone(client)), bytes, protocol, inst, getProvider(inst.provider));
}

const sent = (body: UpstreamBody): unknown => JSON.parse(body.bytes.toString('utf8'));

const messages = [{ role: 'user', content: 'hi' }];

describe('buildUpstreamBody', () => {
  describe('an unchanged body', () => {
    it('forwards the client bytes as the same Buffer when options.model equals the client model', () => {
      const raw = Buffer.from('{ "model" : "gpt-4o-mini",\n  "messages": [{"role":"user","content":"hi"}] }');
      const inst = instance({ provider: 'openai', options: { model: 'gpt-4o-mini' } });
      const out = build({ model: 'gpt-4o-mini', messages }, 'openai-chat', inst, raw);
      assert.equal(out.changed, false);
      assert.equal(out.bytes, raw);
    });

    it('forwards the same Buffer when the instance has no options or overrides at all', () => {
      const raw = Buffer.from('{"model":"m","input":"abc"}');
      const out = build({ model: 'm', input: 'abc' }, 'openai-embeddings', instance({ provider: 'openai' }), raw);
      assert.equal(out.changed, false);
      assert.equal(out.bytes, raw);
    });

    it('forwards the same Buffer when a streaming client already asked for usage', () => {
      const client = { model: 'gpt-4o', messages, stream: true, stream_options: { include_usage: true } };
      const raw = Buffer.from(JSON.stringify(client));
      const out = build(client, 'openai-chat', instance({ provider: 'openai' }), raw);
      assert.equal(out.changed, false);
      assert.equal(out.bytes, raw);
    });
  });

  describe('options', () => {
    it('override the fields the client sent and add the ones it did not', () => {
      const inst = instance({ provider: 'openai', options: { model: 'gpt-4o-mini', temperature: 0.2, seed: 7 } });
      const out = build({ model: 'gpt-4o', temperature: 1, messages }, 'openai-chat', inst);
      assert.equal(out.changed, true);
      assert.deepEqual(sent(out), { model: 'gpt-4o-mini', temperature: 0.2, messages, seed: 7 });
      assert.deepEqual(out.json, sent(out));
    });
  });

  describe('override.llm_options', () => {
    const maxTokensCases: Array<{ provider: string; field: string; endpoint?: string }> = [
      { provider: 'openai', field: 'max_completion_tokens' },
      { provider: 'gemini', field: 'max_completion_tokens' },
      { provider: 'deepseek', field: 'max_tokens' },
      { provider: 'openrouter', field: 'max_tokens' },
      { provider: 'aimlapi', field: 'max_tokens' },
      { provider: 'openai-compatible', field: 'max_tokens', endpoint: 'http://127.0.0.1:8000' },
      { provider: 'azure-openai', field: 'max_tokens', endpoint: 'https://res.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-10-21' },
    ];
    for (const { provider, field, endpoint } of maxTokensCases) {
      it(`sends llm_options.max_tokens to ${provider} as ${field}, replacing the client's max_tokens`, () => {
        const inst = instance({ provider, override: { llm_options: { max_tokens: 256 }, ...(endpoint && { endpoint }) } });
        const out = build({ model: 'm', messages, max_tokens: 4096 }, 'openai-chat', inst);
        const { model: _model, ...body } = sent(out) as JsonObject;
        assert.deepEqual(body, { messages, [field]: 256 });
      });
    }

    it('leaves the client\'s other parameters alone (llm_options holds only max_tokens, as in APISIX)', () => {
      const inst = instance({ provider: 'deepseek', override: { llm_options: { max_tokens: 9 } } });
      const out = build({ model: 'deepseek-chat', messages, temperature: 0.9 }, 'openai-chat', inst);
      assert.deepEqual(sent(out), { model: 'deepseek-chat', messages, temperature: 0.9, max_tokens: 9 });
    });
  });

  describe('override.request_body', () => {
    const requestBody = { temperature: 0.1, user: 'gateway', metadata: { team: 'infra', env: 'prod' } };
    const client = { model: 'gpt-4o', messages, temperature: 0.9, metadata: { team: 'search' } };

    it('fills what the client left out and keeps what it sent, merging nested objects', () => {
      const inst = instance({ provider: 'openai', override: { request_body: requestBody } });
      assert.deepEqual(sent(build(client, 'openai-chat', inst)), {
        model: 'gpt-4o',
        messages,
        temperature: 0.9,
        user: 'gateway',
        metadata: { team: 'search', env: 'prod' },
      });
    });

    it('replaces the client values with request_body_force_override, nested ones too', () => {
      const inst = instance({ provider: 'openai', override: { request_body: requestBody, request_body_force_override: true } });
      assert.deepEqual(sent(build(client, 'openai-chat', inst)), {
        model: 'gpt-4o',
        messages,
        temperature: 0.1,
        user: 'gateway',
        metadata: { team: 'infra', env: 'prod' },
      });
    });

    it('applies a block keyed by protocol name only to requests of that protocol', () => {
      const inst = instance({
        provider: 'openai',
        override: { request_body: { 'openai-chat': { user: 'chat-user' }, 'openai-embeddings': { dimensions: 256 } } },
      });
      assert.deepEqual(sent(build({ model: 'gpt-4o', messages }, 'openai-chat', inst)), {
        model: 'gpt-4o',
        messages,
        user: 'chat-user',
      });
      assert.deepEqual(sent(build({ model: 'text-embedding-3-small', input: 'x' }, 'openai-embeddings', inst)), {
        model: 'text-embedding-3-small',
        input: 'x',
        dimensions: 256,
      });
    });

    it('leaves the body untouched when the protocol-keyed block names another protocol', () => {
      const inst = instance({ provider: 'openai', override: { request_body: { 'openai-embeddings': { dimensions: 256 } } } });
      const raw = Buffer.from(JSON.stringify({ model: 'gpt-4o', messages }));
      const out = build({ model: 'gpt-4o', messages }, 'openai-chat', inst, raw);
      assert.equal(out.changed, false);
      assert.equal(out.bytes, raw);
    });
  });

  describe('streaming chat', () => {
    it('asks for usage when the client did not', () => {
      const out = build({ model: 'gpt-4o', messages, stream: true }, 'openai-chat', instance({ provider: 'openai' }));
      assert.deepEqual((sent(out) as JsonObject)['stream_options'], { include_usage: true });
    });

    it('turns include_usage false into true and keeps the other stream_options', () => {
      const client = { model: 'gpt-4o', messages, stream: true, stream_options: { include_usage: false, x_extra: 1 } };
      const out = build(client, 'openai-chat', instance({ provider: 'openai' }));
      assert.deepEqual((sent(out) as JsonObject)['stream_options'], { include_usage: true, x_extra: 1 });
    });

    it('adds no stream_options to a non-streaming request', () => {
      const out = build({ model: 'gpt-4o', messages, stream: false }, 'openai-chat', instance({ provider: 'openai' }));
      assert.equal(out.changed, false);
    });
  });

  describe('azure-openai', () => {
    it('drops model from the body because the deployment is in the path', () => {
      const inst = instance({
        provider: 'azure-openai',
        override: { endpoint: 'https://res.openai.azure.com' },
        options: { model: 'gpt-4o-prod' },
      });
      const out = build({ model: 'gpt-4o', messages, temperature: 0.3 }, 'openai-chat', inst);
      assert.deepEqual(sent(out), { messages, temperature: 0.3 });
    });
  });

  describe('bedrock-converse', () => {
    const aws = { access_key_id: 'AKID', secret_access_key: 'secret' };
    it('puts token limit, temperature, top_p and stop into inferenceConfig and never sends the model', () => {
      const inst = instance({
        provider: 'bedrock',
        auth: { aws },
        provider_conf: { region: 'us-east-1' },
        options: { model: 'anthropic.claude-3-haiku', temperature: 0.3, stop: 'END' },
        override: { llm_options: { max_tokens: 256 } },
      });
      const out = sent(build({ messages: [{ role: 'user', content: [{ text: 'hi' }] }], inferenceConfig: { topP: 0.9 } }, 'bedrock-converse', inst));
      assert.deepEqual(out, {
        messages: [{ role: 'user', content: [{ text: 'hi' }] }],
        inferenceConfig: { topP: 0.9, temperature: 0.3, maxTokens: 256, stopSequences: ['END'] },
      });
    });
  });

  describe('passthrough', () => {
    it('rewrites only model on a body that has one, ignoring the other options and overrides', () => {
      const inst = instance({
        provider: 'openai',
        options: { model: 'gpt-4o-mini', temperature: 0 },
        override: { llm_options: { max_tokens: 10 }, request_body: { user: 'gw' } },
      });
      const out = build({ model: 'gpt-4o', prompt: 'p' }, 'passthrough', inst);
      assert.deepEqual(sent(out), { model: 'gpt-4o-mini', prompt: 'p' });
    });

    it('does not add model to a body without one and forwards the same Buffer', () => {
      const raw = Buffer.from('{"file_id":"f-1"}');
      const out = build({ file_id: 'f-1' }, 'passthrough', instance({ provider: 'openai', options: { model: 'gpt-4o-mini' } }), raw);
      assert.equal(out.changed, false);
      assert.equal(out.bytes, raw);
    });
  });

  describe('the client body', () => {
    it('is never mutated, so a fallback attempt starts from the original', () => {
      const client: JsonObject = {
        model: 'gpt-4o',
        messages,
        max_tokens: 4096,
        stream: true,
        stream_options: { include_usage: false },
        metadata: { team: 'search' },
      };
      const before = structuredClone(client);
      const inst = instance({
        provider: 'openai',
        options: { model: 'gpt-4o-mini' },
        override: {
          llm_options: { max_tokens: 10 },
          request_body: { metadata: { env: 'prod' }, temperature: 0 },
          request_body_force_override: true,
        },
      });
      const raw = Buffer.from(JSON.stringify(client));
      const first = buildUpstreamBody(client, raw, 'openai-chat', inst, getProvider('openai'));
      assert.deepEqual(client, before);
      const second = buildUpstreamBody(client, raw, 'openai-chat', inst, getProvider('openai'));
      assert.deepEqual(client, before);
      assert.equal(second.bytes.toString(), first.bytes.toString());
      assert.deepEqual(sent(first), {
        model: 'gpt-4o-mini',
        messages,
        max_completion_tokens: 10,
        stream: true,
        stream_options: { include_usage: true },
        metadata: { team: 'search', env: 'prod' },
        temperature: 0,
      });
    });
  });
});
