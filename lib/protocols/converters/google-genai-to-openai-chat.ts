import { randomUUID } from 'node:crypto';
import { ProtocolNotSupportedError } from '../../errors.ts';
import { field } from '../google-genai.ts';
import type { JsonObject } from '../types.ts';
import type { ConversionContext, Converter } from './converter.ts';
import { geminiFinishReason } from './gemini-finish-reasons.ts';
import { geminiSchemaToJsonSchema } from './gemini-schema.ts';
import { geminiUsageFromChat } from './gemini-usage.ts';
import { createChatToGeminiStream } from './google-genai-to-openai-chat-stream.ts';
import { asArray, asObject, asString } from './json-narrowing.ts';
import { parseToolArguments } from './tool-arguments.ts';

// Google GenAI client (generateContent) → OpenAI Chat provider (docs/protocols.md#google-genai); the
// stream is google-genai-to-openai-chat-stream.ts. Gemini pairs a functionResponse with its call by
// `id` when the client sent one, else by name, in order: Chat needs ids, so calls without one get ids
// minted from their position, and the responses after them take the same ids.

const unsupported = (what: string): ProtocolNotSupportedError => new ProtocolNotSupportedError(`${what} cannot be sent to an OpenAI chat provider`);

type ChatPart = JsonObject;

/** An inline blob → the Chat content part that carries it. */
function inlinePart(blob: JsonObject): ChatPart {
  const mime = asString(field(blob, 'mimeType')) ?? '';
  const data = asString(blob['data']) ?? '';
  if (mime.startsWith('image/')) return { type: 'image_url', image_url: { url: `data:${mime};base64,${data}` } };
  if (mime === 'audio/wav' || mime === 'audio/x-wav') return { type: 'input_audio', input_audio: { data, format: 'wav' } };
  if (mime === 'audio/mp3' || mime === 'audio/mpeg') return { type: 'input_audio', input_audio: { data, format: 'mp3' } };
  if (mime === 'application/pdf') return { type: 'file', file: { filename: 'document.pdf', file_data: `data:${mime};base64,${data}` } };
  throw unsupported(`inline data of type ${mime || 'unknown'}`);
}

function filePart(file: JsonObject): ChatPart {
  const mime = asString(field(file, 'mimeType')) ?? '';
  const uri = asString(field(file, 'fileUri')) ?? '';
  if (/^https?:\/\//.test(uri) && (mime === '' || mime.startsWith('image/'))) return { type: 'image_url', image_url: { url: uri } };
  throw unsupported(`a fileData part (${mime || 'no type'} at ${/^gs:/.test(uri) ? 'a gs:// URI' : 'a Google file URI'})`);
}

/** Gemini's tool output: `{output}` or `{error}` by convention, else the whole object is the output. */
function functionResponseText(response: unknown): string {
  const r = asObject(response);
  if (!r) return typeof response === 'string' ? response : JSON.stringify(response ?? null);
  const keys = Object.keys(r);
  if (keys.length === 1 && typeof r['output'] === 'string') return r['output'];
  if (keys.length === 1 && typeof r['error'] === 'string') return `Error: ${r['error']}`;
  return JSON.stringify(r);
}

interface PendingCall {
  id: string;
  name: string;
}

function messages(body: JsonObject): JsonObject[] {
  const out: JsonObject[] = [];
  const system = asObject(field(body, 'systemInstruction'));
  const systemText = asArray(system?.['parts'])
    .map((p) => asString(asObject(p)?.['text']) ?? '')
    .join('');
  if (systemText !== '') out.push({ role: 'system', content: systemText });

  let pending: PendingCall[] = [];
  asArray(body['contents']).forEach((raw, turn) => {
    const content = asObject(raw) ?? {};
    const role = content['role'] === 'model' ? 'assistant' : 'user';
    const parts = asArray(content['parts']).map((p) => asObject(p) ?? {});
    if (role === 'assistant') {
      let text = '';
      const calls: JsonObject[] = [];
      parts.forEach((part, i) => {
        const call = asObject(field(part, 'functionCall'));
        if (call) {
          const name = asString(call['name']) ?? '';
          const id = asString(call['id']) || `call_${turn}_${i}`;
          // Gemini's args are an object; anything else could not have come from a model.
          calls.push({ id, type: 'function', function: { name, arguments: JSON.stringify(asObject(call['args']) ?? {}) } });
        } else if (typeof part['text'] === 'string' && part['thought'] !== true) text += part['text'];
        else if (part['thought'] !== true && Object.keys(part).some((k) => k !== 'thoughtSignature' && k !== 'thought_signature')) {
          throw unsupported(`a model part with ${Object.keys(part).join(', ')}`);
        }
      });
      // Thought parts are the model's own, signed for Gemini: another provider cannot take them back.
      if (text === '' && calls.length === 0) return;
      out.push({ role: 'assistant', content: text === '' ? null : text, ...(calls.length > 0 && { tool_calls: calls }) });
      pending = calls.map((c) => ({ id: c['id'] as string, name: asString(asObject(c['function'])?.['name']) ?? '' }));
      return;
    }
    const user: ChatPart[] = [];
    for (const part of parts) {
      const response = asObject(field(part, 'functionResponse'));
      if (response) {
        const name = asString(response['name']) ?? '';
        const wanted = asString(response['id']);
        const index = wanted ? pending.findIndex((c) => c.id === wanted) : pending.findIndex((c) => c.name === name);
        const call = pending[index];
        if (!call) throw new ProtocolNotSupportedError(`functionResponse ${wanted ?? name} answers no functionCall of the turn before it`);
        pending.splice(index, 1);
        out.push({ role: 'tool', tool_call_id: call.id, content: functionResponseText(response['response']) });
        continue;
      }
      if (typeof part['text'] === 'string') {
        if (part['text'] !== '') user.push({ type: 'text', text: part['text'] });
        continue;
      }
      const inline = asObject(field(part, 'inlineData'));
      if (inline) {
        user.push(inlinePart(inline));
        continue;
      }
      const file = asObject(field(part, 'fileData'));
      if (file) {
        user.push(filePart(file));
        continue;
      }
      throw unsupported(`a user part with ${Object.keys(part).join(', ') || 'nothing in it'}`);
    }
    pending = [];
    if (user.length === 0) return;
    const onlyText = user.every((p) => p['type'] === 'text');
    out.push({ role: 'user', content: onlyText ? user.map((p) => p['text']).join('\n') : user });
  });
  if (out.every((m) => m['role'] === 'system')) throw new ProtocolNotSupportedError('contents hold no text, media or function parts to send');
  return out;
}

function tools(body: JsonObject): JsonObject[] | undefined {
  const list = asArray(body['tools']);
  if (list.length === 0) return undefined;
  const out: JsonObject[] = [];
  for (const raw of list) {
    const tool = asObject(raw) ?? {};
    for (const key of Object.keys(tool)) {
      if (key !== 'functionDeclarations' && key !== 'function_declarations') throw unsupported(`a ${key} tool`);
    }
    for (const d of asArray(field(tool, 'functionDeclarations'))) {
      const decl = asObject(d) ?? {};
      const fn: JsonObject = { name: decl['name'] };
      if (typeof decl['description'] === 'string') fn['description'] = decl['description'];
      const jsonSchema = asObject(field(decl, 'parametersJsonSchema'));
      const schema = jsonSchema ?? (asObject(decl['parameters']) ? geminiSchemaToJsonSchema(decl['parameters']) : undefined);
      if (schema) fn['parameters'] = schema;
      out.push({ type: 'function', function: fn });
    }
  }
  return out;
}

function toolChoice(body: JsonObject): unknown {
  const config = asObject(field(asObject(field(body, 'toolConfig')) ?? {}, 'functionCallingConfig'));
  if (!config) return undefined;
  const allowed = asArray(field(config, 'allowedFunctionNames'));
  switch (config['mode']) {
    case 'NONE':
      return 'none';
    case 'ANY':
      return allowed.length === 1 ? { type: 'function', function: { name: allowed[0] } } : 'required';
    default:
      return undefined; // AUTO, VALIDATED: the model decides
  }
}

// Gemini's thinking budget → Chat's effort, on Gemini's own OpenAI-compatibility scale (1024 / 8192 / 24576).
function reasoningEffort(thinking: JsonObject | undefined): string | undefined {
  const budget = thinking ? field(thinking, 'thinkingBudget') : undefined;
  const level = thinking ? field(thinking, 'thinkingLevel') : undefined;
  if (typeof level === 'string' && ['low', 'medium', 'high'].includes(level.toLowerCase())) return level.toLowerCase();
  if (typeof budget !== 'number' || budget < 0) return undefined; // -1: dynamic, the provider's default
  if (budget === 0) return undefined;
  return budget <= 1024 ? 'low' : budget <= 8192 ? 'medium' : 'high';
}

function generation(body: JsonObject, out: JsonObject): void {
  const config = asObject(field(body, 'generationConfig'));
  if (!config) return;
  const copy = (from: string, to: string) => {
    const value = field(config, from);
    if (value !== undefined) out[to] = value;
  };
  copy('temperature', 'temperature');
  copy('topP', 'top_p');
  copy('maxOutputTokens', 'max_tokens');
  copy('presencePenalty', 'presence_penalty');
  copy('frequencyPenalty', 'frequency_penalty');
  copy('seed', 'seed');
  const stop = asArray(field(config, 'stopSequences'));
  if (stop.length > 4) throw unsupported(`${stop.length} stop sequences (OpenAI takes at most 4)`);
  if (stop.length > 0) out['stop'] = stop;
  const candidates = field(config, 'candidateCount');
  if (typeof candidates === 'number' && candidates > 1) throw unsupported('candidateCount above 1');
  const mime = field(config, 'responseMimeType');
  const schema = asObject(field(config, 'responseJsonSchema')) ?? (asObject(field(config, 'responseSchema')) ? geminiSchemaToJsonSchema(field(config, 'responseSchema')) : undefined);
  if (mime === 'application/json') {
    out['response_format'] = schema ? { type: 'json_schema', json_schema: { name: 'response', schema } } : { type: 'json_object' };
  } else if (mime !== undefined && mime !== 'text/plain') throw unsupported(`responseMimeType ${String(mime)}`);
  const effort = reasoningEffort(asObject(field(config, 'thinkingConfig')));
  if (effort) out['reasoning_effort'] = effort;
}

function request(body: JsonObject, ctx: ConversionContext): JsonObject {
  if (field(body, 'cachedContent') !== undefined) throw unsupported('cachedContent');
  const out: JsonObject = { model: ctx.model, messages: messages(body) };
  const list = tools(body);
  if (list) out['tools'] = list;
  const choice = toolChoice(body);
  if (choice !== undefined && list) out['tool_choice'] = choice;
  generation(body, out);
  if (ctx.stream) out['stream'] = true;
  return out;
}

/** One Chat tool call → a Gemini functionCall part, its id kept for the client's functionResponse. */
export function functionCallPart(call: unknown): JsonObject {
  const c = asObject(call) ?? {};
  const fn = asObject(c['function']) ?? {};
  const part: JsonObject = { name: asString(fn['name']) ?? '', args: parseToolArguments(fn['arguments']) };
  if (typeof c['id'] === 'string' && c['id'] !== '') part['id'] = c['id'];
  return { functionCall: part };
}

function response(body: JsonObject, ctx: ConversionContext): JsonObject {
  const choice = asObject(asArray(body['choices'])[0]) ?? {};
  const message = asObject(choice['message']) ?? {};
  const parts: JsonObject[] = [];
  // DeepSeek names the reasoning `reasoning_content`, OpenRouter and vLLM `reasoning`.
  const reasoning = message['reasoning_content'] ?? message['reasoning'];
  if (typeof reasoning === 'string' && reasoning !== '') parts.push({ text: reasoning, thought: true });
  const text = (asString(message['content']) ?? '') + (asString(message['refusal']) ?? '');
  if (text !== '') parts.push({ text });
  for (const call of asArray(message['tool_calls'])) parts.push(functionCallPart(call));
  const out: JsonObject = {
    candidates: [{ content: { role: 'model', parts }, finishReason: geminiFinishReason(choice['finish_reason']), index: 0 }],
    modelVersion: asString(body['model']) ?? ctx.model ?? '',
    responseId: asString(body['id']) ?? randomUUID(),
  };
  const usage = geminiUsageFromChat(body['usage']);
  if (usage) out['usageMetadata'] = usage;
  return out;
}

export const googleGenaiToOpenaiChat: Converter = {
  from: 'google-genai',
  to: 'openai-chat',
  request,
  response,
  stream: createChatToGeminiStream,
};
