// Server-sent events in two stages, as openai-node does (src/internal/decoders/line.ts,
// src/core/streaming.ts): bytes → lines, then lines → events. Field rules follow the WHATWG
// "event stream interpretation" (https://html.spec.whatwg.org/multipage/server-sent-events.html).
// Network chunks never align with lines or characters, so both stages carry state across pushes,
// and each byte is scanned once: a long line arriving in many chunks costs O(length), not O(length²).

import type { UpstreamEvent } from './upstream-event.ts';

/** A decoded SSE event is the gateway's upstream event as it is. */
export type SseEvent = UpstreamEvent;

export interface SseDecoderOptions {
  /** Bound on bytes held for an unterminated line plus an unterminated event's data (default 8 MiB). */
  maxBufferBytes?: number;
}

export interface LineDecoder {
  /** Lines completed by this chunk, without their terminators. */
  push(chunk: Uint8Array): string[];
  /** The stream ended: the last line, if it had no terminator. */
  end(): string[];
  /** Bytes received since the last line terminator. */
  readonly pendingBytes: number;
  /** Nothing held: the last chunk ended with a whole line terminator (a CR may still await its LF). */
  atLineStart(): boolean;
}

export interface SseDecoder {
  push(chunk: Uint8Array): SseEvent[];
  /** The stream ended: an event not yet terminated by a blank line is dispatched. */
  end(): SseEvent[];
  /** No partial line and no event gathering fields: the bytes so far were whole events. */
  atBoundary(): boolean;
  /**
   * At a boundary now, and `chunk` ends with a blank line (LF LF) and is within the buffer bound: pushing
   * it would dispatch whole events and leave the decoder as it is.
   */
  wholeEvents(chunk: Uint8Array): boolean;
}

export class SseBufferOverflowError extends Error {
  readonly code = 'SSE_BUFFER_OVERFLOW';
  readonly limit: number;

  constructor(limit: number) {
    super(`SSE stream buffered more than ${limit} bytes without completing an event`);
    this.name = 'SseBufferOverflowError';
    this.limit = limit;
  }
}

export const DEFAULT_MAX_SSE_BUFFER_BYTES = 8 * 1024 * 1024;

const LF = 0x0a;
const CR = 0x0d;
const STREAM = { stream: true } as const;

/** Splits on LF, CR and CRLF, including a CRLF whose two bytes arrive in different chunks. */
export function createLineDecoder(opts: SseDecoderOptions = {}): LineDecoder {
  const max = opts.maxBufferBytes ?? DEFAULT_MAX_SSE_BUFFER_BYTES;
  const utf8 = new TextDecoder('utf-8');
  // The unterminated line, as the pieces it arrived in; joined once when its terminator comes.
  let pieces: string[] = [];
  let pendingBytes = 0;
  // The previous text ended with CR: an LF starting the next text belongs to that CRLF.
  let skipLeadingLf = false;

  function split(text: string, out: string[]): void {
    const len = text.length;
    let start = 0;
    if (skipLeadingLf && len > 0) {
      if (text.charCodeAt(0) === LF) start = 1;
      skipLeadingLf = false;
    }
    // Next LF / CR positions are cached and only searched again once passed, so each is found once.
    let nextLf = text.indexOf('\n', start);
    let nextCr = text.indexOf('\r', start);
    while (nextLf >= 0 || nextCr >= 0) {
      const isCr = nextCr >= 0 && (nextLf < 0 || nextCr < nextLf);
      const end = isCr ? nextCr : nextLf;
      const tail = text.slice(start, end);
      if (pieces.length === 0) out.push(tail);
      else {
        out.push(pieces.join('') + tail);
        pieces = [];
      }
      start = end + 1;
      if (isCr) {
        if (start === len) skipLeadingLf = true;
        else if (text.charCodeAt(start) === LF) start++;
      }
      if (nextLf >= 0 && nextLf < start) nextLf = text.indexOf('\n', start);
      if (nextCr >= 0 && nextCr < start) nextCr = text.indexOf('\r', start);
    }
    if (start < len) pieces.push(start === 0 ? text : text.slice(start));
  }

  return {
    push(chunk) {
      if (chunk.length === 0) return [];
      // CR and LF bytes never occur inside a multi-byte UTF-8 sequence, so this count is exact.
      const lastTerminator = Math.max(chunk.lastIndexOf(LF), chunk.lastIndexOf(CR));
      pendingBytes = lastTerminator < 0 ? pendingBytes + chunk.length : chunk.length - lastTerminator - 1;
      if (pendingBytes > max) {
        pieces = [];
        throw new SseBufferOverflowError(max);
      }
      const out: string[] = [];
      split(utf8.decode(chunk, STREAM), out);
      return out;
    },
    end() {
      const out: string[] = [];
      split(utf8.decode(), out);
      if (pieces.length > 0) out.push(pieces.join(''));
      pieces = [];
      pendingBytes = 0;
      skipLeadingLf = false;
      return out;
    },
    get pendingBytes() {
      return pendingBytes;
    },
    atLineStart() {
      return pendingBytes === 0 && pieces.length === 0 && !skipLeadingLf;
    },
  };
}

export function createSseDecoder(opts: SseDecoderOptions = {}): SseDecoder {
  const max = opts.maxBufferBytes ?? DEFAULT_MAX_SSE_BUFFER_BYTES;
  const lines = createLineDecoder({ maxBufferBytes: max });
  let eventName: string | undefined;
  let id: string | undefined;
  let data = '';
  let dataLines = 0;

  function reset(): void {
    eventName = undefined;
    id = undefined;
    data = '';
    dataLines = 0;
  }

  function dispatch(out: SseEvent[]): void {
    // A blank line after nothing (or only comments / id / retry) is a keep-alive, not an event.
    if (dataLines === 0 && eventName === undefined) {
      reset();
      return;
    }
    const ev: SseEvent = eventName === undefined ? { data } : { event: eventName, data };
    if (id !== undefined) ev.id = id;
    out.push(ev);
    reset();
  }

  function onLine(line: string, out: SseEvent[]): void {
    if (line.length === 0) return dispatch(out);
    const colon = line.indexOf(':');
    if (colon === 0) return; // comment, e.g. `: ping`
    const fieldLength = colon < 0 ? line.length : colon;
    let value = '';
    if (colon > 0) value = line.slice(line.charCodeAt(colon + 1) === 0x20 ? colon + 2 : colon + 1);

    if (fieldLength === 4 && line.startsWith('data')) {
      data = dataLines === 0 ? value : `${data}\n${value}`;
      dataLines++;
      if (data.length + lines.pendingBytes > max) {
        reset();
        throw new SseBufferOverflowError(max);
      }
    } else if (fieldLength === 5 && line.startsWith('event')) {
      eventName = value;
    } else if (fieldLength === 2 && line.startsWith('id')) {
      if (!value.includes('\u0000')) id = value;
    }
    // `retry` and unknown fields are ignored, as the spec says.
  }

  // Whether the bytes so far were whole events, worked out once a push is done: asked of every chunk
  // of a stream, it is then one variable, not the line decoder's state as well.
  let boundary = true;

  return {
    push(chunk) {
      boundary = false;
      const out: SseEvent[] = [];
      for (const line of lines.push(chunk)) onLine(line, out);
      boundary = lines.atLineStart() && dataLines === 0 && eventName === undefined && id === undefined;
      return out;
    },
    end() {
      const out: SseEvent[] = [];
      for (const line of lines.end()) onLine(line, out);
      dispatch(out);
      boundary = true;
      return out;
    },
    atBoundary: () => boundary,
    wholeEvents(chunk) {
      // No line of a chunk within the bound can overflow it, so skipping the decode skips no error.
      const n = chunk.length;
      return boundary && n >= 2 && n <= max && chunk[n - 1] === LF && chunk[n - 2] === LF;
    },
  };
}
