import type { ServerResponse } from 'node:http';
import { ClientAbortedError } from '../errors.ts';

/** What an HTTP/2 compat response adds: its stream, which alone knows whether the peer reset it. */
interface WithStream {
  stream?: { aborted: boolean; closed: boolean; destroyed: boolean; rstCode?: number };
}

/** The client can no longer receive this response: its connection, or its HTTP/2 stream, is gone. */
export function clientGone(res: ServerResponse): boolean {
  if (res.destroyed === true) return true;
  const stream = (res as ServerResponse & WithStream).stream;
  return stream !== undefined && (stream.closed || stream.destroyed);
}

/**
 * Whether a response that just closed reached its end. An HTTP/2 response reports itself finished even
 * when the client reset the stream (node ends the writable side on RST_STREAM), so ask the stream.
 */
export function responseCompleted(res: ServerResponse): boolean {
  const stream = (res as ServerResponse & WithStream).stream;
  if (stream !== undefined) return !stream.aborted && (stream.rstCode ?? 0) === 0 && res.writableEnded;
  return res.writableFinished;
}

/** A signal that aborts (ClientAbortedError) when the response closes before it was completed. */
export function clientGoneSignal(res: ServerResponse): AbortSignal {
  const client = new AbortController();
  res.on('close', () => {
    if (!responseCompleted(res)) client.abort(new ClientAbortedError());
  });
  return client.signal;
}

/** Writes to the client with backpressure; resolves false once the client is gone. */
export async function writeToClient(res: ServerResponse, data: string | Uint8Array, signal: AbortSignal): Promise<boolean> {
  return writeFrame(res, data, signal);
}

/**
 * Writes frames in order; synchronous (true, or false once the client is gone) unless a write fills
 * the socket buffer, then a promise that settles after `drain` and the remaining writes. Relaying a
 * stream calls this for every chunk: the common case costs no promise.
 */
export function writeFrames(res: ServerResponse, frames: readonly (string | Uint8Array)[], signal: AbortSignal): boolean | Promise<boolean> {
  for (let i = 0; i < frames.length; i++) {
    if (signal.aborted || clientGone(res)) return false;
    if (!res.write(frames[i] as string | Uint8Array)) return drainedThen(res, frames, i + 1, signal);
  }
  return true;
}

/** One frame: true, or false once the client is gone, or a promise when it must wait for `drain`. */
export function writeFrame(res: ServerResponse, frame: string | Uint8Array, signal: AbortSignal): boolean | Promise<boolean> {
  if (signal.aborted || clientGone(res)) return false;
  return res.write(frame) || drained(res, signal);
}

async function drainedThen(res: ServerResponse, frames: readonly (string | Uint8Array)[], from: number, signal: AbortSignal): Promise<boolean> {
  if (!(await drained(res, signal))) return false;
  for (let i = from; i < frames.length; i++) if (!(await writeToClient(res, frames[i] as string | Uint8Array, signal))) return false;
  return true;
}

// 'drain' never comes once the peer is gone: 'close' or the abort ends the wait too.
function drained(res: ServerResponse, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const settle = (ok: boolean): void => {
      res.off('drain', onDrain);
      res.off('close', onGone);
      signal.removeEventListener('abort', onGone);
      resolve(ok);
    };
    const onDrain = (): void => settle(true);
    const onGone = (): void => settle(false);
    res.on('drain', onDrain);
    res.on('close', onGone);
    signal.addEventListener('abort', onGone);
    if (signal.aborted || clientGone(res)) settle(false);
  });
}

/**
 * The answer's headers without the provider's `x-ratelimit-*` ones the gateway set itself: the client's
 * limits at the gateway (a consumer's, a route's) are what it is subject to, not the operator's key's.
 */
export function answerHeaders(res: ServerResponse, headers: Record<string, string>): Record<string, string> {
  let out = headers;
  for (const name of Object.keys(headers)) {
    if (!name.startsWith('x-ratelimit-') || !res.hasHeader(name)) continue;
    if (out === headers) out = { ...headers };
    delete out[name];
  }
  return out;
}

export function sendWhole(res: ServerResponse, status: number, headers: Record<string, string>, body: string | Buffer): void {
  if (res.headersSent || clientGone(res)) return;
  res.writeHead(status, { ...answerHeaders(res, headers), 'content-length': String(Buffer.byteLength(body)) });
  res.end(body);
}
