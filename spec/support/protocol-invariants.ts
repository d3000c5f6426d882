import assert from 'node:assert/strict';
import type { Converter } from '../../lib/protocols/converters/converter.ts';
import type { JsonObject } from '../../lib/protocols/types.ts';
import { isJsonObject } from '../../lib/protocols/types.ts';
import type { Conversation, WireProtocol } from './conversation-view.ts';
import { arr, conversationOf, gField, obj, str } from './conversation-view.ts';
import { replyOf, STOP_REASONS } from './reply-view.ts';

// Rules of the wire formats that hold for any correct body, whatever a golden file says. A converter's
// output is checked `strict` (what the gateway sends must be accepted as is); recorded inputs are only
// checked for what every sender of that protocol guarantees.

export interface CheckOptions {
  /** The body was built by the gateway: apply the rules the receiving API enforces, not just the shape. */
  strict: boolean;
}

/** A token count: a non-negative integer (never NaN, never negative). */
export function count(x: unknown, where: string): number {
  assert.ok(typeof x === 'number' && Number.isInteger(x) && x >= 0, `${where} must be a non-negative integer, got ${JSON.stringify(x)}`);
  return x;
}
const optionalCount = (x: unknown, where: string): number => (x == null ? 0 : count(x, where));

export function checkUsage(protocol: WireProtocol, usage: unknown): void {
  const u = obj(usage, `${protocol} usage`);
  if (protocol === 'openai-chat') {
    const prompt = count(u['prompt_tokens'], 'usage.prompt_tokens');
    const completion = count(u['completion_tokens'], 'usage.completion_tokens');
    assert.equal(count(u['total_tokens'], 'usage.total_tokens'), prompt + completion, 'usage.total_tokens = prompt_tokens + completion_tokens');
    const cached = isJsonObject(u['prompt_tokens_details']) ? optionalCount(u['prompt_tokens_details']['cached_tokens'], 'cached_tokens') : 0;
    assert.ok(cached <= prompt, 'cached_tokens are part of prompt_tokens');
    const reasoning = isJsonObject(u['completion_tokens_details']) ? optionalCount(u['completion_tokens_details']['reasoning_tokens'], 'reasoning_tokens') : 0;
    assert.ok(reasoning <= completion, 'reasoning_tokens are part of completion_tokens');
  } else if (protocol === 'openai-responses') {
    const input = count(u['input_tokens'], 'usage.input_tokens');
    const output = count(u['output_tokens'], 'usage.output_tokens');
    assert.equal(count(u['total_tokens'], 'usage.total_tokens'), input + output, 'usage.total_tokens = input_tokens + output_tokens');
    const cached = isJsonObject(u['input_tokens_details']) ? optionalCount(u['input_tokens_details']['cached_tokens'], 'cached_tokens') : 0;
    assert.ok(cached <= input, 'cached_tokens are part of input_tokens');
    const reasoning = isJsonObject(u['output_tokens_details']) ? optionalCount(u['output_tokens_details']['reasoning_tokens'], 'reasoning_tokens') : 0;
    assert.ok(reasoning <= output, 'reasoning_tokens are part of output_tokens');
  } else if (protocol === 'anthropic-messages') {
    // Anthropic has no total; message_delta may carry only output_tokens.
    for (const k of ['input_tokens', 'output_tokens', 'cache_creation_input_tokens', 'cache_read_input_tokens']) optionalCount(u[k], `usage.${k}`);
  } else if (protocol === 'google-genai') {
    // Gemini's total adds the thoughts and tool-use prompt tokens, which the other two counts leave out.
    const prompt = count(u['promptTokenCount'], 'usageMetadata.promptTokenCount');
    const sum = prompt + optionalCount(u['candidatesTokenCount'], 'usageMetadata.candidatesTokenCount') + optionalCount(u['thoughtsTokenCount'], 'usageMetadata.thoughtsTokenCount') + optionalCount(u['toolUsePromptTokenCount'], 'usageMetadata.toolUsePromptTokenCount');
    assert.equal(count(u['totalTokenCount'], 'usageMetadata.totalTokenCount'), sum, 'totalTokenCount = prompt + candidates + thoughts + tool-use prompt tokens');
    assert.ok(optionalCount(u['cachedContentTokenCount'], 'usageMetadata.cachedContentTokenCount') <= prompt, 'cachedContentTokenCount is part of promptTokenCount');
  } else {
    // Bedrock's total counts cache reads and writes too (AWS's own examples add all four).
    const sum =
      count(u['inputTokens'], 'usage.inputTokens') +
      count(u['outputTokens'], 'usage.outputTokens') +
      optionalCount(u['cacheReadInputTokens'], 'usage.cacheReadInputTokens') +
      optionalCount(u['cacheWriteInputTokens'], 'usage.cacheWriteInputTokens');
    assert.equal(count(u['totalTokens'], 'usage.totalTokens'), sum, 'usage.totalTokens = inputTokens + outputTokens + cache reads and writes');
  }
}

export function checkStopReason(protocol: Exclude<WireProtocol, 'openai-responses'>, reason: unknown): void {
  assert.ok(typeof reason === 'string' && reason in STOP_REASONS[protocol], `${JSON.stringify(reason)} is not a ${protocol} stop reason (${Object.keys(STOP_REASONS[protocol]).join(', ')})`);
}

/** Arguments the gateway wrote must parse, to an object, or a client's JSON.parse throws. */
export function checkArgumentsJson(args: unknown, where: string): void {
  assert.equal(typeof args, 'string', `${where} must be a JSON string`);
  let parsed: unknown;
  assert.doesNotThrow(() => (parsed = JSON.parse(args as string)), `${where} is not JSON: ${String(args)}`);
  assert.ok(isJsonObject(parsed), `${where} must encode an object`);
}

/** Arguments streamed for a tool call: nothing at all stands for `{}`, anything else must be an object. */
export function checkStreamedArguments(args: string, where: string): void {
  if (args !== '') checkArgumentsJson(args, where);
}

/**
 * Every tool call has a non-empty id of its own; every result answers a call made before it, once.
 * Strict: the turn right after the calls holds exactly their results, before any other content.
 */
export function checkToolPairing(c: Conversation, { strict }: CheckOptions): void {
  const introduced = new Set<string>();
  const answered = new Set<string>();
  c.turns.forEach((turn, i) => {
    for (const r of turn.results) {
      assert.ok(r.id !== '', `turn ${i}: a tool result without an id`);
      assert.ok(introduced.has(r.id), `turn ${i}: tool result ${r.id} answers no earlier tool call`);
      assert.ok(!answered.has(r.id), `turn ${i}: tool call ${r.id} answered twice`);
      answered.add(r.id);
    }
    for (const call of turn.calls) {
      assert.ok(call.id !== '', `turn ${i}: a tool call without an id`);
      assert.ok(!introduced.has(call.id), `turn ${i}: tool call id ${call.id} used twice`);
      assert.equal(turn.role, 'assistant', `turn ${i}: tool calls belong to assistant turns`);
      introduced.add(call.id);
    }
    if (!strict) return;
    const previous = c.turns[i - 1];
    const expected = previous?.role === 'assistant' ? previous.calls.map((x) => x.id).sort() : [];
    assert.deepEqual(turn.results.map((r) => r.id).sort(), expected, `turn ${i} must answer exactly the tool calls of the turn before it`);
    assert.ok(turn.resultsFirst, `turn ${i}: tool results come before any other content`);
    if (turn.calls.length > 0) assert.ok(c.turns[i + 1], `turn ${i}: tool calls with no results after them`);
  });
}

export const BEDROCK_TOOL_ID = /^[a-zA-Z0-9_-]{1,64}$/;

/** Bedrock content blocks are unions: exactly one member set, never `{}`. */
function checkUnion(block: unknown, where: string): JsonObject {
  const b = obj(block, where);
  assert.equal(Object.keys(b).length, 1, `${where} must set exactly one union member, got ${Object.keys(b).join(', ') || 'none'}`);
  return b;
}

function checkChatRequest(body: JsonObject, strict: boolean): void {
  const messages = arr(body['messages'], 'messages');
  assert.ok(messages.length > 0, 'messages must not be empty');
  for (const [i, raw] of messages.entries()) {
    const m = obj(raw, `messages[${i}]`);
    assert.ok(['system', 'developer', 'user', 'assistant', 'tool', 'function'].includes(str(m['role'])), `messages[${i}].role ${String(m['role'])}`);
    if (strict) for (const c of Array.isArray(m['tool_calls']) ? m['tool_calls'] : []) checkArgumentsJson(obj(obj(c, 'tool_call')['function'], 'function')['arguments'], `messages[${i}] tool call arguments`);
  }
  if (!strict) return;
  assert.ok(str(body['model']) !== '', 'a chat request names its model');
  if (body['stream_options'] !== undefined) assert.equal(body['stream'], true, 'stream_options is only valid with stream: true');
  if (Array.isArray(body['stop'])) assert.ok(body['stop'].length <= 4, 'OpenAI accepts at most 4 stop sequences');
}

function checkAnthropicRequest(body: JsonObject, strict: boolean): void {
  for (const [i, raw] of arr(body['messages'], 'messages').entries()) {
    const m = obj(raw, `messages[${i}]`);
    assert.ok(m['role'] === 'user' || m['role'] === 'assistant', `messages[${i}].role must be user or assistant`);
    for (const b of Array.isArray(m['content']) ? m['content'] : []) {
      const block = obj(b, `messages[${i}].content[]`);
      if (block['type'] === 'tool_use') assert.ok(isJsonObject(block['input']), `messages[${i}] tool_use.input must be an object`);
      if (strict && block['type'] === 'text') assert.ok(str(block['text']) !== '', `messages[${i}]: Anthropic rejects empty text blocks`);
    }
  }
  if (!strict) return;
  count(body['max_tokens'], 'max_tokens');
  assert.ok((body['max_tokens'] as number) > 0, 'max_tokens is required and positive');
  if (isJsonObject(body['tool_choice'])) assert.ok(['auto', 'any', 'tool', 'none'].includes(str(body['tool_choice']['type'])), 'tool_choice.type');
}

function checkBedrockRequest(body: JsonObject, strict: boolean): void {
  for (const [i, raw] of arr(body['messages'], 'messages').entries()) {
    const m = obj(raw, `messages[${i}]`);
    assert.ok(m['role'] === 'user' || m['role'] === 'assistant', `messages[${i}].role must be user or assistant`);
    for (const [j, b] of arr(m['content'], `messages[${i}].content`).entries()) {
      const block = checkUnion(b, `messages[${i}].content[${j}]`);
      if (isJsonObject(block['toolUse'])) assert.ok(isJsonObject(block['toolUse']['input']), `messages[${i}] toolUse.input must be an object`);
      if (!strict) continue;
      const id = isJsonObject(block['toolUse']) ? block['toolUse']['toolUseId'] : isJsonObject(block['toolResult']) ? block['toolResult']['toolUseId'] : undefined;
      if (id !== undefined) assert.match(str(id), BEDROCK_TOOL_ID, `messages[${i}]: Bedrock tool ids are 1-64 of [a-zA-Z0-9_-]`);
      if ('text' in block) assert.ok(str(block['text']).trim() !== '', `messages[${i}]: Bedrock rejects blank text`);
    }
  }
  for (const [i, s] of (Array.isArray(body['system']) ? body['system'] : []).entries()) checkUnion(s, `system[${i}]`);
  if (!strict) return;
  assert.ok(!('model' in body), 'the Bedrock model id goes in the path, never the body');
  if (isJsonObject(body['inferenceConfig']) && body['inferenceConfig']['maxTokens'] !== undefined) count(body['inferenceConfig']['maxTokens'], 'inferenceConfig.maxTokens');
  const config = body['toolConfig'];
  if (isJsonObject(config) && config['toolChoice'] !== undefined) checkUnion(config['toolChoice'], 'toolConfig.toolChoice');
  const hasToolBlocks = conversationOf('bedrock-converse', body).turns.some((t) => t.calls.length > 0 || t.results.length > 0);
  if (hasToolBlocks) assert.ok(isJsonObject(config) && Array.isArray(config['tools']) && config['tools'].length > 0, 'Bedrock wants toolConfig whenever the history has tool blocks');
}

/** Gemini parts are unions too: one datum each (text, inlineData, functionCall...), `thought` flags aside. */
function checkGeminiPart(part: unknown, where: string): JsonObject {
  const p = obj(part, where);
  const data = Object.keys(p).filter((k) => !['thought', 'thoughtSignature', 'thought_signature', 'videoMetadata', 'video_metadata'].includes(k));
  assert.equal(data.length, 1, `${where} must hold exactly one datum, got ${data.join(', ') || 'none'}`);
  const call = gField(p, 'functionCall');
  if (call !== undefined) {
    assert.ok(str(obj(call, `${where}.functionCall`)['name']) !== '', `${where}: a functionCall has a name`);
    if ((call as JsonObject)['args'] !== undefined) obj((call as JsonObject)['args'], `${where}.functionCall.args`);
  }
  const response = gField(p, 'functionResponse');
  if (response !== undefined) obj(obj(response, `${where}.functionResponse`)['response'], `${where}.functionResponse.response`);
  return p;
}

function checkGoogleRequest(body: JsonObject, strict: boolean): void {
  const contents = arr(body['contents'], 'contents');
  assert.ok(contents.length > 0, 'contents must not be empty');
  for (const [i, raw] of contents.entries()) {
    const c = obj(raw, `contents[${i}]`);
    assert.ok(c['role'] === undefined || c['role'] === 'user' || c['role'] === 'model', `contents[${i}].role must be user or model`);
    const parts = arr(c['parts'], `contents[${i}].parts`);
    assert.ok(parts.length > 0, `contents[${i}].parts must not be empty`);
    parts.forEach((p, j) => checkGeminiPart(p, `contents[${i}].parts[${j}]`));
    if (strict) assert.ok(c['role'] === 'user' || c['role'] === 'model', `contents[${i}] names its role`);
  }
  if (!strict) return;
  for (const key of ['model', 'stream', 'messages']) assert.ok(!(key in body), `GenerateContentRequest has no field ${key}: the model and streaming go in the URL`);
  const config = gField(body, 'generationConfig');
  if (config !== undefined && isJsonObject(config) && config['maxOutputTokens'] !== undefined) count(config['maxOutputTokens'], 'generationConfig.maxOutputTokens');
}

/** A request body of `protocol`: its shape, and tool calls paired with their results. */
export function checkRequestBody(protocol: WireProtocol, body: JsonObject, options: CheckOptions): void {
  if (protocol === 'openai-chat') checkChatRequest(body, options.strict);
  if (protocol === 'anthropic-messages') checkAnthropicRequest(body, options.strict);
  if (protocol === 'bedrock-converse') checkBedrockRequest(body, options.strict);
  if (protocol === 'google-genai') checkGoogleRequest(body, options.strict);
  checkToolPairing(conversationOf(protocol, body), options);
}

function checkCallIds(ids: string[], where: string): void {
  for (const id of ids) assert.ok(id !== '', `${where}: a tool call without an id`);
  assert.equal(new Set(ids).size, ids.length, `${where}: tool call ids must be distinct`);
}

function checkChatResponse(body: JsonObject, strict: boolean): void {
  if (strict) assert.equal(body['object'], 'chat.completion');
  if (strict) assert.ok(str(body['id']) !== '', 'a chat completion has an id');
  const choices = arr(body['choices'], 'choices');
  assert.ok(choices.length > 0, 'a chat completion has at least one choice');
  for (const [i, raw] of choices.entries()) {
    const choice = obj(raw, `choices[${i}]`);
    const message = obj(choice['message'], `choices[${i}].message`);
    assert.equal(message['role'], 'assistant');
    assert.ok(message['content'] === null || typeof message['content'] === 'string', `choices[${i}].message.content is a string or null`);
    checkStopReason('openai-chat', choice['finish_reason']);
    const calls = (Array.isArray(message['tool_calls']) ? message['tool_calls'] : []).map((c) => obj(c, 'tool_call'));
    checkCallIds(calls.map((c) => str(c['id'])), `choices[${i}]`);
    for (const c of calls) {
      assert.equal(c['type'], 'function');
      if (strict) checkArgumentsJson(obj(c['function'], 'function')['arguments'], `choices[${i}] tool call ${String(c['id'])} arguments`);
    }
  }
  if (body['usage'] != null) checkUsage('openai-chat', body['usage']);
}

function checkAnthropicResponse(body: JsonObject): void {
  assert.equal(body['type'], 'message');
  assert.equal(body['role'], 'assistant');
  assert.ok(str(body['id']) !== '', 'a message has an id');
  const blocks = arr(body['content'], 'content').map((b) => obj(b, 'content[]'));
  const calls = blocks.filter((b) => b['type'] === 'tool_use');
  checkCallIds(calls.map((b) => str(b['id'])), 'content');
  for (const c of calls) assert.ok(isJsonObject(c['input']), 'tool_use.input is an object');
  checkStopReason('anthropic-messages', body['stop_reason']);
  // stop_sequence names the matched sequence exactly when that is why the model stopped.
  if (body['stop_reason'] === 'stop_sequence') assert.equal(typeof body['stop_sequence'], 'string', 'stop_reason stop_sequence names the sequence');
  else assert.equal(body['stop_sequence'] ?? null, null, 'stop_sequence is null unless stop_reason is stop_sequence');
  checkUsage('anthropic-messages', body['usage']);
}

function checkBedrockResponse(body: JsonObject, strict: boolean): void {
  const message = obj(obj(body['output'], 'output')['message'], 'output.message');
  assert.equal(message['role'], 'assistant');
  const blocks = arr(message['content'], 'output.message.content').map((b, i) => checkUnion(b, `output.message.content[${i}]`));
  const calls = blocks.filter((b) => isJsonObject(b['toolUse'])).map((b) => b['toolUse'] as JsonObject);
  checkCallIds(calls.map((c) => str(c['toolUseId'])), 'output.message.content');
  for (const c of calls) {
    assert.ok(isJsonObject(c['input']), 'toolUse.input is an object');
    if (strict) assert.match(str(c['toolUseId']), BEDROCK_TOOL_ID, 'Bedrock tool ids are 1-64 of [a-zA-Z0-9_-]');
  }
  checkStopReason('bedrock-converse', body['stopReason']);
  checkUsage('bedrock-converse', body['usage']);
}

const RESPONSE_STATUSES = ['completed', 'failed', 'in_progress', 'cancelled', 'queued', 'incomplete'];

export function checkResponsesResponse(body: JsonObject, strict: boolean): void {
  assert.equal(body['object'], 'response');
  assert.ok(RESPONSE_STATUSES.includes(str(body['status'])), `status ${String(body['status'])}`);
  const details = body['incomplete_details'];
  if (body['status'] === 'incomplete') assert.ok(isJsonObject(details) && ['max_output_tokens', 'content_filter'].includes(str(details['reason'])), 'incomplete_details.reason');
  else assert.equal(details ?? null, null, 'incomplete_details only on an incomplete response');
  const items = arr(body['output'], 'output').map((x, i) => obj(x, `output[${i}]`));
  const calls = items.filter((x) => x['type'] === 'function_call');
  checkCallIds(calls.map((c) => str(c['call_id'])), 'output');
  for (const c of calls) if (strict) checkArgumentsJson(c['arguments'], `function_call ${String(c['call_id'])} arguments`);
  for (const m of items.filter((x) => x['type'] === 'message')) assert.equal(m['role'], 'assistant');
  if (body['usage'] != null) checkUsage('openai-responses', body['usage']);
}

function checkGoogleResponse(body: JsonObject): void {
  const candidates = arr(body['candidates'] ?? [], 'candidates');
  const feedback = gField(body, 'promptFeedback');
  if (candidates.length === 0) assert.ok(isJsonObject(feedback) && gField(feedback, 'blockReason') !== undefined, 'a response without candidates says why (promptFeedback.blockReason)');
  for (const [i, raw] of candidates.entries()) {
    const c = obj(raw, `candidates[${i}]`);
    const content = obj(c['content'], `candidates[${i}].content`);
    assert.equal(content['role'], 'model', `candidates[${i}].content.role is model`);
    arr(content['parts'] ?? [], `candidates[${i}].content.parts`).forEach((p, j) => checkGeminiPart(p, `candidates[${i}].content.parts[${j}]`));
    checkStopReason('google-genai', gField(c, 'finishReason'));
  }
  const usage = gField(body, 'usageMetadata');
  if (usage !== undefined) checkUsage('google-genai', usage);
}

/**
 * A (non-streamed) response body of `protocol`: legal stop reason, consistent usage, tool call ids.
 * Strict: a stop reason that says "tool calls" comes with tool calls, and arguments are JSON.
 */
export function checkResponseBody(protocol: WireProtocol, body: JsonObject, { strict }: CheckOptions): void {
  if (protocol === 'openai-chat') checkChatResponse(body, strict);
  if (protocol === 'anthropic-messages') checkAnthropicResponse(body);
  if (protocol === 'bedrock-converse') checkBedrockResponse(body, strict);
  if (protocol === 'openai-responses') checkResponsesResponse(body, strict);
  if (protocol === 'google-genai') checkGoogleResponse(body);
  const reply = replyOf(protocol, body);
  if (strict && reply.stop === 'tool') assert.ok(reply.calls.length > 0, 'the stop reason announces tool calls the response does not have');
}

const WIRE: readonly string[] = ['openai-chat', 'anthropic-messages', 'bedrock-converse', 'openai-responses', 'google-genai'];
export function wire(protocol: string): WireProtocol {
  assert.ok(WIRE.includes(protocol), `${protocol} has no invariants here`);
  return protocol as WireProtocol;
}

/** A converted request: the client's body read leniently, the body sent upstream held to the API's rules. */
export function checkConvertedRequest(converter: Converter, input: JsonObject, output: JsonObject): void {
  checkRequestBody(wire(converter.from), input, { strict: false });
  checkRequestBody(wire(converter.to), output, { strict: true });
}

/** A converted response: the provider's body read leniently, the body the client gets held to its rules. */
export function checkConvertedResponse(converter: Converter, input: JsonObject, output: JsonObject): void {
  checkResponseBody(wire(converter.to), input, { strict: false });
  checkResponseBody(wire(converter.from), output, { strict: true });
}
