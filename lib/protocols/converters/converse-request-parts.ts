// Pieces every "→ Bedrock Converse" request conversion shares (docs/protocols.md#converse-requests):
// turns with union-object content blocks, inferenceConfig, and toolConfig without a `none` choice.
import type { JsonObject } from '../types.ts';
import { isJsonObject } from '../types.ts';

export interface ConverseTurn {
  role: 'user' | 'assistant';
  content: JsonObject[];
}

const isToolResult = (block: JsonObject): boolean => 'toolResult' in block;

/**
 * Consecutive turns of one role become one turn (Bedrock wants user/assistant alternating), empty
 * turns are dropped, and tool results go first in a user turn, as Claude requires.
 */
export function mergeTurns(turns: readonly ConverseTurn[]): JsonObject[] {
  const merged: ConverseTurn[] = [];
  for (const turn of turns) {
    if (turn.content.length === 0) continue;
    const last = merged[merged.length - 1];
    if (last && last.role === turn.role) last.content = [...last.content, ...turn.content];
    else merged.push({ role: turn.role, content: [...turn.content] });
  }
  return merged.map((t) => ({
    role: t.role,
    content: t.role === 'user' ? [...t.content.filter(isToolResult), ...t.content.filter((b) => !isToolResult(b))] : t.content,
  }));
}

/**
 * Bedrock rejects blank text blocks, inside tool results too, and the history that holds one would
 * fail on every later turn; a tool that returned nothing is said in words instead (gateway choice).
 */
export function toolResultContent(items: readonly JsonObject[]): JsonObject[] {
  const kept = items.filter((b) => !(typeof b['text'] === 'string' && b['text'].trim() === ''));
  return kept.length > 0 ? kept : [{ text: '(no output)' }];
}

export interface InferenceFields {
  maxTokens?: unknown;
  temperature?: unknown;
  topP?: unknown;
  stop?: unknown;
}

/** `inferenceConfig`, or undefined when nothing was set. `stop` may be a string or a list. */
export function inferenceConfig(f: InferenceFields): JsonObject | undefined {
  const out: JsonObject = {};
  if (typeof f.maxTokens === 'number') out['maxTokens'] = f.maxTokens;
  if (typeof f.temperature === 'number') out['temperature'] = f.temperature;
  if (typeof f.topP === 'number') out['topP'] = f.topP;
  const stop = typeof f.stop === 'string' ? [f.stop] : Array.isArray(f.stop) ? f.stop.filter((s) => typeof s === 'string') : [];
  if (stop.length > 0) out['stopSequences'] = stop;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Tool choice in Bedrock terms; `none` is what the client asked and Bedrock cannot say. */
export type ConverseToolChoice = { auto: JsonObject } | { any: JsonObject } | { tool: { name: string } } | 'none' | undefined;

export function hasToolBlocks(messages: readonly JsonObject[]): boolean {
  return messages.some((m) => Array.isArray(m['content']) && m['content'].some((b: unknown) => isJsonObject(b) && ('toolUse' in b || 'toolResult' in b)));
}

/**
 * `toolConfig`, or undefined. Bedrock has no `none` choice, so `none` drops the tools, unless the
 * history holds tool blocks: Bedrock then requires the definitions, and they go without a choice
 * (gateway choice: a rejected request would be worse than a model that may still call a tool).
 */
export function toolConfig(tools: readonly JsonObject[], choice: ConverseToolChoice, messages: readonly JsonObject[]): JsonObject | undefined {
  if (tools.length === 0) return undefined;
  if (choice === 'none') return hasToolBlocks(messages) ? { tools } : undefined;
  return choice === undefined ? { tools } : { tools, toolChoice: choice };
}
