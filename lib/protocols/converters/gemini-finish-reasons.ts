import type { ChatFinishReason } from './stop-reasons.ts';

// Gemini `finishReason` ↔ OpenAI Chat `finish_reason` (docs/protocols.md#google-genai), shared by the
// JSON and stream conversions in both directions. Gemini ends a turn of function calls with `STOP`;
// a chat client loops on `tool_calls`, so calls win over a plain stop (as for Anthropic).

const FILTERED = new Set(['SAFETY', 'RECITATION', 'BLOCKLIST', 'PROHIBITED_CONTENT', 'SPII', 'IMAGE_SAFETY', 'LANGUAGE']);

export function finishReasonFromGemini(reason: unknown, sawToolCalls: boolean): ChatFinishReason {
  if (reason === 'MAX_TOKENS') return 'length';
  if (typeof reason === 'string' && FILTERED.has(reason)) return 'content_filter';
  return sawToolCalls ? 'tool_calls' : 'stop';
}

/** Chat's `tool_calls` is a plain `STOP` in Gemini; unknown reasons end the turn as `STOP` too. */
export function geminiFinishReason(finish: unknown): string {
  switch (finish) {
    case 'length':
      return 'MAX_TOKENS';
    case 'content_filter':
      return 'SAFETY';
    default:
      return 'STOP';
  }
}
