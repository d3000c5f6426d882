import { randomUUID } from 'node:crypto';
import { ProtocolNotSupportedError } from '../../errors.ts';
import { field, geminiUsage } from '../google-genai.ts';
import type { JsonObject } from '../types.ts';
import type { ConversionContext, Converter } from './converter.ts';
import { finishReasonFromGemini } from './gemini-finish-reasons.ts';
import { asArray, asObject, asString } from './json-narrowing.ts';
import { chatToolCall, chatUsage, thoughtSignatureOf } from './gemini-to-chat-parts.ts';
import { createGeminiToChatStream } from './openai-chat-to-google-genai-stream.ts';
import { parseToolArguments } from './tool-arguments.ts';

// OpenAI Chat client → Google GenAI provider (Gemini or Vertex `generateContent`,
// docs/protocols.md#google-genai); the stream is openai-chat-to-google-genai-stream.ts. The model and
// streaming are in the URL, never the body. Tool results become `functionResponse` parts named after
// the call they answer, with the call's id (Gemini echoes ids it was given).

const unsupported = (what: string): ProtocolNotSupportedError => new ProtocolNotSupportedError(`${what} cannot be sent to a Google GenAI provider`);

// Gemini's OpenAI-compatibility mapping of reasoning_effort to thinking budgets.
const THINKING_BUDGETS: Readonly<Record<string, number>> = { none: 0, minimal: 1024, low: 1024, medium: 8192, high: 24576 };

const DATA_URL = /^data:([^;,]+)(?:;[^,]*)?;base64,(.*)$/s;

function dataUrlPart(url: string): JsonObject | undefined {
  const match = DATA_URL.exec(url);
  return match ? { inlineData: { mimeType: match[1], data: match[2] } } : undefined;
}

function mimeFromUrl(url: string): string {
  const ext = /\.([a-z0-9]+)(?:[?#]|$)/i.exec(url)?.[1]?.toLowerCase();
  const byExt: Record<string, string> = { png: 'image/png', gif: 'image/gif', webp: 'image/webp', heic: 'image/heic', pdf: 'application/pdf' };
  return (ext && byExt[ext]) ?? 'image/jpeg';
}

function userParts(content: unknown): JsonObject[] {
  if (typeof content === 'string') return content === '' ? [] : [{ text: content }];
  return asArray(content).map((raw) => {
    const part = asObject(raw) ?? {};
    switch (part['type']) {
      case 'text':
        return { text: asString(part['text']) ?? '' };
      case 'image_url': {
        const image = part['image_url'];
        const url = typeof image === 'string' ? image : (asString(asObject(image)?.['url']) ?? '');
        return dataUrlPart(url) ?? { fileData: { mimeType: mimeFromUrl(url), fileUri: url } };
      }
      case 'input_audio': {
        const audio = asObject(part['input_audio']) ?? {};
        return { inlineData: { mimeType: `audio/${asString(audio['format']) ?? 'wav'}`, data: asString(audio['data']) ?? '' } };
      }
      case 'file': {
        const inline = dataUrlPart(asString(asObject(part['file'])?.['file_data']) ?? '');
        if (!inline) throw unsupported('a file part without file_data');
        return inline;
      }
      default:
        throw unsupported(`a ${String(part['type'])} content part`);
    }
  }).filter((p) => p['text'] !== '');
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  return asArray(content)
    .map((p) => asString(asObject(p)?.['text']) ?? '')
    .join('');
}

/** Gemini takes a tool's output as an object: `{output}` is its documented convention. */
function functionResponse(id: string | undefined, name: string, content: unknown): JsonObject {
  return { functionResponse: { ...(id && { id }), name, response: { output: textOf(content) } } };
}

interface Turns {
  system: string[];
  contents: Array<{ role: 'user' | 'model'; parts: JsonObject[] }>;
}

function push(turns: Turns, role: 'user' | 'model', parts: JsonObject[]): void {
  if (parts.length === 0) return;
  const last = turns.contents.at(-1);
  // Tool results and the user's next words share one user turn, results first.
  if (last?.role === role) last.parts.push(...parts);
  else turns.contents.push({ role, parts });
}

function contents(body: JsonObject): Turns {
  const turns: Turns = { system: [], contents: [] };
  const names = new Map<string, string>();
  for (const raw of asArray(body['messages'])) {
    const m = asObject(raw) ?? {};
    switch (m['role']) {
      case 'system':
      case 'developer':
        if (textOf(m['content']) !== '') turns.system.push(textOf(m['content']));
        break;
      case 'user':
        push(turns, 'user', userParts(m['content']));
        break;
      case 'assistant': {
        const parts: JsonObject[] = [];
        const text = textOf(m['content']);
        if (text !== '') parts.push({ text });
        const legacy = asObject(m['function_call']);
        if (legacy) parts.push({ functionCall: { name: legacy['name'], args: parseToolArguments(legacy['arguments']) } });
        for (const c of asArray(m['tool_calls'])) {
          const call = asObject(c) ?? {};
          const fn = asObject(call['function']) ?? {};
          const id = asString(call['id']);
          const name = asString(fn['name']) ?? '';
          if (id) names.set(id, name);
          const signature = thoughtSignatureOf(call);
          parts.push({ functionCall: { ...(id && { id }), name, args: parseToolArguments(fn['arguments']) }, ...(signature && { thoughtSignature: signature }) });
        }
        push(turns, 'model', parts);
        break;
      }
      case 'tool': {
        const id = asString(m['tool_call_id']);
        const name = id === undefined ? undefined : names.get(id);
        if (name === undefined) throw new ProtocolNotSupportedError(`tool message ${id ?? '(no tool_call_id)'} answers no tool call of an earlier assistant message`);
        push(turns, 'user', [functionResponse(id, name, m['content'])]);
        break;
      }
      case 'function':
        push(turns, 'user', [functionResponse(undefined, asString(m['name']) ?? '', m['content'])]);
        break;
      default:
        throw unsupported(`a message with role ${String(m['role'])}`);
    }
  }
  return turns;
}

function functionDeclarations(body: JsonObject): JsonObject[] {
  const declare = (fn: JsonObject): JsonObject => {
    const decl: JsonObject = { name: fn['name'] };
    if (typeof fn['description'] === 'string') decl['description'] = fn['description'];
    if (asObject(fn['parameters'])) decl['parametersJsonSchema'] = fn['parameters'];
    return decl;
  };
  const out = asArray(body['tools']).map((raw) => {
    const tool = asObject(raw) ?? {};
    if (tool['type'] !== 'function') throw unsupported(`a ${String(tool['type'])} tool`);
    return declare(asObject(tool['function']) ?? {});
  });
  for (const fn of asArray(body['functions'])) out.push(declare(asObject(fn) ?? {}));
  return out;
}

function functionCallingConfig(choice: unknown): JsonObject | undefined {
  if (choice === 'none') return { mode: 'NONE' };
  if (choice === 'required') return { mode: 'ANY' };
  if (choice === 'auto') return { mode: 'AUTO' };
  const name = asString(asObject(asObject(choice)?.['function'])?.['name']) ?? asString(asObject(choice)?.['name']);
  return name === undefined ? undefined : { mode: 'ANY', allowedFunctionNames: [name] };
}

function generationConfig(body: JsonObject): JsonObject {
  const config: JsonObject = {};
  const copy = (from: string, to: string) => {
    if (body[from] != null) config[to] = body[from];
  };
  copy('temperature', 'temperature');
  copy('top_p', 'topP');
  copy('presence_penalty', 'presencePenalty');
  copy('frequency_penalty', 'frequencyPenalty');
  copy('seed', 'seed');
  copy('n', 'candidateCount');
  const max = body['max_completion_tokens'] ?? body['max_tokens'];
  if (max != null) config['maxOutputTokens'] = max;
  const stop = body['stop'];
  if (typeof stop === 'string') config['stopSequences'] = [stop];
  else if (Array.isArray(stop) && stop.length > 0) config['stopSequences'] = stop;
  const format = asObject(body['response_format']);
  if (format?.['type'] === 'json_object') config['responseMimeType'] = 'application/json';
  if (format?.['type'] === 'json_schema') {
    config['responseMimeType'] = 'application/json';
    const schema = asObject(asObject(format['json_schema'])?.['schema']);
    if (schema) config['responseJsonSchema'] = schema;
  }
  const effort = body['reasoning_effort'];
  const budget = typeof effort === 'string' ? THINKING_BUDGETS[effort] : undefined;
  if (budget !== undefined) config['thinkingConfig'] = { thinkingBudget: budget };
  return config;
}

function request(body: JsonObject): JsonObject {
  if (typeof body['n'] === 'number' && body['n'] > 1) throw unsupported('n above 1');
  const turns = contents(body);
  if (turns.contents.length === 0) throw new ProtocolNotSupportedError('messages hold nothing but system text: Gemini needs contents');
  const out: JsonObject = { contents: turns.contents };
  if (turns.system.length > 0) out['systemInstruction'] = { parts: [{ text: turns.system.join('\n\n') }] };
  const declarations = functionDeclarations(body);
  if (declarations.length > 0) {
    out['tools'] = [{ functionDeclarations: declarations }];
    const calling = functionCallingConfig(body['tool_choice'] ?? body['function_call']);
    if (calling) out['toolConfig'] = { functionCallingConfig: calling };
  }
  const config = generationConfig(body);
  if (Object.keys(config).length > 0) out['generationConfig'] = config;
  return out;
}

function response(body: JsonObject, ctx: ConversionContext): JsonObject {
  const candidate = asObject(asArray(body['candidates'])[0]);
  const parts = asArray(asObject(candidate?.['content'])?.['parts']).map((p) => asObject(p) ?? {});
  let text = '';
  let reasoning = '';
  const calls: JsonObject[] = [];
  for (const part of parts) {
    if (field(part, 'functionCall') !== undefined) calls.push(chatToolCall(part));
    else if (typeof part['text'] === 'string') {
      if (part['thought'] === true) reasoning += part['text'];
      else text += part['text'];
    }
  }
  const blocked = candidate === undefined && field(asObject(field(body, 'promptFeedback')) ?? {}, 'blockReason') !== undefined;
  const message: JsonObject = { role: 'assistant', content: text === '' && (calls.length > 0 || blocked) ? null : text };
  if (reasoning !== '') message['reasoning_content'] = reasoning;
  if (calls.length > 0) message['tool_calls'] = calls;
  const finish = blocked ? 'content_filter' : finishReasonFromGemini(candidate ? field(candidate, 'finishReason') : undefined, calls.length > 0);
  const out: JsonObject = {
    id: `chatcmpl-${asString(field(body, 'responseId')) ?? randomUUID().replaceAll('-', '')}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: asString(field(body, 'modelVersion')) ?? ctx.model ?? '',
    choices: [{ index: 0, message, finish_reason: finish, logprobs: null }],
  };
  const usage = chatUsage(geminiUsage(field(body, 'usageMetadata')));
  if (usage) out['usage'] = usage;
  return out;
}

export const openaiChatToGoogleGenai: Converter = {
  from: 'openai-chat',
  to: 'google-genai',
  request,
  response,
  stream: createGeminiToChatStream,
};
