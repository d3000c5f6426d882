import { isJsonObject } from './types.ts';

// Small readers the protocol descriptors share for the access log's request and answer facts
// (tools offered, tool calls answered, end user): each descriptor says where its protocol keeps them.

/** Length of the array at `path`, or undefined when there is none. */
export function arrayLength(body: unknown, ...path: string[]): number | undefined {
  const value = at(body, path);
  return Array.isArray(value) ? value.length : undefined;
}

/** The non-empty string at `path`, or undefined. */
export function stringAt(body: unknown, ...path: string[]): string | undefined {
  const value = at(body, path);
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** True when the array at `path` holds an object for which `test` holds. */
export function someObject(body: unknown, path: string[], test: (item: Record<string, unknown>) => boolean): boolean {
  const value = at(body, path);
  return Array.isArray(value) && value.some((item) => isJsonObject(item) && test(item));
}

function at(body: unknown, path: string[]): unknown {
  let value = body;
  for (const key of path) value = isJsonObject(value) ? value[key] : undefined;
  return value;
}

/** The text of one message content: a string, or the `text` of its text parts (tool results, images skipped). */
function contentText(content: unknown, textTypes: readonly string[]): string | undefined {
  if (typeof content === 'string') return content === '' ? undefined : content;
  if (!Array.isArray(content)) return undefined;
  const parts: string[] = [];
  for (const part of content) {
    if (!isJsonObject(part) || typeof part['text'] !== 'string') continue;
    const type = part['type'];
    // Bedrock content blocks carry no type: `{ "text": … }`.
    if (type === undefined || (typeof type === 'string' && textTypes.includes(type))) parts.push(part['text']);
  }
  const text = parts.join('\n');
  return text === '' ? undefined : text;
}

/**
 * The text of the last user message in `body[key]` (a messages / input array), for semantic routing.
 * `textTypes`: the part types that carry text in this protocol.
 */
export function lastUserMessageText(body: unknown, key: string, textTypes: readonly string[]): string | undefined {
  const list = at(body, [key]);
  if (!Array.isArray(list)) return undefined;
  for (let i = list.length - 1; i >= 0; i -= 1) {
    const item: unknown = list[i];
    if (isJsonObject(item) && item['role'] === 'user') return contentText(item['content'], textTypes);
  }
  return undefined;
}
