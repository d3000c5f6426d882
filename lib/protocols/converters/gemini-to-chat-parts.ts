import { randomUUID } from 'node:crypto';
import { field } from '../google-genai.ts';
import type { JsonObject, Usage } from '../types.ts';
import { asObject, asString } from './json-narrowing.ts';

// Pieces of a Gemini answer in OpenAI Chat terms, shared by the JSON and the stream conversion.

export function chatUsage(usage: Usage | undefined): JsonObject | undefined {
  if (!usage) return undefined;
  const out: JsonObject = { prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens, total_tokens: usage.total_tokens };
  if (usage.cached_tokens !== undefined) out['prompt_tokens_details'] = { cached_tokens: usage.cached_tokens };
  if (usage.reasoning_tokens !== undefined) out['completion_tokens_details'] = { reasoning_tokens: usage.reasoning_tokens };
  return out;
}

export function chatToolCall(part: JsonObject): JsonObject {
  const call = asObject(field(part, 'functionCall')) ?? {};
  const id = asString(call['id']) || `call_${randomUUID().replaceAll('-', '').slice(0, 24)}`;
  return { id, type: 'function', function: { name: asString(call['name']) ?? '', arguments: JSON.stringify(call['args'] ?? {}) } };
}
