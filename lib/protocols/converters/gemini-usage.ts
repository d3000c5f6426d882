import type { JsonObject } from '../types.ts';
import { asObject, count } from './json-narrowing.ts';

// OpenAI Chat `usage` → Gemini `usageMetadata`. OpenAI's completion tokens include the reasoning ones;
// Gemini counts thoughts apart from the candidates, and its total is the sum of all of them.

export function geminiUsageFromChat(usage: unknown): JsonObject | undefined {
  const u = asObject(usage);
  if (!u) return undefined;
  const prompt = count(u['prompt_tokens']);
  const completion = count(u['completion_tokens']);
  const reasoning = Math.min(completion, count(asObject(u['completion_tokens_details'])?.['reasoning_tokens']));
  const metadata: JsonObject = { promptTokenCount: prompt, candidatesTokenCount: completion - reasoning, totalTokenCount: prompt + completion };
  if (reasoning > 0) metadata['thoughtsTokenCount'] = reasoning;
  const cached = asObject(u['prompt_tokens_details'])?.['cached_tokens'];
  if (typeof cached === 'number' && cached > 0) metadata['cachedContentTokenCount'] = Math.min(cached, prompt);
  return metadata;
}
