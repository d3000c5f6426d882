import { createSseDecoder } from '../transport/sse-decoder.ts';
import { markerScanner } from '../transport/byte-markers.ts';
import type { OnMarker } from '../transport/byte-markers.ts';
import { arrayLength, someObject, stringAt , lastUserMessageText } from './request-facts.ts';
import type { SseEvent } from '../transport/sse-decoder.ts';
import { encodeSseData, SSE_DONE } from '../transport/sse-encoder.ts';
import type { ClientProtocol, StreamEventClass, StreamObserver } from './client-protocol.ts';
import type { JsonObject, Usage } from './types.ts';
import { isJsonObject } from './types.ts';
import type { JsonSchema } from './schema-parts.ts';
import { boolean, nullable, number, object, objects, oneOfTypes, positiveInt, shape, string, strings } from './schema-parts.ts';
import { openaiUsage } from './usage.ts';

// https://platform.openai.com/docs/api-reference/chat — wire shapes in docs/protocols.md#openai-chat.

const chatMessage = shape(
  {
    role: string,
    content: oneOfTypes(['string', 'array', 'null'], { items: shape({ type: string }, ['type']) }),
    name: string,
    tool_call_id: string,
    tool_calls: nullable(objects(shape({ id: string, function: shape({ name: string, arguments: string }, ['name']) }, ['function']))),
  },
  ['role'],
);

/** The request fields the gateway reads or converts; OpenAI accepts `null` for most optional ones. */
export const openaiChatRequestSchema: JsonSchema = shape(
  {
    model: string,
    messages: objects(chatMessage, { minItems: 1 }),
    stream: nullable(boolean),
    stream_options: nullable(object),
    max_tokens: nullable(positiveInt),
    max_completion_tokens: nullable(positiveInt),
    n: nullable(positiveInt),
    temperature: nullable(number),
    top_p: nullable(number),
    stop: oneOfTypes(['string', 'array', 'null'], { items: string }),
    tools: nullable(objects(shape({ type: string, function: shape({ name: string, parameters: nullable(object) }, ['name']) }, ['type']))),
    tool_choice: oneOfTypes(['string', 'object', 'null']),
    parallel_tool_calls: nullable(boolean),
    functions: objects(shape({ name: string, parameters: nullable(object) }, ['name'])),
    function_call: oneOfTypes(['string', 'object']),
    response_format: nullable(object),
    reasoning_effort: nullable(string),
    modalities: nullable(strings),
    user: string,
  },
  ['messages'],
);

function firstChoice(body: unknown): JsonObject | undefined {
  if (!isJsonObject(body) || !Array.isArray(body['choices'])) return undefined;
  const choice: unknown = body['choices'][0];
  return isJsonObject(choice) ? choice : undefined;
}

function deltaHasContent(delta: JsonObject): boolean {
  const content = delta['content'];
  if (typeof content === 'string' && content.length > 0) return true;
  if (Array.isArray(delta['tool_calls']) && delta['tool_calls'].length > 0) return true;
  if (typeof delta['refusal'] === 'string' && delta['refusal'].length > 0) return true;
  if (isJsonObject(delta['function_call'])) return true;
  const reasoning = delta['reasoning_content'] ?? delta['reasoning'];
  return typeof reasoning === 'string' && reasoning.length > 0;
}

function errorMessageOf(payload: JsonObject): string {
  const error = payload['error'];
  if (isJsonObject(error) && typeof error['message'] === 'string') return error['message'];
  return typeof error === 'string' ? error : 'upstream stream error';
}

// Cheap scans used after the commit point; tolerant of the spaces some servers put after colons.
const USAGE_OBJECT = /"usage"\s*:\s*\{/;
const FINISH_REASON = /"finish_reason"\s*:\s*"/;

function createChatStreamObserver(capturePayload: boolean): StreamObserver {
  let committed = false;
  let done = false;
  let sawFinish = false;
  let usage: Usage | undefined;
  let model: string | undefined;
  let text = '';
  let error: string | undefined;
  let toolCalls = false;

  const inspect = (payload: JsonObject): StreamEventClass => {
    if ('error' in payload && payload['error'] != null) {
      error = errorMessageOf(payload);
      return 'error';
    }
    if (model === undefined && typeof payload['model'] === 'string') model = payload['model'];
    if (payload['usage'] != null) usage = openaiUsage(payload['usage']) ?? usage;
    const choices = payload['choices'];
    if (!Array.isArray(choices) || choices.length === 0) return usage ? 'usage' : 'lifecycle';
    let cls: StreamEventClass = 'lifecycle';
    for (const choice of choices) {
      if (!isJsonObject(choice)) continue;
      if (choice['finish_reason'] != null) {
        sawFinish = true;
        cls = 'content';
      }
      const delta = choice['delta'];
      if (!isJsonObject(delta)) continue;
      if (deltaHasContent(delta)) cls = 'content';
      if (capturePayload && typeof delta['content'] === 'string') text += delta['content'];
    }
    return cls;
  };

  return {
    classify(event: SseEvent): StreamEventClass {
      const data = event.data;
      if (data === '[DONE]') {
        done = true;
        return 'done';
      }
      // A key, not a value: inside a string the quotes would be escaped.
      if (!toolCalls && data.includes('"tool_calls"') && TOOL_CALL_DELTA.test(data)) toolCalls = true;
      // After the commit point only usage and errors matter: skip the parse for plain content chunks.
      if (committed && !capturePayload && !USAGE_OBJECT.test(data) && !data.includes('"error"')) {
        if (FINISH_REASON.test(data)) sawFinish = true;
        return 'content';
      }
      let payload: unknown;
      try {
        payload = JSON.parse(data);
      } catch {
        return event.event === 'error' ? 'error' : 'lifecycle';
      }
      if (!isJsonObject(payload)) return 'lifecycle';
      const cls = event.event === 'error' ? 'error' : inspect(payload);
      if (cls === 'error' && error === undefined) error = errorMessageOf(payload);
      if (cls === 'content') committed = true;
      return cls;
    },
    plainContent(chunk: Uint8Array): boolean {
      // What the classify path above looks for after the commit point, as bytes: a chunk with none of it
      // would only be counted as content. A key inside a string has its quotes escaped and never matches.
      if (!committed || capturePayload) return false;
      return CHAT_MARKERS(chunk, toolCalls ? onlyNullFinishOrTools : onlyNullFinish);
    },
    finished: () => done || sawFinish,
    usage: () => usage,
    model: () => model,
    text: () => text,
    errorMessage: () => error,
    toolCalls: () => toolCalls,
  };
}

const TOOL_CALL_DELTA = /"tool_calls"\s*:\s*\[\s*\{/;

// After the commit point, chunks holding none of these but finish_reason null are plain content.
const CHAT_MARKERS = markerScanner(['"finish_reason"', '"usage"', '"error"', '"tool_calls"', '[DONE]']);
const FINISH_REASON_MARKER = 0;
const TOOL_CALLS_MARKER = 3;
const onlyNullFinish: OnMarker = (bytes, marker, end) => marker === FINISH_REASON_MARKER && nullValueAt(bytes, end);
const onlyNullFinishOrTools: OnMarker = (bytes, marker, end) => marker === TOOL_CALLS_MARKER || onlyNullFinish(bytes, marker, end);

const COLON = 0x3a;
const NULL = Uint8Array.from('null', (c) => c.charCodeAt(0));
const isJsonSpace = (byte: number | undefined): boolean => byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d;

/** Whether the key ending at `at` is surely null (`: null`); anything else may be a finish_reason set. */
function nullValueAt(bytes: Uint8Array, at: number): boolean {
  let i = at;
  while (isJsonSpace(bytes[i])) i++;
  if (bytes[i] !== COLON) return false;
  i++;
  while (isJsonSpace(bytes[i])) i++;
  return bytes[i] === NULL[0] && bytes[i + 1] === NULL[1] && bytes[i + 2] === NULL[2] && bytes[i + 3] === NULL[3];
}

export const openaiChat: ClientProtocol = {
  name: 'openai-chat',
  endpoints: ['/chat/completions'],
  errorShape: 'openai',
  framing: 'sse',
  streamContentType: 'text/event-stream',
  createDecoder: createSseDecoder,
  requestSchema: openaiChatRequestSchema,
  isStream: (body) => body['stream'] === true,
  requestModel: (body) => (typeof body['model'] === 'string' ? body['model'] : undefined),
  usageFromJson: (body) => (isJsonObject(body) ? openaiUsage(body['usage']) : undefined),
  toolCount: (body) => arrayLength(body, 'tools') ?? arrayLength(body, 'functions'),
  endUserId: (body) => stringAt(body, 'user'),
  lastUserText: (body) => lastUserMessageText(body, 'messages', ['text']),
  hasToolCalls: (answer) =>
    someObject(answer, ['choices'], (c) => (arrayLength(c, 'message', 'tool_calls') ?? 0) > 0 || isJsonObject(isJsonObject(c['message']) ? c['message']['function_call'] : undefined)),
  modelFromJson: (body) => (isJsonObject(body) && typeof body['model'] === 'string' ? body['model'] : undefined),
  textFromJson: (body) => {
    const message = firstChoice(body)?.['message'];
    return isJsonObject(message) && typeof message['content'] === 'string' ? message['content'] : undefined;
  },
  createStreamObserver: createChatStreamObserver,
  encodeEvent: (event) => (event.data === '[DONE]' ? SSE_DONE : encodeSseData(event.data)),
  streamErrorFrame: (message) =>
    `data: ${JSON.stringify({ error: { message, type: 'server_error', param: null, code: 'upstream_stream_error' } })}\n\n`,
  usageEvents: {
    requested: (body) => isJsonObject(body['stream_options']) && body['stream_options']['include_usage'] === true,
    isUsageOnly: (data) => isJsonObject(data) && Array.isArray(data['choices']) && data['choices'].length === 0 && data['usage'] != null,
  },
};
