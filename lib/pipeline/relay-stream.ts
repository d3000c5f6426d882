import type { ServerResponse } from 'node:http';
import { finished } from 'node:stream';
import type { Readable } from 'node:stream';
import { ClientAbortedError, GatewayError, InternalError, UpstreamStreamError, UpstreamTooLargeError } from '../errors.ts';
import type { StreamDecoder, StreamEventClass, StreamObserver } from '../protocols/client-protocol.ts';
import type { ClientEvent, StreamConverter } from '../protocols/converters/converter.ts';
import type { UpstreamEvent } from '../transport/upstream-event.ts';
import type { Usage } from '../protocols/types.ts';
import { encodeSseEvent } from '../transport/sse-encoder.ts';
import { mapBodyError } from '../transport/send.ts';
import { answerHeaders, writeFrame, writeFrames, writeToClient } from './client-writer.ts';

type Frame = string | Uint8Array;

export interface StreamRelayInput {
  res: ServerResponse;
  /** The upstream body (undici's), read on `data`, and paused while the client cannot take more. */
  body: Readable;
  instance: string;
  headers: Record<string, string>;
  /** Bytes → upstream events (SSE, or Bedrock's binary event-stream). */
  decoder: StreamDecoder;
  /** The UPSTREAM protocol's grammar: decides the commit point, counts usage, spots in-band errors. */
  observer: StreamObserver;
  /** Present when the client speaks another protocol: upstream events → client events. */
  converter: StreamConverter | undefined;
  /** The CLIENT protocol's encoder for converted events and its end-of-stream error frame. */
  encode: (event: ClientEvent) => Frame;
  errorFrame: (message: string) => Frame;
  /** Usage-only events are not the client's: the gateway asked for them (decided when the request was built). */
  dropUsageEvents: boolean;
  /** Spots a usage-only event among converted client events. */
  isUsageOnly: (data: unknown) => boolean;
  /** The attempt's signal: aborted by the client leaving, the idle watchdog or the stream cap. */
  signal: AbortSignal;
  /** The client's own: writes stop waiting for `drain` only when the client is gone. */
  clientSignal: AbortSignal;
  timeoutMs: number;
  /** `max_response_bytes`: a longer stream is ended with an error. */
  maxBytes: number;
  /** Sees every upstream chunk as it arrives (the attempt's idle watchdog). */
  onChunk(): void;
  /** Hides credentials in upstream text (in-band error messages). */
  scrub(text: string): string;
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
  toolCalls: boolean;
}

/**
 * Relays an upstream stream. Lifecycle frames are held until the first content event (the commit
 * point); an error before it returns without writing anything so the caller can fall back. A native
 * stream reaches the client as the upstream's own bytes; a converted one is re-encoded event by event.
 */
export function relayStream(input: StreamRelayInput): Promise<StreamRelayResult> {
  const { res, signal, clientSignal, observer, converter } = input;
  const held: Frame[] = [];
  let committed = false;
  let streamError: GatewayError | undefined;
  let bytes = 0;
  // A native stream goes out byte for byte unless usage events must be taken out of it. Even then, a
  // chunk of whole events none of which is usage-only goes out as its own bytes (most chunks): only a
  // chunk holding a usage event or part of an event is re-encoded.
  const reencode = converter !== undefined || input.dropUsageEvents;
  const rawWhenWhole = converter === undefined && input.dropUsageEvents && input.decoder.atBoundary !== undefined;
  // After the commit point, a native stream's chunk of whole events whose bytes the observer finds to
  // be plain content (most chunks) goes out without being decoded at all.
  const wholeEvents = converter === undefined ? input.decoder.wholeEvents?.bind(input.decoder) : undefined;
  const plainContent = wholeEvents ? observer.plainContent?.bind(observer) : undefined;
  const inBand = (): string => input.scrub(observer.errorMessage() ?? 'in-band error');

  const result = (error: GatewayError | undefined): StreamRelayResult => ({
    committed,
    error,
    usage: observer.usage(),
    model: observer.model(),
    text: observer.text(),
    toolCalls: observer.toolCalls(),
  });

  // A write failed: the client left (or a stream cap fired) while its answer was being written.
  const left = (): StreamRelayResult => result(signal.reason instanceof GatewayError ? signal.reason : new ClientAbortedError());

  // Synchronous unless a held frame has to wait for `drain`.
  const commit = (): boolean | Promise<boolean> => {
    committed = true;
    input.onCommit();
    res.writeHead(200, answerHeaders(res, input.headers));
    return writeFrames(res, held.splice(0), clientSignal);
  };

  // What to forward for this chunk, and whether an error came before any content (events in order).
  // A throw past the decoder is the gateway's own failure (observer, converter, encoder), never the
  // instance's: it comes out as an InternalError.
  const step = (chunk: Uint8Array | undefined) => {
    let events: UpstreamEvent[];
    const wholeBefore = rawWhenWhole && chunk !== undefined && input.decoder.atBoundary?.() === true;
    try {
      events = chunk ? input.decoder.push(chunk) : input.decoder.end();
    } catch (err) {
      // Bytes that are not the protocol's framing (a bad CRC, an endless line) are the upstream's fault.
      throw new UpstreamStreamError(input.instance, `instance ${input.instance} sent a malformed stream after ${bytes} bytes: ${(err as Error).message}`, { cause: err });
    }
    try {
      // A chunk that may go out as its own bytes is not re-encoded unless it turns out it must be.
      const next = decodeAndConvert(events, wholeBefore);
      if (chunk && !reencode) next.out.push(chunk);
      else if (wholeBefore && chunk) {
        if (next.dropped.length === 0 && input.decoder.atBoundary?.() === true) next.out = [chunk];
        else next.out = events.filter((_, i) => !next.dropped.includes(i)).map(encodeSseEvent);
      }
      return next;
    } catch (err) {
      throw err instanceof GatewayError ? err : new InternalError(`relaying the stream of instance ${input.instance} failed inside the gateway`, err);
    }
  };
  const noneDropped: readonly number[] = [];
  const decodeAndConvert = (events: readonly UpstreamEvent[], lazy = false) => {
    const out: Frame[] = [];
    let content = committed;
    let errorFirst = false;
    let error = false;
    // Indexes of the usage-only events taken out of a native stream.
    let dropped = noneDropped;
    for (let i = 0; i < events.length; i++) {
      const event = events[i] as UpstreamEvent;
      const cls: StreamEventClass = observer.classify(event);
      if (cls === 'content') content = true;
      if (cls === 'error') {
        error = true;
        if (!content) errorFirst = true;
      }
      if (converter) {
        for (const ev of converter.push(event)) {
          if (input.dropUsageEvents && input.isUsageOnly(ev.data)) continue;
          const frame = input.encode(ev);
          if (frame.length > 0) out.push(frame);
        }
      } else if (input.dropUsageEvents) {
        if (cls === 'usage') dropped = dropped === noneDropped ? [i] : [...dropped, i];
        else if (!lazy) out.push(encodeSseEvent(event));
      }
    }
    return { out, content, errorFirst, error, dropped };
  };

  const write = async (frames: Frame[]): Promise<boolean> => {
    for (const frame of frames) if (!(await writeToClient(res, frame, clientSignal))) return false;
    return true;
  };

  // A failure while reading: before the commit point the caller may fall back; after it the client
  // is told in its protocol's error frame.
  const failed = async (err: unknown): Promise<StreamRelayResult> => {
    input.body.destroy();
    const mapped = mapBodyError(err, input.instance, bytes, signal, 'stream');
    if (!committed || mapped.code === 'CLIENT_ABORTED') return result(mapped);
    const told = mapped.code === 'INTERNAL_ERROR' ? 'internal gateway error while relaying the stream' : mapped.message;
    await endWithError(res, input.errorFrame(`upstream stream failed: ${told}`), clientSignal);
    return result(mapped);
  };

  const ended = async (): Promise<StreamRelayResult> => {
    let tail: ReturnType<typeof decodeAndConvert>;
    try {
      tail = step(undefined);
    } catch (err) {
      return failed(err);
    }
    if (!committed && tail.errorFirst) {
      return result(new UpstreamStreamError(input.instance, `instance ${input.instance} sent an error event before any content: ${inBand()}`));
    }
    held.push(...tail.out);
    if (tail.error) streamError ??= new UpstreamStreamError(input.instance, inBand());
    // An in-band error already told the client; otherwise a stream without its end marker was cut short.
    if (!observer.finished() && !streamError) {
      const truncated = new UpstreamStreamError(input.instance, `instance ${input.instance} ended the stream without its terminal event`);
      if (!committed) return result(truncated);
      await write(held.splice(0));
      await endWithError(res, input.errorFrame(truncated.message), clientSignal);
      return result(truncated);
    }
    if (converter) {
      try {
        for (const ev of converter.end()) {
          if (input.dropUsageEvents && input.isUsageOnly(ev.data)) continue;
          const frame = input.encode(ev);
          if (frame.length > 0) held.push(frame);
        }
      } catch (err) {
        const internal = new InternalError(`ending the converted stream of instance ${input.instance} failed inside the gateway`, err);
        if (!committed) return result(internal);
        await write(held.splice(0));
        await endWithError(res, input.errorFrame('upstream stream failed: internal gateway error while relaying the stream'), clientSignal);
        return result(internal);
      }
    }
    if (!committed && !(await commit())) return left();
    await write(held.splice(0));
    res.end();
    return result(streamError);
  };

  // The body is read in flowing mode, on `data`: undici pushes each chunk from its socket read and a
  // flowing stream hands it straight to the listener, with nothing buffered, no `readable` tick and no
  // `read()` (a chunk costs one call, as in the minimal proxy). Not with `for await`: a stream waits most
  // of its life for the next chunk, and an async iterator keeps a promise and its reactions alive across
  // every such wait (they outlive young-generation collections and pile up in the old one). Chunks read
  // in one tick still leave in one `writev` (the response corks its socket until the next tick). While
  // a write waits for `drain` the body is paused: undici stops reading once its buffer is full.
  return new Promise<StreamRelayResult>((resolve) => {
    // What every chunk reads, kept beside the relay's own state rather than read off `input` each time.
    const { body, onChunk, maxBytes } = input;
    let settled = false;
    const settle = (outcome: Promise<StreamRelayResult> | StreamRelayResult): void => {
      if (settled) return;
      settled = true;
      body.off('data', onData);
      stopWatching();
      // The relay is done with the body: an error from destroying it (undici's AbortError) has no reader.
      body.on('error', () => undefined);
      resolve(outcome);
    };
    const afterWrite = (wrote: boolean | Promise<boolean>): void => {
      if (wrote === true) return;
      if (wrote === false) {
        body.destroy();
        settle(left());
        return;
      }
      body.pause();
      wrote.then(
        (ok) => {
          if (settled) return;
          if (ok) body.resume();
          else afterWrite(false);
        },
        (err: unknown) => settle(failed(err)),
      );
    };
    const relayChunk = (chunk: Uint8Array): void => {
      onChunk();
      bytes += chunk.length;
      if (bytes > maxBytes) throw new UpstreamTooLargeError(input.instance, maxBytes);
      if (committed && plainContent !== undefined && wholeEvents?.(chunk) === true && plainContent(chunk)) {
        afterWrite(writeFrame(res, chunk, clientSignal));
        return;
      }
      const next = step(chunk);
      if (!committed) {
        if (next.errorFirst) {
          body.destroy();
          settle(result(new UpstreamStreamError(input.instance, `instance ${input.instance} sent an error event before any content: ${inBand()}`)));
          return;
        }
        held.push(...next.out);
        if (next.error) streamError = new UpstreamStreamError(input.instance, inBand());
        if (next.content) afterWrite(commit());
        return;
      }
      if (next.error) streamError = new UpstreamStreamError(input.instance, inBand());
      afterWrite(writeFrames(res, next.out, clientSignal));
    };
    function onData(chunk: Uint8Array): void {
      if (settled) return;
      try {
        relayChunk(chunk);
      } catch (err) {
        settle(failed(err));
      }
    }
    // `finished` reports the end, an error, or a close before the end (ERR_STREAM_PREMATURE_CLOSE),
    // exactly the ways an iterator's loop would have stopped.
    const stopWatching = finished(body, { writable: false }, (err) => settle(err ? failed(err) : ended()));
    body.on('data', onData);
  });
}

async function endWithError(res: ServerResponse, frame: Frame, signal: AbortSignal): Promise<void> {
  await writeToClient(res, frame, signal);
  res.end();
}
