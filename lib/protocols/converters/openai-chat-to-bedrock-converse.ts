import { randomUUID } from 'node:crypto';
import { ProtocolNotSupportedError } from '../../errors.ts';
import type { JsonObject } from '../types.ts';
import type { ConversionContext, Converter } from './converter.ts';
import { createBedrockToOpenaiChatStream } from './openai-chat-to-bedrock-converse-stream.ts';
import { documentFormatFromMime, documentName, imageFormatFromMime, parseDataUrl } from './bedrock-media.ts';
import { bedrockStopToOpenai } from './bedrock-stop-reasons.ts';
import { bedrockUsageToOpenai } from './bedrock-usage.ts';
import { inferenceConfig, mergeTurns, toolConfig, toolResultContent } from './converse-request-parts.ts';
import type { ConverseToolChoice, ConverseTurn } from './converse-request-parts.ts';
import { asArray, asObject, asString } from './json-narrowing.ts';
import { DEFAULT_MAX_TOKENS } from './openai-chat-to-anthropic-messages.ts';
import type { ThinkingPlan } from './thinking-budget.ts';
import { planThinking } from './thinking-budget.ts';
import { parseToolArguments } from './tool-arguments.ts';

// OpenAI Chat Completions client → Bedrock Converse provider (docs/protocols.md#converse-requests); the
// stream is openai-chat-to-bedrock-converse-stream.ts. The body names no model
// and no `stream`: both are in the URL path (`/model/{id}/converse[-stream]`), which the provider builds.

const unsupported = (what: string): ProtocolNotSupportedError =>
  new ProtocolNotSupportedError(`${what} cannot be sent to Bedrock Converse`);

function imageBlock(part: JsonObject): JsonObject {
  const image = part['image_url'];
  const url = typeof image === 'string' ? image : asString(asObject(image)?.['url']);
  if (url === undefined) throw unsupported('an image_url part without a url');
  const data = parseDataUrl(url);
  // Converters do no I/O, and Converse has no URL image source: only inline bytes go through.
  if (!data) throw unsupported('an image given by URL rather than a base64 data URL');
  const format = imageFormatFromMime(data.mime);
  if (!format) throw unsupported(`an image of type ${data.mime}`);
  return { image: { format, source: { bytes: data.data } } };
}

function documentBlock(part: JsonObject): JsonObject {
  const file = asObject(part['file']) ?? {};
  const fileData = asString(file['file_data']);
  if (fileData === undefined) throw unsupported('a file part given by file_id');
  // file_data is plain base64 in the SDK types and a data URL in OpenAI's PDF guide: take both.
  const parsed = parseDataUrl(fileData);
  const format = parsed ? documentFormatFromMime(parsed.mime) : 'pdf';
  if (!format) throw unsupported(`a file of type ${parsed?.mime ?? 'unknown'}`);
  return { document: { format, name: documentName(file['filename']), source: { bytes: parsed ? parsed.data : fileData } } };
}

function textBlocks(content: unknown, what: string): JsonObject[] {
  if (content == null) return [];
  if (typeof content === 'string') return content === '' ? [] : [{ text: content }];
  if (!Array.isArray(content)) throw unsupported(`${what} content that is neither a string nor a list`);
  const blocks: JsonObject[] = [];
  for (const part of content) {
    const p = asObject(part);
    const text = p?.['type'] === 'text' ? p['text'] : p?.['type'] === 'refusal' ? p['refusal'] : undefined;
    if (typeof text !== 'string') throw unsupported(`a ${String(p?.['type'])} part in ${what} content`);
    // Bedrock rejects blank text blocks.
    if (text !== '') blocks.push({ text });
  }
  return blocks;
}

function userBlocks(content: unknown): JsonObject[] {
  if (!Array.isArray(content)) return textBlocks(content, 'user');
  return content.map((part: unknown) => {
    const p = asObject(part) ?? {};
    if (p['type'] === 'image_url') return imageBlock(p);
    if (p['type'] === 'file') return documentBlock(p);
    if (p['type'] !== 'text') throw unsupported(`a ${String(p['type'])} content part`);
    return textBlocks([p], 'user')[0];
  }).filter((b): b is JsonObject => b !== undefined);
}

function toolUseBlock(call: unknown): JsonObject {
  const c = asObject(call) ?? {};
  const fn = asObject(c['function']) ?? {};
  // toolUse.input must be an object; malformed arguments become {} (see tool-arguments.ts).
  return { toolUse: { toolUseId: c['id'], name: fn['name'], input: parseToolArguments(fn['arguments']) } };
}

function converseTurns(messages: readonly unknown[]): { system: JsonObject[]; turns: ConverseTurn[] } {
  const system: JsonObject[] = [];
  const turns: ConverseTurn[] = [];
  for (const message of messages) {
    const m = asObject(message);
    switch (m?.['role']) {
      case 'system':
      case 'developer':
        system.push(...textBlocks(m['content'], 'system'));
        break;
      case 'user':
        turns.push({ role: 'user', content: userBlocks(m['content']) });
        break;
      case 'assistant':
        turns.push({ role: 'assistant', content: [...textBlocks(m['content'], 'assistant'), ...asArray(m['tool_calls']).map(toolUseBlock)] });
        break;
      case 'tool': {
        const toolResult = { toolUseId: m['tool_call_id'], content: toolResultContent(textBlocks(m['content'], 'tool')) };
        turns.push({ role: 'user', content: [{ toolResult }] });
        break;
      }
      default:
        throw unsupported(`a message with role ${JSON.stringify(m?.['role'])}`);
    }
  }
  return { system, turns };
}

function converseTools(tools: unknown): JsonObject[] {
  return asArray(tools).map((tool) => {
    const t = asObject(tool);
    const fn = asObject(t?.['function']);
    if (t?.['type'] !== 'function' || !fn) throw unsupported(`a tool of type ${JSON.stringify(t?.['type'])}`);
    const spec: JsonObject = { name: fn['name'] };
    if (typeof fn['description'] === 'string') spec['description'] = fn['description'];
    spec['inputSchema'] = { json: fn['parameters'] ?? { type: 'object', properties: {} } };
    return { toolSpec: spec };
  });
}

function converseToolChoice(choice: unknown): ConverseToolChoice {
  if (choice == null) return undefined;
  if (choice === 'auto') return { auto: {} };
  if (choice === 'required') return { any: {} };
  if (choice === 'none') return 'none';
  const c = asObject(choice);
  const name = asString(asObject(c?.['function'])?.['name']);
  if (c?.['type'] === 'function' && name !== undefined) return { tool: { name } };
  throw unsupported(`tool_choice ${JSON.stringify(choice)}`);
}

/**
 * Claude on Bedrock takes Anthropic's thinking control in `additionalModelRequestFields`; other
 * Bedrock models have no such field, so only a model id naming Claude gets it. Thinking stays off where
 * Anthropic refuses it: with a forced tool, and in a tool loop whose last assistant turn carries no
 * signed thinking block (Chat history cannot carry one).
 */
function claudeThinking(body: JsonObject, model: unknown): ThinkingPlan | undefined {
  if (typeof model !== 'string' || !/claude/i.test(model)) return undefined;
  const choice = body['tool_choice'];
  if (choice === 'required' || asObject(choice)?.['type'] === 'function') return undefined;
  const lastAssistant = asArray(body['messages']).map(asObject).filter((m) => m?.['role'] === 'assistant').at(-1);
  if (asArray(lastAssistant?.['tool_calls']).length > 0) return undefined;
  const limit = body['max_completion_tokens'] ?? body['max_tokens'];
  const plan = planThinking(body['reasoning_effort'], typeof limit === 'number' ? limit : undefined, DEFAULT_MAX_TOKENS);
  return plan.thinking ? plan : undefined;
}

function request(body: JsonObject, ctx: ConversionContext): JsonObject {
  if (!Array.isArray(body['messages'])) throw unsupported('a request without a messages list');
  if (typeof body['n'] === 'number' && body['n'] > 1) throw unsupported('n > 1');
  if (body['logprobs'] === true) throw unsupported('logprobs');
  if (Array.isArray(body['functions']) || body['function_call'] !== undefined) throw unsupported('legacy functions');
  const format = asString(asObject(body['response_format'])?.['type']);
  if (format !== undefined && format !== 'text') throw unsupported(`response_format ${format}`);

  const { system, turns } = converseTurns(body['messages']);
  const messages = mergeTurns(turns);
  const out: JsonObject = { messages };
  if (system.length > 0) out['system'] = system;
  const thinking = claudeThinking(body, ctx.model ?? body['model']);
  const inference = inferenceConfig({
    maxTokens: thinking ? thinking.maxTokens : (body['max_completion_tokens'] ?? body['max_tokens']),
    // Thinking accepts neither a temperature nor a narrow top_p (as toward Anthropic).
    temperature: thinking ? undefined : body['temperature'],
    topP: thinking ? undefined : body['top_p'],
    stop: body['stop'],
  });
  if (inference) out['inferenceConfig'] = inference;
  const tools = toolConfig(converseTools(body['tools']), converseToolChoice(body['tool_choice']), messages);
  if (tools) out['toolConfig'] = tools;
  if (thinking) out['additionalModelRequestFields'] = { thinking: thinking.thinking };
  return out;
}

/** Converse output message → one chat.completion choice message. */
function chatMessage(content: readonly unknown[]): JsonObject {
  let text: string | null = null;
  let reasoning = '';
  const toolCalls: JsonObject[] = [];
  for (const block of content) {
    const b = asObject(block) ?? {};
    if (typeof b['text'] === 'string') text = (text ?? '') + b['text'];
    const use = asObject(b['toolUse']);
    if (use) {
      const fn = { name: use['name'], arguments: JSON.stringify(use['input'] ?? {}) };
      toolCalls.push({ id: use['toolUseId'], type: 'function', function: fn });
    }
    const thought = asString(asObject(asObject(b['reasoningContent'])?.['reasoningText'])?.['text']);
    if (thought !== undefined) reasoning += thought;
  }
  const message: JsonObject = { role: 'assistant', content: text, refusal: null };
  if (toolCalls.length > 0) message['tool_calls'] = toolCalls;
  // No standard Chat field for reasoning: the DeepSeek convention most clients know.
  if (reasoning !== '') message['reasoning_content'] = reasoning;
  return message;
}

function response(body: JsonObject, ctx: ConversionContext): JsonObject {
  const content = asArray(asObject(asObject(body['output'])?.['message'])?.['content']);
  return {
    id: `chatcmpl-${randomUUID().replaceAll('-', '')}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: ctx.model ?? '',
    choices: [{ index: 0, message: chatMessage(content), logprobs: null, finish_reason: bedrockStopToOpenai(body['stopReason']) }],
    usage: bedrockUsageToOpenai(body['usage']),
  };
}

export const openaiChatToBedrockConverse: Converter = {
  from: 'openai-chat',
  to: 'bedrock-converse',
  request,
  response,
  stream: createBedrockToOpenaiChatStream,
};
