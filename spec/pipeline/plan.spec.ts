import assert from 'node:assert/strict';
import { loadConfigText } from '../../lib/load-config.ts';
import { planAll } from '../../lib/pipeline/plan.ts';
import type { Plan } from '../../lib/pipeline/plan.ts';
import { findConverter } from '../../lib/protocols/converters/registry.ts';
import { clientProtocol, clientProtocolNames } from '../../lib/protocols/registry.ts';
import type { ProtocolName } from '../../lib/protocols/types.ts';
import { createInstanceTarget } from '../../lib/providers/instance-target.ts';

// How each client protocol reaches one instance, decided at config load from real provider configs.

const AWS = { access_key_id: 'AKIAIOSFODNN7EXAMPLE', secret_access_key: 'secret-example-key' };
const providers: Record<string, Record<string, unknown>> = {
  openai: { provider: 'openai', auth: { header: { Authorization: 'Bearer sk-x' } } },
  deepseek: { provider: 'deepseek', auth: { header: { Authorization: 'Bearer sk-x' } } },
  anthropic: { provider: 'anthropic', auth: { header: { 'x-api-key': 'k' } } },
  'anthropic-compat': { provider: 'anthropic', auth: { header: { 'x-api-key': 'k' } }, provider_conf: { openai_compat: true } },
  bedrock: { provider: 'bedrock', auth: { aws: AWS }, provider_conf: { region: 'us-east-1' }, options: { model: 'm' } },
  vertex: { provider: 'vertex-ai', auth: { header: { Authorization: 'Bearer t' } }, provider_conf: { project_id: 'p' } },
  'vertex-native': { provider: 'vertex-ai', auth: { header: { Authorization: 'Bearer t' } }, provider_conf: { project_id: 'p', api: 'native' } },
  gemini: { provider: 'gemini', auth: { header: { Authorization: 'Bearer k' } } },
  'gemini-native': { provider: 'gemini', auth: { header: { 'x-goog-api-key': 'k' } }, provider_conf: { api: 'native' } },
};

function plansOf(name: string): ReadonlyMap<ProtocolName, Plan> {
  const text = JSON.stringify({ routes: [{ id: 'r', uri: '/*', plugins: { 'ai-proxy-multi': { instances: [{ name: 'i', ...providers[name] }] } } }] });
  const instance = loadConfigText(text, {}).routes[0]?.plugin.instances[0];
  assert.ok(instance);
  return planAll(createInstanceTarget(instance));
}

function plan(provider: string, client: ProtocolName): Plan {
  const found = plansOf(provider).get(client);
  assert.ok(found, `${provider} serves ${client}`);
  return found;
}

describe('planAll', () => {
  it('sends Google GenAI to a native Gemini or Vertex instance as it is, and reads its errors as Google\'s', () => {
    for (const provider of ['gemini-native', 'vertex-native']) {
      const p = plan(provider, 'google-genai');
      assert.equal(p.converter, undefined, provider);
      assert.equal(p.upstreamProtocol, clientProtocol('google-genai'));
      assert.equal(p.upstreamErrorShape, 'google');
    }
  });

  it('sends a protocol the provider speaks natively as it is: no converter, the provider grammar is the client one', () => {
    const p = plan('openai', 'openai-chat');
    assert.equal(p.upstream, 'openai-chat');
    assert.equal(p.converter, undefined);
    assert.equal(p.upstreamProtocol, clientProtocol('openai-chat'));
    assert.equal(p.upstreamErrorShape, 'openai');
  });

  it('prefers native over a converter when the provider offers both', () => {
    assert.equal(plan('anthropic-compat', 'openai-chat').upstream, 'openai-chat');
    assert.equal(plan('anthropic-compat', 'openai-chat').converter, undefined);
    assert.equal(plan('anthropic', 'openai-chat').upstream, 'anthropic-messages');
  });

  const converting: Array<[string, ProtocolName, string, string]> = [
    ['anthropic', 'openai-chat', 'anthropic-messages', 'anthropic'],
    ['bedrock', 'openai-chat', 'bedrock-converse', 'bedrock'],
    ['bedrock', 'anthropic-messages', 'bedrock-converse', 'bedrock'],
    ['openai', 'anthropic-messages', 'openai-chat', 'openai'],
    ['vertex', 'openai-embeddings', 'vertex-predict', 'google'],
    ['gemini', 'google-genai', 'openai-chat', 'openai'],
    ['gemini-native', 'openai-chat', 'google-genai', 'google'],
    ['gemini-native', 'anthropic-messages', 'google-genai', 'google'],
    ['gemini-native', 'bedrock-converse', 'google-genai', 'google'],
    ['gemini-native', 'openai-responses', 'google-genai', 'google'],
    ['vertex-native', 'openai-chat', 'google-genai', 'google'],
    ['vertex-native', 'openai-embeddings', 'vertex-predict', 'google'],
    ['anthropic', 'google-genai', 'anthropic-messages', 'anthropic'],
    ['bedrock', 'google-genai', 'bedrock-converse', 'bedrock'],
  ];
  for (const [provider, client, upstream, shape] of converting) {
    it(`converts ${client} for ${provider} to ${upstream} and reads its errors as ${shape}`, () => {
      const p = plan(provider, client);
      assert.equal(p.upstream, upstream);
      assert.equal(p.converter, findConverter(client, upstream));
      assert.equal(p.upstreamErrorShape, shape);
    });
  }

  const impossible: Array<[string, ProtocolName]> = [
    ['deepseek', 'openai-embeddings'],
    ['anthropic', 'openai-embeddings'],
    ['bedrock', 'openai-embeddings'],
    ['gemini-native', 'openai-embeddings'],
  ];
  for (const [provider, client] of impossible) {
    it(`has no plan for ${client} on ${provider}: it can be neither sent nor converted`, () => {
      assert.equal(plansOf(provider).has(client), false);
    });
  }

  it('passes other requests through to every provider with an API tree of its own, not to Bedrock or Vertex', () => {
    const closed = new Set(['bedrock', 'vertex', 'vertex-native']);
    for (const provider of Object.keys(providers)) {
      if (closed.has(provider)) assert.equal(plansOf(provider).has('passthrough'), false, provider);
      else assert.equal(plan(provider, 'passthrough').upstream, 'passthrough', provider);
    }
  });

  describe('every registered client protocol on an OpenAI instance', () => {
    const plans = plansOf('openai');
    for (const client of clientProtocolNames) {
      it(`serves ${client}, streams included`, () => {
        const p = plans.get(client);
        assert.ok(p, `no way to reach an OpenAI instance from ${client}: register its converter`);
        const protocol = clientProtocol(client);
        if (p.converter) {
          assert.equal(p.converter.from, client);
          assert.equal(p.converter.to, p.upstream);
          // A protocol whose requests can stream needs a stream converter too.
          const streams = protocol.isStream({ stream: true }, '/model/m/converse-stream') || protocol.isStream({}, '/v1beta/models/m:streamGenerateContent');
          assert.equal(typeof p.converter.stream === 'function', streams, `${client} → ${p.upstream} stream converter`);
        }
        assert.ok(p.upstreamProtocol, `${p.upstream} has a grammar for its answers`);
        assert.equal(p.upstreamErrorShape, p.upstreamProtocol.errorShape);
      });
    }
  });
});
