import type { ServerResponse } from 'node:http';
import { GatewayError, UpstreamStreamError } from '../errors.ts';
import type { StreamEventClass, StreamObserver } from '../protocols/client-protocol.ts';
import type { ClientEvent, StreamConverter, UpstreamEvent } from '../protocols/converters/converter.ts';
import type { Usage } from '../protocols/types.ts';
import { encodeSseEvent } from '../transport/sse-encoder.ts';
import { ClientAbortedError, mapTransportError } from '../transport/send.ts';
import { writeToClient } from './client-writer.ts';

type Frame = string | Uint8Array;

export interface StreamRelayInput {
  res: ServerResponse;
  body: AsyncIterable<Uint8Array> & { destroy(err?: Error): unknown };
  instance: string;
  headers: Record<string, string>;
  /** Bytes → upstream events (SSE, or Bedrock's binary event-stream). */
  decoder: { push(chunk: Uint8Array): UpstreamEvent[]; end(): UpstreamEvent[] };
  /** The UPSTREAM protocol's grammar: decides the commit point, counts usage, spots in-band errors. */
  observer: StreamObserver;
  /** Present when the client speaks another protocol: upstream events → client events. */
  converter: StreamConverter | undefined;
  /** The CLIENT protocol's encoder for converted events and its end-of-stream error frame. */
  encode: (event: ClientEvent) => Frame;
  errorFrame: (message: string) => Frame;
  /** Drop usage-only chunks of a native OpenAI stream: the gateway asked for them, not the client. */
  stripUsageChunk: boolean;
  signal: AbortSignal;
  timeoutMs: number;
  /** Called once, just before the first byte goes to the client. */
  onCommit(): void;
}

export interface StreamRelayResult {
  committed: boolean;
  /** Set when the stream failed; before the commit point it is retryable, after it the client saw an error frame. */
  error: GatewayError | undefined;
  usage: Usage | undefined;
  model: string | undefined;
  text: string;
}

/**
 * Relays an upstream stream. Lifecycle frames are held until the first content event (the commit
 * point); an error before it returns without writing anything so the caller can fall back. A native
 * stream reaches the client as the upstream's own bytes; a converted one is re-encoded event by event.
 */
export async function relayStream(input: StreamRelayInput): Promise<StreamRelayResult> {
  const { res, signal, observer, converter } = input;
  const held: Frame[] = [];
  let committed = false;
  let streamError: GatewayError | undefined;
  const reencode = converter !== undefined || input.stripUsageChunk;

  const result = (error: GatewayError | undefined): StreamRelayResult => ({
    committed,
    error,
    usage: observer.usage(),
    model: observer.model(),
    text: observer.text(),
  });

  // A write failed: the client left (or a stream cap fired) while its answer was being written.
  const left = (): StreamRelayResult => result(signal.reason instanceof GatewayError ? signal.reason : new ClientAbortedError());

  const commit = async (): Promise<boolean> => {
    committed = true;
    input.onCommit();
    res.writeHead(200, input.headers);
    for (const piece of held.splice(0)) if (!(await writeToClient(res, piece, signal))) return false;
    return true;
  };

  // What to forward for this chunk, and whether an error came before any content (events in order).
  const process = (chunk: Uint8Array | undefined) => {
    const events = chunk ? input.decoder.push(chunk) : input.decoder.end();
    const out: Frame[] = [];
    let content = committed;
    let errorFirst = false;
    let error = false;
    for (const event of events) {
      const cls: StreamEventClass = observer.classify(event);
      if (cls === 'content') content = true;
      if (cls === 'error') {
        error = true;
        if (!content) errorFirst = true;
      }
      if (converter) {
        for (const ev of converter.push(event)) {
          const frame = input.encode(ev);
          if (frame.length > 0) out.push(frame);
        }
      }
      else if (input.stripUsageChunk && cls !== 'usage') out.push(encodeSseEvent(event));
    }
    if (!reencode && chunk) out.push(chunk);
    return { out, content, errorFirst, error };
  };

  const write = async (frames: Frame[]): Promise<boolean> => {
    for (const frame of frames) if (!(await writeToClient(res, frame, signal))) return false;
    return true;
  };

  try {
    for await (const chunk of input.body) {
      const step = process(chunk);
      if (!committed) {
        if (step.errorFirst) {
          input.body.destroy();
          return result(new UpstreamStreamError(input.instance, `instance ${input.instance} sent an error event before any content: ${observer.errorMessage() ?? ''}`));
        }
        held.push(...step.out);
        if (step.content && !(await commit())) return left();
        if (step.error) streamError = new UpstreamStreamError(input.instance, observer.errorMessage() ?? 'in-band error');
        continue;
      }
      if (step.error) streamError = new UpstreamStreamError(input.instance, observer.errorMessage() ?? 'in-band error');
      if (!(await write(step.out))) {
        input.body.destroy();
        return left();
      }
    }
  } catch (err) {
    const mapped = mapTransportError(err, input.instance, input.timeoutMs, signal);
    if (!committed || mapped.code === 'CLIENT_ABORTED') return result(mapped);
    await endWithError(res, input.errorFrame(`upstream stream failed: ${mapped.message}`), signal);
    return result(mapped);
  }

  const tail = process(undefined);
  if (!committed && tail.errorFirst) {
    return result(new UpstreamStreamError(input.instance, `instance ${input.instance} sent an error event before any content: ${observer.errorMessage() ?? ''}`));
  }
  held.push(...tail.out);
  if (tail.error) streamError ??= new UpstreamStreamError(input.instance, observer.errorMessage() ?? 'in-band error');
  // An in-band error already told the client; otherwise a stream without its end marker was cut short.
  if (!observer.finished() && !streamError) {
    const truncated = new UpstreamStreamError(input.instance, `instance ${input.instance} ended the stream without its terminal event`);
    if (!committed) return result(truncated);
    await write(held.splice(0));
    await endWithError(res, input.errorFrame(truncated.message), signal);
    return result(truncated);
  }
  if (converter) {
    for (const ev of converter.end()) {
      const frame = input.encode(ev);
      if (frame.length > 0) held.push(frame);
    }
  }
  if (!committed && !(await commit())) return left();
  await write(held.splice(0));
  res.end();
  return result(streamError);
}

async function endWithError(res: ServerResponse, frame: Frame, signal: AbortSignal): Promise<void> {
  await writeToClient(res, frame, signal);
  res.end();
}
