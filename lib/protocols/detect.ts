import type { ErrorShape } from './client-protocol.ts';
import { clientProtocol } from './registry.ts';
import type { JsonObject, ProtocolName } from './types.ts';

/** First match wins; the order is docs/architecture.md#a-request-through-the-code step 2. */
export function detectProtocol(path: string, body: JsonObject): ProtocolName {
  const hasMessages = Array.isArray(body['messages']);
  if ((path.endsWith('/converse') || path.endsWith('/converse-stream')) && hasMessages) return 'bedrock-converse';
  if (path.endsWith('/v1/messages')) return 'anthropic-messages';
  if (path.endsWith('/v1/responses') && 'input' in body) return 'openai-responses';
  if (hasMessages) return 'openai-chat';
  if ('input' in body) return 'openai-embeddings';
  return 'passthrough';
}

export { clientProtocol };

/** The error shape for a request we could not (yet) classify by body: decided by path alone. */
export function errorShapeForPath(path: string): ErrorShape {
  if (path.endsWith('/converse') || path.endsWith('/converse-stream')) return 'bedrock';
  if (path.endsWith('/v1/messages')) return 'anthropic';
  return 'openai';
}
