import { once } from 'node:events';
import type { ServerResponse } from 'node:http';

/** Writes to the client with backpressure; resolves false once the client is gone. */
export async function writeToClient(res: ServerResponse, data: string | Uint8Array, signal: AbortSignal): Promise<boolean> {
  if (res.destroyed || signal.aborted) return false;
  if (res.write(data)) return true;
  try {
    await once(res, 'drain', { signal });
    return true;
  } catch {
    return false;
  }
}

export function sendWhole(res: ServerResponse, status: number, headers: Record<string, string>, body: string | Buffer): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { ...headers, 'content-length': String(Buffer.byteLength(body)) });
  res.end(body);
}
