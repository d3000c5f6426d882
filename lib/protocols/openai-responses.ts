import { createSseDecoder } from '../transport/sse-decoder.ts';
import { arrayLength, someObject, stringAt } from './request-facts.ts';
import type { SseEvent } from '../transport/sse-decoder.ts';
import { encodeSseEvent } from '../transport/sse-encoder.ts';
import type { ClientProtocol, StreamEventClass, StreamObserver } from './client-protocol.ts';
import type { JsonObject, Usage } from './types.ts';
import { isJsonObject, parseJsonObject } from './types.ts';
import type { JsonSchema } from './schema-parts.ts';
import { boolean, nullable, number, object, objects, oneOfTypes, positiveInt, shape, string } from './schema-parts.ts';

/** The request fields the gateway reads or converts; input items are objects, typed or plain messages. */
export const openaiResponsesRequestSchema: JsonSchema = shape(
  {
    model: string,
    input: oneOfTypes(['string', 'array'], {
      items: shape({ type: string, role: string, content: oneOfTypes(['string', 'array', 'null'], { items: object }) }),
    }),
    instructions: nullable(string),
    max_output_tokens: nullable(positiveInt),
    stream: nullable(boolean),
    tools: objects(shape({ type: string, name: string, parameters: nullable(object) }, ['type'])),
    tool_choice: oneOfTypes(['string', 'object']),
    parallel_tool_calls: nullable(boolean),
    temperature: nullable(number),
    top_p: nullable(number),
    previous_response_id: nullable(string),
    reasoning: nullable(object),
    text: nullable(object),
    metadata: nullable(object),
  },
  ['input'],
);

// https://platform.openai.com/docs/api-reference/responses — docs/protocols.md#openai-responses.

function num(x: unknown): number | undefined {
  return typeof x === 'number' && Number.isFinite(x) ? x : undefined;
}

/** Responses usage: `input_tokens` includes the cached subset, `output_tokens` the reasoning one. */
export function responsesUsage(usage: unknown): Usage | undefined {
  if (!isJsonObject(usage)) return undefined;
  const prompt = num(usage['input_tokens']) ?? 0;
  const completion = num(usage['output_tokens']) ?? 0;
  const result: Usage = {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: num(usage['total_tokens']) ?? prompt + completion,
  };
  const inputDetails = usage['input_tokens_details'];
  const cached = isJsonObject(inputDetails) ? num(inputDetails['cached_tokens']) : undefined;
  if (cached !== undefined) result.cached_tokens = cached;
  const outputDetails = usage['output_tokens_details'];
  const reasoning = isJsonObject(outputDetails) ? num(outputDetails['reasoning_tokens']) : undefined;
  if (reasoning !== undefined) result.reasoning_tokens = reasoning;
  return result;
}

/** `output_text` is an SDK-side convenience: the wire response only has the output items. */
export function responsesOutputText(body: unknown): string | undefined {
  if (!isJsonObject(body) || !Array.isArray(body['output'])) return undefined;
  let text = '';
  for (const item of body['output']) {
    if (!isJsonObject(item) || item['type'] !== 'message' || !Array.isArray(item['content'])) continue;
    for (const part of item['content']) {
      if (isJsonObject(part) && part['type'] === 'output_text' && typeof part['text'] === 'string') text += part['text'];
    }
  }
  return text;
}

// Events that only announce structure: held until content arrives (docs/architecture.md#commit-point).
const LIFECYCLE = new Set([
  'response.created',
  'response.queued',
  'response.in_progress',
  'response.output_item.added',
  'response.content_part.added',
  'response.reasoning_summary_part.added',
]);
const TERMINAL_OK = new Set(['response.completed', 'response.incomplete']);
// After the commit point, these need no parse unless the generated text is being captured.
const PLAIN_CONTENT = /\.(delta|done)$/;

function errorMessageOf(payload: JsonObject | undefined, fallback: string): string {
  if (!payload) return fallback;
  if (typeof payload['message'] === 'string') return payload['message'];
  const nested = payload['error'];
  if (isJsonObject(nested) && typeof nested['message'] === 'string') return nested['message'];
  return fallback;
}

function createResponsesObserver(capturePayload: boolean): StreamObserver {
  let committed = false;
  let terminal = false;
  let usage: Usage | undefined;
  let model: string | undefined;
  let text = '';
  let error: string | undefined;
  let toolCalls = false;

  const fromResponse = (response: unknown): void => {
    if (!isJsonObject(response)) return;
    if (typeof response['model'] === 'string') model = response['model'];
    usage = responsesUsage(response['usage']) ?? usage;
  };

  const classify = (event: SseEvent): StreamEventClass => {
    // No [DONE] is promised, but one is treated as the end when it appears.
    if (event.data === '[DONE]') {
      terminal = true;
      return 'done';
    }
    const named = event.event;
    if (named?.startsWith('response.function_call_arguments.')) toolCalls = true;
    if (committed && !capturePayload && named !== undefined && PLAIN_CONTENT.test(named)) return 'content';
    const payload = parseJsonObject(event.data);
    const type = named ?? (typeof payload?.['type'] === 'string' ? payload['type'] : undefined);
    if (type === undefined) return 'lifecycle'; // keep-alive or garbage: never commits
    if (type.startsWith('response.function_call_arguments.')) toolCalls = true;
    if (type === 'error') {
      error = errorMessageOf(payload, 'upstream error event');
      return 'error';
    }
    if (type === 'response.failed') {
      terminal = true;
      const response = payload?.['response'];
      fromResponse(response);
      error = isJsonObject(response) ? errorMessageOf(response, 'response failed') : 'response failed';
      return 'error';
    }
    if (TERMINAL_OK.has(type)) {
      terminal = true;
      fromResponse(payload?.['response']);
      return 'done';
    }
    if (LIFECYCLE.has(type)) {
      if (type === 'response.created' || type === 'response.in_progress') fromResponse(payload?.['response']);
      return 'lifecycle';
    }
    if (capturePayload && type === 'response.output_text.delta' && typeof payload?.['delta'] === 'string') {
      text += payload['delta'];
    }
    return 'content';
  };

  return {
    classify(event) {
      const cls = classify(event);
      if (cls === 'content') committed = true;
      return cls;
    },
    finished: () => terminal,
    usage: () => usage,
    model: () => model,
    text: () => text,
    errorMessage: () => error,
    toolCalls: () => toolCalls,
  };
}

const encode = (type: string, data: unknown): string => encodeSseEvent({ event: type, data: JSON.stringify(data) });

/**
 * After the commit point: an `error` event (what openai-node throws on) then `response.failed` (the
 * terminal event raw consumers wait for). The gateway does not know the stream's last sequence number
 * or response id here, so both are left out rather than invented.
 */
function streamErrorFrame(message: string): string {
  const error = { code: 'server_error', message };
  return (
    encode('error', { type: 'error', code: 'upstream_stream_error', message, param: null }) +
    encode('response.failed', { type: 'response.failed', response: { object: 'response', status: 'failed', error, output: [] } })
  );
}

export const openaiResponses: ClientProtocol = {
  name: 'openai-responses',
  endpoints: ['/responses'],
  errorShape: 'openai',
  framing: 'sse',
  streamContentType: 'text/event-stream',
  createDecoder: createSseDecoder,
  requestSchema: openaiResponsesRequestSchema,
  isStream: (body: JsonObject) => body['stream'] === true,
  requestModel: (body: JsonObject) => (typeof body['model'] === 'string' ? body['model'] : undefined),
  usageFromJson: (body) => (isJsonObject(body) ? responsesUsage(body['usage']) : undefined),
  toolCount: (body) => arrayLength(body, 'tools'),
  endUserId: (body) => stringAt(body, 'user'),
  hasToolCalls: (answer) => someObject(answer, ['output'], (item) => item['type'] === 'function_call'),
  modelFromJson: (body) => (isJsonObject(body) && typeof body['model'] === 'string' ? body['model'] : undefined),
  textFromJson: responsesOutputText,
  createStreamObserver: createResponsesObserver,
  // Every Responses event carries an `event:` line equal to its `type`.
  encodeEvent: (event) => {
    const type = event.event ?? (isJsonObject(event.data) && typeof event.data['type'] === 'string' ? event.data['type'] : 'message');
    return encode(type, event.data);
  },
  streamErrorFrame,
};
