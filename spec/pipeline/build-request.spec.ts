import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import type { PluginConfig } from '../../lib/config/types.ts';
import { buildUpstreamCall } from '../../lib/pipeline/build-request.ts';
import type { ClientRequest, UpstreamCall } from '../../lib/pipeline/build-request.ts';
import { clientProtocol } from '../../lib/protocols/registry.ts';
import type { JsonObject, ProtocolName } from '../../lib/protocols/types.ts';
import { verifyBedrockSignature } from '../../tools/simulator/sigv4-verifier.ts';
import type { InstanceRuntime } from '../../lib/pipeline/instance-runtime.ts';
import { buildRoute } from '../support/pipeline-harness.ts';

// What one attempt sends, built from real provider configs (loadConfigText → createInstanceTarget →
// plans, through the route runtime).

const AWS = { access_key_id: 'AKIAIOSFODNN7EXAMPLE', secret_access_key: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };

const instances: Record<string, Record<string, unknown>> = {
  openai: { provider: 'openai', auth: { header: { Authorization: 'Bearer sk-instance-openai-0123' } } },
  tuned: { provider: 'openai', auth: { header: { Authorization: 'Bearer sk-instance-openai-0123' } }, options: { model: 'gpt-4o-mini', temperature: 0.2 } },
  claude: { provider: 'anthropic', auth: { header: { 'x-api-key': 'sk-ant-instance-0123' } }, options: { model: 'claude-sonnet-4-5' } },
  azure: { provider: 'azure-openai', auth: { header: { 'api-key': 'azure-instance-key-0123' } }, options: { model: 'my deployment' }, override: { endpoint: 'https://res.openai.azure.com' } },
  bedrock: { provider: 'bedrock', auth: { aws: AWS }, provider_conf: { region: 'eu-west-1' }, options: { model: 'anthropic.claude-3-5-sonnet-20240620-v1:0' } },
  vertex: { provider: 'vertex-ai', auth: { header: { Authorization: 'Bearer ya29.instance-token' } }, provider_conf: { project_id: 'proj-1', region: 'europe-west4' } },
  gemini: { provider: 'gemini', auth: { query: { key: 'AIza-instance-key-0123' } } },
};

let route: ReturnType<typeof buildRoute>;
let plugin: PluginConfig;

describe('buildUpstreamCall', () => {
  before(() => {
    route = buildRoute({ instances: Object.entries(instances).map(([name, fields]) => ({ name, ...fields })) });
    plugin = route.route.config.plugin;
  });
  after(() => route.close());

  interface Asked {
    instance: string;
    protocol: ProtocolName;
    body: JsonObject;
    path?: string;
    headers?: IncomingHttpHeaders;
    raw?: Buffer;
  }

  function clientRequest(a: Asked): ClientRequest {
    const protocol = clientProtocol(a.protocol);
    const path = a.path ?? '/v1/chat/completions';
    return {
      requestId: 'req-under-test',
      method: 'POST',
      body: a.body,
      raw: a.raw ?? Buffer.from(JSON.stringify(a.body)),
      pathAndQuery: path,
      headers: a.headers ?? { 'content-type': 'application/json' },
      model: protocol.requestModel(a.body, path.split('?')[0]),
      stream: protocol.isStream(a.body, path.split('?')[0] ?? path),
      usageEvents: protocol.usageEvents,
    };
  }

  async function build(a: Asked, runtime: InstanceRuntime = route.instance(a.instance)): Promise<UpstreamCall> {
    const plan = runtime.plans.get(a.protocol);
    assert.ok(plan, `${a.instance} has a plan for ${a.protocol}`);
    return buildUpstreamCall(clientRequest(a), runtime, plan, plugin, new AbortController().signal);
  }

  const sent = (call: UpstreamCall): JsonObject => JSON.parse(call.body.toString('utf8')) as JsonObject;
  const chatBody = (extra: JsonObject = {}): JsonObject => ({ model: 'client-model', messages: [{ role: 'user', content: 'hi' }], ...extra });

  describe('headers', () => {
    const client: IncomingHttpHeaders = {
      host: 'gateway.example',
      connection: 'keep-alive, x-hop',
      'x-hop': 'hop-by-hop',
      'content-length': '99',
      'content-type': 'application/json',
      authorization: 'Bearer client-own-key',
      'x-api-key': 'client-own-key',
      'api-key': 'client-own-key',
      cookie: 'session=client',
      'openai-organization': 'org-client',
      'x-amz-security-token': 'client-token',
      'user-agent': 'OpenAI/Python 1.0',
      'x-trace-id': 'trace-1',
    };

    it("never forwards the client's credentials and sends the instance's own", async () => {
      const call = await build({ instance: 'openai', protocol: 'openai-chat', body: chatBody(), headers: client });
      assert.equal(call.headers['authorization'], 'Bearer sk-instance-openai-0123');
      for (const name of ['x-api-key', 'api-key', 'cookie', 'openai-organization', 'x-amz-security-token']) assert.equal(call.headers[name], undefined, name);
      for (const name of ['host', 'connection', 'x-hop', 'content-length']) assert.equal(call.headers[name], undefined, name);
      assert.equal(call.headers['user-agent'], 'OpenAI/Python 1.0');
      assert.equal(call.headers['x-trace-id'], 'trace-1');
      assert.equal(call.headers['content-type'], 'application/json');
      assert.ok(!JSON.stringify(call.headers).includes('client-own-key'));
    });

    it("puts an Anthropic instance's key in x-api-key and adds anthropic-version unless the client chose one", async () => {
      const plain = await build({ instance: 'claude', protocol: 'anthropic-messages', path: '/v1/messages', body: { model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }, headers: client });
      assert.equal(plain.headers['x-api-key'], 'sk-ant-instance-0123');
      assert.equal(plain.headers['authorization'], undefined);
      assert.equal(plain.headers['anthropic-version'], '2023-06-01');
      const chosen = await build({ instance: 'claude', protocol: 'anthropic-messages', path: '/v1/messages', body: { model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }, headers: { ...client, 'anthropic-version': '2024-01-01' } });
      assert.equal(chosen.headers['anthropic-version'], '2024-01-01');
    });

    it('signs a Bedrock request over the exact bytes it sends, with the instance credentials', async () => {
      const body = { messages: [{ role: 'user', content: [{ text: 'hi' }] }] };
      const path = '/model/whatever/converse-stream';
      const call = await build({ instance: 'bedrock', protocol: 'bedrock-converse', path, body, headers: client });
      assert.equal(call.path, '/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream');
      assert.match(call.headers['authorization'] ?? '', /^AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE\//);
      assert.equal(call.headers['x-amz-security-token'], undefined, 'the client token is gone and the instance has none');
      const target = route.instance('bedrock').target;
      const received = { method: 'POST', path: call.path, headers: { ...call.headers, host: new URL(target.origin).host }, body: call.body };
      assert.equal(await verifyBedrockSignature(received, AWS, 'eu-west-1'), true);
      assert.equal(await verifyBedrockSignature({ ...received, body: Buffer.concat([call.body, Buffer.from(' ')]) }, AWS, 'eu-west-1'), false);
    });
  });

  describe('body', () => {
    it('forwards the very Buffer the client sent when nothing had to change', async () => {
      const raw = Buffer.from('{"model":"client-model",  "messages":[{"role":"user","content":"hi"}]}');
      const call = await build({ instance: 'openai', protocol: 'openai-chat', body: JSON.parse(raw.toString()) as JsonObject, raw });
      assert.equal(call.body, raw);
      assert.equal(call.model, 'client-model');
    });

    it('rewrites the body with the instance options, leaving the client body untouched for the next attempt', async () => {
      const body = chatBody();
      const copy = structuredClone(body);
      const call = await build({ instance: 'tuned', protocol: 'openai-chat', body });
      assert.deepEqual(sent(call), { ...copy, model: 'gpt-4o-mini', temperature: 0.2 });
      assert.equal(call.model, 'gpt-4o-mini');
      assert.deepEqual(body, copy);
    });

    it('converts the body for a converting plan: OpenAI chat to Anthropic Messages', async () => {
      const call = await build({ instance: 'claude', protocol: 'openai-chat', body: chatBody({ messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hi' }] }) });
      const body = sent(call);
      assert.equal(call.path, '/v1/messages');
      assert.equal(body['model'], 'claude-sonnet-4-5');
      assert.equal(body['system'], 'be brief');
      assert.deepEqual(body['messages'], [{ role: 'user', content: 'hi' }]);
      assert.equal(typeof body['max_tokens'], 'number', 'Messages requires max_tokens');
      assert.equal(call.conversion.model, 'claude-sonnet-4-5');
    });

    it('converts OpenAI embeddings to a Vertex :predict call, the model in the path', async () => {
      const call = await build({ instance: 'vertex', protocol: 'openai-embeddings', path: '/v1/embeddings', body: { model: 'text-embedding-005', input: ['a', 'b'] } });
      assert.equal(call.path, '/v1/projects/proj-1/locations/europe-west4/publishers/google/models/text-embedding-005:predict');
      assert.deepEqual(sent(call)['instances'], [{ content: 'a' }, { content: 'b' }]);
      assert.equal(call.headers['authorization'], 'Bearer ya29.instance-token');
    });
  });

  describe('usage-only stream events', () => {
    const cases: Array<{ when: string; a: Asked; drop: boolean }> = [
      { when: 'a chat stream that did not ask for usage', a: { instance: 'openai', protocol: 'openai-chat', body: chatBody({ stream: true }) }, drop: true },
      { when: 'a chat stream that asked for usage', a: { instance: 'openai', protocol: 'openai-chat', body: chatBody({ stream: true, stream_options: { include_usage: true } }) }, drop: false },
      { when: 'a chat stream that said include_usage false', a: { instance: 'openai', protocol: 'openai-chat', body: chatBody({ stream: true, stream_options: { include_usage: false } }) }, drop: true },
      { when: 'a chat request that does not stream', a: { instance: 'openai', protocol: 'openai-chat', body: chatBody() }, drop: false },
      { when: 'a converted chat stream that did not ask for usage', a: { instance: 'claude', protocol: 'openai-chat', body: chatBody({ stream: true }) }, drop: true },
      { when: 'an Anthropic stream (no usage-only events in its protocol)', a: { instance: 'claude', protocol: 'anthropic-messages', path: '/v1/messages', body: { model: 'm', max_tokens: 5, stream: true, messages: [{ role: 'user', content: 'hi' }] } }, drop: false },
    ];
    for (const { when, a, drop } of cases) {
      it(`${drop ? 'drops' : 'keeps'} them for ${when}`, async () => {
        assert.equal((await build(a)).dropUsageEvents, drop);
      });
    }

    it('asks an OpenAI upstream for usage on every stream, keeping the other stream_options', async () => {
      const call = await build({ instance: 'openai', protocol: 'openai-chat', body: chatBody({ stream: true, stream_options: { include_obfuscation: false } }) });
      assert.deepEqual(sent(call)['stream_options'], { include_obfuscation: false, include_usage: true });
    });
  });

  describe('paths', () => {
    const cases: Array<{ name: string; a: Asked; path: string }> = [
      { name: 'openai chat', a: { instance: 'openai', protocol: 'openai-chat', body: chatBody() }, path: '/v1/chat/completions' },
      { name: 'openai responses', a: { instance: 'openai', protocol: 'openai-responses', path: '/v1/responses', body: { model: 'm', input: 'hi' } }, path: '/v1/responses' },
      { name: 'openai passthrough keeps the client path and query', a: { instance: 'openai', protocol: 'passthrough', path: '/v1/files?purpose=batch', body: { any: 'thing' } }, path: '/v1/files?purpose=batch' },
      { name: 'azure, deployment and api-version in the path', a: { instance: 'azure', protocol: 'openai-chat', body: chatBody() }, path: '/openai/deployments/my%20deployment/chat/completions?api-version=2024-10-21' },
      { name: 'bedrock converse', a: { instance: 'bedrock', protocol: 'bedrock-converse', path: '/model/x/converse', body: { messages: [{ role: 'user', content: [{ text: 'hi' }] }] } }, path: '/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse' },
      { name: 'openai chat converted for bedrock, streaming', a: { instance: 'bedrock', protocol: 'openai-chat', body: chatBody({ stream: true }) }, path: '/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream' },
      { name: 'vertex chat', a: { instance: 'vertex', protocol: 'openai-chat', body: chatBody() }, path: '/v1/projects/proj-1/locations/europe-west4/endpoints/openapi/chat/completions' },
      { name: 'gemini with auth.query, the client key dropped', a: { instance: 'gemini', protocol: 'passthrough', path: '/v1/models?key=client-key&pageSize=5', body: { any: 'thing' } }, path: '/v1beta/openai/models?pageSize=5&key=AIza-instance-key-0123' },
    ];
    for (const { name, a, path } of cases) {
      it(`${name}: ${path}`, async () => {
        assert.equal((await build(a)).path, path);
      });
    }

    it('drops the model from the body of providers that take it from the path', async () => {
      const azure = await build({ instance: 'azure', protocol: 'openai-chat', body: chatBody() });
      assert.equal(sent(azure)['model'], undefined);
      const bedrock = await build({ instance: 'bedrock', protocol: 'openai-chat', body: chatBody() });
      assert.equal(sent(bedrock)['model'], undefined);
      assert.equal(bedrock.model, 'anthropic.claude-3-5-sonnet-20240620-v1:0');
    });
  });

  it('refuses what the provider cannot express with PROTOCOL_NOT_SUPPORTED', async () => {
    await assert.rejects(build({ instance: 'vertex', protocol: 'openai-embeddings', path: '/v1/embeddings', body: { model: 'e', input: [1, 2, 3] } }), { code: 'PROTOCOL_NOT_SUPPORTED' });
  });
});
