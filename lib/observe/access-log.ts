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
  request_type: 'ai_chat' | 'ai_stream' | 'ai_models' | 'passthrough';
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
  error?: string;
  request_body?: unknown;
  response_text?: string;
}

export function logAccess(log: Logger, record: AccessRecord): void {
  const { request_body, response_text, ...access } = record;
  const level = access.status >= 500 ? 'error' : 'info';
  log[level]({ access }, 'request completed');
  // Bodies only at debug (`logging.payloads`): they may hold personal data.
  if (request_body !== undefined || response_text !== undefined) log.debug({ request_body, response_text }, 'request payloads');
}

/** Milliseconds with two decimals, for log fields. */
export function roundMs(ms: number): number {
  return Math.round(ms * 100) / 100;
}
