import { ProtocolNotSupportedError } from '../../errors.ts';
import type { JsonObject } from '../types.ts';
import type { ConversionContext, Converter } from './converter.ts';
import { createAnthropicToBedrockStream } from './bedrock-converse-to-anthropic-messages-stream.ts';
import { mimeFromDocumentFormat, mimeFromImageFormat } from './bedrock-media.ts';
import { anthropicStopToBedrock } from './bedrock-stop-reasons.ts';
import { anthropicUsageToBedrock } from './bedrock-usage.ts';
import { asArray, asObject, asString } from './json-narrowing.ts';
import { isSigned } from '../unsigned-thinking.ts';

// Bedrock Converse client → Anthropic Messages provider (docs/protocols.md#converse-requests); the
// stream is bedrock-converse-to-anthropic-messages-stream.ts. A Bedrock `cachePoint` block
// marks the end of a cacheable prefix: it becomes `cache_control` on the block before it.

const unsupported = (what: string): ProtocolNotSupportedError =>
  new ProtocolNotSupportedError(`${what} cannot be sent to an Anthropic Messages provider`);

/** Anthropic requires max_tokens; Converse makes it optional (gateway choice for the default). */
export const DEFAULT_ANTHROPIC_MAX_TOKENS = 4096;

const TEXT_DOCUMENTS = new Set(['txt', 'md', 'csv', 'html']);

function imageBlock(image: JsonObject): JsonObject {
  const data = asString(asObject(image['source'])?.['bytes']);
  const mediaType = mimeFromImageFormat(image['format']);
  if (data === undefined) throw unsupported('an image not given as bytes');
  if (!mediaType) throw unsupported(`an image of format ${JSON.stringify(image['format'])}`);
  return { type: 'image', source: { type: 'base64', media_type: mediaType, data } };
}

function documentBlock(doc: JsonObject): JsonObject {
  const source = asObject(doc['source']) ?? {};
  const format = asString(doc['format']) ?? '';
  const title = asString(doc['name']);
  const bytes = asString(source['bytes']);
  let anthropicSource: JsonObject;
  if (typeof source['text'] === 'string') anthropicSource = { type: 'text', media_type: 'text/plain', data: source['text'] };
  else if (bytes !== undefined && TEXT_DOCUMENTS.has(format)) {
    anthropicSource = { type: 'text', media_type: 'text/plain', data: Buffer.from(bytes, 'base64').toString('utf8') };
  } else if (bytes !== undefined && format === 'pdf') {
    anthropicSource = { type: 'base64', media_type: mimeFromDocumentFormat('pdf'), data: bytes };
  } else throw unsupported(`a ${format || 'untyped'} document`);
  return title === undefined ? { type: 'document', source: anthropicSource } : { type: 'document', source: anthropicSource, title };
}

function toolResultBlock(result: JsonObject): JsonObject {
  const content = asArray(result['content']).map((item) => {
    const c = asObject(item) ?? {};
    if (typeof c['text'] === 'string') return { type: 'text', text: c['text'] };
    if ('json' in c) return { type: 'text', text: JSON.stringify(c['json']) };
    if (asObject(c['image'])) return imageBlock(asObject(c['image']) ?? {});
    if (asObject(c['document'])) return documentBlock(asObject(c['document']) ?? {});
    throw unsupported(`a ${Object.keys(c)[0] ?? 'empty'} tool result item`);
  });
  const block: JsonObject = { type: 'tool_result', tool_use_id: result['toolUseId'], content };
  if (result['status'] === 'error') block['is_error'] = true;
  return block;
}

/** One Converse block → an Anthropic block; undefined for an empty text. Cache points are handled by the caller. */
function anthropicBlock(b: JsonObject): JsonObject | undefined {
  if (typeof b['text'] === 'string') return b['text'] === '' ? undefined : { type: 'text', text: b['text'] };
  const image = asObject(b['image']);
  if (image) return imageBlock(image);
  const doc = asObject(b['document']);
  if (doc) return documentBlock(doc);
  const use = asObject(b['toolUse']);
  if (use) return { type: 'tool_use', id: use['toolUseId'], name: use['name'], input: use['input'] ?? {} };
  const result = asObject(b['toolResult']);
  if (result) return toolResultBlock(result);
  const reasoning = asObject(b['reasoningContent']);
  const thought = asObject(reasoning?.['reasoningText']);
  // Anthropic refuses a thinking block without its signature: an unsigned one (from a model that does
  // not sign) is dropped from the history (docs/protocols.md#thinking-signatures).
  if (thought) return isSigned(thought['signature']) ? { type: 'thinking', thinking: thought['text'] ?? '', signature: thought['signature'] } : undefined;
  if (typeof reasoning?.['redactedContent'] === 'string') return { type: 'redacted_thinking', data: reasoning['redactedContent'] };
  const guarded = asString(asObject(asObject(b['guardContent'])?.['text'])?.['text']);
  if (guarded !== undefined) return { type: 'text', text: guarded };
  throw unsupported(`a ${Object.keys(b)[0] ?? 'empty'} content block`);
}

/** Converse blocks → Anthropic blocks, with each cachePoint turned into cache_control on the block before. */
function anthropicBlocks(blocks: readonly unknown[], convert: (b: JsonObject) => JsonObject | undefined): JsonObject[] {
  const out: JsonObject[] = [];
  for (const item of blocks) {
    const b = asObject(item) ?? {};
    const last = out[out.length - 1];
    if ('cachePoint' in b) {
      if (last) out[out.length - 1] = { ...last, cache_control: { type: 'ephemeral' } };
      continue;
    }
    const converted = convert(b);
    if (converted) out.push(converted);
  }
  return out;
}

function toolFields(config: JsonObject | undefined): JsonObject {
  const tools = anthropicBlocks(asArray(config?.['tools']), (t) => {
    const spec = asObject(t['toolSpec']);
    if (!spec) return undefined;
    const tool: JsonObject = { name: spec['name'] };
    if (typeof spec['description'] === 'string') tool['description'] = spec['description'];
    tool['input_schema'] = asObject(spec['inputSchema'])?.['json'] ?? { type: 'object', properties: {} };
    return tool;
  });
  if (tools.length === 0) return {};
  const choice = asObject(config?.['toolChoice']);
  const name = asString(asObject(choice?.['tool'])?.['name']);
  if (choice && 'any' in choice) return { tools, tool_choice: { type: 'any' } };
  if (name !== undefined) return { tools, tool_choice: { type: 'tool', name } };
  if (choice && 'auto' in choice) return { tools, tool_choice: { type: 'auto' } };
  return { tools };
}

const isToolResult = (b: JsonObject): boolean => b['type'] === 'tool_result';

function request(body: JsonObject, ctx: ConversionContext): JsonObject {
  if (!Array.isArray(body['messages'])) throw unsupported('a request without a messages list');
  if (body['guardrailConfig'] !== undefined) throw unsupported('guardrailConfig');
  const messages = body['messages'].map((m: unknown) => {
    const message = asObject(m) ?? {};
    const role = message['role'];
    if (role !== 'user' && role !== 'assistant') throw unsupported(`a message with role ${JSON.stringify(role)}`);
    const content = anthropicBlocks(asArray(message['content']), anthropicBlock);
    // tool_result blocks must open their user message, whatever order Converse had them in.
    return { role, content: role === 'user' ? [...content.filter(isToolResult), ...content.filter((b) => !isToolResult(b))] : content };
  });
  const inference = asObject(body['inferenceConfig']) ?? {};
  const out: JsonObject = {};
  if (ctx.model !== undefined) out['model'] = ctx.model;
  out['max_tokens'] = typeof inference['maxTokens'] === 'number' ? inference['maxTokens'] : DEFAULT_ANTHROPIC_MAX_TOKENS;
  const system = anthropicBlocks(asArray(body['system']), (b) => {
    const text = asString(b['text']) ?? asString(asObject(asObject(b['guardContent'])?.['text'])?.['text']);
    if (text === undefined) throw unsupported(`a ${Object.keys(b)[0] ?? 'empty'} system block`);
    return text === '' ? undefined : { type: 'text', text };
  });
  if (system.length > 0) out['system'] = system;
  out['messages'] = messages;
  if (typeof inference['temperature'] === 'number') out['temperature'] = inference['temperature'];
  if (typeof inference['topP'] === 'number') out['top_p'] = inference['topP'];
  if (Array.isArray(inference['stopSequences']) && inference['stopSequences'].length > 0) out['stop_sequences'] = inference['stopSequences'];
  Object.assign(out, toolFields(asObject(body['toolConfig'])));
  // What a Bedrock client sends Claude natively is Anthropic's own request field.
  const extra = asObject(body['additionalModelRequestFields']) ?? {};
  if (typeof extra['top_k'] === 'number') out['top_k'] = extra['top_k'];
  if (asObject(extra['thinking'])) out['thinking'] = extra['thinking'];
  if (ctx.stream) out['stream'] = true;
  return out;
}

function converseBlock(block: unknown): JsonObject | undefined {
  const b = asObject(block) ?? {};
  switch (b['type']) {
    case 'text':
      return { text: b['text'] };
    case 'tool_use':
      return { toolUse: { toolUseId: b['id'], name: b['name'], input: b['input'] ?? {} } };
    case 'thinking':
      return { reasoningContent: { reasoningText: { text: b['thinking'], signature: b['signature'] } } };
    case 'redacted_thinking':
      return { reasoningContent: { redactedContent: b['data'] } };
    default:
      // Server-tool blocks (web search results...) have no Converse form.
      return undefined;
  }
}

function response(body: JsonObject): JsonObject {
  const content = asArray(body['content']).map(converseBlock).filter((b): b is JsonObject => b !== undefined);
  if (content.length === 0) content.push({ text: '' });
  const out: JsonObject = {
    output: { message: { role: 'assistant', content } },
    stopReason: anthropicStopToBedrock(body['stop_reason']),
    usage: anthropicUsageToBedrock(body['usage']),
    metrics: { latencyMs: 0 },
  };
  // Where Claude on Bedrock reports the matched sequence (see the reverse converter).
  if (typeof body['stop_sequence'] === 'string') out['additionalModelResponseFields'] = { stop_sequence: body['stop_sequence'] };
  return out;
}

export const bedrockConverseToAnthropicMessages: Converter = {
  from: 'bedrock-converse',
  to: 'anthropic-messages',
  request,
  response,
  stream: createAnthropicToBedrockStream,
};
