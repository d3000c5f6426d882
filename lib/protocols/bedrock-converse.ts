import { createEventStreamDecoder } from '../transport/aws-event-stream.ts';
import { arrayLength, someObject } from './request-facts.ts';
import { encodeEventStreamException, encodeEventStreamMessage } from '../transport/aws-event-stream.ts';
import type { SseEvent } from '../transport/sse-decoder.ts';
import type { ClientProtocol, StreamEventClass, StreamObserver } from './client-protocol.ts';
import type { Usage } from './types.ts';
import { isJsonObject } from './types.ts';
import type { JsonSchema } from './schema-parts.ts';
import { number, object, objects, positiveInt, shape, string, strings } from './schema-parts.ts';
import { converseWithoutUnsignedThinking } from './unsigned-thinking.ts';

// AWS Bedrock Converse / ConverseStream: docs/protocols.md#bedrock-converse. The model id is a path segment
// (`/model/{modelId}/converse[-stream]`), never in the body.

// Content and system blocks are unions with one key each (`{"text": ...}`), so they are only objects here.
const message = shape({ role: string, content: objects() }, ['role', 'content']);

/** The request fields the gateway reads or converts. */
export const bedrockConverseRequestSchema: JsonSchema = shape(
  {
    messages: objects(message, { minItems: 1 }),
    system: objects(),
    inferenceConfig: shape({ maxTokens: positiveInt, temperature: number, topP: number, stopSequences: strings }),
    toolConfig: shape({
      tools: objects(shape({ toolSpec: shape({ name: string, inputSchema: object }, ['name']) })),
      toolChoice: object,
    }),
    additionalModelRequestFields: object,
  },
  ['messages'],
);

function num(x: unknown): number {
  return typeof x === 'number' && Number.isFinite(x) ? x : 0;
}

export function bedrockUsage(usage: unknown): Usage | undefined {
  if (!isJsonObject(usage)) return undefined;
  const prompt = num(usage['inputTokens']) + num(usage['cacheReadInputTokens']) + num(usage['cacheWriteInputTokens']);
  const completion = num(usage['outputTokens']);
  const result: Usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
  if (usage['cacheReadInputTokens'] != null) result.cached_tokens = num(usage['cacheReadInputTokens']);
  if (usage['cacheWriteInputTokens'] != null) result.cache_creation_tokens = num(usage['cacheWriteInputTokens']);
  return result;
}

/** `/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream` → the decoded model id. */
export function bedrockModelFromPath(path: string): string | undefined {
  const match = /\/model\/([^/]+)\/converse(?:-stream)?$/.exec(path);
  if (!match?.[1]) return undefined;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return match[1];
  }
}

function createConverseObserver(capturePayload: boolean): StreamObserver {
  let usage: Usage | undefined;
  let text = '';
  let done = false;
  let error: string | undefined;
  let toolCalls = false;
  return {
    classify(event: SseEvent): StreamEventClass {
      const type = event.event ?? '';
      if (type.startsWith('exception:') || type.startsWith('error:')) {
        try {
          const payload: unknown = JSON.parse(event.data);
          error = isJsonObject(payload) && typeof payload['message'] === 'string' ? payload['message'] : type;
        } catch {
          error = type;
        }
        return 'error';
      }
      switch (type) {
        case 'messageStart':
        case 'contentBlockStop':
          return 'lifecycle';
        case 'contentBlockStart':
          toolCalls = true; // only tool calls open a block explicitly
          return 'content';
        case 'contentBlockDelta':
          if (capturePayload) {
            try {
              const payload: unknown = JSON.parse(event.data);
              const delta = isJsonObject(payload) ? payload['delta'] : undefined;
              if (isJsonObject(delta) && typeof delta['text'] === 'string') text += delta['text'];
            } catch {
              // not JSON: nothing to keep
            }
          }
          return 'content';
        case 'messageStop':
          // The answer is whole once its stop reason came; the metadata after it only carries usage,
          // so a stream that loses it is finished, not cut (as OpenAI's after its finish_reason).
          done = true;
          return 'content';
        case 'metadata':
          done = true;
          try {
            const payload: unknown = JSON.parse(event.data);
            if (isJsonObject(payload)) usage = bedrockUsage(payload['usage']) ?? usage;
          } catch {
            // keep what we had
          }
          return 'done';
        default:
          return 'lifecycle';
      }
    },
    finished: () => done,
    usage: () => usage,
    model: () => undefined,
    text: () => text,
    errorMessage: () => error,
    toolCalls: () => toolCalls,
  };
}

export const bedrockConverse: ClientProtocol = {
  name: 'bedrock-converse',
  endpoints: ['/converse', '/converse-stream'],
  errorShape: 'bedrock',
  framing: 'aws-event-stream',
  streamContentType: 'application/vnd.amazon.eventstream',
  createDecoder: createEventStreamDecoder,
  requestSchema: bedrockConverseRequestSchema,
  isStream: (body, path) => path.endsWith('/converse-stream') || body['stream'] === true,
  // A body `model` (APISIX-style routes on a bare /converse) wins over the path's model segment.
  requestModel: (body, path) =>
    typeof body['model'] === 'string' && body['model'] !== '' ? body['model'] : path === undefined ? undefined : bedrockModelFromPath(path),
  usageFromJson: (body) => (isJsonObject(body) ? bedrockUsage(body['usage']) : undefined),
  toolCount: (body) => arrayLength(body, 'toolConfig', 'tools'),
  // Converse has no end-user field.
  endUserId: () => undefined,
  historyForUpstream: converseWithoutUnsignedThinking,
  hasToolCalls: (answer) => someObject(answer, ['output', 'message', 'content'], (b) => isJsonObject(b['toolUse'])),
  modelFromJson: () => undefined,
  textFromJson: (body) => {
    const output = isJsonObject(body) ? body['output'] : undefined;
    const message = isJsonObject(output) ? output['message'] : undefined;
    const content = isJsonObject(message) ? message['content'] : undefined;
    if (!Array.isArray(content)) return undefined;
    return content.map((b: unknown) => (isJsonObject(b) && typeof b['text'] === 'string' ? b['text'] : '')).join('');
  },
  createStreamObserver: createConverseObserver,
  encodeEvent: (event) => {
    const type = event.event ?? '';
    if (type.startsWith('exception:')) {
      const data = event.data;
      const message = isJsonObject(data) && typeof data['message'] === 'string' ? data['message'] : 'upstream error';
      return encodeEventStreamException(type.slice('exception:'.length), message);
    }
    return encodeEventStreamMessage(type, event.data);
  },
  streamErrorFrame: (message) => encodeEventStreamException('modelStreamErrorException', message),
};
