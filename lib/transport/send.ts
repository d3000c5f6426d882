import type { Dispatcher, Pool } from 'undici';
import { GatewayError, UpstreamConnectError, UpstreamTimeoutError } from '../errors.ts';

export interface UpstreamRequest {
  path: string;
  headers: Record<string, string>;
  body: Buffer;
  signal: AbortSignal;
  /** false → the connection is closed after this request. */
  keepalive: boolean;
}

export type UpstreamResponse = Dispatcher.ResponseData;

const timeoutCodes = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']);

export class ClientAbortedError extends GatewayError {
  constructor() {
    super('CLIENT_ABORTED', 499, 'client closed the request');
  }
}

/** One place that turns transport failures into coded gateway errors. */
export function mapTransportError(err: unknown, instance: string, timeoutMs: number, signal: AbortSignal): GatewayError {
  if (err instanceof GatewayError) return err;
  if (signal.aborted) {
    const reason: unknown = signal.reason;
    return reason instanceof GatewayError ? reason : new ClientAbortedError();
  }
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  if (typeof code === 'string' && timeoutCodes.has(code)) return new UpstreamTimeoutError(instance, timeoutMs, err);
  return new UpstreamConnectError(instance, err);
}

export async function sendUpstream(
  pool: Pool,
  req: UpstreamRequest,
  instance: string,
  timeoutMs: number,
): Promise<UpstreamResponse> {
  try {
    return await pool.request({
      path: req.path,
      method: 'POST',
      headers: req.headers,
      body: req.body,
      signal: req.signal,
      reset: !req.keepalive,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
  } catch (err) {
    throw mapTransportError(err, instance, timeoutMs, req.signal);
  }
}

/** Read a whole body, refusing more than `maxBytes` (0 = no limit). */
export async function readBody(
  body: AsyncIterable<Uint8Array>,
  maxBytes: number,
  instance: string,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (maxBytes > 0 && size > maxBytes) {
      throw new GatewayError('UPSTREAM_RESPONSE_TOO_LARGE', 502, `instance ${instance} response exceeds ${maxBytes} bytes`);
    }
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  }
  return chunks.length === 1 && chunks[0] ? chunks[0] : Buffer.concat(chunks, size);
}
