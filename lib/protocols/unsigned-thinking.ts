import type { JsonObject } from './types.ts';
import { isJsonObject } from './types.ts';

// Thinking blocks the gateway cannot sign (docs/protocols.md#thinking-signatures). Anthropic, and
// Claude on Bedrock, accept a thinking block in the history only with the signature they issued for
// it. A block that came from another vendor's reasoning (an OpenAI-compatible `reasoning_content`, a
// Bedrock model that does not sign) has none, and the gateway cannot make one. So a block with its
// provider's real signature goes as it is (same-vendor round trip); one without is dropped from the
// history sent to a provider that would refuse it. When that leaves the last assistant turn of a tool
// loop without its thinking, thinking is turned off for the request, because Anthropic refuses a
// thinking-enabled tool loop whose last turn has none.

export const isSigned = (signature: unknown): boolean => typeof signature === 'string' && signature !== '';

interface Shape {
  /** The block is a thinking block without a usable signature. */
  unsigned(block: JsonObject): boolean;
  usesTool(block: JsonObject): boolean;
  /** Removes the thinking control from a copy of the body. */
  thinkingOff(body: JsonObject): JsonObject;
}

function dropUnsigned(body: JsonObject, shape: Shape): JsonObject | undefined {
  const messages = body['messages'];
  if (!Array.isArray(messages)) return undefined;
  let changed = false;
  let lastAssistantLostThinking = false;
  const kept: unknown[] = [];
  for (const m of messages) {
    if (!isJsonObject(m) || m['role'] !== 'assistant' || !Array.isArray(m['content'])) {
      kept.push(m);
      continue;
    }
    const blocks = m['content'].filter((b: unknown) => !(isJsonObject(b) && shape.unsigned(b)));
    const dropped = blocks.length !== m['content'].length;
    changed ||= dropped;
    lastAssistantLostThinking = dropped && blocks.some((b: unknown) => isJsonObject(b) && shape.usesTool(b));
    // A turn that held nothing but unsigned thinking goes entirely: an empty turn is refused too.
    if (blocks.length > 0) kept.push(dropped ? { ...m, content: blocks } : m);
  }
  if (!changed) return undefined;
  const out = { ...body, messages: kept };
  return lastAssistantLostThinking ? shape.thinkingOff(out) : out;
}

/** An Anthropic Messages body without unsigned thinking blocks; undefined when it has none. */
export function anthropicWithoutUnsignedThinking(body: JsonObject): JsonObject | undefined {
  return dropUnsigned(body, {
    unsigned: (b) => b['type'] === 'thinking' && !isSigned(b['signature']),
    usesTool: (b) => b['type'] === 'tool_use',
    thinkingOff: ({ thinking: _off, ...rest }) => rest,
  });
}

/** A Bedrock Converse body without unsigned reasoning blocks; undefined when it has none. */
export function converseWithoutUnsignedThinking(body: JsonObject): JsonObject | undefined {
  return dropUnsigned(body, {
    unsigned: (b) => {
      const reasoning = b['reasoningContent'];
      if (!isJsonObject(reasoning) || !isJsonObject(reasoning['reasoningText'])) return false;
      return !isSigned(reasoning['reasoningText']['signature']);
    },
    usesTool: (b) => isJsonObject(b['toolUse']),
    thinkingOff: (body) => {
      const extra = body['additionalModelRequestFields'];
      if (!isJsonObject(extra) || extra['thinking'] === undefined) return body;
      const { thinking: _off, ...rest } = extra;
      const { additionalModelRequestFields: _all, ...others } = body;
      return Object.keys(rest).length > 0 ? { ...others, additionalModelRequestFields: rest } : others;
    },
  });
}
