// Writes the simulator's answers onto the socket: JSON bodies, SSE streams (docs/protocols.md#sse-framing),
// and the broken variants (a stream cut mid-way, an in-band error) a gateway must survive.
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Call } from './fake-server.ts';
import {
  chatChunk,
  chatCompletion,
  openAiError,
  promptText,
  splitContent,
  sseFrame,
  usageChunk,
  usageFor,
} from './openai-payloads.ts';

export type Endpoint = 'chat' | 'embeddings' | 'models';

export interface SimInfo {
  name: string;
  models: readonly string[];
  embeddingDims: number;
}

/** One request being answered by a fake that speaks JSON and SSE. */
export interface Exchange extends Call {
  sim: SimInfo;
  endpoint: Endpoint;
  created: number;
  baseHeaders: Record<string, string>;
}

export interface ChatOk {
  content?: string;
  chunks?: number;
  chunkDelayMs?: number;
  headers?: Record<string, string>;
  /** Counts to report instead of the estimate from the text: cached and reasoning tokens among them. */
  usage?: { prompt_tokens: number; completion_tokens: number; cached_tokens?: number; reasoning_tokens?: number };
}

export interface StreamFault {
  kind: 'stream-cut' | 'stream-error';
  afterChunks: number;
}

export const DEFAULT_CHUNKS = 5;

export function defaultContent(name: string): string {
  return `Hello from ${name}! This is a simulated completion.`;
}

/** A string or Buffer body is sent as is (for malformed-body tests); anything else as JSON. */
export function sendJson(x: Exchange, status: number, body: unknown, headers: Record<string, string>): void {
  const text = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  x.res.writeHead(status, {
    ...x.baseHeaders,
    'content-type': 'application/json',
    ...headers,
    'content-length': Buffer.byteLength(text),
  });
  x.res.end(text);
}

/** Promises the whole body, sends half of it, then closes: a truncated non-streaming answer. */
export function sendCut(x: Exchange, body: unknown): void {
  const text = Buffer.from(JSON.stringify(body));
  const socket = x.res.socket;
  x.res.writeHead(200, { ...x.baseHeaders, 'content-type': 'application/json', 'content-length': text.length });
  // Destroy only once the half is flushed, so the client really receives the partial body first.
  x.res.write(text.subarray(0, text.length >> 1), () => socket?.destroy());
}

/** The head of an SSE answer; the content type wins over scripted headers so clients always parse it as a stream. */
export function sseHeaders(x: Exchange, headers: Record<string, string> | undefined): Record<string, string> {
  return { ...x.baseHeaders, ...headers, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' };
}

/**
 * Writes `frames` after the head, pausing `delayMs` before each but the first `undelayed`, and minding
 * backpressure. `cut` closes the socket once the last frame is flushed: the client sees the connection
 * drop in the middle of the body, with no terminating event.
 */
export async function writeFrames(
  x: Pick<Call, 'res' | 'signal'>,
  frames: ReadonlyArray<string | Uint8Array>,
  pace: { delayMs: number; undelayed: number; cut: boolean },
): Promise<void> {
  const socket = x.res.socket;
  for (const [i, frame] of frames.entries()) {
    if (i >= pace.undelayed && pace.delayMs > 0) await sleep(pace.delayMs, undefined, { signal: x.signal });
    if (pace.cut && i === frames.length - 1) {
      x.res.write(frame, () => socket?.destroy());
      return;
    }
    if (!x.res.write(frame)) await once(x.res, 'drain', { signal: x.signal });
  }
  x.res.end();
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** A chat completion, plain or streamed per the body's `stream`, optionally broken by `fault`. */
export async function sendChat(x: Exchange, ok: ChatOk, fault: StreamFault | null): Promise<void> {
  const body = isRecord(x.req.json) ? x.req.json : {};
  const model = typeof body.model === 'string' ? body.model : 'gpt-4o-mini';
  const who = { id: `chatcmpl-${x.sim.name}-${x.seq}`, created: x.created, model, fingerprint: `fp_${x.sim.name}` };
  const content = ok.content ?? defaultContent(x.sim.name);
  const usage = usageFor(promptText(body), content);
  if (ok.usage) {
    usage.prompt_tokens = ok.usage.prompt_tokens;
    usage.completion_tokens = ok.usage.completion_tokens;
    usage.total_tokens = ok.usage.prompt_tokens + ok.usage.completion_tokens;
    usage.prompt_tokens_details.cached_tokens = ok.usage.cached_tokens ?? 0;
    usage.completion_tokens_details.reasoning_tokens = ok.usage.reasoning_tokens ?? 0;
  }

  if (body.stream !== true) {
    const completion = chatCompletion(who, content, usage);
    if (fault?.kind === 'stream-cut') return sendCut(x, completion);
    if (fault?.kind === 'stream-error') return sendJson(x, 200, openAiError(500), {});
    return sendJson(x, 200, completion, ok.headers ?? {});
  }

  const n = fault ? Math.max(DEFAULT_CHUNKS, fault.afterChunks) : Math.max(1, ok.chunks ?? DEFAULT_CHUNKS);
  const pieces = splitContent(content, n);
  const shown = fault ? Math.min(fault.afterChunks, n) : n;
  const frames = [sseFrame(chatChunk(who, { role: 'assistant', content: '' }, null))];
  for (let i = 0; i < shown; i++) frames.push(sseFrame(chatChunk(who, { content: pieces[i] ?? '' }, null)));
  if (!fault) {
    frames.push(sseFrame(chatChunk(who, {}, 'stop')));
    const streamOptions = body.stream_options;
    if (isRecord(streamOptions) && streamOptions.include_usage === true) frames.push(sseFrame(usageChunk(who, usage)));
    frames.push(sseFrame('[DONE]'));
  } else if (fault.kind === 'stream-error') {
    // After a 200 the only way to report failure is in-band; the SDK throws on a payload with `error`.
    frames.push(sseFrame(openAiError(500)));
  }

  x.res.writeHead(200, sseHeaders(x, ok.headers));
  // The role chunk goes out at once; the pause comes between content chunks.
  return writeFrames(x, frames, { delayMs: ok.chunkDelayMs ?? 0, undelayed: 2, cut: fault?.kind === 'stream-cut' });
}
