// What the CLIENT speaks. Detection order lives in lib/protocols/detect.ts.

export type ProtocolName =
  | 'bedrock-converse'
  | 'anthropic-messages'
  | 'openai-responses'
  | 'openai-chat'
  | 'openai-embeddings'
  | 'google-genai'
  | 'passthrough';

/** What a provider may speak: every client protocol, plus ones only providers speak. */
export type UpstreamProtocolName = ProtocolName | 'vertex-predict';

export type JsonObject = Record<string, unknown>;

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** Input tokens read from the provider's prompt cache. */
  cached_tokens?: number;
  /** Input tokens written to the provider's prompt cache (Anthropic, Bedrock). */
  cache_creation_tokens?: number;
  reasoning_tokens?: number;
}

export function isJsonObject(x: unknown): x is JsonObject {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** The JSON object in `text`, or undefined when it is not JSON or not an object. */
export function parseJsonObject(text: string): JsonObject | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return isJsonObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}
