import assert from 'node:assert/strict';
import { loadConfigText } from '../../lib/load-config.ts';
import type { InstanceConfig } from '../../lib/config/types.ts';
import type { JsonObject } from '../../lib/protocols/types.ts';
import { createInstanceTarget } from '../../lib/providers/instance-target.ts';

/** One instance as the real loader normalises it from a config file. */
function instance(fields: JsonObject): InstanceConfig {
  const text = JSON.stringify({
    routes: [{ id: 'r', uri: '/*', plugins: { 'ai-proxy-multi': { instances: [{ name: 'i', ...fields }] } } }],
  });
  const found = loadConfigText(text, {}).routes[0]?.plugin.instances[0];
  assert.ok(found);
  return found;
}

const target = (fields: JsonObject) => createInstanceTarget(instance(fields));
const req = (clientPathAndQuery: string) => ({ clientPathAndQuery, model: undefined, stream: false });

describe('createInstanceTarget', () => {
  describe('default endpoints', () => {
    const cases: Array<{ provider: string; origin: string; chat: string; embeddings: string | undefined }> = [
      { provider: 'openai', origin: 'https://api.openai.com', chat: '/v1/chat/completions', embeddings: '/v1/embeddings' },
      { provider: 'deepseek', origin: 'https://api.deepseek.com', chat: '/chat/completions', embeddings: undefined },
      {
        provider: 'gemini',
        origin: 'https://generativelanguage.googleapis.com',
        chat: '/v1beta/openai/chat/completions',
        embeddings: '/v1beta/openai/embeddings',
      },
      { provider: 'openrouter', origin: 'https://openrouter.ai', chat: '/api/v1/chat/completions', embeddings: '/api/v1/embeddings' },
      { provider: 'aimlapi', origin: 'https://api.aimlapi.com', chat: '/v1/chat/completions', embeddings: '/v1/embeddings' },
    ];
    for (const { provider, origin, chat, embeddings } of cases) {
      it(`sends ${provider} chat to ${origin}${chat}${embeddings ? ` and embeddings to ${embeddings}` : ', with no embeddings'}`, () => {
        const t = target({ provider });
        assert.equal(t.origin, origin);
        assert.equal(t.pathFor('openai-chat', req('/ignored')), chat);
        assert.equal(t.supports('openai-chat'), true);
        assert.equal(t.supports('openai-embeddings'), embeddings !== undefined);
        if (embeddings) assert.equal(t.pathFor('openai-embeddings', req('/ignored')), embeddings);
      });
    }

    it('does not claim protocols the provider lacks, but always accepts passthrough', () => {
      const t = target({ provider: 'deepseek' });
      assert.equal(t.supports('anthropic-messages'), false);
      assert.equal(t.supports('bedrock-converse'), false);
      assert.equal(t.supports('passthrough'), true);
    });
  });

  describe('override.endpoint', () => {
    it('with only a host keeps the provider path on that origin', () => {
      const t = target({ provider: 'openai', override: { endpoint: 'http://127.0.0.1:8000' } });
      assert.equal(t.origin, 'http://127.0.0.1:8000');
      assert.equal(t.pathFor('openai-chat', req('/x')), '/v1/chat/completions');
      assert.equal(t.pathFor('openai-embeddings', req('/x')), '/v1/embeddings');
    });

    it('with a trailing slash counts as host-only for an openai-compatible server', () => {
      const t = target({ provider: 'openai-compatible', override: { endpoint: 'http://vllm.local:8001/' } });
      assert.equal(t.origin, 'http://vllm.local:8001');
      assert.equal(t.pathFor('openai-chat', req('/x')), '/v1/chat/completions');
    });

    it('with a full URL is used verbatim, query included, and swaps chat/completions for embeddings', () => {
      const t = target({
        provider: 'openai-compatible',
        override: { endpoint: 'https://gw.example.com/tenant-7/v1/chat/completions?region=eu' },
      });
      assert.equal(t.origin, 'https://gw.example.com');
      assert.equal(t.pathFor('openai-chat', req('/x')), '/tenant-7/v1/chat/completions?region=eu');
      assert.equal(t.pathFor('openai-embeddings', req('/x')), '/tenant-7/v1/embeddings?region=eu');
    });
  });

  describe('auth.query', () => {
    it('is appended as the query of a default path', () => {
      const t = target({ provider: 'gemini', auth: { query: { key: 'g-secret' } } });
      assert.equal(t.pathFor('openai-chat', req('/x')), '/v1beta/openai/chat/completions?key=g-secret');
    });

    it('is appended after a query the endpoint already has', () => {
      const t = target({
        provider: 'openai-compatible',
        override: { endpoint: 'https://gw.example.com/v1/chat/completions?region=eu' },
        auth: { query: { key: 'k1' } },
      });
      assert.equal(t.pathFor('openai-chat', req('/x')), '/v1/chat/completions?region=eu&key=k1');
      assert.equal(t.pathFor('openai-embeddings', req('/x')), '/v1/embeddings?region=eu&key=k1');
    });

    it("replaces the client's own parameter of the same name on a passthrough path, whatever its spelling", () => {
      const t = target({ provider: 'gemini', auth: { query: { key: 'inst' } } });
      for (const [client, sent] of [
        ['/v1/models?key=client', '/v1beta/openai/models?key=inst'],
        ['/v1/models?key=client&pageSize=2&key=again', '/v1beta/openai/models?pageSize=2&key=inst'],
        ['/v1/models?KEY=client', '/v1beta/openai/models?key=inst'],
        ['/v1/models?%6Bey=client', '/v1beta/openai/models?key=inst'],
        ['/v1/models?key', '/v1beta/openai/models?key=inst'],
        ['/v1/models?keys=1&monkey=2&a=%20b', '/v1beta/openai/models?keys=1&monkey=2&a=%20b&key=inst'],
      ]) {
        assert.equal(t.pathFor('passthrough', req(client ?? '')), sent, client);
      }
    });

    it("drops a client's credential parameters on passthrough even when the instance authenticates by header", () => {
      const t = target({ provider: 'openai', auth: { header: { Authorization: 'Bearer inst' } } });
      assert.equal(t.pathFor('passthrough', req('/v1/models?key=client&api_key=c2&access_token=c3&limit=5')), '/v1/models?limit=5');
    });

    it('is URL-encoded so a secret cannot add parameters of its own', () => {
      const t = target({ provider: 'gemini', auth: { query: { key: 'a b&admin=1' } } });
      assert.equal(t.pathFor('openai-chat', req('/x')), '/v1beta/openai/chat/completions?key=a+b%26admin%3D1');
    });
  });

  describe('azure-openai', () => {
    it('with a host-only endpoint routes to the deployment named by options.model and the default api-version', () => {
      const t = target({
        provider: 'azure-openai',
        override: { endpoint: 'https://my-res.openai.azure.com' },
        options: { model: 'gpt-4o-prod' },
      });
      assert.equal(t.origin, 'https://my-res.openai.azure.com');
      assert.equal(t.pathFor('openai-chat', req('/x')), '/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21');
      assert.equal(t.pathFor('openai-embeddings', req('/x')), '/openai/deployments/gpt-4o-prod/embeddings?api-version=2024-10-21');
    });

    it('uses provider_conf.api_version and keeps auth.query after it', () => {
      const t = target({
        provider: 'azure-openai',
        override: { endpoint: 'https://my-res.openai.azure.com' },
        options: { model: 'gpt-4o-prod' },
        provider_conf: { api_version: '2025-01-01-preview' },
        auth: { query: { 'api-key': 'az' } },
      });
      assert.equal(
        t.pathFor('openai-chat', req('/x')),
        '/openai/deployments/gpt-4o-prod/chat/completions?api-version=2025-01-01-preview&api-key=az',
      );
    });

    it('with a full endpoint URL uses it verbatim', () => {
      const endpoint = 'https://my-res.openai.azure.com/openai/deployments/d1/chat/completions?api-version=2024-06-01';
      const t = target({ provider: 'azure-openai', override: { endpoint } });
      assert.equal(t.pathFor('openai-chat', req('/x')), '/openai/deployments/d1/chat/completions?api-version=2024-06-01');
    });
  });

  describe('passthrough', () => {
    it("sends the client's path and query to the instance origin", () => {
      const t = target({ provider: 'openai-compatible', override: { endpoint: 'http://10.0.0.5:9000/v1/chat/completions' } });
      assert.equal(t.origin, 'http://10.0.0.5:9000');
      assert.equal(t.pathFor('passthrough', req('/v1/models?limit=5')), '/v1/models?limit=5');
    });

    it("maps the client's /v1 tree onto the provider's own (OpenRouter /api/v1, Gemini /v1beta/openai, DeepSeek /)", () => {
      assert.equal(target({ provider: 'openrouter' }).pathFor('passthrough', req('/v1/models')), '/api/v1/models');
      assert.equal(target({ provider: 'gemini' }).pathFor('passthrough', req('/v1/models')), '/v1beta/openai/models');
      assert.equal(target({ provider: 'deepseek' }).pathFor('passthrough', req('/v1/models')), '/models');
      assert.equal(target({ provider: 'openai' }).pathFor('passthrough', req('/v1/models')), '/v1/models');
    });

    it('adds auth.query to the client path, after its own query if any', () => {
      const t = target({ provider: 'gemini', auth: { query: { key: 'g' } } });
      assert.equal(t.pathFor('passthrough', req('/v1beta/models')), '/v1beta/models?key=g');
      assert.equal(t.pathFor('passthrough', req('/v1beta/models?pageSize=2')), '/v1beta/models?pageSize=2&key=g');
    });
  });

  describe('provider_conf.api "native"', () => {
    const stream = (model: string) => ({ clientPathAndQuery: '/v1/models/x:streamGenerateContent?alt=sse&key=client', model, stream: true });
    const whole = (model: string) => ({ clientPathAndQuery: '/v1/models/x:generateContent', model, stream: false });

    it('sends gemini to generateContent on /v1beta with the model in the path, and nothing else', () => {
      const t = target({ provider: 'gemini', provider_conf: { api: 'native' }, auth: { header: { 'x-goog-api-key': 'g' } } });
      assert.deepEqual(t.protocols, ['google-genai']);
      assert.equal(t.pathFor('google-genai', whole('gemini-2.5-flash')), '/v1beta/models/gemini-2.5-flash:generateContent');
      assert.equal(t.pathFor('google-genai', stream('models/gemini-2.5-flash')), '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
      assert.equal(t.supports('openai-embeddings'), false);
    });

    it('puts a gemini auth.query key after alt=sse', () => {
      const t = target({ provider: 'gemini', provider_conf: { api: 'native' }, auth: { query: { key: 'g' } } });
      assert.equal(t.pathFor('google-genai', stream('gemini-2.5-flash')), '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=g');
    });

    it('sends vertex-ai to the publisher model, without the google/ prefix, and keeps :predict', () => {
      const t = target({ provider: 'vertex-ai', provider_conf: { api: 'native', project_id: 'p', region: 'europe-west4' }, auth: { header: { Authorization: 'Bearer t' } } });
      assert.equal(t.origin, 'https://europe-west4-aiplatform.googleapis.com');
      assert.equal(t.pathFor('google-genai', stream('google/gemini-2.0-flash-001')), '/v1/projects/p/locations/europe-west4/publishers/google/models/gemini-2.0-flash-001:streamGenerateContent?alt=sse');
      assert.equal(t.pathFor('vertex-predict', whole('text-embedding-005')), '/v1/projects/p/locations/europe-west4/publishers/google/models/text-embedding-005:predict');
      assert.equal(t.supports('openai-chat'), false);
    });

    it("passes other Gemini methods through on Google's own tree, the client's key dropped", () => {
      const t = target({ provider: 'gemini', provider_conf: { api: 'native' }, auth: { header: { 'x-goog-api-key': 'g' } } });
      assert.equal(t.pathFor('passthrough', req('/v1/models/m:countTokens?key=client')), '/v1/models/m:countTokens');
    });

    it('leaves the OpenAI-compatible endpoints the default', () => {
      assert.equal(target({ provider: 'gemini' }).supports('google-genai'), false);
      assert.equal(target({ provider: 'vertex-ai', provider_conf: { project_id: 'p', api: 'openai' }, auth: { header: { Authorization: 'Bearer t' } } }).supports('google-genai'), false);
    });
  });

  it('lower-cases the names of the auth headers and keeps their values', () => {
    const t = target({ provider: 'openai', auth: { header: { Authorization: 'Bearer sk-A', 'OpenAI-Project': 'Proj_X' } } });
    assert.deepEqual(t.authHeaders, [
      ['authorization', 'Bearer sk-A'],
      ['openai-project', 'Proj_X'],
    ]);
  });
});
