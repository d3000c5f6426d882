// The JSON Schema of the config FILE (before normalisation), published as config/schema.json so
// editors complete and check it. Field names follow APISIX ai-proxy / ai-proxy-multi
// (apisix/plugins/ai-proxy/schema.lua) so a plugin block pasted from APISIX validates unchanged.
// `errorMessage` is a non-standard keyword that VS Code shows and validate.ts uses for the same check.

type JsonSchema = { [keyword: string]: unknown };

/** Every default of the file format, in one place: the schema documents them, normalise applies them. */
export const configDefaults = {
  server: {
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
    workers: 1 as number | 'auto',
    reduce_memory_when_idle_ms: 0,
  },
  admin: { host: '127.0.0.1', port: 9180 },
  redis: { key_prefix: 'aipm:', reconcile_interval_ms: 2000, command_timeout_ms: 500 },
  log: { level: 'info' },
  route: { priority: 0 },
  rate_limiting: { limit_strategy: 'total_tokens', show_limit_quota_header: true, rejected_code: 429 },
  instance: { weight: 1, priority: 0 },
  gcp: { expire_early_secs: 60 },
  override: { request_body_force_override: false },
  active: {
    type: 'http',
    timeout: 1,
    concurrency: 10,
    http_path: '/',
    http_method: 'GET',
    https_verify_certificate: true,
    healthy: { interval: 1, http_statuses: [200, 302], successes: 2 },
    unhealthy: {
      interval: 1,
      http_statuses: [429, 404, 500, 501, 502, 503, 504, 505],
      http_failures: 5,
      tcp_failures: 2,
      timeouts: 3,
    },
  },
  balancer: { algorithm: 'roundrobin', hash_on: 'vars' },
  semantic: { timeout: 3000, threshold: 0 },
  fallback_strategy: ['http_429', 'http_5xx'],
  plugin: {
    retry_on_failure_within_ms: 0,
    timeout: 30_000,
    keepalive: true,
    keepalive_timeout: 60_000,
    keepalive_pool: 30,
    ssl_verify: true,
    max_req_body_size: 64 * 1024 * 1024,
    max_stream_duration_ms: 0,
    streaming_flush_interval_ms: 10,
    max_response_bytes: 64 * 1024 * 1024,
    forward_client_credentials: false,
    expose_instance_headers: true,
    models_list: 'config',
  },
  logging: { summaries: false, payloads: false, max_payload_bytes: 4096 },
  breaker: {
    failure_threshold: 5,
    window_ms: 10_000,
    reset_timeout_ms: 30_000,
    error_threshold_percentage: 50,
    volume_threshold: 10,
  },
} as const;

const d = configDefaults;
const httpMethods = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'CONNECT', 'TRACE', 'PURGE'];

const str = (description: string, extra: JsonSchema = {}): JsonSchema => ({ type: 'string', description, ...extra });
const int = (description: string, extra: JsonSchema = {}): JsonSchema => ({ type: 'integer', description, ...extra });
const num = (description: string, extra: JsonSchema = {}): JsonSchema => ({ type: 'number', description, ...extra });
const bool = (description: string, dflt?: boolean): JsonSchema =>
  dflt === undefined ? { type: 'boolean', description } : { type: 'boolean', description, default: dflt };
const obj = (description: string, properties: JsonSchema, extra: JsonSchema = {}): JsonSchema => ({
  type: 'object',
  description,
  properties,
  additionalProperties: false,
  ...extra,
});
const openObj = (description: string, properties: JsonSchema = {}): JsonSchema => ({ type: 'object', description, properties });
const stringMap = (description: string): JsonSchema => ({ type: 'object', description, additionalProperties: { type: 'string' } });
const ref = (name: string): JsonSchema => ({ $ref: `#/definitions/${name}` });
const statuses = (description: string, dflt: readonly number[]): JsonSchema => ({
  type: 'array',
  description,
  items: { type: 'integer', minimum: 200, maximum: 599 },
  uniqueItems: true,
  default: dflt,
});
const counter = (description: string, dflt: number): JsonSchema => int(description, { minimum: 1, maximum: 254, default: dflt });

const uri = str('Exact path, or a prefix when it ends with "*" ("/v1/*").', {
  pattern: '^/[^*]*\\*?$',
  errorMessage: 'must start with "/" and may only end with "*"',
});

const breaker = obj(
  'Circuit breaker (fleet-wide with Redis). It opens after `failure_threshold` failures inside `window_ms`, or when `error_threshold_percentage` of at least `volume_threshold` calls failed.',
  {
    failure_threshold: int('Failures inside the window that open the breaker.', { minimum: 1, default: d.breaker.failure_threshold }),
    window_ms: int('Rolling window for counting failures, in ms.', { minimum: 100, default: d.breaker.window_ms }),
    reset_timeout_ms: int('Time an open breaker waits before letting one trial request through, in ms.', { minimum: 100, default: d.breaker.reset_timeout_ms }),
    error_threshold_percentage: num('Failure percentage that opens the breaker.', { minimum: 1, maximum: 100, default: d.breaker.error_threshold_percentage }),
    volume_threshold: int('Calls needed inside the window before the percentage rule applies.', { minimum: 0, default: d.breaker.volume_threshold }),
  },
);

const auth = obj('Credentials sent to the provider; the only credentials that are.', {
  header: stringMap('Headers added to every request, e.g. {"Authorization": "Bearer ${OPENAI_KEY}"}.'),
  query: stringMap('Query parameters added to every request, e.g. {"key": "${GEMINI_KEY}"}.'),
  gcp: obj('Google service-account auth (vertex-ai): an OAuth token is fetched and cached.', {
    service_account_json: str('Service account key JSON (usually "${GCP_SA_JSON}"); absent → GCP_SERVICE_ACCOUNT env.'),
    max_ttl: int('Upper bound for the token lifetime, in seconds.', { minimum: 1 }),
    expire_early_secs: int('Refresh the token this many seconds before it expires.', { minimum: 0, default: d.gcp.expire_early_secs }),
    token_url: str('OAuth token endpoint override.', { pattern: '^https?://' }),
  }),
  aws: obj('AWS credentials for SigV4 signing (bedrock).', {
    access_key_id: str('AWS access key id.', { minLength: 1 }),
    secret_access_key: str('AWS secret access key.', { minLength: 1 }),
    session_token: str('Session token for temporary credentials.'),
  }, { required: ['access_key_id', 'secret_access_key'] }),
});

const override = obj('Instance-level overrides of where and what is sent.', {
  endpoint: str('Full provider URL, or scheme + host to keep the provider\'s default path.', {
    pattern: '^https?://[^/?#\\s]+',
    errorMessage: 'must be an http:// or https:// URL',
  }),
  // APISIX 3.18 allows only max_tokens here; other parameters go in `options` or `request_body`.
  llm_options: obj('Model parameters forced onto every request (APISIX: only max_tokens).', {
    max_tokens: int('Mapped per protocol: max_completion_tokens / max_tokens (chat), max_output_tokens (Responses), max_tokens (Messages), inferenceConfig.maxTokens (Converse); not applied to embeddings.', { minimum: 1 }),
  }),
  request_body: openObj('Deep-merged into the request body; may be keyed by target protocol ("openai-chat": {...}): then every key must be a protocol name.'),
  request_body_force_override: bool('Let `request_body` replace values the client sent.', d.override.request_body_force_override),
});

const a = d.active;
const checks = obj('Health checks (APISIX checks).', {
  active: obj('Active probes; the instance\'s auth headers and query are added to each probe.', {
    type: { enum: ['http', 'https', 'tcp'], default: a.type, description: 'Probe kind.' },
    timeout: num('Probe timeout in seconds.', { exclusiveMinimum: 0, default: a.timeout }),
    concurrency: int('Probes run at once.', { minimum: 1, default: a.concurrency }),
    http_path: str('Probe path.', { pattern: '^/', default: a.http_path }),
    http_method: { enum: ['GET', 'HEAD', 'POST'], default: a.http_method, description: 'Probe method.' },
    http_req_body: str('Probe body (POST).'),
    host: str('Host header of the probe.'),
    port: int('Probe port, when not the endpoint\'s.', { minimum: 1, maximum: 65535 }),
    https_verify_certificate: bool('Verify TLS certificates of https probes.', a.https_verify_certificate),
    req_headers: { type: 'array', description: 'Extra probe headers, "Name: value".', items: { type: 'string', pattern: '^[^:\\s]+:' } },
    healthy: obj('When an unhealthy instance counts as healthy again.', {
      interval: int('Seconds between probes of a healthy instance.', { minimum: 1, default: a.healthy.interval }),
      http_statuses: statuses('Statuses that count as a success.', a.healthy.http_statuses),
      successes: counter('Successes in a row that mark the instance healthy.', a.healthy.successes),
    }),
    unhealthy: obj('When a healthy instance counts as unhealthy.', {
      interval: int('Seconds between probes of an unhealthy instance.', { minimum: 1, default: a.unhealthy.interval }),
      http_statuses: statuses('Statuses that count as a failure.', a.unhealthy.http_statuses),
      http_failures: counter('HTTP failures that mark the instance unhealthy.', a.unhealthy.http_failures),
      tcp_failures: counter('TCP failures that mark the instance unhealthy.', a.unhealthy.tcp_failures),
      timeouts: counter('Timeouts that mark the instance unhealthy.', a.unhealthy.timeouts),
      timeout: int('Same as `timeouts` (the spelling of APISIX\'s ai-proxy-multi documentation); `timeouts` wins when both are set.', { minimum: 1, maximum: 254 }),
    }),
  }),
}, { required: ['active'] });

const usdPerMtok = (description: string): JsonSchema => num(`${description} USD per million tokens.`, { minimum: 0 });
const price = obj(
  'What this instance\'s answers cost, instead of the price table (a private deployment, a negotiated rate). Cache and reasoning prices default to the input and output prices.',
  {
    input_mtok: usdPerMtok('Prompt tokens (all of them, cached ones included unless cache_read_mtok says otherwise),'),
    output_mtok: usdPerMtok('Completion tokens, reasoning included unless output_reasoning_mtok says otherwise,'),
    cache_read_mtok: usdPerMtok('Prompt tokens read from the provider\'s cache,'),
    cache_write_mtok: usdPerMtok('Prompt tokens written to the provider\'s cache,'),
    output_reasoning_mtok: usdPerMtok('Reasoning tokens,'),
  },
  { required: ['input_mtok', 'output_mtok'] },
);

/** What one upstream target is: shared by an `ai-proxy-multi` instance and the `ai-proxy` block. */
const targetFields: JsonSchema = {
  provider: ref('provider'),
  auth: ref('auth'),
  options: openObj('Merged over the client body, e.g. {"model": "gpt-4o-mini"}.', { model: str('Model (Azure: deployment).') }),
  models: {
    type: 'array',
    description: 'Model ids GET /v1/models lists for this instance besides options.model, e.g. for an instance that keeps the client\'s model.',
    items: str('A model id.', { minLength: 1, maxLength: 256 }),
    uniqueItems: true,
  },
  override: ref('override'),
  provider_conf: obj('Provider-specific settings.', {
    project_id: str('GCP project (vertex-ai).'),
    region: str('Region (vertex-ai location, bedrock AWS region).'),
    api_version: str('API version (azure-openai api-version).'),
    anthropic_version: str('anthropic-version header sent when the client sends none (anthropic; default 2023-06-01).'),
    openai_compat: bool('anthropic: serve OpenAI chat requests on Anthropic\'s OpenAI-compatible endpoint instead of converting them to Messages.'),
    api: {
      enum: ['openai', 'native'],
      description: 'gemini, vertex-ai: "native" calls Google\'s own generateContent API (clients of every protocol converted to it); "openai" (default) the OpenAI-compatible endpoint.',
    },
  }),
  checks: ref('checks'),
  price: ref('price'),
};

const instance = obj('One provider + credentials + model + options.', {
  name: str('Unique name inside the route; shown in logs, metrics and status.', { minLength: 1, maxLength: 100 }),
  ...targetFields,
  weight: int('Share of traffic inside its priority group; 0 = only when nothing else is left.', { minimum: 0, default: d.instance.weight }),
  priority: int('Higher priority groups are used first; lower ones only after all of them failed.', { default: d.instance.priority }),
  max_concurrency: int('Most requests in flight to this instance at once; further ones wait (inside `timeout`). Absent = unlimited.', { minimum: 1 }),
  breaker: ref('breaker'),
  examples: {
    type: 'array',
    description: 'balancer.algorithm "semantic": prompts this instance is for; a request goes to the instance with the most similar example.',
    items: str('An example prompt.', { minLength: 1 }),
    minItems: 1,
    maxItems: 64,
  },
  threshold: num('balancer.algorithm "semantic": least cosine similarity for this instance to be chosen; absent = semantic_opts.threshold.', { minimum: -1, maximum: 1 }),
}, { required: ['name', 'provider'] });

const semanticOpts = obj('Semantic balancing (balancer.algorithm "semantic"): the embeddings provider and how its scores pick.', {
  embeddings: obj('The embeddings endpoint that embeds the examples and each request\'s last user text.', {
    provider: { enum: ['openai', 'azure-openai'], description: 'Embeddings provider (OpenAI /embeddings wire format).' },
    model: str('Embeddings model, e.g. "text-embedding-3-small".', { minLength: 1 }),
    endpoint: str('Full URL of the embeddings call; default for openai: https://api.openai.com/v1/embeddings; required for azure-openai.', { pattern: '^https?://' }),
    auth: obj('Credentials of the embeddings call.', {
      header: stringMap('Headers added to the call, e.g. {"Authorization": "Bearer ${OPENAI_KEY}"}.'),
      query: stringMap('Query parameters added to the call.'),
    }),
    timeout: int('Whole embeddings call, in ms; past it the request is balanced by weight.', { minimum: 1, default: d.semantic.timeout }),
    ssl_verify: bool('Verify the embeddings endpoint\'s TLS certificate.', true),
  }, { required: ['provider', 'model'] }),
  threshold: num('Least cosine similarity for an instance without its own threshold.', { minimum: -1, maximum: 1, default: d.semantic.threshold }),
  fallback: str('Instance that serves a request no instance is similar enough to (or when embedding fails); absent = the weighted pick.', { minLength: 1 }),
  debugging: bool('Add x-ai-proxy-semantic (chosen instance and score, or why none) to answers and log each decision.', false),
}, { required: ['embeddings'] });

const p = d.plugin;
/** Plugin-wide fields of both plugins. */
const pluginFields: JsonSchema = {
  fallback_strategy: {
    description: 'When to try another instance. Absent = ["http_429", "http_5xx"]. "rate_limiting" ("instance_health_and_rate_limiting" = rate_limiting + http_429 + http_5xx) skips instances over their ai-rate-limiting instance limit while picking; unhealthy instances are skipped under every strategy.',
    oneOf: [
      { type: 'string', enum: ['instance_health_and_rate_limiting', 'http_429', 'http_5xx'] },
      { type: 'array', items: { type: 'string', enum: ['rate_limiting', 'http_429', 'http_5xx'] }, uniqueItems: true },
    ],
    errorMessage: 'must be "instance_health_and_rate_limiting", "http_429", "http_5xx" or an array of "rate_limiting", "http_429", "http_5xx"',
  },
  fallback_http_statuses: { type: 'array', description: 'Further upstream statuses that fall back.', items: { type: 'integer', minimum: 400, maximum: 599 }, uniqueItems: true },
  max_retries: int('Extra attempts after the first; default: one per other instance.', { minimum: 0 }),
  retry_on_failure_within_ms: int('Start a further attempt only while the request is younger than this; 0 = no limit.', { minimum: 0, default: p.retry_on_failure_within_ms }),
  timeout: int('Upstream timeout of each socket operation (APISIX\'s meaning), in ms: connecting, each write, the wait for the answer and each gap between its bytes. The phase timeouts below override it for their phase.', { minimum: 1, maximum: 600_000, default: p.timeout }),
  connect_timeout: int('Longest wait for the upstream connection (TCP and TLS), in ms; absent = `timeout`.', { minimum: 1, maximum: 600_000 }),
  send_timeout: int('Longest gap while writing the request body to the upstream (it stopped reading), in ms; absent = `timeout`.', { minimum: 1, maximum: 600_000 }),
  read_timeout: int('Longest wait for the answer\'s headers after the request was sent, and longest gap between its bytes, in ms; absent = `timeout`.', { minimum: 1, maximum: 600_000 }),
  first_token_timeout: int('Streams: longest time from the request being sent to the first content of the answer, in ms; past it the attempt fails before anything reached the client, so it falls back. Absent = no separate limit (`read_timeout` still applies).', { minimum: 1, maximum: 600_000 }),
  keepalive: bool('Reuse upstream connections.', p.keepalive),
  keepalive_timeout: int('Idle time before an upstream connection is closed, in ms.', { minimum: 1000, default: p.keepalive_timeout }),
  keepalive_pool: int('Idle connections kept open per upstream origin (not a cap on concurrent requests).', { minimum: 1, default: p.keepalive_pool }),
  ssl_verify: bool('Verify upstream TLS certificates.', p.ssl_verify),
  max_req_body_size: int('Largest accepted client body, in bytes (413 above).', { minimum: 1, default: p.max_req_body_size }),
  replay_body_size: int('Pass-through: bodies up to this many bytes are held so a failed attempt can be replayed on another instance; larger ones stream through once, without fallback. Default: max_req_body_size.', { minimum: 0 }),
  max_stream_duration_ms: int('Longest a stream may run, in ms; absent = unlimited (APISIX: at least 1).', { minimum: 1 }),
  streaming_flush_interval_ms: int('APISIX field, accepted for compatibility: this gateway flushes every write at once, so it has no effect.', { minimum: 0, default: p.streaming_flush_interval_ms }),
  max_response_bytes: int('Largest upstream answer in bytes, streams included (502, or an error event once a stream has started).', { minimum: 1, default: p.max_response_bytes }),
  logging: obj('What the access log records.', {
    summaries: bool('Log model, token usage and timings.', d.logging.summaries),
    payloads: bool('Put the request body and the answer\'s text in the access line (credentials scrubbed).', d.logging.payloads),
    max_payload_bytes: int('With payloads: each of request_body and response_text is cut to this many bytes.', { minimum: 1, default: d.logging.max_payload_bytes }),
  }),
  forward_client_credentials: bool('Forward the client\'s Authorization / x-api-key headers instead of dropping them.', p.forward_client_credentials),
  expose_instance_headers: bool('Tell the client which instance answered and after how many attempts (x-ai-proxy-instance, x-ai-proxy-attempts).', p.expose_instance_headers),
  models_list: {
    enum: ['config', 'passthrough'],
    default: p.models_list,
    description: 'GET …/models and …/models/{id}: "config" answers from the instances\' models; "passthrough" sends the call to the provider.',
  },
  breaker: ref('breaker'),
};

const aiProxyMulti = obj('Balance and fall back over several instances.', {
  instances: { type: 'array', description: 'The instances of this route.', items: ref('instance'), minItems: 1 },
  balancer: obj('How an instance is picked inside a priority group.', {
    algorithm: { enum: ['roundrobin', 'chash', 'semantic'], default: d.balancer.algorithm, description: 'Smooth weighted round robin, consistent hashing, or semantic (the instance whose examples are most like the prompt; needs semantic_opts).' },
    hash_on: { enum: ['vars', 'header', 'cookie', 'consumer', 'vars_combinations'], default: d.balancer.hash_on, description: 'What chash hashes.' },
    key: str('The variable, header or cookie name (chash); falls back to the client address.'),
  }),
  semantic_opts: ref('semanticOpts'),
  ...pluginFields,
}, { required: ['instances'] });

const aiProxy = obj('Send every request to one provider.', { ...targetFields, ...pluginFields }, { required: ['provider'] });

const limitWindow = (description: string): JsonSchema => obj(description, {
  limit: int('Most allowed inside the window.', { minimum: 1 }),
  time_window: int('The window, in seconds (sliding).', { minimum: 1 }),
}, { required: ['limit', 'time_window'] });

const rl = d.rate_limiting;
const aiRateLimiting = obj(
  'APISIX ai-rate-limiting: token limits of this route, counted fleet-wide; next to "ai-proxy-multi" or "ai-proxy".',
  {
    limit: int('Tokens (by limit_strategy) the whole route may use per time_window.', { minimum: 1 }),
    time_window: int('Window of `limit`, in seconds.', { minimum: 1 }),
    limit_strategy: { enum: ['total_tokens', 'prompt_tokens', 'completion_tokens'], default: rl.limit_strategy, description: 'Which tokens count.' },
    instances: {
      type: 'array',
      description: 'Token limits per instance; consulted while picking only with "rate_limiting" in fallback_strategy.',
      items: obj('One instance\'s limit.', {
        name: str('Instance name in this route.', { minLength: 1 }),
        limit: int('Tokens per time_window.', { minimum: 1 }),
        time_window: int('Window, in seconds.', { minimum: 1 }),
      }, { required: ['name', 'limit', 'time_window'] }),
    },
    rules: {
      type: 'array',
      description: 'Token limits per value of `key`, e.g. {"count": 1000, "time_window": 60, "key": "$consumer_name"}.',
      items: obj('One rule.', {
        count: int('Tokens per time_window for each key value.', { minimum: 1 }),
        time_window: int('Window, in seconds.', { minimum: 1 }),
        key: str('Request variables, e.g. "$remote_addr" or "$consumer_name $http_x_team"; a request whose key is empty skips the rule.', { minLength: 1 }),
      }, { required: ['count', 'time_window', 'key'] }),
    },
    show_limit_quota_header: bool('Send x-ratelimit-limit-*, -remaining-* and -reset-* headers.', rl.show_limit_quota_header),
    rejected_code: int('Status of a refused request (APISIX: 503; here 429, which SDKs back off and retry on).', { minimum: 200, maximum: 599, default: rl.rejected_code }),
    rejected_msg: str('Message of a refused request (in the client protocol\'s error shape).', { minLength: 1 }),
  },
  { dependencies: { limit: ['time_window'], time_window: ['limit'] } },
);

const consumer = obj('A client of the gateway and its keys.', {
  name: str('Unique consumer name: in the access log, metrics, chash hash_on "consumer" and the $consumer_name variable.', {
    minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_.@-]+$', errorMessage: 'must be 1-100 letters, digits, _ . @ -',
  }),
  keys: {
    type: 'array',
    description: 'Keys the consumer presents (Authorization: Bearer, x-api-key or api-key): plain, "${VAR}", or "sha256:<64 hex>" of the key.',
    items: str('A key, or "sha256:" and its hex SHA-256.', { minLength: 16, errorMessage: 'must be at least 16 characters' }),
    minItems: 1,
    uniqueItems: true,
  },
  labels: stringMap('Free-form labels, e.g. {"team": "search"}.'),
  limits: obj('Limits of this consumer over every route, fleet-wide.', {
    requests: limitWindow('Requests per time_window seconds.'),
    tokens: limitWindow('Tokens (total) per time_window seconds.'),
  }),
  budget_usd: num('USD this consumer may spend per budget_window (computed from usage and the price table).', { exclusiveMinimum: 0 }),
  budget_window: int('Budget window in seconds.', { minimum: 1 }),
}, { required: ['name', 'keys'], dependencies: { budget_usd: ['budget_window'], budget_window: ['budget_usd'] } });

const route = obj('A path (and optional methods/hosts) served by one plugin.', {
  id: { type: ['string', 'integer'], minLength: 1, description: 'Unique route id.' },
  uri: uri,
  uris: { type: 'array', items: uri, minItems: 1, uniqueItems: true, description: 'Several `uri`s.' },
  methods: {
    type: 'array',
    description: 'Accepted methods; absent = any.',
    items: { enum: [...httpMethods, ...httpMethods.map((m) => m.toLowerCase())], errorMessage: `must be one of: ${httpMethods.join(', ')}` },
    uniqueItems: true,
  },
  hosts: { type: 'array', description: 'Accepted Host names ("*.example.com" allowed); absent = any.', items: { type: 'string', pattern: '^(\\*\\.)?[A-Za-z0-9_.-]+$' } },
  vars: {
    type: 'array',
    description:
      'Further conditions, APISIX / lua-resty-expr syntax; all must hold: [["post_arg.model", "~~", "^gpt-"], ["http_x_team", "!", "==", "b"]]. ' +
      '["OR", [...], [...]] (also "AND", "!AND", "!OR") nests. Variables: post_arg.<field.path> (JSON body), http_<header>, arg_<name>, ' +
      'cookie_<name>, uri, host, remote_addr, request_method. Operators: == ~= > < >= <= ~~ (regex) ~* (regex, any case) in has; "!" before one negates it.',
    items: { type: ['array', 'string'] },
  },
  priority: int('When several routes match, the highest priority serves; then the most specific uri, then config order.', { default: d.route.priority }),
  auth: {
    enum: ['required', 'optional', 'none'],
    description: 'Consumer keys: "required" refuses requests without a known key (401); "optional" refuses unknown keys only; "none" ignores keys. Default: "optional" when `consumers` are configured, else "none".',
  },
  plugins: obj('Exactly one of "ai-proxy-multi" or "ai-proxy", and optionally "ai-rate-limiting".', {
    'ai-proxy-multi': ref('aiProxyMulti'),
    'ai-proxy': ref('aiProxy'),
    'ai-rate-limiting': ref('aiRateLimiting'),
  }, {
    oneOf: [{ required: ['ai-proxy-multi'] }, { required: ['ai-proxy'] }],
    errorMessage: 'must hold exactly one of "ai-proxy-multi" or "ai-proxy" (and optionally "ai-rate-limiting")',
  }),
}, {
  required: ['id', 'plugins'],
  anyOf: [{ required: ['uri'] }, { required: ['uris'] }],
  errorMessage: 'must have "uri" or "uris"',
});

/** The schema without the provider names, which the caller supplies: see `buildConfigSchema`. */
const baseSchema: JsonSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'urn:ai-proxy-multi:config',
  title: 'ai-proxy-multi gateway configuration',
  description: 'Strings may reference the environment: ${VAR}, ${VAR:-default}; $${ is a literal ${.',
  type: 'object',
  properties: {
    $schema: str('Path or URL of this schema, for editors.'),
    server: obj('The data-plane listener.', {
      host: str('Listen address.', { default: d.server.host }),
      port: int('Listen port (0 = any free port).', { minimum: 0, maximum: 65535, default: d.server.port }),
      shutdown_timeout_ms: int('On SIGTERM, how long in-flight requests may finish, in ms.', { minimum: 0, default: d.server.shutdown_timeout_ms }),
      first_byte_timeout_ms: int('A new connection must send its first byte within this, in ms (data plane and admin).', { minimum: 1, default: d.server.first_byte_timeout_ms }),
      headers_timeout_ms: int('A request\'s headers must be complete within this after its first byte, in ms.', { minimum: 1, default: d.server.headers_timeout_ms }),
      body_timeout_ms: int('Longest gap between two bytes of a request body, in ms.', { minimum: 1, default: d.server.body_timeout_ms }),
      idle_timeout_ms: int('An idle keep-alive connection (HTTP/1.1) or HTTP/2 session with no open stream is closed after this, in ms.', { minimum: 1, default: d.server.idle_timeout_ms }),
      max_connections: int('Most client connections open at once; further ones are closed at accept.', { minimum: 1, default: d.server.max_connections }),
      max_json_depth: int('Deepest nesting of objects and arrays accepted in a JSON request body (400 above).', { minimum: 2, maximum: 10_000, default: d.server.max_json_depth }),
      max_json_array_length: int('Most elements accepted in one array of a JSON request body (400 above).', { minimum: 1, default: d.server.max_json_array_length }),
      workers: {
        description: 'Processes serving this host\'s listeners (node:cluster): a number, or "auto" for one per available core. With several and no `redis`, the primary process holds the state they share.',
        oneOf: [{ type: 'integer', minimum: 1, maximum: 1024 }, { const: 'auto' }],
        default: d.server.workers,
        errorMessage: 'must be a whole number of at least 1, or "auto"',
      },
      reduce_memory_when_idle_ms: int('After this long with no data-plane request in flight, the process (each worker) runs one memory-reducing garbage collection, which gives back the young-generation memory V8 otherwise keeps at its last high-water mark, in ms; 0 = never (the default: after it, a ramp to thousands of slow streams was measured to cost more CPU per chunk).', { minimum: 0, default: d.server.reduce_memory_when_idle_ms }),
    }),
    admin: {
      description: 'Admin listener (/healthz, /readyz, /metrics, /status, /reload). Absent = 127.0.0.1:9180; false = off.',
      oneOf: [
        { const: false },
        obj('Admin listener address and key.', {
          host: str('Listen address.', { default: d.admin.host }),
          port: int('Listen port (0 = any free port).', { minimum: 0, maximum: 65535, default: d.admin.port }),
          api_key: str('Required X-API-KEY; empty or absent = no key (keep the listener on loopback then).'),
        }),
      ],
      errorMessage: 'must be an object, or false to turn the admin listener off',
    },
    redis: obj('Shared state for several replicas; absent = in-memory (one process). Give exactly one of `url`, `sentinels` with `name`, or `cluster`.', {
      url: str('Standalone redis:// or rediss:// URL; empty = in-memory.', { pattern: '^(rediss?://.*)?$', errorMessage: 'must be a redis:// or rediss:// URL' }),
      sentinels: {
        type: 'array',
        description: 'Redis Sentinel addresses; the gateway asks them for the master called `name`.',
        items: obj('A sentinel.', {
          host: str('Sentinel host.', { minLength: 1 }),
          port: int('Sentinel port.', { minimum: 1, maximum: 65535 }),
        }, { required: ['host', 'port'] }),
        minItems: 1,
      },
      name: str('Sentinel master name (with `sentinels`).', { minLength: 1 }),
      cluster: {
        type: 'array',
        description: 'Redis Cluster start-up nodes as redis:// or rediss:// URLs. A hash-tag key_prefix such as "{aipm}:" keeps every key in one slot.',
        items: str('A cluster node URL.', { pattern: '^rediss?://.+', errorMessage: 'must be a redis:// or rediss:// URL' }),
        minItems: 1,
      },
      options: openObj('Passed to ioredis as connection options, e.g. {"password": "${REDIS_PASSWORD}", "db": 1, "tls": {}}.'),
      key_prefix: str('Prefix of every key the gateway writes.', { default: d.redis.key_prefix }),
      reconcile_interval_ms: int('How often each replica re-reads the shared state to repair missed updates, in ms.', { minimum: 100, default: d.redis.reconcile_interval_ms }),
      command_timeout_ms: int('A Redis command slower than this counts as Redis being unavailable, in ms.', { minimum: 10, default: d.redis.command_timeout_ms }),
    }, {
      oneOf: [{ required: ['url'] }, { required: ['sentinels'] }, { required: ['cluster'] }],
      dependencies: { sentinels: ['name'], name: ['sentinels'] },
      errorMessage: 'needs exactly one of url, sentinels with name, or cluster',
    }),
    log: obj('Logging.', {
      level: { enum: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], default: d.log.level, description: 'pino log level.' },
    }),
    consumers: { type: 'array', description: 'Clients and their keys, limits and budgets.', items: ref('consumer') },
    routes: { type: 'array', description: 'Routes, matched in order.', items: ref('route'), minItems: 1 },
  },
  required: ['routes'],
  additionalProperties: false,
  definitions: { route, aiProxyMulti, aiProxy, aiRateLimiting, consumer, instance, semanticOpts, auth, override, checks, breaker, price },
};

/** The whole schema, `provider` enumerating the names the caller's provider registry holds. */
export function buildConfigSchema(providerNames: readonly string[]): JsonSchema {
  const definitions = baseSchema['definitions'] as JsonSchema;
  return { ...baseSchema, definitions: { provider: { enum: [...providerNames], description: 'Provider of this instance.' }, ...definitions } };
}

export function configSchemaJson(providerNames: readonly string[]): string {
  return `${JSON.stringify(buildConfigSchema(providerNames), null, 2)}\n`;
}
