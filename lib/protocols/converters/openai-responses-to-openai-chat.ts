import { ProtocolNotSupportedError } from '../../errors.ts';
import type { JsonObject } from '../types.ts';
import { isJsonObject } from '../types.ts';
import type { ConversionContext, Converter } from './converter.ts';
import { chatToResponse } from './openai-responses-to-openai-chat-response.ts';
import { createChatToResponsesStream } from './openai-responses-to-openai-chat-stream.ts';

// OpenAI Responses client → a provider that only has Chat Completions; the answer goes back as a
// Response object or its event stream (docs/protocols.md#responses-over-chat).

const unsupported = (what: string): ProtocolNotSupportedError =>
  new ProtocolNotSupportedError(`${what} cannot be sent to a provider that only speaks OpenAI Chat Completions`);

/** Responses input content part → Chat content part. */
function chatPart(part: unknown): JsonObject {
  if (!isJsonObject(part)) throw unsupported('a content part that is not an object');
  switch (part['type']) {
    case 'input_text':
    case 'output_text':
      return { type: 'text', text: part['text'] };
    case 'refusal':
      return { type: 'refusal', refusal: part['refusal'] };
    case 'input_image': {
      // Chat takes an image only by URL (or data URL); an uploaded file id has no Chat equivalent.
      if (typeof part['image_url'] !== 'string') throw unsupported('an input_image given by file_id');
      const image: JsonObject = { url: part['image_url'] };
      if (typeof part['detail'] === 'string') image['detail'] = part['detail'];
      return { type: 'image_url', image_url: image };
    }
    case 'input_file': {
      const file: JsonObject = {};
      for (const key of ['file_id', 'file_data', 'filename']) if (typeof part[key] === 'string') file[key] = part[key];
      if (!('file_id' in file) && !('file_data' in file)) throw unsupported('an input_file given by file_url');
      return { type: 'file', file };
    }
    case 'input_audio':
      return { type: 'input_audio', input_audio: part['input_audio'] };
    default:
      throw unsupported(`content part type ${JSON.stringify(part['type'])}`);
  }
}

/** One text part becomes a plain string: the form every chat-compatible provider accepts. */
function chatContent(content: unknown): unknown {
  if (typeof content === 'string' || content == null) return content ?? '';
  if (!Array.isArray(content)) throw unsupported('message content that is neither a string nor a list');
  const parts = content.map(chatPart);
  const only = parts[0];
  return parts.length === 1 && only?.['type'] === 'text' ? only['text'] : parts;
}

/** function_call_output may be a string or a list of parts; Chat tool messages take text only. */
function toolOutput(output: unknown): string {
  if (typeof output === 'string') return output;
  if (!Array.isArray(output)) return JSON.stringify(output ?? '');
  return output
    .map((part: unknown) => {
      if (isJsonObject(part) && part['type'] === 'input_text' && typeof part['text'] === 'string') return part['text'];
      throw unsupported('a function_call_output holding non-text parts');
    })
    .join('');
}

function chatMessages(body: JsonObject): JsonObject[] {
  const messages: JsonObject[] = [];
  if (typeof body['instructions'] === 'string' && body['instructions'] !== '') {
    messages.push({ role: 'system', content: body['instructions'] });
  }
  const input = body['input'];
  if (typeof input === 'string') return [...messages, { role: 'user', content: input }];
  if (!Array.isArray(input)) throw unsupported('an input that is neither a string nor a list of items');
  for (const item of input) {
    if (!isJsonObject(item)) throw unsupported('an input item that is not an object');
    const type = item['type'] ?? 'message';
    if (type === 'message') {
      // Many chat-only providers reject `developer`; OpenAI treats `system` the same way.
      const role = item['role'] === 'developer' ? 'system' : item['role'];
      if (role !== 'user' && role !== 'assistant' && role !== 'system') throw unsupported(`message role ${JSON.stringify(role)}`);
      messages.push({ role, content: chatContent(item['content']) });
    } else if (type === 'function_call') {
      const call = { id: item['call_id'], type: 'function', function: { name: item['name'], arguments: item['arguments'] ?? '' } };
      // Chat puts every call of one turn on the assistant message that precedes the tool results.
      const last = messages[messages.length - 1];
      if (last?.['role'] === 'assistant') {
        last['tool_calls'] = [...(Array.isArray(last['tool_calls']) ? last['tool_calls'] : []), call];
      } else {
        messages.push({ role: 'assistant', content: null, tool_calls: [call] });
      }
    } else if (type === 'function_call_output') {
      messages.push({ role: 'tool', tool_call_id: item['call_id'], content: toolOutput(item['output']) });
    } else if (type === 'reasoning') {
      continue; // Chat cannot replay reasoning items; the provider reasons afresh.
    } else {
      throw unsupported(`input item type ${JSON.stringify(type)}`);
    }
  }
  return messages;
}

/** Responses function tools are flat; Chat nests them under `function`. */
function chatTools(tools: unknown[]): JsonObject[] {
  return tools.map((tool) => {
    if (!isJsonObject(tool) || tool['type'] !== 'function') {
      throw unsupported(`tool type ${JSON.stringify(isJsonObject(tool) ? tool['type'] : tool)}`);
    }
    const fn: JsonObject = { name: tool['name'] };
    for (const key of ['description', 'parameters', 'strict']) if (tool[key] !== undefined && tool[key] !== null) fn[key] = tool[key];
    return { type: 'function', function: fn };
  });
}

function namedFunction(choice: JsonObject): JsonObject {
  if (choice['type'] !== 'function') throw unsupported(`tool_choice type ${JSON.stringify(choice['type'])}`);
  return { type: 'function', function: { name: choice['name'] } };
}

function chatToolChoice(choice: unknown): unknown {
  if (typeof choice === 'string') return choice;
  if (!isJsonObject(choice)) throw unsupported('this tool_choice');
  if (choice['type'] === 'allowed_tools') {
    const tools = Array.isArray(choice['tools']) ? choice['tools'] : [];
    return {
      type: 'allowed_tools',
      allowed_tools: { mode: choice['mode'], tools: tools.map((t: unknown) => namedFunction(isJsonObject(t) ? t : {})) },
    };
  }
  return namedFunction(choice);
}

/** `text.format` (Responses) → `response_format` (Chat): the schema moves under `json_schema`. */
function responseFormat(format: JsonObject): JsonObject | undefined {
  if (format['type'] === 'json_object') return { type: 'json_object' };
  if (format['type'] !== 'json_schema') return undefined;
  const schema: JsonObject = { name: format['name'], schema: format['schema'] };
  for (const key of ['description', 'strict']) if (format[key] !== undefined) schema[key] = format[key];
  return { type: 'json_schema', json_schema: schema };
}

// Copied under the same name: their meaning is identical in both APIs.
const SAME_NAME = ['temperature', 'top_p', 'parallel_tool_calls', 'user', 'metadata'] as const;

function request(body: JsonObject, ctx: ConversionContext): JsonObject {
  // Chat is stateless: anything that refers to a stored response or conversation cannot be honoured.
  for (const key of ['previous_response_id', 'conversation', 'prompt']) {
    if (body[key] != null) throw unsupported(`\`${key}\` (server-side state)`);
  }
  if (body['background'] === true) throw unsupported('`background: true`');
  const out: JsonObject = {};
  const model = ctx.model ?? body['model'];
  if (model !== undefined) out['model'] = model;
  out['messages'] = chatMessages(body);
  if (Array.isArray(body['tools']) && body['tools'].length > 0) out['tools'] = chatTools(body['tools']);
  if (body['tool_choice'] != null) out['tool_choice'] = chatToolChoice(body['tool_choice']);
  if (typeof body['max_output_tokens'] === 'number') out['max_completion_tokens'] = body['max_output_tokens'];
  for (const key of SAME_NAME) if (body[key] != null) out[key] = body[key];
  const reasoning = body['reasoning'];
  if (isJsonObject(reasoning) && typeof reasoning['effort'] === 'string') out['reasoning_effort'] = reasoning['effort'];
  const text = body['text'];
  if (isJsonObject(text)) {
    const format = isJsonObject(text['format']) ? responseFormat(text['format']) : undefined;
    if (format) out['response_format'] = format;
    if (typeof text['verbosity'] === 'string') out['verbosity'] = text['verbosity'];
  }
  if (body['stream'] === true) {
    out['stream'] = true;
    // Responses always reports usage in its terminal event; Chat does only when asked.
    out['stream_options'] = { include_usage: true };
  }
  return out;
}

export const openaiResponsesToOpenaiChat: Converter = {
  from: 'openai-responses',
  to: 'openai-chat',
  request,
  response: (body, ctx) => chatToResponse(body, ctx),
  stream: (ctx) => createChatToResponsesStream(ctx),
};
