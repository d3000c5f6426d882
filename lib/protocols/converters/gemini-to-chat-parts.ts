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

/**
 * A Gemini functionCall part → a Chat tool call. Gemini signs the thinking behind a call
 * (`thoughtSignature`) and Gemini 3 wants it back with the call in the next turn: it rides in
 * `extra_content.google.thought_signature`, the field Google's own OpenAI-compatible endpoint uses,
 * which a client echoing the assistant message sends back (docs/protocols.md#google-genai-conversions).
 */
export function chatToolCall(part: JsonObject): JsonObject {
  const call = asObject(field(part, 'functionCall')) ?? {};
  const id = asString(call['id']) || `call_${randomUUID().replaceAll('-', '').slice(0, 24)}`;
  const out: JsonObject = { id, type: 'function', function: { name: asString(call['name']) ?? '', arguments: JSON.stringify(call['args'] ?? {}) } };
  const signature = asString(field(part, 'thoughtSignature'));
  if (signature) out['extra_content'] = { google: { thought_signature: signature } };
  return out;
}

/** The signature a Chat tool call carries back for Gemini, if any. */
export function thoughtSignatureOf(toolCall: JsonObject): string | undefined {
  return asString(asObject(asObject(toolCall['extra_content'])?.['google'])?.['thought_signature']);
}
