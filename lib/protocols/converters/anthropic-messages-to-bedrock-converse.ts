import { randomUUID } from 'node:crypto';
import { ProtocolNotSupportedError } from '../../errors.ts';
import type { JsonObject } from '../types.ts';
import type { ConversionContext, Converter } from './converter.ts';
import { documentFormatFromMime, documentName, imageFormatFromMime } from './bedrock-media.ts';
import { bedrockStopToAnthropic } from './bedrock-stop-reasons.ts';
import { createBedrockToAnthropicStream } from './anthropic-messages-to-bedrock-converse-stream.ts';
import { bedrockUsageToAnthropic } from './bedrock-usage.ts';
import { inferenceConfig, mergeTurns, toolConfig, toolResultContent } from './converse-request-parts.ts';
import type { ConverseToolChoice, ConverseTurn } from './converse-request-parts.ts';
import { asArray, asObject, asString } from './json-narrowing.ts';
import { isSigned } from '../unsigned-thinking.ts';

// Anthropic Messages client → Bedrock Converse provider (docs/protocols.md#converse-requests); the
// stream is anthropic-messages-to-bedrock-converse-stream.ts. Anthropic's `cache_control`
// on a block becomes a Bedrock `cachePoint` block right after it, which is how Bedrock marks a prefix.

const unsupported = (what: string): ProtocolNotSupportedError =>
  new ProtocolNotSupportedError(`${what} cannot be sent to Bedrock Converse`);

const CACHE_POINT: JsonObject = { cachePoint: { type: 'default' } };

function imageBlock(source: JsonObject): JsonObject {
  if (source['type'] !== 'base64') throw unsupported(`an image with a ${String(source['type'])} source (Bedrock takes only bytes)`);
  const format = imageFormatFromMime(asString(source['media_type']) ?? '');
  if (!format) throw unsupported(`an image of type ${String(source['media_type'])}`);
  return { image: { format, source: { bytes: source['data'] } } };
}

function documentBlock(block: JsonObject): JsonObject {
  const source = asObject(block['source']) ?? {};
  const name = documentName(block['title']);
  if (source['type'] === 'text' && typeof source['data'] === 'string') {
    return { document: { format: 'txt', name, source: { bytes: Buffer.from(source['data']).toString('base64') } } };
  }
  const format = documentFormatFromMime(asString(source['media_type']) ?? '');
  if (source['type'] !== 'base64' || !format) throw unsupported(`a document with a ${String(source['type'])} source`);
  return { document: { format, name, source: { bytes: source['data'] } } };
}

function toolResultBlock(block: JsonObject): JsonObject {
  const content = block['content'];
  const items =
    typeof content === 'string'
      ? [{ text: content }]
      : asArray(content).map((item) => {
          const c = asObject(item) ?? {};
          if (c['type'] === 'text') return { text: c['text'] };
          if (c['type'] === 'image') return imageBlock(asObject(c['source']) ?? {});
          if (c['type'] === 'document') return documentBlock(c);
          throw unsupported(`a ${String(c['type'])} block inside a tool_result`);
        });
  const result: JsonObject = { toolUseId: block['tool_use_id'], content: toolResultContent(items) };
  if (block['is_error'] === true) result['status'] = 'error';
  return { toolResult: result };
}

function converseBlock(block: JsonObject): JsonObject | undefined {
  switch (block['type']) {
    case 'text':
      return block['text'] === '' ? undefined : { text: block['text'] };
    case 'image':
      return imageBlock(asObject(block['source']) ?? {});
    case 'document':
      return documentBlock(block);
    case 'tool_use':
      return { toolUse: { toolUseId: block['id'], name: block['name'], input: block['input'] ?? {} } };
    case 'tool_result':
      return toolResultBlock(block);
    case 'thinking':
      // Claude on Bedrock refuses a thinking block without the signature it issued
      // (docs/protocols.md#thinking-signatures): an unsigned one is dropped from the history.
      if (!isSigned(block['signature'])) return undefined;
      return { reasoningContent: { reasoningText: { text: block['thinking'], signature: block['signature'] } } };
    case 'redacted_thinking':
      return { reasoningContent: { redactedContent: block['data'] } };
    default:
      throw unsupported(`a ${String(block['type'])} content block`);
  }
}

function converseBlocks(content: unknown): JsonObject[] {
  if (typeof content === 'string') return content === '' ? [] : [{ text: content }];
  const out: JsonObject[] = [];
  for (const item of asArray(content)) {
    const block = asObject(item) ?? {};
    const converted = converseBlock(block);
    if (converted) out.push(converted);
    if (block['cache_control'] != null) out.push(CACHE_POINT);
  }
  return out;
}

function converseTools(tools: unknown): JsonObject[] {
  const out: JsonObject[] = [];
  for (const tool of asArray(tools)) {
    const t = asObject(tool) ?? {};
    // Server tools (web search, code execution...) carry a versioned `type` and run at Anthropic only.
    if (t['type'] !== undefined && t['type'] !== 'custom') throw unsupported(`the ${String(t['type'])} server tool`);
    const spec: JsonObject = { name: t['name'] };
    if (typeof t['description'] === 'string') spec['description'] = t['description'];
    spec['inputSchema'] = { json: t['input_schema'] ?? { type: 'object', properties: {} } };
    out.push({ toolSpec: spec });
    if (t['cache_control'] != null) out.push(CACHE_POINT);
  }
  return out;
}

function converseToolChoice(choice: unknown): ConverseToolChoice {
  const c = asObject(choice);
  switch (c?.['type']) {
    case undefined:
      return undefined;
    case 'auto':
      return { auto: {} };
    case 'any':
      return { any: {} };
    case 'none':
      return 'none';
    case 'tool':
      return { tool: { name: String(c['name']) } };
    default:
      throw unsupported(`tool_choice ${JSON.stringify(choice)}`);
  }
}

function request(body: JsonObject): JsonObject {
  if (!Array.isArray(body['messages'])) throw unsupported('a request without a messages list');
  const turns: ConverseTurn[] = body['messages'].map((m: unknown) => {
    const message = asObject(m) ?? {};
    const role = message['role'];
    if (role !== 'user' && role !== 'assistant') throw unsupported(`a message with role ${JSON.stringify(role)}`);
    return { role, content: converseBlocks(message['content']) };
  });
  const messages = mergeTurns(turns);
  const out: JsonObject = { messages };
  const system = converseBlocks(body['system']);
  if (system.some((b) => !('text' in b || 'cachePoint' in b))) throw unsupported('a system block that is not text');
  if (system.length > 0) out['system'] = system;
  const inference = inferenceConfig({
    maxTokens: body['max_tokens'],
    temperature: body['temperature'],
    topP: body['top_p'],
    stop: body['stop_sequences'],
  });
  if (inference) out['inferenceConfig'] = inference;
  const tools = toolConfig(converseTools(body['tools']), converseToolChoice(body['tool_choice']), messages);
  if (tools) out['toolConfig'] = tools;
  // Claude on Bedrock takes its native extras in additionalModelRequestFields.
  const extra: JsonObject = {};
  if (typeof body['top_k'] === 'number') extra['top_k'] = body['top_k'];
  if (asObject(body['thinking'])) extra['thinking'] = body['thinking'];
  if (Object.keys(extra).length > 0) out['additionalModelRequestFields'] = extra;
  return out;
}

function anthropicBlock(block: unknown): JsonObject | undefined {
  const b = asObject(block) ?? {};
  if (typeof b['text'] === 'string') return { type: 'text', text: b['text'] };
  const use = asObject(b['toolUse']);
  if (use) return { type: 'tool_use', id: use['toolUseId'], name: use['name'], input: use['input'] ?? {} };
  const reasoning = asObject(b['reasoningContent']);
  const thought = asObject(reasoning?.['reasoningText']);
  if (thought) return { type: 'thinking', thinking: thought['text'] ?? '', signature: thought['signature'] ?? '' };
  if (typeof reasoning?.['redactedContent'] === 'string') return { type: 'redacted_thinking', data: reasoning['redactedContent'] };
  return undefined;
}

function response(body: JsonObject, ctx: ConversionContext): JsonObject {
  const content = asArray(asObject(asObject(body['output'])?.['message'])?.['content']);
  const stopReason = bedrockStopToAnthropic(body['stopReason']);
  // Claude on Bedrock names the matched sequence in its native extras, when it does at all.
  const matched = asString(asObject(body['additionalModelResponseFields'])?.['stop_sequence']);
  return {
    id: `msg_${randomUUID().replaceAll('-', '')}`,
    type: 'message',
    role: 'assistant',
    model: ctx.model ?? '',
    content: content.map(anthropicBlock).filter((b): b is JsonObject => b !== undefined),
    stop_reason: stopReason,
    stop_sequence: stopReason === 'stop_sequence' ? (matched ?? null) : null,
    usage: bedrockUsageToAnthropic(body['usage']),
  };
}

export const anthropicMessagesToBedrockConverse: Converter = {
  from: 'anthropic-messages',
  to: 'bedrock-converse',
  request,
  response,
  stream: createBedrockToAnthropicStream,
};
