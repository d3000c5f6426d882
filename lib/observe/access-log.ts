import type { Logger } from './logger.ts';

export interface AttemptLog {
  instance: string;
  status: number;
  reason?: string;
  duration_ms: number;
}

/** One record per client request. */
export interface AccessRecord {
  route: string;
  method: string;
  path: string;
  client_ip: string;
  status: number;
  /** `ai_models`: a models list or model answered from the configuration, nothing sent upstream. */
  request_type: 'ai_chat' | 'ai_stream' | 'ai_embeddings' | 'ai_models' | 'passthrough';
  client_protocol: string;
  upstream_protocol?: string;
  request_llm_model?: string;
  llm_model?: string;
  instance?: string;
  attempts: AttemptLog[];
  fallbacks: number;
  ttft_ms?: number;
  duration_ms: number;
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
  cached_tokens?: number;
  reasoning_tokens?: number;
  // APISIX 3.18's names, beside ours.
  llm_total_tokens?: number;
  llm_cache_read_input_tokens?: number;
  llm_cache_creation_input_tokens?: number;
  llm_reasoning_tokens?: number;
  llm_stream?: boolean;
  /** Tools the request offered. */
  llm_tool_count?: number;
  /** The answer the client got called a tool. */
  llm_has_tool_calls?: boolean;
  llm_end_user_id?: string;
  /**
   * What the answer cost in USD, from its usage and the price table or the instance's `price`;
   * absent when the price is unknown (never a 0 that pretends to be known).
   */
  cost_usd?: number;
  /** The consumer (client key owner) the request was made for; absent when there is none. */
  consumer?: string;
  /** The answer carried no usage: limits and budgets were charged an estimate. */
  usage_estimated?: boolean;
  error?: string;
  request_body?: unknown;
  response_text?: string;
}

/** How payloads (`logging.payloads`) go into the line: scrubbed of the route's credentials, then cut. */
export interface PayloadPolicy {
  scrub: (text: string) => string;
  maxBytes: number;
}

// Without a policy no payload is written: a body that cannot be scrubbed must not reach the log.
export function logAccess(log: Logger, record: AccessRecord, payloads?: PayloadPolicy): void {
  const { request_body, response_text, ...rest } = record;
  const access: Omit<AccessRecord, 'request_body' | 'response_text'> & { request_body?: string; response_text?: string } = rest;
  if (payloads && request_body !== undefined) {
    access.request_body = payloadText(typeof request_body === 'string' ? request_body : JSON.stringify(request_body), payloads);
  }
  if (payloads && response_text !== undefined) access.response_text = payloadText(response_text, payloads);
  const level = access.status >= 500 ? 'error' : 'info';
  log[level]({ access }, 'request completed');
}

/** Scrub first (a secret cut in half by truncation would no longer match), then cut on a UTF-8 boundary. */
export function payloadText(text: string, policy: PayloadPolicy): string {
  const clean = policy.scrub(text);
  const bytes = Buffer.from(clean, 'utf8');
  if (bytes.length <= policy.maxBytes) return clean;
  let end = policy.maxBytes;
  // Back off continuation bytes (10xxxxxx) so a character is never split.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end -= 1;
  return `${bytes.subarray(0, end).toString('utf8')}…[truncated, ${bytes.length} bytes]`;
}

/** Milliseconds with two decimals, for log fields. */
export function roundMs(ms: number): number {
  return Math.round(ms * 100) / 100;
}
