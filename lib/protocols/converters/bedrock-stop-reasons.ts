// Stop reasons between Bedrock Converse and the other protocols (docs/protocols.md#stop-reasons).
// Unknown values fall back to the plain "finished" reason.

/** Bedrock `stopReason` → OpenAI `finish_reason`. */
export function bedrockStopToOpenai(stopReason: unknown): string {
  switch (stopReason) {
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'guardrail_intervened':
    case 'content_filtered':
      return 'content_filter';
    default:
      // end_turn, stop_sequence, and malformed_* (gateway choice: a finished turn, not an error)
      return 'stop';
  }
}

/** OpenAI `finish_reason` → Bedrock `stopReason`. */
export function openaiFinishToBedrock(finishReason: unknown): string {
  switch (finishReason) {
    case 'length':
      return 'max_tokens';
    case 'tool_calls':
    case 'function_call':
      return 'tool_use';
    case 'content_filter':
      return 'content_filtered';
    default:
      return 'end_turn';
  }
}

/** Bedrock `stopReason` → Anthropic `stop_reason`. */
export function bedrockStopToAnthropic(stopReason: unknown): string {
  switch (stopReason) {
    case 'stop_sequence':
    case 'max_tokens':
    case 'tool_use':
    case 'model_context_window_exceeded':
      return stopReason;
    case 'guardrail_intervened':
    case 'content_filtered':
      return 'refusal';
    default:
      return 'end_turn';
  }
}

/** Anthropic `stop_reason` → Bedrock `stopReason`. */
export function anthropicStopToBedrock(stopReason: unknown): string {
  switch (stopReason) {
    case 'stop_sequence':
    case 'max_tokens':
    case 'tool_use':
    case 'model_context_window_exceeded':
      return stopReason;
    case 'refusal':
      return 'content_filtered';
    default:
      // end_turn, and pause_turn: Bedrock has no "unfinished turn" reason
      return 'end_turn';
  }
}
