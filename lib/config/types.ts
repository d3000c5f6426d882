// The configuration after env substitution, validation and normalisation: every default filled in,
// every derived value computed once, then deep-frozen. The hot path reads only these shapes.

export type BalancerAlgorithm = 'roundrobin' | 'chash' | 'semantic';
export type HashOn = 'vars' | 'header' | 'cookie' | 'consumer' | 'vars_combinations';

export interface BreakerConfig {
  /** Failures inside `window_ms` that open the breaker (fleet-wide with Redis). */
  failure_threshold: number;
  window_ms: number;
  reset_timeout_ms: number;
  /** Percentage of failed calls inside the window that opens the breaker once `volume_threshold` calls were made. */
  error_threshold_percentage: number;
  volume_threshold: number;
}

export interface ActiveCheckConfig {
  type: 'http' | 'https' | 'tcp';
  timeout: number; // seconds, as APISIX
  concurrency: number;
  http_path: string;
  http_method: string;
  http_req_body?: string;
  host?: string;
  port?: number;
  https_verify_certificate: boolean;
  req_headers: string[];
  healthy: { interval: number; http_statuses: number[]; successes: number };
  unhealthy: {
    interval: number;
    http_statuses: number[];
    http_failures: number;
    tcp_failures: number;
    timeouts: number;
  };
}

export interface InstanceAuth {
  header: Readonly<Record<string, string>>;
  query: Readonly<Record<string, string>>;
  gcp?: { service_account_json?: string; max_ttl?: number; expire_early_secs: number; token_url?: string };
  aws?: { access_key_id: string; secret_access_key: string; session_token?: string };
}

export interface InstanceOverride {
  /** Parsed `override.endpoint`. `pathGiven` false → the provider's path is appended. */
  endpoint?: { url: URL; pathGiven: boolean };
  llm_options: Readonly<Record<string, unknown>>;
  /** Deep-merged into the body; keyed by target protocol name, or applied to all when not keyed. */
  request_body: Readonly<Record<string, unknown>>;
  request_body_force_override: boolean;
}

/**
 * `price`: what this instance's answers cost, in USD per million tokens, instead of the price table's
 * figures (a private deployment, a negotiated rate). Cache and reasoning prices fall back to the
 * input and output prices.
 */
export interface PriceConfig {
  input_mtok: number;
  output_mtok: number;
  cache_read_mtok?: number;
  cache_write_mtok?: number;
  output_reasoning_mtok?: number;
}

export interface InstanceConfig {
  name: string;
  provider: string;
  weight: number;
  priority: number;
  auth: InstanceAuth;
  /** Merged over the client body (`model` included). */
  options: Readonly<Record<string, unknown>>;
  /** Model ids listed by `GET …/models` besides `options.model`: for an instance that keeps the client's model. */
  models: readonly string[];
  override: InstanceOverride;
  provider_conf: {
    project_id?: string;
    region?: string;
    api_version?: string;
    anthropic_version?: string;
    openai_compat?: boolean;
    /** gemini, vertex-ai: which of the vendor's APIs to call. Absent = `openai`. */
    api?: 'openai' | 'native';
  };
  checks?: { active: ActiveCheckConfig };
  breaker: BreakerConfig;
  /** Requests in flight to this instance at once; further ones queue, their wait inside `timeout`. Absent = unlimited. */
  max_concurrency?: number;
  /** Overrides the price table for this instance's answers. */
  price?: PriceConfig;
  /** Semantic balancing: prompts this instance is for (none → chosen only by weight or as `fallback`). */
  examples: readonly string[];
  /** Least similarity for this instance; absent → `semantic_opts.threshold`. */
  threshold?: number;
}

/** `semantic_opts` of a route whose balancer.algorithm is "semantic". */
export interface SemanticConfig {
  embeddings: {
    provider: 'openai' | 'azure-openai';
    model: string;
    /** Full URL of the embeddings call. */
    url: URL;
    auth: { header: Readonly<Record<string, string>>; query: Readonly<Record<string, string>> };
    timeout: number;
    ssl_verify: boolean;
  };
  threshold: number;
  fallback?: string;
  debugging: boolean;
}

export interface FallbackPolicy {
  on429: boolean;
  on5xx: boolean;
  /** `fallback_http_statuses`: further statuses that fall back. */
  statuses: readonly number[];
  /**
   * `rate_limiting` (or the string `instance_health_and_rate_limiting`): an instance over its own
   * `ai-rate-limiting` instance limit is skipped while picking. Unhealthy instances are skipped whatever
   * the strategy (README.md#consumers-and-limits).
   */
  rateLimitAware: boolean;
}

/** How `GET …/models[/{id}]` is answered: from the instances' models, or by the provider. */
export type ModelsListMode = 'config' | 'passthrough';

export interface PluginConfig {
  kind: 'ai-proxy-multi' | 'ai-proxy';
  instances: readonly InstanceConfig[];
  balancer: { algorithm: BalancerAlgorithm; hash_on: HashOn; key: string };
  /** Present when balancer.algorithm is "semantic". */
  semantic?: SemanticConfig;
  fallback: FallbackPolicy;
  /** Extra attempts after the first; default: one per remaining instance. */
  max_retries: number;
  /** A further attempt starts only while the request is younger than this (ms); 0 = no limit. */
  retry_on_failure_within_ms: number;
  /** Each socket operation (APISIX's meaning), in ms; the phase timeouts below default to it. */
  timeout: number;
  connect_timeout: number;
  send_timeout: number;
  read_timeout: number;
  /** Streams: request sent → first content, in ms; 0 = no separate limit. */
  first_token_timeout: number;
  keepalive: boolean;
  keepalive_timeout: number;
  /** Idle upstream connections kept per origin (APISIX's meaning); concurrency is not capped by it. */
  keepalive_pool: number;
  ssl_verify: boolean;
  max_req_body_size: number;
  /** Pass-through bodies up to this size are held for replay on another instance; larger ones stream once. */
  replay_body_size: number;
  max_stream_duration_ms: number; // 0 = unbounded
  /** Largest upstream answer, streams included. */
  max_response_bytes: number;
  logging: { summaries: boolean; payloads: boolean; max_payload_bytes: number };
  forward_client_credentials: boolean;
  /** `x-ai-proxy-instance` and `x-ai-proxy-attempts` on answers. */
  expose_instance_headers: boolean;
  models_list: ModelsListMode;
}

/** A scalar of a route `vars` rule, as written in the file. */
export type VarsScalar = string | number | boolean | null;

/**
 * A route's `vars` (lua-resty-expr), checked and compiled at load: `~=` is a negated `==`, numeric
 * bounds are numbers, regexes are compiled. `negate` is the rule's `!` (or `!AND` / `!OR`).
 */
export type VarsExpr =
  | { kind: 'logic'; op: 'AND' | 'OR'; negate: boolean; operands: readonly VarsExpr[] }
  | { kind: 'compare'; variable: string; negate: boolean; op: '=='; value: VarsScalar }
  | { kind: 'compare'; variable: string; negate: boolean; op: '>' | '<' | '>=' | '<='; value: number }
  | { kind: 'compare'; variable: string; negate: boolean; op: '~~'; value: RegExp }
  | { kind: 'compare'; variable: string; negate: boolean; op: 'in'; value: readonly VarsScalar[] }
  | { kind: 'compare'; variable: string; negate: boolean; op: 'has'; value: VarsScalar };

/** Whether a route needs a consumer key: `none` ignores keys, `optional` refuses only unknown ones. */
export type RouteAuth = 'required' | 'optional' | 'none';

/** A count over a sliding window of `time_window` seconds (APISIX's unit). */
export interface LimitWindow {
  limit: number;
  time_window: number;
}

export type LimitStrategy = 'total_tokens' | 'prompt_tokens' | 'completion_tokens';

/** The route-level `ai-rate-limiting` plugin (APISIX fields). */
export interface RateLimitingConfig {
  /** The route's own token limit, all its traffic together; absent = none. */
  route?: LimitWindow;
  limit_strategy: LimitStrategy;
  /** Per-instance token limits; consulted while picking only with `rate_limiting` in `fallback_strategy`. */
  instances: readonly (LimitWindow & { name: string })[];
  /** Token limits per value of `key` (`$remote_addr`, `$consumer_name`, `$http_x_team`…). */
  rules: readonly (LimitWindow & { key: string })[];
  show_limit_quota_header: boolean;
  rejected_code: number;
  rejected_msg?: string;
}

/** A client of the gateway: who presents which key, and what it may use. */
export interface ConsumerConfig {
  name: string;
  /** Lower-case hex SHA-256 of each key (plain keys are hashed at load; `sha256:` ones are given so). */
  key_digests: readonly string[];
  labels: Readonly<Record<string, string>>;
  limits: { requests?: LimitWindow; tokens?: LimitWindow };
  /** USD per `budget_window` seconds. */
  budget?: { usd: number; window: number };
}

export interface RouteConfig {
  id: string;
  auth: RouteAuth;
  /** The route's `ai-rate-limiting` plugin; null = none. */
  rate_limiting: RateLimitingConfig | null;
  /** Exact paths. */
  exact: readonly string[];
  /** Prefixes (a `uri` ending in `*`, star removed). */
  prefixes: readonly string[];
  /** Upper-case methods; empty = any. */
  methods: readonly string[];
  /** Lower-case hosts; empty = any. */
  hosts: readonly string[];
  /** What else the request must satisfy; null = nothing. */
  vars: VarsExpr | null;
  /** Among routes that match a request, the highest priority serves it. */
  priority: number;
  plugin: PluginConfig;
}

/** Where the shared state lives: one of a standalone URL, Sentinel, or Cluster. */
export type RedisConfig = RedisConfigCommon &
  ({ url: string } | { sentinels: readonly { host: string; port: number }[]; name: string } | { cluster: readonly string[] });

interface RedisConfigCommon {
  key_prefix: string;
  /** ioredis connection options (password, tls, db, ...). */
  options?: Readonly<Record<string, unknown>>;
  /** Absent = configDefaults.redis (applied by createStateStore). */
  reconcile_interval_ms?: number;
  command_timeout_ms?: number;
}

export interface GatewayConfig {
  server: {
    host: string;
    port: number;
    shutdown_timeout_ms: number;
    /** Connection deadlines (ms), for the data-plane and admin listeners, HTTP/1.1 and HTTP/2. */
    first_byte_timeout_ms: number;
    headers_timeout_ms: number;
    body_timeout_ms: number;
    idle_timeout_ms: number;
    max_connections: number;
    /** Bounds checked once when a JSON request body is parsed. */
    max_json_depth: number;
    max_json_array_length: number;
    /** Worker processes sharing the listeners; 'auto' = one per available core. */
    workers: number | 'auto';
    /** ms with nothing in flight before a memory-reducing GC (CLI processes only); 0 = never (default). */
    reduce_memory_when_idle_ms: number;
  };
  admin: { host: string; port: number; api_key?: string } | null;
  redis: RedisConfig | null;
  log: { level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent' };
  consumers: readonly ConsumerConfig[];
  routes: readonly RouteConfig[];
}
