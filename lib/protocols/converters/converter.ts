import type { UpstreamEvent } from '../../transport/upstream-event.ts';
import type { JsonObject, ProtocolName, UpstreamProtocolName } from '../types.ts';

// One translator interface for every pair of protocols (envoy ai-gateway's shape). Converters are pure:
// plain objects in, new objects out, never mutating their input, so a fallback attempt can run them
// again for another provider. Stream converters keep per-request state in their closure only.

export type { UpstreamEvent };

/**
 * One event for the client, before encoding: the client protocol's encoder turns it into an SSE frame
 * (`event:` line when `event` is set, `data:` = JSON of `data`) or a Bedrock event-stream message
 * (`:event-type` = `event`). `data: '[DONE]'` is OpenAI chat's end-of-stream sentinel, written raw.
 */
export interface ClientEvent {
  event?: string;
  data: unknown;
}

export interface StreamConverter {
  /** One upstream event in, zero or more client events out, in order. */
  push(event: UpstreamEvent): ClientEvent[];
  /** The upstream stream ended normally: flush what is still open (closing blocks, terminal events). */
  end(): ClientEvent[];
}

export interface ConversionContext {
  /** The model the gateway decided on (instance `options.model`, else the client's own). */
  model: string | undefined;
  stream: boolean;
  /**
   * The client's request body as it arrived (read it, never change it): what a converted answer
   * echoes back, e.g. a Response's `tools` and `tool_choice`.
   */
  request?: JsonObject;
  /**
   * An estimate of the converted request's prompt tokens, for stream headers that must state input
   * tokens before the provider has counted them (Anthropic `message_start`). Computed on first call.
   */
  promptTokens?: () => number;
}

export interface Converter {
  /** What the client speaks. */
  from: ProtocolName;
  /** What the provider is sent. */
  to: UpstreamProtocolName;
  /** Client request body → upstream request body. Throws ProtocolNotSupportedError (400) for what cannot be expressed. */
  request(body: JsonObject, ctx: ConversionContext): JsonObject;
  /** Upstream JSON response (2xx) → client JSON response. */
  response(body: JsonObject, ctx: ConversionContext): JsonObject;
  /** Upstream stream events → client stream events (absent for protocols that never stream). */
  stream?(ctx: ConversionContext): StreamConverter;
}

/**
 * The push/end shell every stream converter shares: each call collects its own output, and once the
 * converter says it is done (terminal event sent, or an error) further input is ignored.
 */
export function collectingStreamConverter(
  isDone: () => boolean,
  onEvent: (event: UpstreamEvent, out: ClientEvent[]) => void,
  onEnd: (out: ClientEvent[]) => void,
): StreamConverter {
  return {
    push(event) {
      if (isDone()) return [];
      const out: ClientEvent[] = [];
      onEvent(event, out);
      return out;
    },
    end() {
      if (isDone()) return [];
      const out: ClientEvent[] = [];
      onEnd(out);
      return out;
    },
  };
}
