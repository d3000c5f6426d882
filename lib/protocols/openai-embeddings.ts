import { createSseDecoder } from '../transport/sse-decoder.ts';
import type { ClientProtocol, StreamObserver } from './client-protocol.ts';
import { isJsonObject } from './types.ts';
import { openaiUsage } from './usage.ts';
import { openaiChat } from './openai-chat.ts';
import { toBase64Embeddings } from './converters/openai-embeddings-to-vertex-predict.ts';

// https://platform.openai.com/docs/api-reference/embeddings — never streamed.
const noStream: StreamObserver = {
  classify: () => 'content',
  finished: () => true,
  usage: () => undefined,
  model: () => undefined,
  text: () => '',
  errorMessage: () => undefined,
};

export const openaiEmbeddings: ClientProtocol = {
  name: 'openai-embeddings',
  errorShape: 'openai',
  framing: 'sse',
  streamContentType: 'text/event-stream',
  createDecoder: createSseDecoder,
  isStream: () => false,
  requestModel: openaiChat.requestModel,
  usageFromJson: (body) => (isJsonObject(body) ? openaiUsage(body['usage']) : undefined),
  modelFromJson: openaiChat.modelFromJson,
  textFromJson: () => undefined,
  createStreamObserver: () => noStream,
  streamErrorFrame: openaiChat.streamErrorFrame,
  encodeEvent: openaiChat.encodeEvent,
  // A converted answer carries float arrays; a client that asked for base64 (the SDK's default) gets base64.
  finishConverted: (answer, clientBody) => (clientBody['encoding_format'] === 'base64' ? toBase64Embeddings(answer) : answer),
};
