import type { ErrorShape } from './client-protocol.ts';
import { clientProtocol, clientProtocols } from './registry.ts';
import type { JsonObject, ProtocolName } from './types.ts';

// Where the path names a supported protocol's endpoint, the path decides; a body that does not fit
// is refused, never passed through. Each descriptor names its endpoints; Anthropic's keeps its `/v1`
// so that OpenAI's `/v1/threads/{id}/messages` stays a passthrough.
const endpoints: ReadonlyArray<readonly [suffix: string, protocol: ProtocolName]> = Object.values(clientProtocols).flatMap((p) =>
  p.endpoints.map((suffix) => [suffix, p.name] as const),
);

/** The protocol whose endpoint `path` is, if any. */
export function endpointProtocol(path: string): ProtocolName | undefined {
  for (const [suffix, protocol] of endpoints) if (path.endsWith(suffix)) return protocol;
  return undefined;
}

// Provider endpoints the gateway does not speak but forwards as they are (any method, any body):
// OpenAI's and Anthropic's other APIs. `/v1/threads/{id}/messages` is one of them, not Anthropic's.
const PASSTHROUGH_ENDPOINT =
  /\/(?:moderations|completions|rerank|audio\/[\w.-]+|images\/[\w.-]+|messages\/count_tokens|messages\/batches(?:\/.*)?|models(?:\/.*)?|files(?:\/.*)?|batches(?:\/.*)?|uploads(?:\/.*)?|fine_tuning\/.*|vector_stores(?:\/.*)?|assistants(?:\/.*)?|threads(?:\/.*)?|responses\/.+|chat\/completions\/.+|containers(?:\/.*)?|conversations(?:\/.*)?|realtime\/.*)$/;

/** Whether `path` is a provider endpoint the gateway passes through rather than speaks. */
export function isPassthroughEndpoint(path: string): boolean {
  return PASSTHROUGH_ENDPOINT.test(path);
}

/** The path decides on a known endpoint; elsewhere (APISIX `/anything` routes) the body does. */
export function detectProtocol(path: string, body: JsonObject): ProtocolName {
  const byPath = endpointProtocol(path);
  if (byPath) return byPath;
  if (Array.isArray(body['messages'])) return 'openai-chat';
  if ('input' in body) return 'openai-embeddings';
  return 'passthrough';
}

export { clientProtocol };

/** The error shape for a request we could not (yet) classify by body: decided by path alone. */
export function errorShapeForPath(path: string): ErrorShape {
  const byPath = endpointProtocol(path);
  return byPath === undefined ? 'openai' : clientProtocol(byPath).errorShape;
}
