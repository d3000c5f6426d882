import assert from 'node:assert/strict';
import type { JsonObject } from '../../lib/protocols/types.ts';
import { isJsonObject } from '../../lib/protocols/types.ts';
import type { Conversation, Turn } from './conversation-view.ts';
import type { Reply } from './reply-view.ts';

// What a conversion there and back (A→B→A) must keep, read through the protocol-neutral views; the
// allowances below are the only differences a round trip may show, each for a stated reason.

// Block boundaries may gain or lose a separator ("One." + "Two." can come back as "One.Two."); the
// words may not change.
const words = (text: string): string => text.replace(/\s+/g, '');
// Bedrock rejects blank text, so an empty tool result goes there in words and comes back that way.
const resultWords = (text: string): string => (text.trim() === '' ? words('(no output)') : words(text));

function merged(c: Conversation): Turn[] {
  const out: Turn[] = [];
  for (const t of c.turns) {
    const last = out.at(-1);
    if (last?.role === t.role) {
      last.text.push(...t.text);
      last.calls.push(...t.calls);
      last.results.push(...t.results);
    } else out.push({ ...t, text: [...t.text], calls: [...t.calls], results: [...t.results] });
  }
  return out;
}

export interface SameConversationOptions {
  /** The request restricted its tools (tool_choice none, allowed_tools): fewer may come back. */
  toolsMayShrink: boolean;
}

/**
 * What must survive A→B→A: system text, each turn's text, tool calls (id, name, input), tool results
 * and tool definitions. Ids the view minted for legacy function calls may come back as any id.
 */
export function assertSameConversation(back: Conversation, original: Conversation, { toolsMayShrink }: SameConversationOptions): void {
  assert.equal(words(back.system.join('')), words(original.system.join('')), 'system text');
  const [a, b] = [merged(back), merged(original)];
  assert.deepEqual(a.map((t) => t.role), b.map((t) => t.role), 'turn roles');
  const rename = new Map<string, string>();
  b.flatMap((t) => t.calls).forEach((call, i) => {
    const got = a.flatMap((t) => t.calls)[i]?.id ?? '';
    if (call.id.startsWith('legacy_')) rename.set(got, call.id);
  });
  const id = (x: string): string => rename.get(x) ?? x;
  b.forEach((want, i) => {
    const got = a[i] as Turn;
    assert.equal(words(got.text.join('')), words(want.text.join('')), `turn ${i} text`);
    assert.deepEqual(got.calls.map((c) => ({ ...c, id: id(c.id) })), want.calls, `turn ${i} tool calls`);
    const results = (t: Turn, f: (x: string) => string) => t.results.map((r) => ({ id: f(r.id), text: resultWords(r.text) }));
    assert.deepEqual(results(got, id), results(want, (x) => x), `turn ${i} tool results`);
  });
  if (!toolsMayShrink) assert.deepEqual(back.tools, original.tools, 'tool definitions');
  else for (const t of back.tools) assert.deepEqual(t, original.tools.find((o) => o.name === t.name), `tool ${t.name} comes back as it was`);
}

/** tool_choice none or allowed_tools (Google: mode NONE, allowedFunctionNames): the tools a converter sends may rightly be fewer. */
export function restrictsTools(body: JsonObject): boolean {
  const config = body['toolConfig'];
  const calling = isJsonObject(config) ? config['functionCallingConfig'] : undefined;
  if (isJsonObject(calling) && (calling['mode'] === 'NONE' || Array.isArray(calling['allowedFunctionNames']))) return true;
  const choice = body['tool_choice'];
  return choice === 'none' || (isJsonObject(choice) && (choice['type'] === 'none' || choice['type'] === 'allowed_tools'));
}

/**
 * What must survive B→A→B for a response: the text, the tool calls and why the model stopped. A
 * provider that answers tool calls with a plain stop is read as having stopped for them.
 */
export function assertSameReply(back: Reply, original: Reply): void {
  assert.equal(back.text, original.text, 'text');
  assert.deepEqual(back.calls, original.calls, 'tool calls');
  const stop = original.stop === 'stop' && original.calls.length > 0 ? 'tool' : original.stop;
  assert.equal(back.stop, stop, 'stop reason');
}
