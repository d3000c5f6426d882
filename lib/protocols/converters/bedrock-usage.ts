// Token usage between Bedrock, OpenAI and Anthropic (docs/protocols.md#usage). Bedrock reports cache reads
// and writes beside `inputTokens` (as Anthropic does), while OpenAI's `prompt_tokens` includes its cached
// subset: so the OpenAI prompt is the sum of the three, and the Bedrock input is the prompt less cache.
import type { JsonObject } from '../types.ts';
import { asObject, count } from './json-narrowing.ts';

export function bedrockUsageToOpenai(usage: unknown): JsonObject {
  const u = asObject(usage) ?? {};
  const cached = count(u['cacheReadInputTokens']);
  const prompt = count(u['inputTokens']) + cached + count(u['cacheWriteInputTokens']);
  const completion = count(u['outputTokens']);
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: cached },
  };
}

export function openaiUsageToBedrock(usage: unknown): JsonObject {
  const u = asObject(usage) ?? {};
  const prompt = count(u['prompt_tokens']);
  const completion = count(u['completion_tokens']);
  const cached = Math.min(prompt, count(asObject(u['prompt_tokens_details'])?.['cached_tokens']));
  const out: JsonObject = { inputTokens: prompt - cached, outputTokens: completion, totalTokens: prompt + completion };
  if (cached > 0) out['cacheReadInputTokens'] = cached;
  return out;
}

export function bedrockUsageToAnthropic(usage: unknown): JsonObject {
  const u = asObject(usage) ?? {};
  return {
    input_tokens: count(u['inputTokens']),
    cache_creation_input_tokens: count(u['cacheWriteInputTokens']),
    cache_read_input_tokens: count(u['cacheReadInputTokens']),
    output_tokens: count(u['outputTokens']),
  };
}

export function anthropicUsageToBedrock(usage: unknown): JsonObject {
  const u = asObject(usage) ?? {};
  const input = count(u['input_tokens']);
  const read = count(u['cache_read_input_tokens']);
  const write = count(u['cache_creation_input_tokens']);
  const output = count(u['output_tokens']);
  const out: JsonObject = { inputTokens: input, outputTokens: output, totalTokens: input + read + write + output };
  if (read > 0) out['cacheReadInputTokens'] = read;
  if (write > 0) out['cacheWriteInputTokens'] = write;
  return out;
}
