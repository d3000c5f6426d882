import type { FallbackPolicy } from '../config/types.ts';
import type { AccessRecord } from '../observe/access-log.ts';
import type { Logger } from '../observe/logger.ts';
import type { AttemptResult } from './attempt.ts';
import type { Classified } from './classify-outcome.ts';
import { classifyOutcome } from './classify-outcome.ts';
import type { InstanceRuntime, InstanceVerdict } from './instance-runtime.ts';

// Failures that say nothing about the instance: it was never reached, or the gateway itself failed.
const NOT_ABOUT_THE_INSTANCE = new Set(['CLIENT_ABORTED', 'PROTOCOL_NOT_SUPPORTED', 'INTERNAL_ERROR', 'INSTANCE_SATURATED']);

/** Adds one attempt to the access record: its log line, and what the client got from it. */
export function recordAttempt(record: AccessRecord, result: AttemptResult): void {
  record.attempts.push({
    instance: result.instance,
    status: result.status,
    ...(result.reason !== undefined && { reason: result.reason }),
    duration_ms: result.durationMs,
  });
  record.instance = result.instance;
  record.upstream_protocol = result.upstreamProtocol;
  if (result.model !== undefined) record.llm_model = result.model;
  if (result.usage) {
    record.prompt_tokens = result.usage.prompt_tokens;
    record.completion_tokens = result.usage.completion_tokens;
    record.total_tokens = result.usage.total_tokens;
    if (result.usage.cached_tokens !== undefined) record.cached_tokens = result.usage.cached_tokens;
    if (result.usage.reasoning_tokens !== undefined) record.reasoning_tokens = result.usage.reasoning_tokens;
    record.llm_total_tokens = result.usage.total_tokens;
    if (result.usage.cached_tokens !== undefined) record.llm_cache_read_input_tokens = result.usage.cached_tokens;
    if (result.usage.cache_creation_tokens !== undefined) record.llm_cache_creation_input_tokens = result.usage.cache_creation_tokens;
    if (result.usage.reasoning_tokens !== undefined) record.llm_reasoning_tokens = result.usage.reasoning_tokens;
  }
  if (result.costUsd !== undefined) record.cost_usd = result.costUsd;
  if (result.toolCalls !== undefined) record.llm_has_tool_calls = result.toolCalls;
  if (result.ttftMs !== undefined) record.ttft_ms = result.ttftMs;
  if (result.text !== undefined) record.response_text = result.text;
  if (result.kind === 'responded') {
    record.status = result.status;
    if (result.error && result.error.code !== 'CLIENT_ABORTED') record.error = result.error.message;
  }
}

/**
 * The one step that applies an attempt's result: to the access record, and to the instance (breaker,
 * counters, tokens, latency). Returns the verdict on a failed attempt; undefined once the client
 * got its answer or left.
 */
export function settle(record: AccessRecord, instance: InstanceRuntime, result: AttemptResult, policy: FallbackPolicy, log: Logger): Classified | undefined {
  recordAttempt(record, result);
  // A stream that broke after its commit point was answered, and still counts against its instance.
  const error = result.error;
  // Only a stream that reached its first content has a TTFT; its latency is that time.
  const streamed = result.ttftMs !== undefined;
  if (!error) {
    instance.record({ kind: 'answered' }, result.usage, result.latencyMs, { streamed, costUsd: result.costUsd });
    return undefined;
  }
  const verdict = classifyOutcome(error, policy);
  let applied: InstanceVerdict;
  if (verdict.countsAsFailure) {
    applied = { kind: 'failed', reason: verdict.reason, retryAfterSec: verdict.status === 429 ? verdict.retryAfterSec : undefined };
  } else if (NOT_ABOUT_THE_INSTANCE.has(error.code)) {
    applied = { kind: 'not-about-instance' };
    if (error.code === 'INTERNAL_ERROR') log.error({ err: error.cause ?? error, instance: instance.name }, error.message);
  } else {
    // The instance answered; the request itself was at fault (a 400, say).
    applied = { kind: 'answered' };
  }
  instance.record(applied, result.usage, result.latencyMs, { streamed, costUsd: result.costUsd });
  return result.kind === 'responded' || error.code === 'CLIENT_ABORTED' ? undefined : verdict;
}
