import { Readable } from 'node:stream';
import type { Dispatcher, Pool } from 'undici';
import { ClientAbortedError, GatewayError, UpstreamConnectError, UpstreamStreamError, UpstreamTimeoutError, UpstreamTooLargeError, describeCause } from '../errors.ts';

export interface UpstreamRequest {
  method?: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
  signal: AbortSignal;
  /** false → the connection is closed after this request. */
  keepalive: boolean;
  /**
   * Send-phase hooks. With them the body goes out in slices, each handed over only once the socket
   * took the previous one: `onConnected` when the first is asked for (the connection is up),
   * `onProgress` for each further one, `onSent` once the last is written.
   */
  phases?: { onConnected(): void; onProgress(): void; onSent(): void };
}

// Small enough that a peer that stopped reading is seen within one slice, large enough to cost nothing.
const SEND_SLICE = 64 * 1024;

async function* slices(body: Buffer, phases: NonNullable<UpstreamRequest['phases']>): AsyncGenerator<Buffer> {
  phases.onConnected();
  for (let offset = 0; offset < body.length; offset += SEND_SLICE) {
    if (offset > 0) phases.onProgress();
    yield body.subarray(offset, offset + SEND_SLICE);
  }
  phases.onSent();
}

export type UpstreamResponse = Dispatcher.ResponseData;

const timeoutCodes = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']);

/** An aborted attempt's reason: a timeout or cap the gateway set, else the client leaving. */
function abortReason(signal: AbortSignal): GatewayError {
  const reason: unknown = signal.reason;
  return reason instanceof GatewayError ? reason : new ClientAbortedError();
}

/** One place that turns failures before the response headers into coded gateway errors. */
export function mapTransportError(err: unknown, instance: string, timeoutMs: number, signal: AbortSignal, connectTimeoutMs?: number): GatewayError {
  if (err instanceof GatewayError) return err;
  if (signal.aborted) return abortReason(signal);
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  if (code === 'UND_ERR_CONNECT_TIMEOUT' && connectTimeoutMs !== undefined) {
    return new UpstreamTimeoutError(instance, connectTimeoutMs, { cause: err, phase: 'connecting (connect_timeout)' });
  }
  if (typeof code === 'string' && timeoutCodes.has(code)) return new UpstreamTimeoutError(instance, timeoutMs, { cause: err });
  return new UpstreamConnectError(instance, err);
}

/** A failure while reading an answer whose headers arrived: the instance was reached, the body broke. */
export function mapBodyError(err: unknown, instance: string, bytes: number, signal: AbortSignal, what = 'answer'): GatewayError {
  if (err instanceof GatewayError) return err;
  if (signal.aborted) return abortReason(signal);
  return new UpstreamStreamError(instance, `${what} from instance ${instance} broke after ${bytes} bytes: ${describeCause(err)}`, { cause: err });
}

function hasHeader(headers: Record<string, string>, name: string): boolean {
  return Object.keys(headers).some((k) => k.toLowerCase() === name);
}

export async function sendUpstream(
  pool: Pool,
  req: UpstreamRequest,
  instance: string,
  timeoutMs: number,
  connectTimeoutMs?: number,
): Promise<UpstreamResponse> {
  const phased = req.phases !== undefined && req.body.length > 0;
  const headers = phased && !hasHeader(req.headers, 'content-length') ? { ...req.headers, 'content-length': String(req.body.length) } : req.headers;
  // undici honours an abort only once the request has its connection: until then the race does.
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => reject(abortReason(req.signal));
    req.signal.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => undefined);
  try {
    if (req.signal.aborted) throw abortReason(req.signal);
    const pending = pool.request({
      path: req.path,
      method: (req.method ?? 'POST') as Dispatcher.HttpMethod,
      headers,
      // Read one slice ahead at most, so the hooks follow the socket rather than a prefetch buffer.
      body: phased && req.phases ? Readable.from(slices(req.body, req.phases), { objectMode: false, highWaterMark: 1 }) : req.body,
      signal: req.signal,
      reset: !req.keepalive,
    });
    pending.then((res) => {
      // Answered after the race was lost: nobody reads this body.
      if (req.signal.aborted) res.body.destroy();
    }, () => undefined);
    return await Promise.race([pending, aborted]);
  } catch (err) {
    throw mapTransportError(err, instance, timeoutMs, req.signal, connectTimeoutMs);
  } finally {
    if (onAbort) req.signal.removeEventListener('abort', onAbort);
  }
}

/**
 * Reads a whole body, refusing more than `maxBytes` (the excess is never buffered). `onChunk` sees
 * every chunk as it arrives (the idle watchdog). Failures come back as coded gateway errors.
 */
export async function readBody(
  body: AsyncIterable<Uint8Array> & { destroy(err?: Error): unknown },
  maxBytes: number,
  instance: string,
  signal: AbortSignal,
  onChunk: () => void = () => undefined,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      onChunk();
      size += chunk.length;
      if (size > maxBytes) {
        body.destroy();
        throw new UpstreamTooLargeError(instance, maxBytes);
      }
      chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    }
  } catch (err) {
    throw mapBodyError(err, instance, size, signal);
  }
  return chunks.length === 1 && chunks[0] ? chunks[0] : Buffer.concat(chunks, size);
}
