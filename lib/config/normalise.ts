// Turns a validated config file into the shapes of types.ts: every default filled in, every derived
// value computed once, so the hot path never looks at raw config or checks for `undefined`. The input
// is copied, never frozen or changed: free-form objects (options, request_body) are cloned.
import { createHash } from 'node:crypto';
import type {
  ActiveCheckConfig,
  ConsumerConfig,
  RateLimitingConfig,
  BalancerAlgorithm,
  BreakerConfig,
  FallbackPolicy,
  GatewayConfig,
  HashOn,
  InstanceAuth,
  InstanceConfig,
  PluginConfig,
  RedisConfig,
  RouteConfig,
  SemanticConfig,
} from './types.ts';
import { compileRouteVars } from './route-vars.ts';
import { configDefaults as d } from './schema.ts';

type Obj = Record<string, unknown>;
type LogLevel = GatewayConfig['log']['level'];

/** An instance (or `ai-proxy` block) as written in the file, after schema validation. */
export interface RawInstance {
  name?: string;
  provider: string;
  weight?: number;
  priority?: number;
  auth?: {
    header?: Record<string, string>;
    query?: Record<string, string>;
    gcp?: { service_account_json?: string; max_ttl?: number; expire_early_secs?: number; token_url?: string };
    aws?: { access_key_id: string; secret_access_key: string; session_token?: string };
  };
  options?: Obj;
  models?: string[];
  override?: { endpoint?: string; llm_options?: Obj; request_body?: Obj; request_body_force_override?: boolean };
  provider_conf?: InstanceConfig['provider_conf'];
  checks?: { active: RawActiveCheck };
  breaker?: Partial<BreakerConfig>;
  max_concurrency?: number;
  price?: InstanceConfig['price'];
  examples?: string[];
  threshold?: number;
}

interface RawSemanticOpts {
  embeddings: {
    provider: 'openai' | 'azure-openai';
    model: string;
    endpoint?: string;
    auth?: { header?: Record<string, string>; query?: Record<string, string> };
    timeout?: number;
    ssl_verify?: boolean;
  };
  threshold?: number;
  fallback?: string;
  debugging?: boolean;
}

const OPENAI_EMBEDDINGS_URL = 'https://api.openai.com/v1/embeddings';

function normaliseSemantic(raw: RawSemanticOpts): SemanticConfig {
  const e = raw.embeddings;
  return {
    embeddings: {
      provider: e.provider,
      model: e.model,
      // Validation refused azure-openai without an endpoint.
      url: new URL(e.endpoint ?? OPENAI_EMBEDDINGS_URL),
      auth: { header: { ...e.auth?.header }, query: { ...e.auth?.query } },
      timeout: e.timeout ?? d.semantic.timeout,
      ssl_verify: e.ssl_verify ?? true,
    },
    threshold: raw.threshold ?? d.semantic.threshold,
    ...(raw.fallback !== undefined && { fallback: raw.fallback }),
    debugging: raw.debugging ?? false,
  };
}

type RawActiveCheck = Partial<Omit<ActiveCheckConfig, 'healthy' | 'unhealthy'>> & {
  healthy?: Partial<ActiveCheckConfig['healthy']>;
  unhealthy?: Partial<ActiveCheckConfig['unhealthy']> & { timeout?: number };
};

type FallbackName = 'rate_limiting' | 'http_429' | 'http_5xx';

type RawPlugin = Omit<Partial<PluginConfig>, 'kind' | 'instances' | 'balancer' | 'fallback' | 'logging' | 'semantic'> & {
  instances?: RawInstance[];
  semantic_opts?: RawSemanticOpts;
  balancer?: { algorithm?: BalancerAlgorithm; hash_on?: HashOn; key?: string };
  fallback_strategy?: 'instance_health_and_rate_limiting' | 'http_429' | 'http_5xx' | FallbackName[];
  fallback_http_statuses?: number[];
  logging?: Partial<PluginConfig['logging']>;
  breaker?: Partial<BreakerConfig>;
};

interface RawRoute {
  id: string | number;
  uri?: string;
  uris?: string[];
  methods?: string[];
  hosts?: string[];
  vars?: unknown[];
  priority?: number;
  auth?: RouteConfig['auth'];
  plugins: {
    'ai-proxy-multi'?: RawPlugin & { instances: RawInstance[] };
    'ai-proxy'?: RawPlugin & RawInstance;
    'ai-rate-limiting'?: RawRateLimiting;
  };
}

interface RawRateLimiting {
  limit?: number;
  time_window?: number;
  limit_strategy?: RateLimitingConfig['limit_strategy'];
  instances?: Array<{ name: string; limit: number; time_window: number }>;
  rules?: Array<{ count: number; time_window: number; key: string }>;
  show_limit_quota_header?: boolean;
  rejected_code?: number;
  rejected_msg?: string;
}

interface RawConsumer {
  name: string;
  keys: string[];
  labels?: Record<string, string>;
  limits?: ConsumerConfig['limits'];
  budget_usd?: number;
  budget_window?: number;
}

interface RawConfig {
  server?: Partial<GatewayConfig['server']>;
  admin?: false | { host?: string; port?: number; api_key?: string };
  redis?: {
    url?: string;
    sentinels?: { host: string; port: number }[];
    name?: string;
    cluster?: string[];
    options?: Obj;
    key_prefix?: string;
    reconcile_interval_ms?: number;
    command_timeout_ms?: number;
  };
  log?: { level?: LogLevel };
  consumers?: RawConsumer[];
  routes: RawRoute[];
}

/** Normalises and deep-freezes a config that `validateConfig` accepted; on anything else it may throw. */
export function normaliseConfig(raw: unknown): GatewayConfig {
  const config = raw as RawConfig; // the caller validated it against configSchema
  const admin = config.admin;
  return deepFreeze({
    server: { ...d.server, ...config.server },
    // An empty key or URL is what `${VAR:-}` yields for an unset variable: treat it as "not configured".
    admin: admin === false ? null : {
      host: admin?.host ?? d.admin.host,
      port: admin?.port ?? d.admin.port,
      ...(admin?.api_key ? { api_key: admin.api_key } : {}),
    },
    redis: config.redis ? normaliseRedis(config.redis) : null,
    log: { level: config.log?.level ?? d.log.level },
    consumers: (config.consumers ?? []).map(normaliseConsumer),
    // Without consumers no key can be known: routes ignore keys unless they say otherwise.
    routes: config.routes.map((r) => normaliseRoute(r, (config.consumers ?? []).length > 0 ? 'optional' : 'none')),
  });
}

// Timing fields stay absent unless written, so a plain `{url}` block normalises to `{url, key_prefix}`;
// createStateStore applies their defaults.
function normaliseRedis(redis: NonNullable<RawConfig['redis']>): RedisConfig | null {
  const common = {
    key_prefix: redis.key_prefix ?? d.redis.key_prefix,
    ...(redis.options ? { options: structuredClone(redis.options) } : {}),
    ...(redis.reconcile_interval_ms === undefined ? {} : { reconcile_interval_ms: redis.reconcile_interval_ms }),
    ...(redis.command_timeout_ms === undefined ? {} : { command_timeout_ms: redis.command_timeout_ms }),
  };
  if (redis.sentinels && redis.name) return { sentinels: redis.sentinels.map((s) => ({ ...s })), name: redis.name, ...common };
  if (redis.cluster) return { cluster: [...redis.cluster], ...common };
  return redis.url ? { url: redis.url, ...common } : null;
}

/** A key written as `sha256:<hex>` is its digest already; any other is hashed here and not kept. */
export function keyDigest(key: string): string {
  return key.startsWith('sha256:') ? key.slice(7).toLowerCase() : createHash('sha256').update(key, 'utf8').digest('hex');
}

function normaliseConsumer(raw: RawConsumer): ConsumerConfig {
  return {
    name: raw.name,
    key_digests: raw.keys.map(keyDigest),
    labels: { ...raw.labels },
    limits: {
      ...(raw.limits?.requests ? { requests: { ...raw.limits.requests } } : {}),
      ...(raw.limits?.tokens ? { tokens: { ...raw.limits.tokens } } : {}),
    },
    ...(raw.budget_usd !== undefined && raw.budget_window !== undefined ? { budget: { usd: raw.budget_usd, window: raw.budget_window } } : {}),
  };
}

function normaliseRateLimiting(raw: RawRateLimiting | undefined): RateLimitingConfig | null {
  if (!raw) return null;
  const rl = d.rate_limiting;
  return {
    ...(raw.limit !== undefined && raw.time_window !== undefined ? { route: { limit: raw.limit, time_window: raw.time_window } } : {}),
    limit_strategy: raw.limit_strategy ?? rl.limit_strategy,
    instances: (raw.instances ?? []).map((i) => ({ ...i })),
    rules: (raw.rules ?? []).map((r) => ({ limit: r.count, time_window: r.time_window, key: r.key })),
    show_limit_quota_header: raw.show_limit_quota_header ?? rl.show_limit_quota_header,
    rejected_code: raw.rejected_code ?? rl.rejected_code,
    ...(raw.rejected_msg !== undefined ? { rejected_msg: raw.rejected_msg } : {}),
  };
}

function normaliseRoute(route: RawRoute, defaultAuth: RouteConfig['auth']): RouteConfig {
  const uris = [...new Set([...(route.uri === undefined ? [] : [route.uri]), ...(route.uris ?? [])])];
  const multi = route.plugins['ai-proxy-multi'];
  const single = route.plugins['ai-proxy'];
  let plugin: PluginConfig;
  if (multi) plugin = normalisePlugin('ai-proxy-multi', multi, multi.instances);
  else if (single) plugin = normalisePlugin('ai-proxy', single, [single]);
  else throw new Error(`route ${route.id} has no plugin; validate the config first`);
  return {
    id: String(route.id),
    // A route that forwards the client's credentials takes them as the provider's key, not a consumer's.
    auth: route.auth ?? (plugin.forward_client_credentials ? 'none' : defaultAuth),
    rate_limiting: normaliseRateLimiting(route.plugins['ai-rate-limiting']),
    exact: uris.filter((u) => !u.endsWith('*')),
    prefixes: uris.filter((u) => u.endsWith('*')).map((u) => u.slice(0, -1)),
    methods: [...new Set((route.methods ?? []).map((m) => m.toUpperCase()))],
    hosts: [...new Set((route.hosts ?? []).map((h) => h.toLowerCase()))],
    vars: routeVars(route),
    priority: route.priority ?? d.route.priority,
    plugin,
  };
}

function routeVars(route: RawRoute): RouteConfig['vars'] {
  if (route.vars === undefined) return null;
  const { expr, problems } = compileRouteVars(route.vars);
  if (problems.length > 0) throw new Error(`route ${route.id} has invalid vars; validate the config first`);
  return expr;
}

function normalisePlugin(kind: PluginConfig['kind'], raw: RawPlugin, rawInstances: RawInstance[]): PluginConfig {
  const breaker = { ...d.breaker, ...raw.breaker };
  // An `ai-proxy` instance is named after its provider: logs and status then read "openai returned 503".
  const instances = rawInstances.map((inst) => normaliseInstance(inst, inst.provider, breaker));
  const hashOn = raw.balancer?.hash_on ?? d.balancer.hash_on;
  const p = d.plugin;
  return {
    kind,
    instances,
    balancer: { algorithm: raw.balancer?.algorithm ?? d.balancer.algorithm, hash_on: hashOn, key: raw.balancer?.key ?? '' },
    ...(raw.balancer?.algorithm === 'semantic' && raw.semantic_opts && { semantic: normaliseSemantic(raw.semantic_opts) }),
    fallback: fallbackPolicy(raw.fallback_strategy, raw.fallback_http_statuses),
    max_retries: raw.max_retries ?? Math.max(0, instances.length - 1),
    retry_on_failure_within_ms: raw.retry_on_failure_within_ms ?? p.retry_on_failure_within_ms,
    timeout: raw.timeout ?? p.timeout,
    connect_timeout: raw.connect_timeout ?? raw.timeout ?? p.timeout,
    send_timeout: raw.send_timeout ?? raw.timeout ?? p.timeout,
    read_timeout: raw.read_timeout ?? raw.timeout ?? p.timeout,
    first_token_timeout: raw.first_token_timeout ?? 0,
    keepalive: raw.keepalive ?? p.keepalive,
    keepalive_timeout: raw.keepalive_timeout ?? p.keepalive_timeout,
    keepalive_pool: raw.keepalive_pool ?? p.keepalive_pool,
    ssl_verify: raw.ssl_verify ?? p.ssl_verify,
    max_req_body_size: raw.max_req_body_size ?? p.max_req_body_size,
    replay_body_size: raw.replay_body_size ?? raw.max_req_body_size ?? p.max_req_body_size,
    max_stream_duration_ms: raw.max_stream_duration_ms ?? p.max_stream_duration_ms,
    max_response_bytes: raw.max_response_bytes ?? p.max_response_bytes,
    expose_instance_headers: raw.expose_instance_headers ?? p.expose_instance_headers,
    logging: { ...d.logging, ...raw.logging },
    forward_client_credentials: raw.forward_client_credentials ?? p.forward_client_credentials,
    models_list: raw.models_list ?? p.models_list,
  };
}

// APISIX documents the string "instance_health_and_rate_limiting" as health-aware picking AND 429/5xx
// fallback, and an absent strategy as ["http_429", "http_5xx"] (README.md#differences-from-apisix).
export function fallbackPolicy(strategy: RawPlugin['fallback_strategy'], statuses: readonly number[] = []): FallbackPolicy {
  let names: readonly FallbackName[];
  if (strategy === undefined) names = d.fallback_strategy;
  else if (strategy === 'instance_health_and_rate_limiting') names = ['rate_limiting', 'http_429', 'http_5xx'];
  else if (typeof strategy === 'string') names = [strategy];
  else names = strategy;
  return {
    on429: names.includes('http_429'),
    on5xx: names.includes('http_5xx'),
    statuses: [...statuses],
    rateLimitAware: names.includes('rate_limiting'),
  };
}

/** One instance with its defaults; `pluginBreaker` is what the instance's own `breaker` overrides. */
export function normaliseInstance(raw: RawInstance, defaultName: string, pluginBreaker: BreakerConfig): InstanceConfig {
  const endpoint = raw.override?.endpoint;
  const url = endpoint === undefined ? undefined : new URL(endpoint);
  return {
    name: raw.name ?? defaultName,
    provider: raw.provider,
    weight: raw.weight ?? d.instance.weight,
    priority: raw.priority ?? d.instance.priority,
    auth: normaliseAuth(raw.auth),
    options: structuredClone(raw.options ?? {}),
    models: [...(raw.models ?? [])],
    override: {
      ...(url ? { endpoint: { url, pathGiven: url.pathname !== '' && url.pathname !== '/' } } : {}),
      llm_options: structuredClone(raw.override?.llm_options ?? {}),
      request_body: structuredClone(raw.override?.request_body ?? {}),
      request_body_force_override: raw.override?.request_body_force_override ?? d.override.request_body_force_override,
    },
    provider_conf: { ...raw.provider_conf },
    ...(raw.checks ? { checks: { active: normaliseActiveCheck(raw.checks.active) } } : {}),
    breaker: { ...pluginBreaker, ...raw.breaker },
    ...(raw.max_concurrency !== undefined && { max_concurrency: raw.max_concurrency }),
    ...(raw.price !== undefined && { price: { ...raw.price } }),
    examples: [...(raw.examples ?? [])],
    ...(raw.threshold !== undefined && { threshold: raw.threshold }),
  };
}

function normaliseAuth(raw: RawInstance['auth']): InstanceAuth {
  return {
    header: { ...raw?.header },
    query: { ...raw?.query },
    ...(raw?.gcp ? { gcp: { ...raw.gcp, expire_early_secs: raw.gcp.expire_early_secs ?? d.gcp.expire_early_secs } } : {}),
    ...(raw?.aws ? { aws: { ...raw.aws } } : {}),
  };
}

function normaliseActiveCheck(raw: RawActiveCheck): ActiveCheckConfig {
  const a = d.active;
  return {
    ...raw,
    type: raw.type ?? a.type,
    timeout: raw.timeout ?? a.timeout,
    concurrency: raw.concurrency ?? a.concurrency,
    http_path: raw.http_path ?? a.http_path,
    http_method: raw.http_method ?? a.http_method,
    https_verify_certificate: raw.https_verify_certificate ?? a.https_verify_certificate,
    req_headers: [...(raw.req_headers ?? [])],
    healthy: {
      interval: raw.healthy?.interval ?? a.healthy.interval,
      http_statuses: [...(raw.healthy?.http_statuses ?? a.healthy.http_statuses)],
      successes: raw.healthy?.successes ?? a.healthy.successes,
    },
    unhealthy: {
      interval: raw.unhealthy?.interval ?? a.unhealthy.interval,
      http_statuses: [...(raw.unhealthy?.http_statuses ?? a.unhealthy.http_statuses)],
      http_failures: raw.unhealthy?.http_failures ?? a.unhealthy.http_failures,
      tcp_failures: raw.unhealthy?.tcp_failures ?? a.unhealthy.tcp_failures,
      timeouts: raw.unhealthy?.timeouts ?? raw.unhealthy?.timeout ?? a.unhealthy.timeouts,
    },
  };
}

/** Freezes every plain object and array reachable from `value`; URL objects are left as they are. */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || value instanceof URL || Object.isFrozen(value)) return value;
  for (const child of Object.values(value)) deepFreeze(child);
  return Object.freeze(value);
}
