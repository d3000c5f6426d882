import assert from 'node:assert/strict';
import { validateConfig as validateWith } from '../../lib/config/validate.ts';
import { providerCatalog } from '../../lib/providers/catalog.ts';

const validateConfig = (raw: unknown) => validateWith(raw, providerCatalog);
import { providerNames } from '../../lib/providers/registry.ts';

type Json = Record<string, unknown>;

const PLUGIN = '/routes/0/plugins/ai-proxy-multi';

/** A valid one-route config with two instances; the parts given are merged over it. */
function config(parts: { top?: Json; route?: Json; plugin?: Json; instances?: Json[]; routes?: Json[] } = {}): unknown {
  const base = [{ name: 'openai-a', provider: 'openai' }, { name: 'deepseek', provider: 'deepseek' }];
  const instances = (parts.instances ?? [{}, {}]).map((inst, i) => ({ ...base[i], ...inst }));
  const route = {
    id: 'chat',
    uri: '/v1/chat/completions',
    plugins: { 'ai-proxy-multi': { instances, ...parts.plugin } },
    ...parts.route,
  };
  // Through JSON so that `undefined` removes a field, as in a real file.
  return JSON.parse(JSON.stringify({ routes: [route, ...(parts.routes ?? [])], ...parts.top }));
}

const cases: Array<{ name: string; input: unknown; path: string; message: string }> = [
  { name: 'a negative weight', input: config({ instances: [{}, { weight: -1 }] }), path: `${PLUGIN}/instances/1/weight`, message: 'must be >= 0' },
  { name: 'a fractional weight', input: config({ instances: [{ weight: 1.5 }, {}] }), path: `${PLUGIN}/instances/0/weight`, message: 'must be integer' },
  { name: 'a string priority', input: config({ instances: [{ priority: 'x' }, {}] }), path: `${PLUGIN}/instances/0/priority`, message: 'must be integer' },
  {
    name: 'two instances with the same name',
    input: config({ instances: [{ name: 'dup' }, { name: 'dup' }] }),
    path: `${PLUGIN}/instances/1/name`,
    message: `"dup" is already the name of ${PLUGIN}/instances/0`,
  },
  {
    name: 'two routes with the same id',
    input: config({ routes: [{ id: 'chat', uri: '/other', plugins: { 'ai-proxy': { provider: 'openai' } } }] }),
    path: '/routes/1/id',
    message: '"chat" is already the id of /routes/0',
  },
  {
    name: 'an endpoint that is not http(s)',
    input: config({ instances: [{ override: { endpoint: 'ftp://files.example.com' } }, {}] }),
    path: `${PLUGIN}/instances/0/override/endpoint`,
    message: 'must be an http:// or https:// URL',
  },
  {
    name: 'an endpoint that does not parse as a URL',
    input: config({ instances: [{ override: { endpoint: 'https://exa mple.com/v1' } }, {}] }),
    path: `${PLUGIN}/instances/0/override/endpoint`,
    message: 'is not a valid URL',
  },
  {
    name: 'a negative price',
    input: config({ instances: [{ price: { input_mtok: -0.5, output_mtok: 1 } }, {}] }),
    path: `${PLUGIN}/instances/0/price/input_mtok`,
    message: 'must be >= 0',
  },
  {
    name: 'a price without its output rate',
    input: config({ instances: [{}, { price: { input_mtok: 0.5 } }] }),
    path: `${PLUGIN}/instances/1/price/output_mtok`,
    message: 'is required',
  },
  { name: 'timeout 0', input: config({ plugin: { timeout: 0 } }), path: `${PLUGIN}/timeout`, message: 'must be >= 1' },
  { name: 'timeout 600001', input: config({ plugin: { timeout: 600_001 } }), path: `${PLUGIN}/timeout`, message: 'must be <= 600000' },
  {
    name: 'an unknown provider',
    input: config({ instances: [{}, { provider: 'deepsek' }] }),
    path: `${PLUGIN}/instances/1/provider`,
    message: `must be one of: ${providerNames.join(', ')}`,
  },
  {
    name: 'a typo in an instance field',
    input: config({ instances: [{ wieght: 2 }, {}] }),
    path: `${PLUGIN}/instances/0/wieght`,
    message: 'unknown property "wieght" (did you mean "weight"?)',
  },
  {
    name: 'a typo in a top-level section',
    input: config({ top: { servr: { port: 1 } } }),
    path: '/servr',
    message: 'unknown property "servr" (did you mean "server"?)',
  },
  { name: 'missing instances', input: config({ plugin: { instances: undefined } }), path: `${PLUGIN}/instances`, message: 'is required' },
  { name: 'an empty instance list', input: config({ plugin: { instances: [] } }), path: `${PLUGIN}/instances`, message: 'must NOT have fewer than 1 items' },
  { name: 'a route without uri or uris', input: config({ route: { uri: undefined } }), path: '/routes/0', message: 'must have "uri" or "uris"' },
  { name: 'a uri without leading slash', input: config({ route: { uri: 'v1/chat' } }), path: '/routes/0/uri', message: 'must start with "/" and may only end with "*"' },
  {
    name: 'a route with both plugins',
    input: config({ route: { plugins: { 'ai-proxy': { provider: 'openai' }, 'ai-proxy-multi': { instances: [{ name: 'a', provider: 'openai' }] } } } }),
    path: '/routes/0/plugins',
    message: 'must hold exactly one of "ai-proxy-multi" or "ai-proxy" (and optionally "ai-rate-limiting")',
  },
  { name: 'a route without plugin', input: config({ route: { plugins: {} } }), path: '/routes/0/plugins', message: 'must hold exactly one of "ai-proxy-multi" or "ai-proxy" (and optionally "ai-rate-limiting")' },
  {
    name: 'chash on a header without a key',
    input: config({ plugin: { balancer: { algorithm: 'chash', hash_on: 'header' } } }),
    path: `${PLUGIN}/balancer/key`,
    message: 'is required when hash_on is "header"',
  },
  {
    name: 'an azure-openai instance without endpoint',
    input: config({ instances: [{}, { provider: 'azure-openai', options: { model: 'gpt-4o' } }] }),
    path: `${PLUGIN}/instances/1/override/endpoint`,
    message: 'is required for provider azure-openai',
  },
  {
    name: 'an ai-proxy openai-compatible block without endpoint',
    input: config({ route: { plugins: { 'ai-proxy': { provider: 'openai-compatible' } } } }),
    path: '/routes/0/plugins/ai-proxy/override/endpoint',
    message: 'is required for provider openai-compatible',
  },
  {
    name: 'an unknown fallback_strategy string',
    input: config({ plugin: { fallback_strategy: 'http_500' } }),
    path: `${PLUGIN}/fallback_strategy`,
    message: 'must be "instance_health_and_rate_limiting", "http_429", "http_5xx" or an array of "rate_limiting", "http_429", "http_5xx"',
  },
  {
    name: 'an unknown item in a fallback_strategy list',
    input: config({ plugin: { fallback_strategy: ['http_429', 'http_4xx'] } }),
    path: `${PLUGIN}/fallback_strategy/1`,
    message: 'must be one of: rate_limiting, http_429, http_5xx',
  },
  { name: 'a success status as fallback status', input: config({ plugin: { fallback_http_statuses: [200] } }), path: `${PLUGIN}/fallback_http_statuses/0`, message: 'must be >= 400' },
  { name: 'negative max_retries', input: config({ plugin: { max_retries: -1 } }), path: `${PLUGIN}/max_retries`, message: 'must be >= 0' },
  { name: 'an unknown models_list mode', input: config({ plugin: { models_list: 'proxy' } }), path: `${PLUGIN}/models_list`, message: 'must be one of: config, passthrough' },
  { name: 'an empty model id in an instance models list', input: config({ instances: [{ models: ['gpt-4o', ''] }, {}] }), path: `${PLUGIN}/instances/0/models/1`, message: 'must NOT have fewer than 1 characters' },
  { name: 'a lower-case typo in methods', input: config({ route: { methods: ['post', 'PSOT'] } }), path: '/routes/0/methods/1', message: 'must be one of: GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS, CONNECT, TRACE, PURGE' },
  { name: 'a duplicate uri', input: config({ route: { uri: undefined, uris: ['/a', '/b', '/a'] } }), path: '/routes/0/uris/2', message: 'duplicates item 0' },
  { name: 'admin set to a string', input: config({ top: { admin: 'on' } }), path: '/admin', message: 'must be an object, or false to turn the admin listener off' },
  { name: 'an admin port out of range', input: config({ top: { admin: { port: 70000 } } }), path: '/admin/port', message: 'must be <= 65535' },
  { name: 'a redis url without scheme', input: config({ top: { redis: { url: '127.0.0.1:6379' } } }), path: '/redis/url', message: 'must be a redis:// or rediss:// URL' },
  {
    name: 'provider_conf.api native on a provider with one API',
    input: config({ instances: [{ provider_conf: { api: 'native' } }, {}] }),
    path: `${PLUGIN}/instances/0/provider_conf/api`,
    message: '"native" is only for providers gemini and vertex-ai; openai has no other API to choose',
  },
  {
    name: 'a native gemini instance keyed by a bearer token',
    input: config({ instances: [{ provider: 'gemini', provider_conf: { api: 'native' }, auth: { header: { Authorization: 'Bearer k' } } }, {}] }),
    path: `${PLUGIN}/instances/0/auth/header`,
    message: 'provider gemini with provider_conf.api "native" takes its key as auth.header {"x-goog-api-key": "..."} (or auth.query {"key": "..."}), not a bearer token',
  },
  { name: 'an unknown provider_conf.api', input: config({ instances: [{ provider_conf: { api: 'grpc' } }, {}] }), path: `${PLUGIN}/instances/0/provider_conf/api`, message: 'must be one of: openai, native' },
  { name: 'aws auth without secret', input: config({ instances: [{ auth: { aws: { access_key_id: 'AKIA' } } }, {}] }), path: `${PLUGIN}/instances/0/auth/aws/secret_access_key`, message: 'is required' },
];

describe('config validation', () => {
  for (const c of cases) {
    it(`reports ${c.name} at ${c.path} and nothing else`, () => {
      assert.deepEqual(validateConfig(c.input), [{ path: c.path, message: c.message }]);
    });
  }

  it('accepts the minimal config it builds the cases from', () => {
    assert.deepEqual(validateConfig(config()), []);
  });

  it('reports every mistake of a file at once, route by route', () => {
    const input = config({
      plugin: { timeout: 0 },
      instances: [{ weight: -1 }, { name: 'openai-a', provider: 'nope' }],
      routes: [{ id: 'second', uri: '/x', plugins: { 'ai-proxy': { provider: 'azure-openai', keepalive: 'yes' } } }],
    });
    assert.deepEqual(validateConfig(input), [
      { path: `${PLUGIN}/timeout`, message: 'must be >= 1' },
      { path: `${PLUGIN}/instances/0/weight`, message: 'must be >= 0' },
      { path: `${PLUGIN}/instances/1/provider`, message: `must be one of: ${providerNames.join(', ')}` },
      { path: `${PLUGIN}/instances/1/name`, message: `"openai-a" is already the name of ${PLUGIN}/instances/0` },
      { path: '/routes/1/plugins/ai-proxy/keepalive', message: 'must be boolean' },
      { path: '/routes/1/plugins/ai-proxy/override/endpoint', message: 'is required for provider azure-openai' },
    ]);
  });

  it('accepts APISIX field names it does not act on differently: checks, llm_options, request_body, gcp/aws auth', () => {
    const input = config({
      instances: [
        {
          auth: { header: { 'X-Custom': 'v' }, query: { key: 'k' }, gcp: { service_account_json: '{}' } },
          options: { model: 'm', any_vendor_option: { nested: true } },
          override: { endpoint: 'https://example.com/v1/chat', llm_options: { max_tokens: 5 }, request_body: { 'openai-chat': { user: 'u' } } },
          provider_conf: { project_id: 'p', region: 'us-central1' },
          checks: { active: { type: 'https', healthy: { http_statuses: [200] }, req_headers: ['X-Probe: 1'] } },
        },
        { auth: { aws: { access_key_id: 'AKIA', secret_access_key: 's', session_token: 't' } }, breaker: { failure_threshold: 2 } },
      ],
      plugin: { balancer: { algorithm: 'chash', hash_on: 'header', key: 'x-user' }, fallback_strategy: ['rate_limiting', 'http_5xx'] },
    });
    assert.deepEqual(validateConfig(input), []);
  });

  it('accepts "admin": false and a numeric route id as APISIX allows', () => {
    assert.deepEqual(validateConfig(config({ top: { admin: false }, route: { id: 1 } })), []);
  });

  it('rejects a config that is not an object or has no routes', () => {
    assert.deepEqual(validateConfig([]), [{ path: '', message: 'must be object' }]);
    assert.deepEqual(validateConfig({}), [{ path: '/routes', message: 'is required' }]);
  });
});
