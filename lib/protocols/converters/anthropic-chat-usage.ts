import type { JsonObject } from '../types.ts';
import { isJsonObject } from '../types.ts';

// Token counts between Anthropic and OpenAI Chat (docs/protocols.md#usage). The two count the
// prompt differently: OpenAI's `prompt_tokens` includes cached tokens, Anthropic's `input_tokens`
// counts only the uncached part and reports cache reads and writes beside it.

export interface AnthropicTokens {
  /** Uncached input tokens. */
  input: number;
  cacheCreation: number;
  cacheRead: number;
  output: number;
}

function count(x: unknown): number | undefined {
  return typeof x === 'number' && Number.isFinite(x) && x >= 0 ? x : undefined;
}

/** OpenAI usage → Anthropic counts; `cache_write_tokens` is what newer OpenAI-compatible payloads carry. */
export function tokensFromChatUsage(usage: unknown): AnthropicTokens | undefined {
  if (!isJsonObject(usage)) return undefined;
  const prompt = count(usage['prompt_tokens']) ?? 0;
  const details = isJsonObject(usage['prompt_tokens_details']) ? usage['prompt_tokens_details'] : {};
  const cacheRead = count(details['cached_tokens']) ?? 0;
  const cacheCreation = count(details['cache_write_tokens']) ?? 0;
  return {
    input: Math.max(0, prompt - cacheRead - cacheCreation),
    cacheCreation,
    cacheRead,
    output: count(usage['completion_tokens']) ?? 0,
  };
}

/**
 * Anthropic usage (a Message's, or a stream event's) over `base`: stream counts are cumulative, so a
 * value present overwrites and an absent or null one keeps what was known.
 */
export function tokensFromAnthropicUsage(usage: unknown, base?: AnthropicTokens): AnthropicTokens {
  const u = isJsonObject(usage) ? usage : {};
  return {
    input: count(u['input_tokens']) ?? base?.input ?? 0,
    cacheCreation: count(u['cache_creation_input_tokens']) ?? base?.cacheCreation ?? 0,
    cacheRead: count(u['cache_read_input_tokens']) ?? base?.cacheRead ?? 0,
    output: count(u['output_tokens']) ?? base?.output ?? 0,
  };
}

export function anthropicUsage(t: AnthropicTokens): JsonObject {
  return {
    input_tokens: t.input,
    cache_creation_input_tokens: t.cacheCreation,
    cache_read_input_tokens: t.cacheRead,
    output_tokens: t.output,
  };
}

export function chatUsage(t: AnthropicTokens): JsonObject {
  const prompt = t.input + t.cacheCreation + t.cacheRead;
  return {
    prompt_tokens: prompt,
    completion_tokens: t.output,
    total_tokens: prompt + t.output,
    prompt_tokens_details: { cached_tokens: t.cacheRead },
  };
}
