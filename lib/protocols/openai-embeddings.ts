import { createSseDecoder } from '../transport/sse-decoder.ts';
import type { ClientProtocol, StreamObserver } from './client-protocol.ts';
import { isJsonObject, type JsonObject } from './types.ts';
import { openaiUsage } from './usage.ts';
import { openaiChat } from './openai-chat.ts';
import { toBase64Embeddings } from './converters/openai-embeddings-to-vertex-predict.ts';
import type { JsonSchema } from './schema-parts.ts';
import { positiveInt, shape, string } from './schema-parts.ts';

/** The text to embed for semantic routing: `input` itself, or the last string of an `input` list. */
function lastInputText(body: JsonObject): string | undefined {
  const input = body['input'];
  if (typeof input === 'string') return input === '' ? undefined : input;
  if (!Array.isArray(input)) return undefined;
  const last: unknown = input[input.length - 1];
  return typeof last === 'string' && last !== '' ? last : undefined;
}

// https://platform.openai.com/docs/api-reference/embeddings — never streamed.
/** `input` is a text, a list of texts, a list of token ids or a list of such lists. */
export const openaiEmbeddingsRequestSchema: JsonSchema = shape(
  {
    model: string,
    input: {
      type: ['string', 'array'],
      minItems: 1,
      items: { type: ['string', 'integer', 'array'], items: { type: 'integer' } },
    },
    // The gateway encodes Vertex's floats itself when the client asks for base64.
    encoding_format: { enum: ['float', 'base64', null] },
    dimensions: positiveInt,
    user: string,
  },
  ['input'],
);

const noStream: StreamObserver = {
  classify: () => 'content',
  finished: () => true,
  usage: () => undefined,
  model: () => undefined,
  text: () => '',
  errorMessage: () => undefined,
  toolCalls: () => false,
};

export const openaiEmbeddings: ClientProtocol = {
  name: 'openai-embeddings',
  endpoints: ['/embeddings'],
  requestType: 'ai_embeddings',
  errorShape: 'openai',
  framing: 'sse',
  streamContentType: 'text/event-stream',
  createDecoder: createSseDecoder,
  requestSchema: openaiEmbeddingsRequestSchema,
  isStream: () => false,
  requestModel: openaiChat.requestModel,
  usageFromJson: (body) => (isJsonObject(body) ? openaiUsage(body['usage']) : undefined),
  modelFromJson: openaiChat.modelFromJson,
  textFromJson: () => undefined,
  toolCount: () => undefined,
  endUserId: openaiChat.endUserId,
  lastUserText: (body) => lastInputText(body),
  hasToolCalls: () => false,
  createStreamObserver: () => noStream,
  streamErrorFrame: openaiChat.streamErrorFrame,
  encodeEvent: openaiChat.encodeEvent,
  // A converted answer carries float arrays; a client that asked for base64 (the SDK's default) gets base64.
  finishConverted: (answer, clientBody) => (clientBody['encoding_format'] === 'base64' ? toBase64Embeddings(answer) : answer),
};
