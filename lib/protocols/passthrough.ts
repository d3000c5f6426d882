import { createSseDecoder } from '../transport/sse-decoder.ts';
import type { SseEvent } from '../transport/sse-decoder.ts';
import type { ClientProtocol, StreamObserver } from './client-protocol.ts';
import type { ProtocolName, Usage } from './types.ts';
import { isJsonObject } from './types.ts';
import { openaiChat } from './openai-chat.ts';
import { openaiUsage } from './usage.ts';

// Any other JSON body: forwarded to the client's own path. We do not know its stream grammar,
// so every event counts as content (commit at once) and usage is picked up where it looks like OpenAI's.
function createPassthroughObserver(): StreamObserver {
  let usage: Usage | undefined;
  let done = false;
  return {
    classify(event: SseEvent) {
      if (event.data === '[DONE]') {
        done = true;
        return 'done';
      }
      if (/"usage"\s*:\s*\{/.test(event.data)) {
        try {
          const payload: unknown = JSON.parse(event.data);
          if (isJsonObject(payload)) usage = openaiUsage(payload['usage']) ?? usage;
        } catch {
          // not JSON: nothing to count
        }
      }
      return 'content';
    },
    finished: () => true,
    usage: () => usage,
    model: () => undefined,
    text: () => '',
    errorMessage: () => undefined,
    // A body we do not speak: its tool calls are not ours to read.
    toolCalls: () => false,
  };
}

/** The pass-through protocol's name, for code that routes by it without naming protocols itself. */
export const PASSTHROUGH = 'passthrough' satisfies ProtocolName;

export const passthrough: ClientProtocol = {
  name: 'passthrough',
  endpoints: [],
  errorShape: 'openai',
  framing: 'sse',
  streamContentType: 'text/event-stream',
  createDecoder: createSseDecoder,
  requestSchema: undefined,
  isStream: (body) => body['stream'] === true,
  requestModel: openaiChat.requestModel,
  usageFromJson: (body) => (isJsonObject(body) ? openaiUsage(body['usage']) : undefined),
  modelFromJson: openaiChat.modelFromJson,
  textFromJson: () => undefined,
  toolCount: () => undefined,
  endUserId: () => undefined,
  lastUserText: () => undefined,
  hasToolCalls: () => false,
  createStreamObserver: createPassthroughObserver,
  streamErrorFrame: openaiChat.streamErrorFrame,
  encodeEvent: openaiChat.encodeEvent,
};
