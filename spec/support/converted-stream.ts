import assert from 'node:assert/strict';
import type { ClientEvent, ConversionContext, Converter, UpstreamEvent } from '../../lib/protocols/converters/converter.ts';
import { clientProtocol } from '../../lib/protocols/detect.ts';
import type { ProtocolName } from '../../lib/protocols/types.ts';
import { createEventStreamDecoder } from '../../lib/transport/aws-event-stream.ts';
import { createSseDecoder } from '../../lib/transport/sse-decoder.ts';
import { wire } from './protocol-invariants.ts';
import { assertSameReply } from './round-trip.ts';
import type { StreamSummary } from './stream-invariants.ts';
import { checkStream } from './stream-invariants.ts';

// What a client receives for a converted stream, built as the relay (lib/pipeline/relay-stream.ts)
// builds it: converted events encoded by the client protocol's own encoder; `end()` only when the
// upstream stream finished or reported an error, else the protocol's truncation error frame.

function decoderFor(protocol: ProtocolName): { push(chunk: Uint8Array): UpstreamEvent[]; end(): UpstreamEvent[] } {
  return clientProtocol(protocol).framing === 'sse' ? createSseDecoder() : createEventStreamDecoder();
}

/** Upstream bytes as the gateway decodes them for `protocol`. */
export function decodeStream(protocol: ProtocolName, bytes: Uint8Array): UpstreamEvent[] {
  const decoder = decoderFor(protocol);
  return [...decoder.push(bytes), ...decoder.end()];
}

/** Encoded client frames decoded again, payloads parsed: what the client's SDK gets to see. */
export function decodeClientFrames(protocol: ProtocolName, frames: ReadonlyArray<string | Uint8Array>): ClientEvent[] {
  return parsed(decodeStream(protocol, Buffer.concat(frames.map((f) => (typeof f === 'string' ? Buffer.from(f, 'utf8') : f)))));
}

export function clientStream(converter: Converter, ctx: ConversionContext, upstream: readonly UpstreamEvent[]): ClientEvent[] {
  const client = clientProtocol(converter.from);
  const observer = clientProtocol(converter.to as ProtocolName).createStreamObserver(false);
  const stream = converter.stream?.(ctx);
  if (!stream) throw new Error(`${converter.from} → ${converter.to} has no stream converter`);
  const frames: Array<string | Uint8Array> = [];
  let error = false;
  for (const event of upstream) {
    if (observer.classify(event) === 'error') error = true;
    for (const e of stream.push(event)) frames.push(client.encodeEvent(e));
  }
  if (observer.finished() || error) for (const e of stream.end()) frames.push(client.encodeEvent(e));
  else frames.push(client.streamErrorFrame('upstream ended the stream without its terminal event'));
  return decodeClientFrames(converter.from, frames);
}

/** Upstream events with their payloads parsed, the form the stream checkers read. */
export function parsed(events: readonly UpstreamEvent[]): ClientEvent[] {
  return events.map((e) => {
    const data: unknown = e.data === '[DONE]' ? e.data : JSON.parse(e.data);
    return e.event === undefined ? { data } : { event: e.event, data };
  });
}

/**
 * The converted stream, as the client receives it, obeys the client protocol's stream rules; and when
 * the provider's stream obeys its own, the client is told the same text, tool calls and stop reason,
 * and the stream ends the same way. (Recordings that break their protocol on purpose, to test the
 * converter's repairs, have no well-formed meaning to compare with.)
 */
export function checkConvertedStream(converter: Converter, ctx: ConversionContext, upstream: readonly UpstreamEvent[]): StreamSummary {
  const client = checkStream(wire(converter.from), clientStream(converter, ctx, upstream));
  let provider: StreamSummary | undefined;
  try {
    provider = checkStream(wire(converter.to), parsed(upstream));
  } catch {
    return client;
  }
  assertSameReply(client.reply, provider.reply);
  assert.equal(client.ending, provider.ending, 'the client stream ends the way the provider\'s did');
  return client;
}
