import { randomUUID } from 'node:crypto';
import { UpstreamMalformedError } from '../../errors.ts';
import type { JsonObject } from '../types.ts';
import { isJsonObject } from '../types.ts';
import { openaiUsage } from '../usage.ts';
import type { ConversionContext } from './converter.ts';

// A chat.completion rebuilt as a Response object (docs/protocols.md#responses-over-chat), plus the
// pieces the stream converter shares with it, so a streamed and a plain answer to a request look alike.

/** Ids derived from the chat id, so one upstream answer always maps to the same Response ids. */
export interface ResponseIds {
  response: string;
  /** The part every item id is built from. */
  base: string;
}

export function responseIds(chatId: unknown): ResponseIds {
  const raw = typeof chatId === 'string' && chatId !== '' ? chatId : randomUUID();
  const base = raw.replace(/^chatcmpl-/, '').replace(/[^A-Za-z0-9_-]/g, '_');
  return { response: `resp_${base}`, base };
}

/** The first message item is `msg_<base>`; later ones (text after a tool call) add their output index. */
export function messageItemId(ids: ResponseIds, outputIndex: number, first: boolean): string {
  return first ? `msg_${ids.base}` : `msg_${ids.base}_${outputIndex}`;
}

export function functionCallItemId(callId: string): string {
  return `fc_${callId}`;
}

/** Chat usage → Responses usage: prompt/completion become input/output, details keep their subsets. */
export function responsesUsageFromChat(usage: unknown): JsonObject | null {
  const u = openaiUsage(usage);
  if (!u) return null;
  return {
    input_tokens: u.prompt_tokens,
    input_tokens_details: { cached_tokens: u.cached_tokens ?? 0 },
    output_tokens: u.completion_tokens,
    output_tokens_details: { reasoning_tokens: u.reasoning_tokens ?? 0 },
    total_tokens: u.total_tokens,
  };
}

export type ResponseStatus = 'in_progress' | 'completed' | 'incomplete' | 'failed';

/** `length` and `content_filter` end a Response as `incomplete`, with the matching reason. */
export function statusFor(finishReason: string | undefined): { status: ResponseStatus; incomplete: JsonObject | null } {
  if (finishReason === 'length') return { status: 'incomplete', incomplete: { reason: 'max_output_tokens' } };
  if (finishReason === 'content_filter') return { status: 'incomplete', incomplete: { reason: 'content_filter' } };
  return { status: 'completed', incomplete: null };
}

export interface EnvelopeParts {
  ids: ResponseIds;
  createdAt: number;
  model: unknown;
  status: ResponseStatus;
  output: JsonObject[];
  usage: JsonObject | null;
  incomplete?: JsonObject | null;
  error?: JsonObject | null;
  /** The client's request, whose tool settings the Response echoes. */
  request?: JsonObject | undefined;
}

/** The Response object; it echoes the client's tool settings, and API defaults for what was not sent. */
export function responseEnvelope(p: EnvelopeParts): JsonObject {
  const sent = p.request ?? {};
  return {
    id: p.ids.response,
    object: 'response',
    created_at: p.createdAt,
    status: p.status,
    error: p.error ?? null,
    incomplete_details: p.incomplete ?? null,
    model: p.model,
    output: p.output,
    parallel_tool_calls: typeof sent['parallel_tool_calls'] === 'boolean' ? sent['parallel_tool_calls'] : true,
    tool_choice: sent['tool_choice'] ?? 'auto',
    tools: Array.isArray(sent['tools']) ? sent['tools'] : [],
    usage: p.usage,
  };
}

export function reasoningItemId(ids: ResponseIds): string {
  return `rs_${ids.base}`;
}

/**
 * The provider's reasoning as a Responses reasoning item with one summary part: Chat carries it as
 * DeepSeek's `reasoning_content` (what the Anthropic and Bedrock converters write), OpenRouter and
 * vLLM as `reasoning`. No `encrypted_content`: the gateway has nothing it could sign.
 */
export function reasoningItem(id: string, text: string): JsonObject {
  return { id, type: 'reasoning', summary: text === '' ? [] : [{ type: 'summary_text', text }] };
}

export function reasoningText(message: JsonObject): string {
  const r = message['reasoning_content'] ?? message['reasoning'];
  return typeof r === 'string' ? r : '';
}

export function outputText(text: string): JsonObject {
  return { type: 'output_text', text, annotations: [] };
}

export function functionCallItem(id: string, callId: string, name: string, args: string, status: string): JsonObject {
  return { id, type: 'function_call', status, arguments: args, call_id: callId, name };
}

function malformed(what: string): UpstreamMalformedError {
  return new UpstreamMalformedError(`upstream returned a malformed chat completion (${what})`);
}

/** Chat content is usually a string; some providers answer with a list of text parts. */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((p: unknown) => (isJsonObject(p) && typeof p['text'] === 'string' ? p['text'] : '')).join('');
}

export function chatToResponse(body: JsonObject, ctx: ConversionContext): JsonObject {
  const choices = body['choices'];
  if (!Array.isArray(choices)) throw malformed('no choices');
  // Responses has no `n`: the first choice is the answer.
  const choice: unknown = choices[0];
  if (!isJsonObject(choice) || !isJsonObject(choice['message'])) throw malformed('no message');
  const message = choice['message'];
  const ids = responseIds(body['id']);
  const output: JsonObject[] = [];
  const reasoning = reasoningText(message);
  if (reasoning !== '') output.push(reasoningItem(reasoningItemId(ids), reasoning));

  const content: JsonObject[] = [];
  const text = contentText(message['content']);
  if (text !== '') content.push(outputText(text));
  if (typeof message['refusal'] === 'string' && message['refusal'] !== '') {
    content.push({ type: 'refusal', refusal: message['refusal'] });
  }
  if (content.length > 0) {
    output.push({ id: messageItemId(ids, 0, true), type: 'message', status: 'completed', role: 'assistant', content });
  }
  const calls = Array.isArray(message['tool_calls']) ? message['tool_calls'] : [];
  calls.forEach((call: unknown, i: number) => {
    if (!isJsonObject(call) || !isJsonObject(call['function'])) throw malformed('a tool call without a function');
    const fn = call['function'];
    const callId = typeof call['id'] === 'string' ? call['id'] : `call_${ids.base}_${i}`;
    const args = typeof fn['arguments'] === 'string' ? fn['arguments'] : JSON.stringify(fn['arguments'] ?? {});
    output.push(functionCallItem(functionCallItemId(callId), callId, String(fn['name'] ?? ''), args, 'completed'));
  });

  const finish = typeof choice['finish_reason'] === 'string' ? choice['finish_reason'] : undefined;
  const { status, incomplete } = statusFor(finish);
  const createdAt = typeof body['created'] === 'number' ? body['created'] : Math.floor(Date.now() / 1000);
  return responseEnvelope({
    ids,
    createdAt,
    model: body['model'] ?? ctx.model,
    status,
    output,
    usage: responsesUsageFromChat(body['usage']),
    incomplete,
    request: ctx.request,
  });
}
