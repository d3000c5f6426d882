import type { Usage } from './types.ts';
import { isJsonObject } from './types.ts';

function num(x: unknown): number | undefined {
  return typeof x === 'number' && Number.isFinite(x) ? x : undefined;
}

/** OpenAI usage object, chat completions and embeddings (docs/protocols.md#usage). */
export function openaiUsage(usage: unknown): Usage | undefined {
  if (!isJsonObject(usage)) return undefined;
  const prompt = num(usage['prompt_tokens']) ?? 0;
  const completion = num(usage['completion_tokens']) ?? 0;
  const result: Usage = {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: num(usage['total_tokens']) ?? prompt + completion,
  };
  const promptDetails = usage['prompt_tokens_details'];
  if (isJsonObject(promptDetails)) {
    const cached = num(promptDetails['cached_tokens']);
    if (cached !== undefined) result.cached_tokens = cached;
  }
  const completionDetails = usage['completion_tokens_details'];
  if (isJsonObject(completionDetails)) {
    const reasoning = num(completionDetails['reasoning_tokens']);
    if (reasoning !== undefined) result.reasoning_tokens = reasoning;
  }
  return result;
}
