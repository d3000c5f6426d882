import type { JsonObject } from '../types.ts';
import { isJsonObject } from '../types.ts';

// OpenAI carries tool arguments as a JSON-encoded string the model wrote (and may have broken);
// Anthropic carries `input` as an object (docs/protocols.md#chat-to-anthropic-request).

/**
 * Gateway choice: arguments that are empty, not JSON, or JSON but not an object become `{}`.
 * Failing the whole answer over one malformed call would hide the rest of it, and an invented
 * wrapper field would be echoed back in the next request, which Anthropic rejects as an unknown
 * field. With `{}` the client's own tool validation reports the missing fields and the model retries.
 */
export function parseToolArguments(args: unknown): JsonObject {
  if (typeof args !== 'string' || args.trim() === '') return {};
  try {
    const parsed: unknown = JSON.parse(args);
    return isJsonObject(parsed) ? parsed : {};
  } catch {
    return {};
  }
}

/** Anthropic `input` → OpenAI `arguments`; a missing input is a call without parameters. */
export function stringifyToolInput(input: unknown): string {
  return JSON.stringify(input ?? {});
}
