// Every error the gateway raises on purpose. Branch on `code` or `instanceof`, never on message text.

export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'CONFIG_ENV_MISSING'
  | 'CONFIG_READ'
  | 'MALFORMED_REQUEST'
  | 'HEADERS_TOO_LARGE'
  | 'REQUEST_TIMEOUT'
  | 'ROUTE_NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'INVALID_PATH'
  | 'INVALID_QUERY'
  | 'MODEL_NOT_FOUND'
  | 'BODY_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'UNSUPPORTED_CONTENT_ENCODING'
  | 'INVALID_CONTENT_ENCODING'
  | 'INVALID_JSON'
  | 'JSON_LIMIT_EXCEEDED'
  | 'INVALID_REQUEST_BODY'
  | 'PROTOCOL_NOT_DETECTED'
  | 'PROTOCOL_NOT_SUPPORTED'
  | 'NO_INSTANCE_AVAILABLE'
  | 'PROVIDER_QUOTA_EXHAUSTED'
  | 'UPSTREAM_STATUS'
  | 'UPSTREAM_CONNECT'
  | 'UPSTREAM_TIMEOUT'
  | 'UPSTREAM_STREAM'
  | 'UPSTREAM_MALFORMED'
  | 'UPSTREAM_RESPONSE_TOO_LARGE'
  | 'INSTANCE_SATURATED'
  | 'ALL_ATTEMPTS_FAILED'
  | 'CLIENT_ABORTED'
  | 'CONSUMER_KEY_MISSING'
  | 'CONSUMER_KEY_UNKNOWN'
  | 'RATE_LIMITED'
  | 'INTERNAL_ERROR';

/** The kind of error a client protocol should render (maps onto OpenAI `type` / Anthropic `error.type`). */
export type ErrorKind =
  | 'invalid_request'
  | 'not_found'
  | 'rate_limit'
  | 'server'
  | 'overloaded'
  | 'timeout'
  | 'authentication'
  | 'permission'
  | 'too_large';

export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly kind: ErrorKind;
  /** Extra response headers (e.g. Retry-After) the renderer must send. */
  readonly headers: Record<string, string>;

  constructor(
    code: ErrorCode,
    status: number,
    message: string,
    opts: { kind?: ErrorKind; cause?: unknown; headers?: Record<string, string> } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = status;
    this.kind = opts.kind ?? kindForStatus(status);
    this.headers = opts.headers ?? {};
  }
}

export function kindForStatus(status: number): ErrorKind {
  if (status === 401) return 'authentication';
  if (status === 403) return 'permission';
  if (status === 404) return 'not_found';
  if (status === 413) return 'too_large';
  if (status === 429) return 'rate_limit';
  if (status === 504 || status === 408) return 'timeout';
  if (status === 529) return 'overloaded';
  if (status >= 500) return 'server';
  return 'invalid_request';
}

export interface ConfigProblem {
  /** JSON pointer-ish path such as `/routes/0/plugins/ai-proxy-multi/instances/1/weight`. */
  path: string;
  message: string;
}

export class ConfigError extends GatewayError {
  readonly problems: readonly ConfigProblem[];
  constructor(code: 'CONFIG_INVALID' | 'CONFIG_ENV_MISSING' | 'CONFIG_READ', problems: ConfigProblem[], cause?: unknown) {
    const head = code === 'CONFIG_ENV_MISSING' ? 'missing environment variables' : 'invalid configuration';
    const lines = problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message));
    super(code, 500, `${head}:\n  ${lines.join('\n  ')}`, { cause });
    this.problems = problems;
  }
}

/**
 * Something inside the gateway failed (building, serialising or converting a body; a converter bug).
 * It says nothing about the instance: never counted against it, never retried elsewhere.
 */
export class InternalError extends GatewayError {
  constructor(message: string, cause?: unknown) {
    super('INTERNAL_ERROR', 500, message, { cause });
  }
}

/** The instance's `max_concurrency` slots stayed full for the whole `timeout`: try another one. */
export class InstanceSaturatedError extends GatewayError {
  readonly instance: string;
  constructor(instance: string, waitedMs: number) {
    super('INSTANCE_SATURATED', 503, `instance ${instance} had no free slot (max_concurrency) for ${waitedMs} ms`, { kind: 'overloaded' });
    this.instance = instance;
  }
}

export class ProtocolNotSupportedError extends GatewayError {
  constructor(message: string) {
    super('PROTOCOL_NOT_SUPPORTED', 400, message);
  }
}

export class NoInstanceAvailableError extends GatewayError {
  constructor(message: string, retryAfterSeconds?: number) {
    super('NO_INSTANCE_AVAILABLE', 503, message, {
      kind: 'overloaded',
      headers: retryAfterSeconds === undefined ? {} : { 'retry-after': String(retryAfterSeconds) },
    });
  }
}

/**
 * Every instance that could serve the request is held out because its provider said nothing is left
 * (or by its breaker, for the rest): 429, `Retry-After` when the first of them is back.
 */
export class ProviderQuotaExhaustedError extends GatewayError {
  constructor(message: string, retryAfterMs: number) {
    const ms = Math.max(1, Math.ceil(retryAfterMs));
    super('PROVIDER_QUOTA_EXHAUSTED', 429, message, {
      kind: 'rate_limit',
      // The SDKs read retry-after-ms first (docs/protocols.md#retry-after-and-rate-limit-headers).
      headers: { 'retry-after': String(Math.ceil(ms / 1000)), 'retry-after-ms': String(ms) },
    });
  }
}

/** A consumer key was required and is missing, or a presented key is not any consumer's: 401. */
export class ConsumerAuthError extends GatewayError {
  constructor(code: 'CONSUMER_KEY_MISSING' | 'CONSUMER_KEY_UNKNOWN') {
    const message = code === 'CONSUMER_KEY_MISSING'
      ? 'this route needs a consumer key (Authorization: Bearer, x-api-key or api-key)'
      : 'the key presented is not a valid consumer key';
    super(code, 401, message, { kind: 'authentication' });
  }
}

/**
 * Over a consumer's or a route's limit (or budget), or every instance over its own limit. The status
 * is `rejected_code` (default 429); headers carry Retry-After and the x-ratelimit-* figures.
 */
export class RateLimitedError extends GatewayError {
  constructor(status: number, message: string, headers: Record<string, string>) {
    super('RATE_LIMITED', status, message, { kind: status === 429 ? 'rate_limit' : kindForStatus(status), headers });
  }
}

/** The upstream answered with a non-success status. `body` is a bounded excerpt, never the full body. */
export class UpstreamStatusError extends GatewayError {
  readonly instance: string;
  readonly upstreamStatus: number;
  readonly body: Buffer;
  readonly upstreamHeaders: Record<string, string>;
  constructor(instance: string, status: number, body: Buffer, headers: Record<string, string>) {
    super('UPSTREAM_STATUS', status, `instance ${instance} returned ${status}`);
    this.instance = instance;
    this.upstreamStatus = status;
    this.body = body;
    this.upstreamHeaders = headers;
  }
}

// Codes that mean no connection was made; anything else happened on a connection that was open.
const UNREACHED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT']);

/** The upstream could not be reached, or dropped the connection before it answered. */
export class UpstreamConnectError extends GatewayError {
  readonly instance: string;
  constructor(instance: string, cause: unknown, message?: string) {
    const code = causeCode(cause);
    const text =
      message ??
      (UNREACHED.has(code) || code.startsWith('ERR_TLS') || code.includes('CERT')
        ? `instance ${instance} could not be reached (${code})`
        : `instance ${instance} closed the connection before answering (${describeCause(cause)})`);
    super('UPSTREAM_CONNECT', 502, text, { cause });
    this.instance = instance;
  }
}

export class UpstreamTimeoutError extends GatewayError {
  readonly instance: string;
  /** `phase`: which limit fired, named in the message ("… after 500 ms connecting (connect_timeout)"). */
  constructor(instance: string, timeoutMs: number, opts: { cause?: unknown; what?: string; phase?: string } = {}) {
    const phase = opts.phase === undefined ? '' : ` ${opts.phase}`;
    super('UPSTREAM_TIMEOUT', 504, `instance ${instance} ${opts.what ?? 'timed out'} after ${timeoutMs} ms${phase}`, { cause: opts.cause });
    this.instance = instance;
  }
}

/** The token could not be obtained: the instance is unusable for now, so the attempt fails over. */
export class GcpTokenError extends GatewayError {
  /** HTTP status of the token endpoint, when it answered. */
  readonly tokenStatus: number | undefined;
  constructor(message: string, opts: { tokenStatus?: number; cause?: unknown } = {}) {
    super('UPSTREAM_CONNECT', 502, `GCP service account token: ${message}`, { cause: opts.cause });
    this.tokenStatus = opts.tokenStatus;
  }
}

/** An upstream answer exceeded `max_response_bytes`. */
export class UpstreamTooLargeError extends GatewayError {
  readonly instance: string;
  constructor(instance: string, limit: number, declared?: number) {
    const size = declared === undefined ? `more than ${limit}` : `${declared}`;
    super('UPSTREAM_RESPONSE_TOO_LARGE', 502, `instance ${instance} answered ${size} bytes, above max_response_bytes (${limit})`);
    this.instance = instance;
  }
}

/** The upstream answered 2xx with a body that is not what its protocol promises (a converter found out). */
export class UpstreamMalformedError extends GatewayError {
  constructor(message: string) {
    super('UPSTREAM_MALFORMED', 502, message);
  }
}

/** A stream failed mid-way (in-band error event, reset, truncation). */
export class UpstreamStreamError extends GatewayError {
  readonly instance: string;
  constructor(instance: string, message: string, opts: { status?: number; cause?: unknown } = {}) {
    super('UPSTREAM_STREAM', opts.status ?? 502, message, { cause: opts.cause });
    this.instance = instance;
  }
}

/** The client went away; never an instance failure. */
export class ClientAbortedError extends GatewayError {
  constructor() {
    super('CLIENT_ABORTED', 499, 'client closed the request');
  }
}

export interface AttemptSummary {
  instance: string;
  status: number;
  reason: string;
}

export class AllAttemptsFailedError extends GatewayError {
  readonly attempts: readonly AttemptSummary[];
  constructor(status: number, attempts: AttemptSummary[], headers: Record<string, string>) {
    const list = attempts.map((a) => `${a.instance}: ${a.status} ${a.reason}`).join('; ');
    super('ALL_ATTEMPTS_FAILED', status, `all ${attempts.length} attempts failed (${list})`, { headers });
    this.attempts = attempts;
  }
}

const CAUSE_TEXT: Record<string, string> = {
  ECONNRESET: 'socket reset',
  UND_ERR_SOCKET: 'socket closed by the other side',
  EPIPE: 'broken pipe',
  ECONNABORTED: 'connection aborted',
  UND_ERR_ABORTED: 'aborted',
};

/** A transport failure in words ("socket reset"), for messages that say what happened. */
export function describeCause(err: unknown): string {
  const code = causeCode(err);
  return CAUSE_TEXT[code] ?? code;
}

export function causeCode(err: unknown): string {
  if (err && typeof err === 'object') {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    const cause = (err as { cause?: unknown }).cause;
    if (cause) return causeCode(cause);
    const name = (err as { name?: unknown }).name;
    if (typeof name === 'string') return name;
  }
  return 'unknown error';
}
