import type { JsonObject } from '../types.ts';
import { isJsonObject } from '../types.ts';

// Anthropic extended thinking (`thinking.budget_tokens`) ↔ OpenAI `reasoning_effort`. Neither vendor
// documents an equivalence, so this is a gateway choice, kept symmetric so each effort round-trips:
//
//   effort   → budget_tokens        budget_tokens → effort
//   minimal  → 1024 (Anthropic min)  < 4096        → low
//   low      → 2048                  < 16384       → medium
//   medium   → 8192                  otherwise     → high
//   high     → 24576
//
// `none` and unknown efforts turn thinking off; Anthropic's `adaptive` (the model decides) is `medium`.

const BUDGETS: Readonly<Record<string, number>> = { minimal: 1024, low: 2048, medium: 8192, high: 24576 };
/** Anthropic rejects a smaller budget. */
export const MIN_THINKING_BUDGET = 1024;

export function effortFromThinking(thinking: unknown): string | undefined {
  if (!isJsonObject(thinking)) return undefined;
  if (thinking['type'] === 'adaptive') return 'medium';
  const budget = thinking['budget_tokens'];
  if (thinking['type'] !== 'enabled' || typeof budget !== 'number') return undefined;
  if (budget < 4096) return 'low';
  return budget < 16384 ? 'medium' : 'high';
}

export interface ThinkingPlan {
  thinking: JsonObject | undefined;
  maxTokens: number;
}

/**
 * `limit` is the client's `max_completion_tokens`, which in OpenAI includes reasoning tokens, like
 * Anthropic's `max_tokens` includes thinking. Anthropic needs `budget_tokens < max_tokens`:
 * - with a client limit, thinking gets at most half of it so the answer keeps room, and is left off
 *   when that half is under Anthropic's minimum;
 * - without one, the budget is added on top of the default answer room.
 */
export function planThinking(effort: unknown, limit: number | undefined, defaultMaxTokens: number): ThinkingPlan {
  const target = typeof effort === 'string' ? BUDGETS[effort] : undefined;
  if (target === undefined) return { thinking: undefined, maxTokens: limit ?? defaultMaxTokens };
  if (limit === undefined) {
    return { thinking: { type: 'enabled', budget_tokens: target }, maxTokens: defaultMaxTokens + target };
  }
  const budget = Math.min(target, Math.floor(limit / 2));
  if (budget < MIN_THINKING_BUDGET) return { thinking: undefined, maxTokens: limit };
  return { thinking: { type: 'enabled', budget_tokens: budget }, maxTokens: limit };
}
