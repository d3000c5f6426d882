import assert from 'node:assert/strict';
import type { JsonObject } from '../../lib/protocols/types.ts';
import { isJsonObject } from '../../lib/protocols/types.ts';

// A protocol-neutral reading of request and response bodies, written from the wire formats alone (no
// gateway code): the invariants check tool pairing on it, and round trips compare it before and after.

export type WireProtocol = 'openai-chat' | 'anthropic-messages' | 'bedrock-converse' | 'openai-responses' | 'google-genai';

export interface ToolCall {
  id: string;
  name: string;
  /** The arguments as the object the tool receives (see parseArguments). */
  input: unknown;
}
export interface ToolResult {
  id: string;
  /** Error results read as `Error: <text>`: OpenAI has no error flag, so that is how one survives it. */
  text: string;
}
export interface Turn {
  role: 'user' | 'assistant';
  text: string[];
  calls: ToolCall[];
  results: ToolResult[];
  /** Whether every tool result in the turn comes before its other content. */
  resultsFirst: boolean;
}
export interface ToolDef {
  name: string;
  description: string;
  schema: unknown;
}
export interface Conversation {
  system: string[];
  turns: Turn[];
  tools: ToolDef[];
}

export function obj(x: unknown, where: string): JsonObject {
  assert.ok(isJsonObject(x), `${where} must be an object, got ${JSON.stringify(x)}`);
  return x;
}
export function arr(x: unknown, where: string): unknown[] {
  assert.ok(Array.isArray(x), `${where} must be an array, got ${JSON.stringify(x)}`);
  return x;
}
export const str = (x: unknown): string => (typeof x === 'string' ? x : '');

/**
 * Tool arguments as the object a tool receives. Anthropic and Bedrock only carry objects, so arguments
 * that are not a JSON object (a model's broken JSON) can only ever reach them as `{}`.
 */
export function parseArguments(args: unknown): unknown {
  if (typeof args !== 'string') return isJsonObject(args) ? args : {};
  try {
    const parsed: unknown = JSON.parse(args);
    return isJsonObject(parsed) ? parsed : {};
  } catch {
    return {};
  }
}

// A plain-text document is text the model reads, whichever block carries it.
const TEXT_DOCUMENT_FORMATS = new Set(['txt', 'md', 'csv', 'html']);
function bedrockDocumentText(doc: JsonObject): string {
  const source = isJsonObject(doc['source']) ? doc['source'] : {};
  if (!TEXT_DOCUMENT_FORMATS.has(str(doc['format']))) return '';
  return typeof source['text'] === 'string' ? source['text'] : Buffer.from(str(source['bytes']), 'base64').toString('utf8');
}

const EMPTY_SCHEMA = { type: 'object', properties: {} };
const tool = (name: unknown, description: unknown, schema: unknown): ToolDef => ({ name: str(name), description: str(description), schema: schema ?? EMPTY_SCHEMA });
const errorText = (text: string, isError: boolean): string => (isError && !text.startsWith('Error: ') ? `Error: ${text}` : text);

class TurnBuilder {
  readonly turns: Turn[] = [];
  add(role: Turn['role']): Turn {
    const turn: Turn = { role, text: [], calls: [], results: [], resultsFirst: true };
    this.turns.push(turn);
    return turn;
  }
  text(turn: Turn, text: string): void {
    if (text !== '') turn.text.push(text);
  }
  /** Text after a tool result in the same turn is fine; a result after text is not (Anthropic's 400). */
  result(turn: Turn, result: ToolResult, afterText = turn.text.length > 0): void {
    if (afterText) turn.resultsFirst = false;
    turn.results.push(result);
  }
}

export function chatText(content: unknown): string[] {
  if (typeof content === 'string') return [content];
  if (!Array.isArray(content)) return [];
  return content.filter(isJsonObject).map((p) => str(p['text']) || str(p['refusal'])).filter((t) => t !== '');
}

function openaiChatConversation(body: JsonObject): Conversation {
  const b = new TurnBuilder();
  const system: string[] = [];
  let open: Turn | undefined;
  let legacy = 0;
  const legacyIds: string[] = [];
  for (const [i, raw] of arr(body['messages'], 'messages').entries()) {
    const m = obj(raw, `messages[${i}]`);
    const role = m['role'];
    if (role === 'system' || role === 'developer') system.push(...chatText(m['content']));
    else if (role === 'tool' || role === 'function') {
      // Consecutive tool messages are one results turn; the legacy function role pairs by position.
      if (open?.role !== 'user' || open.text.length > 0) open = b.add('user');
      const id = role === 'tool' ? str(m['tool_call_id']) : (legacyIds.shift() ?? '');
      b.result(open, { id, text: chatText(m['content']).join('') });
    } else {
      open = b.add(role === 'assistant' ? 'assistant' : 'user');
      b.text(open, chatText(m['content']).join('\n'));
      for (const c of Array.isArray(m['tool_calls']) ? m['tool_calls'] : []) {
        const call = obj(c, `messages[${i}].tool_calls[]`);
        const fn = obj(call['function'], 'tool_calls[].function');
        open.calls.push({ id: str(call['id']), name: str(fn['name']), input: parseArguments(fn['arguments']) });
      }
      if (isJsonObject(m['function_call'])) {
        const id = `legacy_${legacy++}`;
        legacyIds.push(id);
        open.calls.push({ id, name: str(m['function_call']['name']), input: parseArguments(m['function_call']['arguments']) });
      }
    }
  }
  const tools = [
    ...(Array.isArray(body['tools']) ? body['tools'] : []).filter(isJsonObject).map((t) => {
      const fn = isJsonObject(t['function']) ? t['function'] : {};
      return tool(fn['name'], fn['description'], fn['parameters']);
    }),
    ...(Array.isArray(body['functions']) ? body['functions'] : []).filter(isJsonObject).map((f) => tool(f['name'], f['description'], f['parameters'])),
  ];
  return { system, turns: b.turns, tools };
}

function anthropicResultText(content: unknown): string {
  if (typeof content === 'string') return content;
  return (Array.isArray(content) ? content : []).filter(isJsonObject).map((c) => str(c['text'])).join('');
}

function anthropicConversation(body: JsonObject): Conversation {
  const b = new TurnBuilder();
  const sys = body['system'];
  const system = typeof sys === 'string' ? [sys] : (Array.isArray(sys) ? sys : []).filter(isJsonObject).map((s) => str(s['text']));
  for (const [i, raw] of arr(body['messages'], 'messages').entries()) {
    const m = obj(raw, `messages[${i}]`);
    const turn = b.add(m['role'] === 'assistant' ? 'assistant' : 'user');
    const content = typeof m['content'] === 'string' ? [{ type: 'text', text: m['content'] }] : arr(m['content'], `messages[${i}].content`);
    const text: string[] = [];
    for (const raw of content) {
      const block = obj(raw, `messages[${i}].content[]`);
      if (block['type'] === 'text') text.push(str(block['text']));
      if (block['type'] === 'document' && isJsonObject(block['source']) && block['source']['type'] === 'text') text.push(str(block['source']['data']));
      if (block['type'] === 'tool_use') turn.calls.push({ id: str(block['id']), name: str(block['name']), input: block['input'] });
      if (block['type'] === 'tool_result') {
        b.result(turn, { id: str(block['tool_use_id']), text: errorText(anthropicResultText(block['content']), block['is_error'] === true) }, text.length > 0);
      }
    }
    b.text(turn, text.filter((t) => t !== '').join('\n'));
  }
  const tools = (Array.isArray(body['tools']) ? body['tools'] : []).filter(isJsonObject).map((t) => tool(t['name'], t['description'], t['input_schema']));
  return { system, turns: b.turns, tools };
}

function bedrockResultText(content: unknown): string {
  const parts = (Array.isArray(content) ? content : []).filter(isJsonObject);
  return parts.map((c) => (typeof c['text'] === 'string' ? c['text'] : c['json'] !== undefined ? JSON.stringify(c['json']) : '')).join('');
}

function bedrockConversation(body: JsonObject): Conversation {
  const b = new TurnBuilder();
  const system = (Array.isArray(body['system']) ? body['system'] : []).filter(isJsonObject).filter((s) => 'text' in s).map((s) => str(s['text']));
  for (const [i, raw] of arr(body['messages'], 'messages').entries()) {
    const m = obj(raw, `messages[${i}]`);
    const turn = b.add(m['role'] === 'assistant' ? 'assistant' : 'user');
    const text: string[] = [];
    for (const raw of arr(m['content'], `messages[${i}].content`)) {
      const block = obj(raw, `messages[${i}].content[]`);
      if (typeof block['text'] === 'string') text.push(block['text']);
      if (isJsonObject(block['document'])) text.push(bedrockDocumentText(block['document']));
      if (isJsonObject(block['toolUse'])) turn.calls.push({ id: str(block['toolUse']['toolUseId']), name: str(block['toolUse']['name']), input: block['toolUse']['input'] });
      if (isJsonObject(block['toolResult'])) {
        const r = block['toolResult'];
        b.result(turn, { id: str(r['toolUseId']), text: errorText(bedrockResultText(r['content']), r['status'] === 'error') }, text.length > 0);
      }
    }
    b.text(turn, text.filter((t) => t !== '').join('\n'));
  }
  const config = isJsonObject(body['toolConfig']) ? body['toolConfig'] : {};
  const tools = (Array.isArray(config['tools']) ? config['tools'] : [])
    .filter(isJsonObject)
    .filter((t) => isJsonObject(t['toolSpec']))
    .map((t) => {
      const spec = t['toolSpec'] as JsonObject;
      return tool(spec['name'], spec['description'], isJsonObject(spec['inputSchema']) ? spec['inputSchema']['json'] : undefined);
    });
  return { system, turns: b.turns, tools };
}

function responsesConversation(body: JsonObject): Conversation {
  const b = new TurnBuilder();
  const system = typeof body['instructions'] === 'string' ? [body['instructions']] : [];
  const input = typeof body['input'] === 'string' ? [{ role: 'user', content: body['input'] }] : arr(body['input'], 'input');
  let open: Turn | undefined;
  for (const [i, raw] of input.entries()) {
    const item = obj(raw, `input[${i}]`);
    if (item['type'] === 'function_call') {
      if (open?.role !== 'assistant') open = b.add('assistant');
      open.calls.push({ id: str(item['call_id']), name: str(item['name']), input: parseArguments(item['arguments']) });
    } else if (item['type'] === 'function_call_output') {
      if (open?.role !== 'user' || open.text.length > 0) open = b.add('user');
      b.result(open, { id: str(item['call_id']), text: typeof item['output'] === 'string' ? item['output'] : chatText(item['output']).join('') });
    } else if (item['role'] === 'system' || item['role'] === 'developer') system.push(...chatText(item['content']));
    else {
      open = b.add(item['role'] === 'assistant' ? 'assistant' : 'user');
      b.text(open, chatText(item['content']).join('\n'));
    }
  }
  const tools = (Array.isArray(body['tools']) ? body['tools'] : []).filter(isJsonObject).map((t) => tool(t['name'], t['description'], t['parameters']));
  return { system, turns: b.turns, tools };
}

/** Google's proto JSON takes camelCase and snake_case field names alike. */
export function gField(o: JsonObject, camel: string): unknown {
  return camel in o ? o[camel] : o[camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)];
}

/** Gemini's OpenAPI-style Schema (`type: "OBJECT"`, `nullable`) read as the JSON Schema it means. */
function geminiSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(geminiSchema);
  if (!isJsonObject(schema)) return schema;
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === 'nullable' || k === 'propertyOrdering') continue;
    if (k === 'type' && typeof v === 'string') out[k] = v.toLowerCase();
    else if (k === 'properties' && isJsonObject(v)) out[k] = Object.fromEntries(Object.entries(v).map(([n, s]) => [n, geminiSchema(s)]));
    else if (k === 'items' || k === 'anyOf') out[k] = geminiSchema(v);
    else out[k] = v;
  }
  if (schema['nullable'] === true && typeof out['type'] === 'string') out['type'] = [out['type'], 'null'];
  return out;
}

/** A functionResponse's output as text: `{output}` / `{error}` by Google's convention, else the object. */
export function geminiResultText(response: unknown): string {
  if (!isJsonObject(response)) return JSON.stringify(response ?? null);
  const keys = Object.keys(response);
  if (keys.length === 1 && typeof response['output'] === 'string') return response['output'];
  if (keys.length === 1 && typeof response['error'] === 'string') return `Error: ${response['error']}`;
  return JSON.stringify(response);
}

/**
 * Gemini calls may have no id: a functionResponse then answers the first unanswered call of the model
 * turn before it with the same name. Id-less calls get view-minted `legacy_` ids (any id may come back).
 */
function googleConversation(body: JsonObject): Conversation {
  const b = new TurnBuilder();
  const sys = gField(body, 'systemInstruction');
  const system = (isJsonObject(sys) && Array.isArray(sys['parts']) ? sys['parts'] : []).filter(isJsonObject).map((p) => str(p['text']));
  let pending: ToolCall[] = [];
  for (const [i, raw] of arr(body['contents'], 'contents').entries()) {
    const c = obj(raw, `contents[${i}]`);
    const turn = b.add(c['role'] === 'model' ? 'assistant' : 'user');
    const text: string[] = [];
    const answered: ToolCall[] = [];
    for (const [j, rawPart] of arr(c['parts'], `contents[${i}].parts`).entries()) {
      const part = obj(rawPart, `contents[${i}].parts[${j}]`);
      const call = gField(part, 'functionCall');
      const response = gField(part, 'functionResponse');
      if (typeof part['text'] === 'string' && part['thought'] !== true) text.push(part['text']);
      if (isJsonObject(call)) turn.calls.push({ id: str(call['id']) || `legacy_gemini_${i}_${j}`, name: str(call['name']), input: call['args'] ?? {} });
      if (isJsonObject(response)) {
        const wanted = str(response['id']);
        const match = pending.find((p) => !answered.includes(p) && (wanted ? p.id === wanted : p.name === str(response['name'])));
        if (match) answered.push(match);
        b.result(turn, { id: match?.id ?? (wanted || `unmatched ${str(response['name'])}`), text: geminiResultText(response['response']) }, text.length > 0);
      }
    }
    b.text(turn, text.filter((t) => t !== '').join('\n'));
    pending = turn.calls;
  }
  const tools = (Array.isArray(body['tools']) ? body['tools'] : []).filter(isJsonObject).flatMap((t) => {
    const decls = gField(t, 'functionDeclarations');
    return (Array.isArray(decls) ? decls : []).filter(isJsonObject).map((d) => {
      const schema = gField(d, 'parametersJsonSchema') ?? (d['parameters'] === undefined ? undefined : geminiSchema(d['parameters']));
      return tool(d['name'], d['description'], schema);
    });
  });
  return { system, turns: b.turns, tools };
}

/** The conversation a request body carries, read the way its own protocol defines it. */
export function conversationOf(protocol: WireProtocol, body: JsonObject): Conversation {
  switch (protocol) {
    case 'openai-chat':
      return openaiChatConversation(body);
    case 'anthropic-messages':
      return anthropicConversation(body);
    case 'bedrock-converse':
      return bedrockConversation(body);
    case 'openai-responses':
      return responsesConversation(body);
    case 'google-genai':
      return googleConversation(body);
  }
}
