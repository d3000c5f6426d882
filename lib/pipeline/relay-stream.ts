import type { ServerResponse } from 'node:http';
import type { GatewayError } from '../errors.ts';
import { UpstreamStreamError } from '../errors.ts';
import type { ClientProtocol, StreamEventClass } from '../protocols/client-protocol.ts';
import type { Usage } from '../protocols/types.ts';
import { createSseDecoder } from '../transport/sse-decoder.ts';
import { encodeSseEvent } from '../transport/sse-encoder.ts';
import { mapTransportError } from '../transport/send.ts';
import { writeToClient } from './client-writer.ts';

export interface StreamRelayInput {
  res: ServerResponse;
  body: AsyncIterable<Uint8Array> & { destroy(err?: Error): unknown };
  protocol: ClientProtocol;
  instance: string;
  headers: Record<string, string>;
  /** Drop usage-only chunks: the gateway asked for them, not the client. */
  stripUsageChunk: boolean;
  capturePayload: boolean;
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
 * Relays an upstream SSE stream. Lifecycle frames are held until the first content frame (the commit
 * point); an error before it returns without writing anything so the caller can fall back.
 * Without usage stripping the client receives the upstream's bytes unchanged.
 */
export async function relayStream(input: StreamRelayInput): Promise<StreamRelayResult> {
  const { res, protocol, signal } = input;
  const decoder = createSseDecoder();
  const observer = protocol.createStreamObserver(input.capturePayload);
  const held: Array<string | Buffer> = [];
  let committed = false;
  let streamError: GatewayError | undefined;

  const result = (error: GatewayError | undefined): StreamRelayResult => ({
    committed,
    error,
    usage: observer.usage(),
    model: observer.model(),
    text: observer.text(),
  });

  const commit = async (): Promise<boolean> => {
    committed = true;
    input.onCommit();
    res.writeHead(200, input.headers);
    for (const piece of held.splice(0)) if (!(await writeToClient(res, piece, signal))) return false;
    return true;
  };

  // What to forward for this chunk, and whether an error came before any content (events in order).
  const process = (chunk: Uint8Array | undefined): { out: string | Buffer; content: boolean; errorFirst: boolean; error: boolean } => {
    const events = chunk ? decoder.push(chunk) : decoder.end();
    let out = '';
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
      if (input.stripUsageChunk && cls !== 'usage') out += encodeSseEvent(event);
    }
    return { out: input.stripUsageChunk || !chunk ? out : Buffer.from(chunk), content, errorFirst, error };
  };

  try {
    for await (const chunk of input.body) {
      const step = process(chunk);
      if (!committed) {
        if (step.errorFirst) {
          input.body.destroy();
          return result(new UpstreamStreamError(input.instance, `instance ${input.instance} sent an error event before any content: ${observer.errorMessage() ?? ''}`));
        }
        if (step.out.length > 0) held.push(step.out);
        if (step.content && !(await commit())) return result(undefined);
        if (step.error) streamError = new UpstreamStreamError(input.instance, observer.errorMessage() ?? 'in-band error');
        continue;
      }
      if (step.error) streamError = new UpstreamStreamError(input.instance, observer.errorMessage() ?? 'in-band error');
      if (step.out.length > 0 && !(await writeToClient(res, step.out, signal))) {
        input.body.destroy();
        return result(undefined);
      }
    }
    const tail = process(undefined);
    if (tail.out.length > 0) held.push(tail.out);
  } catch (err) {
    const mapped = mapTransportError(err, input.instance, input.timeoutMs, signal);
    if (!committed || mapped.code === 'CLIENT_ABORTED') return result(mapped);
    await endWithError(res, protocol, `upstream stream failed: ${mapped.message}`, signal);
    return result(mapped);
  }

  // An in-band error already told the client; otherwise a stream without its end marker was cut short.
  if (!observer.finished() && !streamError) {
    const truncated = new UpstreamStreamError(input.instance, `instance ${input.instance} ended the stream without its terminal event`);
    if (!committed) return result(truncated);
    await endWithError(res, protocol, truncated.message, signal);
    return result(truncated);
  }
  if (!committed && !(await commit())) return result(undefined);
  for (const piece of held.splice(0)) await writeToClient(res, piece, signal);
  res.end();
  return result(streamError);
}

async function endWithError(res: ServerResponse, protocol: ClientProtocol, message: string, signal: AbortSignal): Promise<void> {
  await writeToClient(res, protocol.streamErrorFrame(message), signal);
  res.end();
}
