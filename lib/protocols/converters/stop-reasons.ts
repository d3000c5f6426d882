// Anthropic `stop_reason` ↔ OpenAI Chat `finish_reason` (docs/protocols.md#stop-reasons), shared by the
// JSON and the stream conversions in both directions so the two can never disagree.

export type AnthropicStopReason =
  | 'end_turn'
  | 'max_tokens'
  | 'stop_sequence'
  | 'tool_use'
  | 'pause_turn'
  | 'refusal'
  | 'model_context_window_exceeded';

export type ChatFinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter';

/**
 * OpenAI never says whether a stop sequence matched, so `stop` is `end_turn`. Some OpenAI-compatible
 * providers (Gemini's among them) answer tool calls with `stop`; Anthropic clients loop on
 * `stop_reason === 'tool_use'`, so tool calls win over a plain stop (gateway choice).
 */
export function stopReasonFromFinishReason(finish: unknown, sawToolCalls: boolean): AnthropicStopReason {
  switch (finish) {
    case 'length':
      return 'max_tokens';
    case 'tool_calls':
    case 'function_call':
      return 'tool_use';
    case 'content_filter':
      return 'refusal';
    default:
      return sawToolCalls ? 'tool_use' : 'end_turn';
  }
}

/** `pause_turn` and unknown future reasons become `stop`: the turn ended, the caller may continue it. */
export function finishReasonFromStopReason(stop: unknown): ChatFinishReason {
  switch (stop) {
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      return 'stop';
  }
}
