import { randomUUID } from 'node:crypto';
import { ProtocolNotSupportedError } from '../../errors.ts';
import type { JsonObject } from '../types.ts';
import { isJsonObject } from '../types.ts';
import { chatUsage, tokensFromAnthropicUsage } from './anthropic-chat-usage.ts';
import { chatMessagesToAnthropic } from './openai-chat-to-anthropic-messages-request.ts';
import type { ConversionContext, Converter } from './converter.ts';
import { createAnthropicToChatStream } from './openai-chat-to-anthropic-messages-stream.ts';
import { finishReasonFromStopReason } from './stop-reasons.ts';
import { planThinking } from './thinking-budget.ts';
import { stringifyToolInput } from './tool-arguments.ts';

// An OpenAI Chat client served by a provider that speaks Anthropic Messages.
// Request: docs/protocols.md#chat-to-anthropic-request (messages in openai-chat-to-anthropic-messages-request.ts).
// Response: docs/protocols.md#chat-and-anthropic-responses.
// Stream: docs/protocols.md#anthropic-events-to-chat-stream.

/**
 * Anthropic requires `max_tokens`; OpenAI clients usually leave it out. 4096 is what every current
 * Claude model can produce and what Anthropic's own examples use (gateway choice).
 */
export const DEFAULT_MAX_TOKENS = 4096;

const unsupported = (what: string): ProtocolNotSupportedError =>
  new ProtocolNotSupportedError(`${what} cannot be sent to a provider that only speaks Anthropic Messages`);

interface ToolSelection {
  choice: JsonObject | undefined;
  /** `allowed_tools` narrows the tool list rather than naming one tool. */
  allowed: Set<string> | undefined;
}

function functionName(x: unknown): unknown {
  return isJsonObject(x) && isJsonObject(x['function']) ? x['function']['name'] : isJsonObject(x) ? x['name'] : undefined;
}

function toolSelection(choice: unknown): ToolSelection {
  if (choice === undefined || choice === null) return { choice: undefined, allowed: undefined };
  if (choice === 'auto') return { choice: { type: 'auto' }, allowed: undefined };
  if (choice === 'required') return { choice: { type: 'any' }, allowed: undefined };
  if (choice === 'none') return { choice: { type: 'none' }, allowed: undefined };
  if (isJsonObject(choice) && choice['type'] === 'function') {
    return { choice: { type: 'tool', name: functionName(choice) }, allowed: undefined };
  }
  if (isJsonObject(choice) && choice['type'] === 'allowed_tools' && isJsonObject(choice['allowed_tools'])) {
    const spec = choice['allowed_tools'];
    const names = Array.isArray(spec['tools']) ? spec['tools'].map(functionName).filter((n) => typeof n === 'string') : [];
    return { choice: { type: spec['mode'] === 'required' ? 'any' : 'auto' }, allowed: new Set(names) };
  }
  throw unsupported(`tool_choice ${JSON.stringify(choice)}`);
}

/** `{name, description, parameters}` → `{name, description, input_schema}`; `strict` is dropped, as Anthropic's compat layer does. */
function anthropicTool(fn: unknown): JsonObject {
  if (!isJsonObject(fn)) throw unsupported('a tool without a function definition');
  const tool: JsonObject = { name: fn['name'] };
  if (typeof fn['description'] === 'string') tool['description'] = fn['description'];
  tool['input_schema'] = fn['parameters'] ?? { type: 'object', properties: {} };
  return tool;
}

function tools(body: JsonObject): { tools: JsonObject[]; selection: ToolSelection } {
  // The deprecated `functions` / `function_call` pair maps the same way.
  const legacy = Array.isArray(body['functions']);
  const list: unknown[] = legacy ? (body['functions'] as unknown[]) : Array.isArray(body['tools']) ? body['tools'] : [];
  const out = list.map((t) => {
    if (legacy) return anthropicTool(t);
    if (isJsonObject(t) && t['type'] === 'function') return anthropicTool(t['function']);
    throw unsupported(`a tool of type ${JSON.stringify(isJsonObject(t) ? t['type'] : t)}`);
  });
  const raw = legacy ? body['function_call'] : body['tool_choice'];
  const selection = toolSelection(legacy && isJsonObject(raw) ? { type: 'function', function: raw } : raw);
  const allowed = selection.allowed;
  return { tools: allowed ? out.filter((t) => allowed.has(String(t['name']))) : out, selection };
}

function stopSequences(stop: unknown): string[] {
  if (typeof stop === 'string') return [stop];
  return Array.isArray(stop) ? stop.filter((s) => typeof s === 'string') : [];
}

function anthropicRequest(body: JsonObject, ctx: ConversionContext): JsonObject {
  if (typeof body['n'] === 'number' && body['n'] > 1) throw unsupported('n > 1 (several choices)');
  const modalities = body['modalities'];
  if (body['audio'] != null || (Array.isArray(modalities) && modalities.includes('audio'))) {
    throw unsupported('audio output');
  }
  const format = body['response_format'];
  // json_object is dropped: OpenAI itself requires the prompt to ask for JSON, so the instruction is
  // there. A json_schema is a contract the gateway could not keep, so it is refused (gateway choices).
  if (isJsonObject(format) && format['type'] === 'json_schema') throw unsupported('response_format json_schema');

  const { system, messages, lastAssistantUsedTools } = chatMessagesToAnthropic(body['messages']);
  const { tools: toolList, selection } = tools(body);
  let choice = toolList.length > 0 ? selection.choice : undefined;
  if (choice && choice['type'] !== 'none' && body['parallel_tool_calls'] === false) {
    choice = { ...choice, disable_parallel_tool_use: true };
  } else if (!choice && toolList.length > 0 && body['parallel_tool_calls'] === false) {
    choice = { type: 'auto', disable_parallel_tool_use: true };
  }

  // Anthropic refuses thinking with a forced tool, and in a tool loop whose last assistant turn has
  // no signed thinking block (Chat history cannot carry one): leave thinking off there.
  const forced = choice?.['type'] === 'any' || choice?.['type'] === 'tool';
  const effort = forced || lastAssistantUsedTools ? undefined : body['reasoning_effort'];
  const limit = body['max_completion_tokens'] ?? body['max_tokens'];
  const plan = planThinking(effort, typeof limit === 'number' ? limit : undefined, DEFAULT_MAX_TOKENS);

  const out: JsonObject = {};
  const model = ctx.model ?? body['model'];
  if (model !== undefined) out['model'] = model;
  out['max_tokens'] = plan.maxTokens;
  if (system !== '') out['system'] = system;
  out['messages'] = messages;
  const stops = stopSequences(body['stop']);
  if (stops.length > 0) out['stop_sequences'] = stops;
  if (plan.thinking) out['thinking'] = plan.thinking;
  else {
    // Thinking accepts neither a temperature nor a narrow top_p; the compat layer caps temperature at 1.
    if (typeof body['temperature'] === 'number') out['temperature'] = Math.min(body['temperature'], 1);
    if (typeof body['top_p'] === 'number') out['top_p'] = body['top_p'];
  }
  if (typeof body['user'] === 'string') out['metadata'] = { user_id: body['user'] };
  if (toolList.length > 0) out['tools'] = toolList;
  if (choice) out['tool_choice'] = choice;
  if (ctx.stream) out['stream'] = true;
  // Dropped, no Anthropic equivalent: seed, penalties, logit_bias, logprobs, store, metadata,
  // service_tier, prediction, stream_options (Anthropic always streams usage).
  return out;
}

/** Anthropic Message → chat.completion. */
function chatResponse(body: JsonObject, ctx: ConversionContext): JsonObject {
  const texts: string[] = [];
  const reasoning: string[] = [];
  const calls: JsonObject[] = [];
  for (const block of Array.isArray(body['content']) ? body['content'] : []) {
    if (!isJsonObject(block)) continue;
    if (block['type'] === 'text' && typeof block['text'] === 'string') texts.push(block['text']);
    else if (block['type'] === 'thinking' && typeof block['thinking'] === 'string') reasoning.push(block['thinking']);
    else if (block['type'] === 'tool_use') {
      const fn = { name: block['name'], arguments: stringifyToolInput(block['input']) };
      calls.push({ id: block['id'], type: 'function', function: fn });
    }
    // redacted_thinking and server-tool blocks have no Chat form.
  }
  const message: JsonObject = { role: 'assistant', content: texts.length > 0 ? texts.join('') : null, refusal: null };
  // DeepSeek's field name, which several OpenAI-compatible clients read (gateway choice).
  if (reasoning.length > 0) message['reasoning_content'] = reasoning.join('');
  if (calls.length > 0) message['tool_calls'] = calls;
  return {
    id: typeof body['id'] === 'string' ? body['id'] : `chatcmpl-${randomUUID()}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: typeof body['model'] === 'string' ? body['model'] : (ctx.model ?? ''),
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishReasonFromStopReason(body['stop_reason']) }],
    usage: chatUsage(tokensFromAnthropicUsage(body['usage'])),
  };
}

export const openaiChatToAnthropicMessages: Converter = {
  from: 'openai-chat',
  to: 'anthropic-messages',
  request: anthropicRequest,
  response: chatResponse,
  stream: createAnthropicToChatStream,
};
