import assert from 'node:assert/strict';
import { normaliseConfig } from '../../lib/config/normalise.ts';
import type { GatewayConfig, PluginConfig } from '../../lib/config/types.ts';
import { validateConfig as validateWith } from '../../lib/config/validate.ts';
import { providerCatalog } from '../../lib/providers/catalog.ts';

const validateConfig = (raw: unknown) => validateWith(raw, providerCatalog);

type Json = Record<string, unknown>;

/** Validates first, as the loader does, so every input here is one a user could write. */
function normalise(raw: Json): GatewayConfig {
  assert.deepEqual(validateConfig(raw), []);
  return normaliseConfig(raw);
}

function multi(plugin: Json = {}, route: Json = {}): Json {
  return {
    routes: [
      {
        id: 'chat',
        uri: '/v1/chat/completions',
        plugins: {
          'ai-proxy-multi': {
            instances: [
              { name: 'openai-a', provider: 'openai' },
              { name: 'deepseek', provider: 'deepseek' },
            ],
            ...plugin,
          },
        },
        ...route,
      },
    ],
  };
}

function pluginOf(config: GatewayConfig): PluginConfig {
  const route = config.routes[0];
  assert.ok(route);
  return route.plugin;
}

describe('config normalisation', () => {
  it('fills every plugin default of a minimal config', () => {
    const { instances, ...plugin } = pluginOf(normalise(multi()));
    assert.deepEqual(plugin, {
      kind: 'ai-proxy-multi',
      balancer: { algorithm: 'roundrobin', hash_on: 'vars', key: '' },
      fallback: { on429: true, on5xx: true, statuses: [], rateLimitAware: false },
      max_retries: 1,
      retry_on_failure_within_ms: 0,
      timeout: 30_000,
      connect_timeout: 30_000,
      send_timeout: 30_000,
      read_timeout: 30_000,
      first_token_timeout: 0,
      keepalive: true,
      keepalive_timeout: 60_000,
      keepalive_pool: 30,
      ssl_verify: true,
      max_req_body_size: 67_108_864,
      replay_body_size: 67_108_864,
      max_stream_duration_ms: 0,
      max_response_bytes: 67_108_864,
      logging: { summaries: false, payloads: false, max_payload_bytes: 4096 },
      forward_client_credentials: false,
      expose_instance_headers: true,
      models_list: 'config',
    });
    assert.equal(instances.length, 2);
  });

  it('fills every instance default, breaker included', () => {
    const instance = pluginOf(normalise(multi())).instances[0];
    assert.deepEqual(instance, {
      name: 'openai-a',
      provider: 'openai',
      weight: 1,
      priority: 0,
      auth: { header: {}, query: {} },
      options: {},
      models: [],
      override: { llm_options: {}, request_body: {}, request_body_force_override: false },
      provider_conf: {},
      breaker: { failure_threshold: 5, window_ms: 10_000, reset_timeout_ms: 30_000, error_threshold_percentage: 50, volume_threshold: 10 },
      examples: [],
    });
  });

  it('fills the server, admin, redis and log sections', () => {
    const config = normalise(multi());
    assert.deepEqual(config.server, {
      host: '0.0.0.0',
      port: 9080,
      shutdown_timeout_ms: 25_000,
      first_byte_timeout_ms: 10_000,
      headers_timeout_ms: 10_000,
      body_timeout_ms: 30_000,
      idle_timeout_ms: 60_000,
      max_connections: 10_000,
      max_json_depth: 128,
      max_json_array_length: 100_000,
      workers: 1,
      reduce_memory_when_idle_ms: 0,
    });
    assert.deepEqual(config.admin, { host: '127.0.0.1', port: 9180 });
    assert.equal(config.redis, null);
    assert.deepEqual(config.log, { level: 'info' });
  });

  it('turns "admin": false off, and treats an empty admin key or redis url as not configured', () => {
    assert.equal(normalise({ ...multi(), admin: false }).admin, null);
    assert.deepEqual(normalise({ ...multi(), admin: { api_key: '' } }).admin, { host: '127.0.0.1', port: 9180 });
    assert.equal(normalise({ ...multi(), redis: { url: '' } }).redis, null);
    assert.deepEqual(normalise({ ...multi(), redis: { url: 'redis://r:6379' } }).redis, { url: 'redis://r:6379', key_prefix: 'aipm:' });
  });

  it('uses roundrobin when the balancer names no algorithm, as README.md#differences-from-apisix promises', () => {
    const plugin = pluginOf(normalise(multi({ balancer: { hash_on: 'header', key: 'x-user' } })));
    assert.deepEqual(plugin.balancer, { algorithm: 'roundrobin', hash_on: 'header', key: 'x-user' });
  });

  const strategies: Array<[string, unknown, Partial<PluginConfig['fallback']>]> = [
    ['the string instance_health_and_rate_limiting', 'instance_health_and_rate_limiting', { on429: true, on5xx: true, rateLimitAware: true }],
    ['the string http_429', 'http_429', { on429: true, on5xx: false, rateLimitAware: false }],
    ['the string http_5xx', 'http_5xx', { on429: false, on5xx: true, rateLimitAware: false }],
    ['the list [rate_limiting]', ['rate_limiting'], { on429: false, on5xx: false, rateLimitAware: true }],
    ['the list [http_429, http_5xx]', ['http_429', 'http_5xx'], { on429: true, on5xx: true, rateLimitAware: false }],
    ['an empty list', [], { on429: false, on5xx: false, rateLimitAware: false }],
  ];
  for (const [name, strategy, expected] of strategies) {
    it(`reads fallback_strategy ${name}`, () => {
      const { fallback } = pluginOf(normalise(multi({ fallback_strategy: strategy, fallback_http_statuses: [408, 499] })));
      assert.deepEqual(fallback, { ...expected, statuses: [408, 499] });
    });
  }

  it('splits uris into exact paths and prefixes, upper-cases methods and lower-cases hosts', () => {
    const route = normalise(
      multi({}, { uri: '/v1/chat/completions', uris: ['/v1/*', '/v1/messages', '/v1/chat/completions'], methods: ['post', 'GET'], hosts: ['LLM.Example.COM'] }),
    ).routes[0];
    assert.deepEqual(route?.exact, ['/v1/chat/completions', '/v1/messages']);
    assert.deepEqual(route?.prefixes, ['/v1/']);
    assert.deepEqual(route?.methods, ['POST', 'GET']);
    assert.deepEqual(route?.hosts, ['llm.example.com']);
  });

  it('parses override.endpoint and tells whether it carries its own path', () => {
    const plugin = pluginOf(
      normalise(multi({ instances: [
        { name: 'host-only', provider: 'openai', override: { endpoint: 'https://proxy.local:8443' } },
        { name: 'full', provider: 'openai', override: { endpoint: 'http://127.0.0.1:8000/v1/chat/completions' } },
      ] })),
    );
    const [hostOnly, full] = plugin.instances.map((i) => i.override.endpoint);
    assert.equal(hostOnly?.url.origin, 'https://proxy.local:8443');
    assert.equal(hostOnly?.pathGiven, false);
    assert.equal(full?.url.pathname, '/v1/chat/completions');
    assert.equal(full?.pathGiven, true);
  });

  it('overrides the plugin breaker field by field with the instance breaker', () => {
    const plugin = pluginOf(
      normalise(multi({
        breaker: { failure_threshold: 3, window_ms: 5000 },
        instances: [
          { name: 'a', provider: 'openai', breaker: { window_ms: 1000 } },
          { name: 'b', provider: 'openai' },
        ],
      })),
    );
    assert.deepEqual(plugin.instances.map((i) => [i.breaker.failure_threshold, i.breaker.window_ms, i.breaker.reset_timeout_ms]), [
      [3, 1000, 30_000],
      [3, 5000, 30_000],
    ]);
  });

  it('fills active check defaults as APISIX does', () => {
    const plugin = pluginOf(normalise(multi({ instances: [{ name: 'a', provider: 'openai', checks: { active: { healthy: { interval: 5 } } } }] })));
    assert.deepEqual(plugin.instances[0]?.checks?.active, {
      type: 'http',
      timeout: 1,
      concurrency: 10,
      http_path: '/',
      http_method: 'GET',
      https_verify_certificate: true,
      req_headers: [],
      healthy: { interval: 5, http_statuses: [200, 302], successes: 2 },
      unhealthy: { interval: 1, http_statuses: [429, 404, 500, 501, 502, 503, 504, 505], http_failures: 5, tcp_failures: 2, timeouts: 3 },
    });
    assert.equal(plugin.max_retries, 0);
  });

  it('turns an ai-proxy block into one instance named after its provider, with the plugin fields', () => {
    const config = normalise({
      routes: [{ id: 'emb', uri: '/v1/embeddings', plugins: { 'ai-proxy': {
        provider: 'deepseek',
        auth: { header: { Authorization: 'Bearer k' } },
        options: { model: 'deepseek-chat' },
        timeout: 5000,
        breaker: { failure_threshold: 2 },
      } } }],
    });
    const plugin = pluginOf(config);
    assert.equal(plugin.kind, 'ai-proxy');
    assert.equal(plugin.timeout, 5000);
    assert.equal(plugin.max_retries, 0);
    assert.equal(plugin.instances.length, 1);
    const [instance] = plugin.instances;
    assert.equal(instance?.name, 'deepseek');
    assert.equal(instance?.weight, 1);
    assert.equal(instance?.priority, 0);
    assert.deepEqual(instance?.auth.header, { Authorization: 'Bearer k' });
    assert.deepEqual(instance?.options, { model: 'deepseek-chat' });
    assert.equal(instance?.breaker.failure_threshold, 2);
  });

  it('returns a deep-frozen config, so nothing can change it at run time', () => {
    const config = normalise(multi({ instances: [{ name: 'a', provider: 'openai', options: { model: 'm', nested: { x: 1 } } }] }));
    const instance = pluginOf(config).instances[0];
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.routes) && Object.isFrozen(pluginOf(config)));
    assert.ok(Object.isFrozen(instance?.options['nested']));
    assert.throws(() => {
      (pluginOf(config) as { timeout: number }).timeout = 1;
    }, TypeError);
    assert.throws(() => {
      (config.routes as unknown[]).push({});
    }, TypeError);
  });

  it('neither freezes nor changes its input', () => {
    const raw = multi({ instances: [{ name: 'a', provider: 'openai', options: { nested: { x: 1 } } }] });
    const before = structuredClone(raw);
    normalise(raw);
    assert.deepEqual(raw, before);
    assert.equal(Object.isFrozen(raw), false);
  });
});
