// Server-sent event frames, the inverse of sse-decoder.ts. Frames are strings: the caller writes
// them to the response and flushes per event (docs/protocols.md#sse-framing).
import type { SseEvent } from './sse-decoder.ts';

/** OpenAI's end-of-stream sentinel. */
export const SSE_DONE = 'data: [DONE]\n\n';

const LINE_BREAK = /\r\n|\r|\n/;

/**
 * `event:` and `id:` lines when present, then one `data:` line per line of `data`, then the blank
 * line. CR and CRLF inside data come back from a decoder as LF; that is the SSE format, not a loss here.
 */
export function encodeSseEvent(ev: SseEvent): string {
  let frame = '';
  if (ev.event !== undefined) frame += `event: ${singleLine('event', ev.event)}\n`;
  if (ev.id !== undefined) frame += `id: ${singleLine('id', ev.id)}\n`;
  const data = ev.data;
  if (data.indexOf('\n') < 0 && data.indexOf('\r') < 0) return `${frame}data: ${data}\n\n`;
  for (const line of data.split(LINE_BREAK)) frame += `data: ${line}\n`;
  return `${frame}\n`;
}

/** One `data:` frame holding `obj` as JSON (JSON never contains a raw line break). */
export function encodeSseData(obj: unknown): string {
  const json = JSON.stringify(obj);
  if (json === undefined) throw new TypeError(`cannot encode ${typeof obj} as SSE JSON data`);
  return `data: ${json}\n\n`;
}

// A line break in a name or id would end the field early and inject lines into the stream.
function singleLine(field: string, value: string): string {
  if (value.indexOf('\n') >= 0 || value.indexOf('\r') >= 0) {
    throw new TypeError(`SSE ${field} must not contain a line break`);
  }
  return value;
}
