import { ProtocolNotSupportedError } from '../../errors.ts';
import type { JsonObject } from '../types.ts';
import { isJsonObject } from '../types.ts';
import { anthropicMessageId, createChatToAnthropicStream } from './anthropic-messages-to-openai-chat-stream.ts';
import { anthropicUsage, tokensFromChatUsage } from './anthropic-chat-usage.ts';
import type { ConversionContext, Converter } from './converter.ts';
import { stopReasonFromFinishReason } from './stop-reasons.ts';
import { effortFromThinking } from './thinking-budget.ts';
import { parseToolArguments, stringifyToolInput } from './tool-arguments.ts';

// An Anthropic Messages client served by a provider that speaks OpenAI Chat Completions.
// Request: docs/protocols.md#anthropic-to-chat-request; response and stream:
// docs/protocols.md#chat-and-anthropic-responses, docs/protocols.md#chat-stream-to-anthropic-events.

const unsupported = (what: string): ProtocolNotSupportedError =>
  new ProtocolNotSupportedError(`${what} cannot be sent to a provider that only speaks OpenAI Chat Completions`);

function blocksOf(content: unknown, where: string): unknown[] {
  if (!Array.isArray(content)) throw unsupported(`${where} content that is neither a string nor a list of blocks`);
  return content;
}

/** System prompt: a string or text blocks; joined with `\n` because not every chat provider takes parts. */
function systemText(system: unknown): string {
  if (typeof system === 'string') return system;
  return blocksOf(system, 'system')
    .map((b) => {
      if (isJsonObject(b) && b['type'] === 'text' && typeof b['text'] === 'string') return b['text'];
      throw unsupported('a non-text system block');
    })
    .join('\n');
}

function imagePart(block: JsonObject): JsonObject {
  const src = isJsonObject(block['source']) ? block['source'] : {};
  if (src['type'] === 'base64' && typeof src['media_type'] === 'string' && typeof src['data'] === 'string') {
    return { type: 'image_url', image_url: { url: `data:${src['media_type']};base64,${src['data']}` } };
  }
  if (src['type'] === 'url' && typeof src['url'] === 'string') return { type: 'image_url', image_url: { url: src['url'] } };
  // `file` sources point into Anthropic's Files API, which an OpenAI provider cannot read.
  throw unsupported(`an image whose source is ${JSON.stringify(src['type'])}`);
}

/** PDFs travel as an OpenAI `file` part holding a data URL; plain-text documents as text. */
function documentPart(block: JsonObject): JsonObject {
  const src = isJsonObject(block['source']) ? block['source'] : {};
  if (src['type'] === 'text' && typeof src['data'] === 'string') return { type: 'text', text: src['data'] };
  if (src['type'] === 'base64' && src['media_type'] === 'application/pdf' && typeof src['data'] === 'string') {
    const filename = typeof block['title'] === 'string' ? block['title'] : 'document.pdf';
    return { type: 'file', file: { filename, file_data: `data:application/pdf;base64,${src['data']}` } };
  }
  throw unsupported('a document that is neither base64 PDF nor text');
}

/** A user content block that has a Chat content part; anything else (tool results aside) is refused. */
function userPart(block: JsonObject): JsonObject {
  switch (block['type']) {
    case 'text':
      return { type: 'text', text: block['text'] };
    case 'image':
      return imagePart(block);
    case 'document':
      return documentPart(block);
    default:
      throw unsupported(`a user content block of type ${JSON.stringify(block['type'])}`);
  }
}

/**
 * A tool result becomes a `tool` message of text. Chat has no error flag, so an error result is
 * prefixed `Error: `; images and documents in it have no place in a tool message and go to the user
 * message that follows (gateway choices).
 */
function toolMessage(block: JsonObject, followingParts: JsonObject[]): JsonObject {
  if (typeof block['tool_use_id'] !== 'string') throw unsupported('a tool_result without tool_use_id');
  const content = block['content'];
  let text = '';
  if (typeof content === 'string') text = content;
  else if (content != null) {
    const texts: string[] = [];
    for (const b of blocksOf(content, 'tool_result')) {
      if (!isJsonObject(b)) throw unsupported('a tool_result block that is not an object');
      if (b['type'] === 'text' && typeof b['text'] === 'string') texts.push(b['text']);
      else followingParts.push(userPart(b));
    }
    text = texts.join('\n');
  }
  if (block['is_error'] === true) text = `Error: ${text}`;
  return { role: 'tool', tool_call_id: block['tool_use_id'], content: text };
}

/** One text part becomes a plain string, the form every chat-compatible provider accepts. */
function partsContent(parts: JsonObject[]): unknown {
  const only = parts[0];
  return parts.length === 1 && only?.['type'] === 'text' ? only['text'] : parts;
}

/** Tool results first, as `tool` messages, then the rest of the turn as one user message. */
function userMessages(content: unknown): JsonObject[] {
  if (typeof content === 'string') return [{ role: 'user', content }];
  const tools: JsonObject[] = [];
  const parts: JsonObject[] = [];
  for (const block of blocksOf(content, 'user')) {
    if (!isJsonObject(block)) throw unsupported('a content block that is not an object');
    if (block['type'] === 'tool_result') tools.push(toolMessage(block, parts));
    else parts.push(userPart(block));
  }
  return parts.length > 0 ? [...tools, { role: 'user', content: partsContent(parts) }] : tools;
}

/** Text blocks concatenate, tool_use blocks become tool_calls; thinking is dropped (Chat cannot carry it back). */
function assistantMessage(content: unknown): JsonObject {
  if (typeof content === 'string') return { role: 'assistant', content };
  const texts: string[] = [];
  const calls: JsonObject[] = [];
  for (const block of blocksOf(content, 'assistant')) {
    if (!isJsonObject(block)) throw unsupported('a content block that is not an object');
    const type = block['type'];
    if (type === 'text' && typeof block['text'] === 'string') texts.push(block['text']);
    else if (type === 'tool_use') {
      const fn = { name: block['name'], arguments: stringifyToolInput(block['input']) };
      calls.push({ id: block['id'], type: 'function', function: fn });
    } else if (type !== 'thinking' && type !== 'redacted_thinking') {
      throw unsupported(`an assistant content block of type ${JSON.stringify(type)}`);
    }
  }
  // Chat wants `content: null` beside tool calls, and a string otherwise.
  const message: JsonObject = { role: 'assistant', content: texts.length > 0 ? texts.join('') : calls.length > 0 ? null : '' };
  if (calls.length > 0) message['tool_calls'] = calls;
  return message;
}

function chatTool(tool: unknown): JsonObject {
  if (!isJsonObject(tool)) throw unsupported('a tool that is not an object');
  // Server tools (web search, code execution...) carry a versioned `type` and run at Anthropic only.
  if (tool['type'] !== undefined && tool['type'] !== 'custom') {
    throw unsupported(`the server tool ${JSON.stringify(tool['type'])}`);
  }
  const fn: JsonObject = { name: tool['name'] };
  if (typeof tool['description'] === 'string') fn['description'] = tool['description'];
  fn['parameters'] = tool['input_schema'] ?? { type: 'object', properties: {} };
  if (typeof tool['strict'] === 'boolean') fn['strict'] = tool['strict'];
  return { type: 'function', function: fn };
}

function chatToolChoice(choice: JsonObject): unknown {
  switch (choice['type']) {
    case 'auto':
      return 'auto';
    case 'any':
      return 'required';
    case 'none':
      return 'none';
    case 'tool':
      return { type: 'function', function: { name: choice['name'] } };
    default:
      throw unsupported(`tool_choice ${JSON.stringify(choice['type'])}`);
  }
}

function chatRequest(body: JsonObject, ctx: ConversionContext): JsonObject {
  const messages: JsonObject[] = [];
  if (body['system'] !== undefined) {
    const text = systemText(body['system']);
    if (text !== '') messages.push({ role: 'system', content: text });
  }
  for (const m of Array.isArray(body['messages']) ? body['messages'] : []) {
    if (!isJsonObject(m)) throw unsupported('a message that is not an object');
    if (m['role'] === 'assistant') messages.push(assistantMessage(m['content']));
    else messages.push(...userMessages(m['content']));
  }

  const out: JsonObject = {};
  const model = ctx.model ?? body['model'];
  if (model !== undefined) out['model'] = model;
  out['messages'] = messages;
  // `max_tokens` as Anthropic names it; the provider layer renames it for providers that want
  // `max_completion_tokens`.
  if (typeof body['max_tokens'] === 'number') out['max_tokens'] = body['max_tokens'];
  for (const key of ['temperature', 'top_p']) if (typeof body[key] === 'number') out[key] = body[key];
  // OpenAI allows at most 4 stop sequences, other chat providers more: the provider judges the count.
  const stops = body['stop_sequences'];
  if (Array.isArray(stops) && stops.length > 0) out['stop'] = stops;
  const metadata = body['metadata'];
  if (isJsonObject(metadata) && typeof metadata['user_id'] === 'string') out['user'] = metadata['user_id'];
  const effort = effortFromThinking(body['thinking']);
  if (effort !== undefined) out['reasoning_effort'] = effort;

  const tools = Array.isArray(body['tools']) ? body['tools'] : [];
  if (tools.length > 0) {
    out['tools'] = tools.map(chatTool);
    const choice = body['tool_choice'];
    if (isJsonObject(choice)) {
      out['tool_choice'] = chatToolChoice(choice);
      if (choice['disable_parallel_tool_use'] === true) out['parallel_tool_calls'] = false;
    }
  }
  if (ctx.stream) {
    out['stream'] = true;
    // Anthropic clients always get usage in message_delta; OpenAI sends it only when asked.
    out['stream_options'] = { include_usage: true };
  }
  // Dropped: top_k (no Chat field), service_tier and cache_control (Chat providers cache on their own).
  return out;
}

/** Chat completion → Anthropic Message. */
function anthropicResponse(body: JsonObject, ctx: ConversionContext): JsonObject {
  const choices = Array.isArray(body['choices']) ? body['choices'] : [];
  const choice: JsonObject = choices.find(isJsonObject) ?? {};
  const message = isJsonObject(choice['message']) ? choice['message'] : {};
  const content: JsonObject[] = [];
  // DeepSeek names the reasoning `reasoning_content`, OpenRouter and vLLM `reasoning`. Chat has no
  // signature to give; clients that send thinking back get it dropped by the reverse mapping anyway.
  const reasoning = message['reasoning_content'] ?? message['reasoning'];
  if (typeof reasoning === 'string' && reasoning !== '') {
    content.push({ type: 'thinking', thinking: reasoning, signature: '' });
  }
  const text = chatText(message['content']) || (typeof message['refusal'] === 'string' ? message['refusal'] : '');
  if (text !== '') content.push({ type: 'text', text });
  const calls = Array.isArray(message['tool_calls']) ? message['tool_calls'].filter(isJsonObject) : [];
  for (const call of calls) {
    const fn = isJsonObject(call['function']) ? call['function'] : {};
    content.push({ type: 'tool_use', id: call['id'], name: fn['name'], input: parseToolArguments(fn['arguments']) });
  }
  const tokens = tokensFromChatUsage(body['usage']) ?? { input: 0, cacheCreation: 0, cacheRead: 0, output: 0 };
  return {
    id: anthropicMessageId(body['id']),
    type: 'message',
    role: 'assistant',
    model: typeof body['model'] === 'string' ? body['model'] : (ctx.model ?? ''),
    content,
    stop_reason: stopReasonFromFinishReason(choice['finish_reason'], calls.length > 0),
    stop_sequence: null,
    usage: anthropicUsage(tokens),
  };
}

/** `message.content` is a string, or (from some providers) a list of text parts. */
function chatText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((p: unknown) => (isJsonObject(p) && typeof p['text'] === 'string' ? p['text'] : '')).join('');
}

export const anthropicMessagesToOpenaiChat: Converter = {
  from: 'anthropic-messages',
  to: 'openai-chat',
  request: chatRequest,
  response: anthropicResponse,
  stream: createChatToAnthropicStream,
};
