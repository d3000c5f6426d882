import type { SseEvent } from '../transport/sse-decoder.ts';
import type { UpstreamEvent } from '../transport/upstream-event.ts';
import type { ClientEvent } from './converters/converter.ts';
import type { JsonSchema } from './schema-parts.ts';
import type { JsonObject, ProtocolName, Usage } from './types.ts';

/** How one decoded stream event matters to the commit point (docs/architecture.md#commit-point). */
export type StreamEventClass =
  | 'lifecycle' // role-only chunk, message_start...: held until content arrives
  | 'content' // the first one commits the response to the client
  | 'usage' // a usage-only chunk
  | 'error' // an in-band error
  | 'done'; // the terminal marker

export interface StreamObserver {
  classify(event: SseEvent): StreamEventClass;
  /** True once the stream carried what its protocol calls a proper end. */
  finished(): boolean;
  usage(): Usage | undefined;
  model(): string | undefined;
  /** Generated text so far (for `logging.payloads`). */
  text(): string;
  /** Message of the last in-band error event, if any. */
  errorMessage(): string | undefined;
  /** True once the stream carried a tool (function) call. */
  toolCalls(): boolean;
  /**
   * After the commit point: true when these bytes, whole events of the upstream's own stream, hold
   * nothing this observer needs to see (no usage, error, end, tool call or text to keep): classifying
   * their events would change nothing it reports and find no error, so the relay may forward them
   * without decoding them. Decided from the bytes alone and never wrongly true: when unsure it says
   * false and the events are decoded and classified. Optional: without it every chunk is decoded.
   */
  plainContent?(chunk: Uint8Array): boolean;
}

export interface StreamDecoder {
  push(chunk: Uint8Array): UpstreamEvent[];
  end(): UpstreamEvent[];
  /**
   * True when nothing is held between events: no partial line, no event still gathering its fields.
   * A chunk that starts and ends at such a point holds only whole events, so its bytes can be relayed
   * as they are. Optional: a decoder without it is never relayed raw while events are filtered.
   */
  atBoundary?(): boolean;
  /**
   * True when the bytes so far ended between events and `chunk` ends between events too, so decoding
   * it would leave the decoder exactly as it is: whoever needs none of its events may skip the decode.
   */
  wholeEvents?(chunk: Uint8Array): boolean;
}

export type ErrorShape = 'openai' | 'anthropic' | 'bedrock' | 'google';

/** How a protocol's streams are framed on the wire. */
export type StreamFraming = 'sse' | 'aws-event-stream';

export interface ClientProtocol {
  name: ProtocolName;
  /**
   * Path endings that are this protocol's endpoints: on them the path decides the protocol (and the
   * body must fit its schema). Empty for a protocol only the body reveals (passthrough).
   */
  endpoints: readonly string[];
  /** The access log's `request_type` when it is not chat (`ai_chat` / `ai_stream`). */
  requestType?: 'ai_embeddings';
  errorShape: ErrorShape;
  framing: StreamFraming;
  /** Content type of this protocol's streamed responses. */
  streamContentType: string;
  /** Bytes of this protocol's stream → its events (SSE, or AWS event-stream frames). */
  createDecoder(): StreamDecoder;
  /** What a request body must look like before anything reads it; undefined takes any JSON object. */
  requestSchema: JsonSchema | undefined;
  isStream(body: JsonObject, path: string): boolean;
  /** The model the client asked for (Bedrock puts it in the path). */
  requestModel(body: JsonObject, path?: string): string | undefined;
  usageFromJson(body: unknown): Usage | undefined;
  /** Tools the request offers the model (access log `llm_tool_count`); undefined when it has none. */
  toolCount(body: JsonObject): number | undefined;
  /** The end user the client names (OpenAI `user`, Anthropic `metadata.user_id`), for the access log. */
  endUserId(body: JsonObject): string | undefined;
  /** The text of the last user turn (semantic balancing embeds it); undefined when there is none. */
  lastUserText(body: JsonObject): string | undefined;
  /** True when a whole (non-streamed) answer calls a tool. */
  hasToolCalls(answer: unknown): boolean;
  /**
   * The request body sent as it is to a provider of this protocol, minus what such a provider would
   * refuse in the history (thinking blocks without their signature, docs/protocols.md#thinking-signatures);
   * undefined when nothing needs removing, so the client's bytes go untouched.
   */
  historyForUpstream?(body: JsonObject): JsonObject | undefined;
  modelFromJson(body: unknown): string | undefined;
  textFromJson(body: unknown): string | undefined;
  /** `capturePayload`: also accumulate generated text (costs a JSON.parse per event after commit). */
  createStreamObserver(capturePayload: boolean): StreamObserver;
  /** The frame that ends a stream after the commit point when the upstream failed. */
  streamErrorFrame(message: string): string | Uint8Array;
  /** Encodes one converted event for this protocol's stream. */
  encodeEvent(event: ClientEvent): string | Uint8Array;
  /**
   * Streams of this protocol may end with a usage-only event that a client sees only when it asked for
   * it (OpenAI's `stream_options.include_usage`); absent when the protocol has no such event.
   */
  usageEvents?: { requested(body: JsonObject): boolean; isUsageOnly(data: unknown): boolean };
  /** Finishes an answer converted from another protocol, given what the client asked (encodings, say). */
  finishConverted?(answer: JsonObject, clientBody: JsonObject): JsonObject;
}
