import { createSseDecoder } from '../transport/sse-decoder.ts';
import { markerScanner } from '../transport/byte-markers.ts';
import type { OnMarker } from '../transport/byte-markers.ts';
import { arrayLength, someObject, stringAt , lastUserMessageText } from './request-facts.ts';
import type { SseEvent } from '../transport/sse-decoder.ts';
import { encodeSseEvent } from '../transport/sse-encoder.ts';
import type { ClientProtocol, StreamEventClass, StreamObserver } from './client-protocol.ts';
import type { JsonObject, Usage } from './types.ts';
import { isJsonObject, parseJsonObject } from './types.ts';
import type { JsonSchema } from './schema-parts.ts';
import { boolean, integer, number, object, objects, oneOfTypes, positiveInt, shape, string, strings } from './schema-parts.ts';
import { anthropicWithoutUnsignedThinking } from './unsigned-thinking.ts';

// https://docs.anthropic.com/en/api/messages — shapes in docs/protocols.md#anthropic-messages.

// Every request content block and system block names its `type`.
const block = shape({ type: string }, ['type']);

/** The request fields the gateway reads or converts (`max_tokens` may come from the instance's options). */
export const anthropicMessagesRequestSchema: JsonSchema = shape(
  {
    model: string,
    max_tokens: positiveInt,
    messages: objects(shape({ role: string, content: oneOfTypes(['string', 'array'], { items: block }) }, ['role', 'content']), {
      minItems: 1,
    }),
    system: oneOfTypes(['string', 'array'], { items: block }),
    stop_sequences: strings,
    stream: boolean,
    temperature: number,
    top_p: number,
    top_k: integer,
    tools: objects(shape({ name: string, input_schema: object }, ['name'])),
    tool_choice: shape({ type: string, name: string }, ['type']),
    metadata: object,
    thinking: shape({ type: string, budget_tokens: integer }, ['type']),
  },
  ['messages'],
);

function num(x: unknown): number {
  return typeof x === 'number' && Number.isFinite(x) ? x : 0;
}

/** Anthropic counts only uncached input in `input_tokens`; the prompt is the sum of the three. */
export function anthropicUsage(usage: unknown, base?: Usage): Usage | undefined {
  if (!isJsonObject(usage)) return base;
  const cacheRead = usage['cache_read_input_tokens'] ?? undefined;
  const hasInput = usage['input_tokens'] != null;
  const prompt = hasInput
    ? num(usage['input_tokens']) + num(usage['cache_creation_input_tokens']) + num(cacheRead)
    : (base?.prompt_tokens ?? 0);
  const completion = usage['output_tokens'] != null ? num(usage['output_tokens']) : (base?.completion_tokens ?? 0);
  const result: Usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
  if (cacheRead != null) result.cached_tokens = num(cacheRead);
  else if (base?.cached_tokens !== undefined) result.cached_tokens = base.cached_tokens;
  if (usage['cache_creation_input_tokens'] != null) result.cache_creation_tokens = num(usage['cache_creation_input_tokens']);
  else if (base?.cache_creation_tokens !== undefined) result.cache_creation_tokens = base.cache_creation_tokens;
  return result;
}

const MARKERS = markerScanner(['message_start', 'message_delta', 'message_stop', 'tool_use', 'error']);
const noMarker: OnMarker = () => false;

function createMessagesObserver(capturePayload: boolean): StreamObserver {
  let usage: Usage | undefined;
  let model: string | undefined;
  let text = '';
  let stopped = false;
  let error: string | undefined;
  let toolCalls = false;
  return {
    classify(event: SseEvent): StreamEventClass {
      const payload = parseJsonObject(event.data);
      const type = event.event ?? (typeof payload?.['type'] === 'string' ? payload['type'] : undefined);
      switch (type) {
        case 'message_start': {
          const message = payload?.['message'];
          if (isJsonObject(message)) {
            if (typeof message['model'] === 'string') model = message['model'];
            usage = anthropicUsage(message['usage'], usage);
          }
          return 'lifecycle';
        }
        case 'content_block_start': {
          const block = payload?.['content_block'];
          if (isJsonObject(block) && block['type'] === 'tool_use') toolCalls = true;
          // A tool call's start carries its name: that is content. An empty text block is not.
          return isJsonObject(block) && block['type'] !== 'text' && block['type'] !== 'thinking' ? 'content' : 'lifecycle';
        }
        case 'content_block_delta': {
          const delta = payload?.['delta'];
          if (capturePayload && isJsonObject(delta) && typeof delta['text'] === 'string') text += delta['text'];
          return 'content';
        }
        case 'message_delta': {
          usage = anthropicUsage(payload?.['usage'], usage);
          // The stop reason makes the answer whole; a lost message_stop after it is not a cut stream.
          const delta = payload?.['delta'];
          if (isJsonObject(delta) && typeof delta['stop_reason'] === 'string') stopped = true;
          return 'content';
        }
        case 'message_stop':
          stopped = true;
          return 'done';
        case 'error': {
          const err = payload?.['error'];
          error = isJsonObject(err) && typeof err['message'] === 'string' ? err['message'] : 'upstream error event';
          return 'error';
        }
        default:
          return 'lifecycle'; // ping, content_block_stop, unknown future events
      }
    },
    plainContent(chunk: Uint8Array): boolean {
      // Only message_start, a tool_use block, message_delta, message_stop and error change what this
      // observer knows; text deltas, block boundaries and pings do not. A chunk naming none of them, as
      // an event or anywhere in its text, changes nothing. (A text that merely mentions one is decoded.)
      return !capturePayload && MARKERS(chunk, noMarker);
    },
    finished: () => stopped,
    usage: () => usage,
    model: () => model,
    text: () => text,
    errorMessage: () => error,
    toolCalls: () => toolCalls,
  };
}

export const anthropicMessages: ClientProtocol = {
  name: 'anthropic-messages',
  endpoints: ['/v1/messages'],
  errorShape: 'anthropic',
  framing: 'sse',
  streamContentType: 'text/event-stream',
  createDecoder: createSseDecoder,
  requestSchema: anthropicMessagesRequestSchema,
  isStream: (body) => body['stream'] === true,
  requestModel: (body) => (typeof body['model'] === 'string' ? body['model'] : undefined),
  usageFromJson: (body) => (isJsonObject(body) ? anthropicUsage(body['usage']) : undefined),
  toolCount: (body) => arrayLength(body, 'tools'),
  endUserId: (body) => stringAt(body, 'metadata', 'user_id'),
  historyForUpstream: anthropicWithoutUnsignedThinking,
  lastUserText: (body) => lastUserMessageText(body, 'messages', ['text']),
  hasToolCalls: (answer) => someObject(answer, ['content'], (b) => b['type'] === 'tool_use'),
  modelFromJson: (body) => (isJsonObject(body) && typeof body['model'] === 'string' ? body['model'] : undefined),
  textFromJson: (body) => {
    if (!isJsonObject(body) || !Array.isArray(body['content'])) return undefined;
    return body['content']
      .map((b: unknown) => (isJsonObject(b) && typeof b['text'] === 'string' ? b['text'] : ''))
      .join('');
  },
  createStreamObserver: createMessagesObserver,
  encodeEvent: (event) => encodeSseEvent({ event: event.event ?? 'message', data: JSON.stringify(event.data) }),
  streamErrorFrame: (message) =>
    encodeSseEvent({ event: 'error', data: JSON.stringify({ type: 'error', error: { type: 'api_error', message } }) }),
};
