import { ProtocolNotSupportedError } from '../../errors.ts';
import type { JsonObject } from '../types.ts';
import type { ConversionContext, Converter } from './converter.ts';
import { mimeFromDocumentFormat, mimeFromImageFormat } from './bedrock-media.ts';
import { openaiFinishToBedrock } from './bedrock-stop-reasons.ts';
import { openaiUsageToBedrock } from './bedrock-usage.ts';
import { effortFromThinking } from './thinking-budget.ts';
import { asArray, asObject, asString } from './json-narrowing.ts';
import { createOpenaiChunksToBedrockStream } from './bedrock-converse-to-openai-chat-stream.ts';
import { parseToolArguments } from './tool-arguments.ts';

// Bedrock Converse client → OpenAI Chat Completions provider (docs/protocols.md#converse-requests);
// the stream is bedrock-converse-to-openai-chat-stream.ts.

const unsupported = (what: string): ProtocolNotSupportedError =>
  new ProtocolNotSupportedError(`${what} cannot be sent to an OpenAI Chat Completions provider`);

// Text-like documents travel as text parts; OpenAI file parts take PDFs.
const TEXT_DOCUMENTS = new Set(['txt', 'md', 'csv', 'html']);

function imagePart(image: JsonObject): JsonObject {
  const bytes = asString(asObject(image['source'])?.['bytes']);
  const mime = mimeFromImageFormat(image['format']);
  if (bytes === undefined) throw unsupported('an image not given as bytes');
  if (!mime) throw unsupported(`an image of format ${JSON.stringify(image['format'])}`);
  return { type: 'image_url', image_url: { url: `data:${mime};base64,${bytes}` } };
}

function documentPart(doc: JsonObject): JsonObject {
  const source = asObject(doc['source']) ?? {};
  const format = asString(doc['format']) ?? '';
  const name = asString(doc['name']) ?? 'document';
  if (typeof source['text'] === 'string') return { type: 'text', text: source['text'] };
  const bytes = asString(source['bytes']);
  if (bytes === undefined) throw unsupported('a document not given as bytes or text');
  if (TEXT_DOCUMENTS.has(format)) return { type: 'text', text: Buffer.from(bytes, 'base64').toString('utf8') };
  if (format !== 'pdf') throw unsupported(`a ${format || 'untyped'} document`);
  return { type: 'file', file: { filename: `${name}.pdf`, file_data: `data:${mimeFromDocumentFormat('pdf')};base64,${bytes}` } };
}

/** One user/assistant content block → a Chat content part; undefined for blocks with no Chat meaning. */
function chatPart(block: JsonObject): JsonObject | undefined {
  if (typeof block['text'] === 'string') return block['text'] === '' ? undefined : { type: 'text', text: block['text'] };
  const image = asObject(block['image']);
  if (image) return imagePart(image);
  const doc = asObject(block['document']);
  if (doc) return documentPart(doc);
  const guarded = asString(asObject(asObject(block['guardContent'])?.['text'])?.['text']);
  if (guarded !== undefined) return { type: 'text', text: guarded };
  // Cache points are Bedrock billing hints; earlier reasoning is not replayed to Chat providers.
  if ('cachePoint' in block || 'reasoningContent' in block) return undefined;
  throw unsupported(`a ${Object.keys(block)[0] ?? 'empty'} content block`);
}

/** A tool result → the tool message's text, and any images for a following user message. */
function toolMessage(result: JsonObject, images: JsonObject[]): JsonObject {
  let text = '';
  for (const item of asArray(result['content'])) {
    const c = asObject(item) ?? {};
    if (typeof c['text'] === 'string') text += c['text'];
    else if ('json' in c) text += JSON.stringify(c['json']);
    else if (asObject(c['image'])) images.push(imagePart(asObject(c['image']) ?? {}));
    else throw unsupported(`a ${Object.keys(c)[0] ?? 'empty'} tool result item`);
  }
  // Chat has no error flag on tool messages: say it in the text (gateway choice).
  if (result['status'] === 'error') text = `Error: ${text}`;
  return { role: 'tool', tool_call_id: result['toolUseId'], content: text };
}

function userMessages(blocks: readonly unknown[]): JsonObject[] {
  const tools: JsonObject[] = [];
  const parts: JsonObject[] = [];
  for (const block of blocks) {
    const b = asObject(block) ?? {};
    const result = asObject(b['toolResult']);
    if (result) tools.push(toolMessage(result, parts));
    else {
      const part = chatPart(b);
      if (part) parts.push(part);
    }
  }
  if (parts.length === 0) return tools;
  const only = parts[0];
  const content = parts.length === 1 && only?.['type'] === 'text' ? only['text'] : parts;
  return [...tools, { role: 'user', content }];
}

function assistantMessage(blocks: readonly unknown[]): JsonObject {
  let text: string | null = null;
  const calls: JsonObject[] = [];
  for (const block of blocks) {
    const b = asObject(block) ?? {};
    const use = asObject(b['toolUse']);
    if (use) {
      calls.push({ id: use['toolUseId'], type: 'function', function: { name: use['name'], arguments: JSON.stringify(use['input'] ?? {}) } });
    } else if (typeof b['text'] === 'string') {
      if (b['text'] !== '') text = (text ?? '') + b['text'];
    } else if (!('cachePoint' in b || 'reasoningContent' in b)) {
      throw unsupported(`a ${Object.keys(b)[0] ?? 'empty'} block in an assistant turn`);
    }
  }
  const message: JsonObject = { role: 'assistant', content: text };
  if (calls.length > 0) message['tool_calls'] = calls;
  return message;
}

function chatTools(config: JsonObject | undefined): JsonObject {
  const out: JsonObject = {};
  const tools = asArray(config?.['tools'])
    .map((t) => asObject(asObject(t)?.['toolSpec']))
    .filter((spec): spec is JsonObject => spec !== undefined)
    .map((spec) => {
      const fn: JsonObject = { name: spec['name'] };
      if (typeof spec['description'] === 'string') fn['description'] = spec['description'];
      fn['parameters'] = asObject(spec['inputSchema'])?.['json'] ?? { type: 'object', properties: {} };
      return { type: 'function', function: fn };
    });
  if (tools.length === 0) return out;
  out['tools'] = tools;
  const choice = asObject(config?.['toolChoice']);
  const name = asString(asObject(choice?.['tool'])?.['name']);
  if (choice && 'any' in choice) out['tool_choice'] = 'required';
  else if (name !== undefined) out['tool_choice'] = { type: 'function', function: { name } };
  else if (choice && 'auto' in choice) out['tool_choice'] = 'auto';
  return out;
}

function request(body: JsonObject, ctx: ConversionContext): JsonObject {
  if (!Array.isArray(body['messages'])) throw unsupported('a request without a messages list');
  // A guardrail is a safety requirement: silently dropping it would be worse than refusing.
  if (body['guardrailConfig'] !== undefined) throw unsupported('guardrailConfig');
  const messages: JsonObject[] = [];
  const system = asArray(body['system'])
    .map((b) => asObject(b) ?? {})
    .map((b) => asString(b['text']) ?? asString(asObject(asObject(b['guardContent'])?.['text'])?.['text']))
    .filter((t): t is string => t !== undefined && t !== '');
  if (system.length > 0) messages.push({ role: 'system', content: system.join('\n') });
  for (const m of body['messages']) {
    const message = asObject(m) ?? {};
    const content = asArray(message['content']);
    if (message['role'] === 'user') messages.push(...userMessages(content));
    else if (message['role'] === 'assistant') messages.push(assistantMessage(content));
    else throw unsupported(`a message with role ${JSON.stringify(message['role'])}`);
  }

  const out: JsonObject = ctx.model === undefined ? { messages } : { model: ctx.model, messages };
  const inference = asObject(body['inferenceConfig']) ?? {};
  // `max_tokens`, which every OpenAI-compatible provider knows, as the Anthropic converter does.
  if (typeof inference['maxTokens'] === 'number') out['max_tokens'] = inference['maxTokens'];
  if (typeof inference['temperature'] === 'number') out['temperature'] = inference['temperature'];
  if (typeof inference['topP'] === 'number') out['top_p'] = inference['topP'];
  if (Array.isArray(inference['stopSequences']) && inference['stopSequences'].length > 0) out['stop'] = inference['stopSequences'];
  Object.assign(out, chatTools(asObject(body['toolConfig'])));
  // Claude's thinking control, as a Bedrock client sends it, becomes an effort (thinking-budget.ts).
  const effort = effortFromThinking(asObject(body['additionalModelRequestFields'])?.['thinking']);
  if (effort !== undefined) out['reasoning_effort'] = effort;
  // Bedrock streams always end with usage (metadata); OpenAI sends it only when asked.
  if (ctx.stream) Object.assign(out, { stream: true, stream_options: { include_usage: true } });
  return out;
}

function response(body: JsonObject): JsonObject {
  const choice = asObject(asArray(body['choices'])[0]) ?? {};
  const message = asObject(choice['message']) ?? {};
  const content: JsonObject[] = [];
  const reasoning = asString(message['reasoning_content']);
  if (reasoning) content.push({ reasoningContent: { reasoningText: { text: reasoning } } });
  const text = asString(message['content']) || asString(message['refusal']);
  if (text) content.push({ text });
  for (const call of asArray(message['tool_calls'])) {
    const c = asObject(call) ?? {};
    const fn = asObject(c['function']) ?? {};
    // toolUse.input must be an object; malformed arguments become {} (see tool-arguments.ts).
    content.push({ toolUse: { toolUseId: c['id'], name: fn['name'], input: parseToolArguments(fn['arguments']) } });
  }
  if (content.length === 0) content.push({ text: '' });
  return {
    output: { message: { role: 'assistant', content } },
    stopReason: openaiFinishToBedrock(choice['finish_reason']),
    usage: openaiUsageToBedrock(body['usage']),
    metrics: { latencyMs: 0 },
  };
}

export const bedrockConverseToOpenaiChat: Converter = {
  from: 'bedrock-converse',
  to: 'openai-chat',
  request,
  response,
  stream: createOpenaiChunksToBedrockStream,
};
