import { ProtocolNotSupportedError } from '../../errors.ts';
import type { JsonObject } from '../types.ts';
import { isJsonObject } from '../types.ts';
import { parseToolArguments } from './tool-arguments.ts';

// OpenAI Chat `messages` → Anthropic `system` + `messages` (docs/protocols.md#chat-to-anthropic-request).
// Anthropic wants user/assistant turns that alternate, with tool results first in the user turn
// that answers the tool calls.

const unsupported = (what: string): ProtocolNotSupportedError =>
  new ProtocolNotSupportedError(`${what} cannot be sent to a provider that only speaks Anthropic Messages`);

interface Turn {
  role: 'user' | 'assistant';
  content: string | JsonObject[];
}

export interface AnthropicConversation {
  /** System and developer messages, wherever they were, joined with `\n` as Anthropic's compat layer does. */
  system: string;
  messages: JsonObject[];
  /** The latest assistant turn holds tool_use blocks: a tool loop is under way. */
  lastAssistantUsedTools: boolean;
}

// `data:<mime>[;params];base64,<data>`
const DATA_URL = /^data:([^;,]+)[^,]*;base64,/;

function textOf(content: unknown, where: string): string {
  if (content == null) return '';
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw unsupported(`${where} content that is neither a string nor a list of parts`);
  return content
    .map((p: unknown) => {
      if (isJsonObject(p) && p['type'] === 'text' && typeof p['text'] === 'string') return p['text'];
      if (isJsonObject(p) && p['type'] === 'refusal' && typeof p['refusal'] === 'string') return p['refusal'];
      throw unsupported(`a non-text part in a ${where} message`);
    })
    .join('');
}

function imageBlock(part: JsonObject): JsonObject {
  const image = part['image_url'];
  const url = isJsonObject(image) ? image['url'] : image;
  if (typeof url !== 'string') throw unsupported('an image_url without a url');
  const data = DATA_URL.exec(url);
  // `detail` has no Anthropic equivalent and is dropped.
  if (data) return { type: 'image', source: { type: 'base64', media_type: data[1], data: url.slice(data[0].length) } };
  if (/^https?:\/\//i.test(url)) return { type: 'image', source: { type: 'url', url } };
  throw unsupported('an image_url that is neither a base64 data URL nor http(s)');
}

/** `file_data` may be bare base64 or a data URL; Anthropic documents take PDFs. */
function documentBlock(part: JsonObject): JsonObject {
  const file = isJsonObject(part['file']) ? part['file'] : {};
  const raw = file['file_data'];
  if (typeof raw !== 'string') throw unsupported('a file given by file_id');
  const data = DATA_URL.exec(raw);
  const mediaType = data ? data[1] : 'application/pdf';
  if (mediaType !== 'application/pdf') throw unsupported(`a file of type ${mediaType}`);
  const source = { type: 'base64', media_type: mediaType, data: data ? raw.slice(data[0].length) : raw };
  const block: JsonObject = { type: 'document', source };
  if (typeof file['filename'] === 'string') block['title'] = file['filename'];
  return block;
}

function userContent(content: unknown): Turn['content'] {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw unsupported('user content that is neither a string nor a list of parts');
  const blocks: JsonObject[] = [];
  for (const part of content) {
    if (!isJsonObject(part)) throw unsupported('a content part that is not an object');
    switch (part['type']) {
      case 'text':
        // Anthropic rejects empty text blocks.
        if (typeof part['text'] === 'string' && part['text'] !== '') blocks.push({ type: 'text', text: part['text'] });
        break;
      case 'image_url':
        blocks.push(imageBlock(part));
        break;
      case 'file':
        blocks.push(documentBlock(part));
        break;
      case 'input_audio':
        throw unsupported('audio input');
      default:
        throw unsupported(`a content part of type ${JSON.stringify(part['type'])}`);
    }
  }
  return blocks;
}

function toolResult(id: unknown, content: unknown): Turn {
  if (typeof id !== 'string') throw unsupported('a tool message without tool_call_id');
  const text = Array.isArray(content)
    ? textOf(content, 'tool')
    : typeof content === 'string' ? content : content == null ? '' : JSON.stringify(content);
  return { role: 'user', content: [{ type: 'tool_result', tool_use_id: id, content: text }] };
}

function toolUse(id: unknown, fn: unknown): JsonObject {
  const f = isJsonObject(fn) ? fn : {};
  return { type: 'tool_use', id, name: f['name'], input: parseToolArguments(f['arguments']) };
}

function blocksOf(content: Turn['content']): JsonObject[] {
  if (typeof content !== 'string') return content;
  return content === '' ? [] : [{ type: 'text', text: content }];
}

/**
 * Consecutive same-role turns become one (tool messages and the user message after them included),
 * and inside a user turn tool_result blocks move first, in order, as Anthropic requires.
 */
function mergeTurns(turns: Turn[]): JsonObject[] {
  const merged: Turn[] = [];
  for (const turn of turns) {
    const last = merged.at(-1);
    if (last && last.role === turn.role) last.content = [...blocksOf(last.content), ...blocksOf(turn.content)];
    else merged.push({ role: turn.role, content: turn.content });
  }
  return merged.map((t) => {
    if (t.role !== 'user' || typeof t.content === 'string') return { role: t.role, content: t.content };
    const results = t.content.filter((b) => b['type'] === 'tool_result');
    return { role: t.role, content: [...results, ...t.content.filter((b) => b['type'] !== 'tool_result')] };
  });
}

export function chatMessagesToAnthropic(messages: unknown): AnthropicConversation {
  if (!Array.isArray(messages)) throw unsupported('a request without a messages list');
  const system: string[] = [];
  const turns: Turn[] = [];
  let lastAssistantUsedTools = false;
  // Legacy `function` messages answer the latest assistant `function_call`, which has no id of its own.
  let functionCallId: string | undefined;
  messages.forEach((m: unknown, i: number) => {
    if (!isJsonObject(m)) throw unsupported('a message that is not an object');
    switch (m['role']) {
      case 'system':
      case 'developer':
        system.push(textOf(m['content'], 'system'));
        return;
      case 'user':
        turns.push({ role: 'user', content: userContent(m['content']) });
        return;
      case 'tool':
        turns.push(toolResult(m['tool_call_id'], m['content']));
        return;
      case 'function':
        if (functionCallId === undefined) throw unsupported('a function message without a preceding function_call');
        turns.push(toolResult(functionCallId, m['content']));
        return;
      case 'assistant': {
        const blocks = blocksOf(textOf(m['content'], 'assistant'));
        const calls = Array.isArray(m['tool_calls']) ? m['tool_calls'].filter(isJsonObject) : [];
        for (const call of calls) blocks.push(toolUse(call['id'], call['function']));
        if (isJsonObject(m['function_call'])) {
          functionCallId = `call_function_${i}`;
          blocks.push(toolUse(functionCallId, m['function_call']));
        }
        lastAssistantUsedTools = blocks.some((b) => b['type'] === 'tool_use');
        // An assistant turn with nothing in it (no text, no calls) is dropped: Anthropic rejects empty content.
        const only = blocks[0];
        if (blocks.length === 1 && only?.['type'] === 'text') {
          turns.push({ role: 'assistant', content: String(only['text']) });
        } else if (blocks.length > 0) turns.push({ role: 'assistant', content: blocks });
        return;
      }
      default:
        throw unsupported(`a message with role ${JSON.stringify(m['role'])}`);
    }
  });
  return { system: system.filter((s) => s !== '').join('\n'), messages: mergeTurns(turns), lastAssistantUsedTools };
}
