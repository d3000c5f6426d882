// AWS event-stream framing (application/vnd.amazon.eventstream), the body of Bedrock's ConverseStream:
// docs/protocols.md#aws-event-stream-framing. Frame parsing and both CRC
// checks are Smithy's EventStreamCodec, the code the AWS SDK itself runs; this module only buffers
// network chunks into whole frames and maps each frame to the gateway's UpstreamEvent.
import { createRequire } from 'node:module';
import type { EventStreamCodec } from '@smithy/core/event-streams';
import type { UpstreamEvent } from './upstream-event.ts';

export type EventStreamErrorCode =
  | 'EVENT_STREAM_CRC_MISMATCH'
  | 'EVENT_STREAM_MALFORMED'
  | 'EVENT_STREAM_MESSAGE_TOO_LARGE'
  | 'EVENT_STREAM_TRUNCATED';

export class EventStreamDecodeError extends Error {
  readonly code: EventStreamErrorCode;
  constructor(code: EventStreamErrorCode, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'EventStreamDecodeError';
    this.code = code;
  }
}

export interface EventStreamDecoderOptions {
  /** Largest frame accepted, CRCs included (default 16 MiB, AWS's own event-stream limit). */
  maxMessageBytes?: number;
}

export interface EventStreamDecoder {
  /** Events completed by this chunk, in order. */
  push(chunk: Uint8Array): UpstreamEvent[];
  /** The body ended: throws EVENT_STREAM_TRUNCATED when a frame was left half-received. */
  end(): UpstreamEvent[];
}

export const DEFAULT_MAX_EVENT_STREAM_MESSAGE_BYTES = 16 * 1024 * 1024;

// prelude (total length, headers length, prelude CRC) + trailing message CRC
const MIN_FRAME_BYTES = 16;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();
const fromUtf8 = (text: string): Uint8Array => utf8Encoder.encode(text);
const toUtf8 = (bytes: Uint8Array): string => utf8Decoder.decode(bytes);

// decode/encode are stateless; only feed()/getMessage() keep state, and we do not use them. Smithy's
// event-stream code (~3 MiB of a process, ~45 ms to load) is loaded by the first frame encoded or
// decoded, or ahead of it by preloadEventStreamCodec: a gateway that never sees Bedrock never holds it.
let loaded: EventStreamCodec | undefined;
function codec(): EventStreamCodec {
  if (!loaded) {
    const smithy = createRequire(import.meta.url)('@smithy/core/event-streams') as typeof import('@smithy/core/event-streams');
    loaded = new smithy.EventStreamCodec(toUtf8, fromUtf8);
  }
  return loaded;
}

/** Loads the codec off the request path (a config with a Bedrock instance will need it). */
export function preloadEventStreamCodec(): void {
  if (!loaded) setImmediate(codec).unref();
}

type Headers = ReturnType<EventStreamCodec['decode']>['headers'];

function header(headers: Headers, name: string): string | undefined {
  const h = headers[name];
  return h?.type === 'string' ? h.value : undefined;
}

/** Dispatch on `:message-type` as the SDK does; undefined for frames to skip. */
function toUpstreamEvent(headers: Headers, body: Uint8Array): UpstreamEvent | undefined {
  const data = toUtf8(body);
  switch (header(headers, ':message-type')) {
    case 'event': {
      const type = header(headers, ':event-type');
      return type === undefined ? undefined : { event: type, data };
    }
    case 'exception':
      return { event: `exception:${header(headers, ':exception-type') ?? 'unknownException'}`, data };
    case 'error': {
      // Un-modelled errors carry their text in headers, not the payload: give them the exception shape.
      const message = header(headers, ':error-message') ?? (data || 'unknown error');
      return { event: `error:${header(headers, ':error-code') ?? 'UnknownError'}`, data: JSON.stringify({ message }) };
    }
    default:
      return undefined;
  }
}

function decodeFrame(frame: Uint8Array): UpstreamEvent | undefined {
  let message: ReturnType<EventStreamCodec['decode']>;
  try {
    message = codec().decode(frame);
  } catch (err) {
    // Smithy throws plain Errors; its CRC messages are the only ones that mention a checksum.
    const crc = err instanceof Error && /checksum/i.test(err.message);
    const reason = err instanceof Error ? err.message : String(err);
    throw new EventStreamDecodeError(crc ? 'EVENT_STREAM_CRC_MISMATCH' : 'EVENT_STREAM_MALFORMED', reason, err);
  }
  return toUpstreamEvent(message.headers, message.body);
}

export function createEventStreamDecoder(opts: EventStreamDecoderOptions = {}): EventStreamDecoder {
  const max = opts.maxMessageBytes ?? DEFAULT_MAX_EVENT_STREAM_MESSAGE_BYTES;
  // Received bytes not yet part of a whole frame, kept as the chunks they came in: a frame arriving
  // one byte at a time is joined once, when complete, not once per byte.
  let chunks: Uint8Array[] = [];
  let buffered = 0;
  // Length of the frame at the head of the buffer, once its first 4 bytes are in.
  let need = 0;

  function join(): Uint8Array {
    if (chunks.length !== 1) chunks = [Buffer.concat(chunks, buffered)];
    return chunks[0] as Uint8Array;
  }

  function readLength(): void {
    const head = join();
    need = new DataView(head.buffer, head.byteOffset, 4).getUint32(0, false);
    if (need < MIN_FRAME_BYTES) {
      throw new EventStreamDecodeError('EVENT_STREAM_MALFORMED', `event-stream frame length ${need} is below ${MIN_FRAME_BYTES}`);
    }
    if (need > max) {
      throw new EventStreamDecodeError('EVENT_STREAM_MESSAGE_TOO_LARGE', `event-stream frame of ${need} bytes exceeds ${max}`);
    }
  }

  return {
    push(chunk) {
      if (chunk.length === 0) return [];
      chunks.push(chunk);
      buffered += chunk.length;
      const out: UpstreamEvent[] = [];
      for (;;) {
        if (need === 0) {
          if (buffered < 4) break;
          readLength();
        }
        if (buffered < need) break;
        const all = join();
        const event = decodeFrame(all.subarray(0, need));
        if (event) out.push(event);
        const rest = all.subarray(need);
        chunks = rest.length > 0 ? [rest] : [];
        buffered = rest.length;
        need = 0;
      }
      return out;
    },
    end() {
      if (buffered > 0) {
        const held = buffered;
        chunks = [];
        buffered = 0;
        need = 0;
        throw new EventStreamDecodeError('EVENT_STREAM_TRUNCATED', `event-stream ended inside a frame (${held} bytes pending)`);
      }
      return [];
    },
  };
}

function payloadBytes(payload: unknown): Uint8Array {
  if (payload instanceof Uint8Array) return payload;
  // A string is JSON text already (e.g. an upstream event's data relayed unchanged).
  if (typeof payload === 'string') return fromUtf8(payload);
  const json = JSON.stringify(payload);
  if (json === undefined) throw new TypeError(`cannot encode ${typeof payload} as an event-stream payload`);
  return fromUtf8(json);
}

/**
 * One `:message-type: event` frame; headers in the order Bedrock sends them. `payload`: bytes
 * and strings are sent as they are, anything else as JSON.
 */
export function encodeEventStreamMessage(eventType: string, payload: unknown): Uint8Array {
  return codec().encode({
    headers: {
      ':event-type': { type: 'string', value: eventType },
      ':content-type': { type: 'string', value: 'application/json' },
      ':message-type': { type: 'string', value: 'event' },
    },
    body: payloadBytes(payload),
  });
}

/** One `:message-type: exception` frame, e.g. `throttlingException` with `{"message": ...}`. */
export function encodeEventStreamException(exceptionType: string, message: string): Uint8Array {
  return codec().encode({
    headers: {
      ':exception-type': { type: 'string', value: exceptionType },
      ':content-type': { type: 'string', value: 'application/json' },
      ':message-type': { type: 'string', value: 'exception' },
    },
    body: fromUtf8(JSON.stringify({ message })),
  });
}
