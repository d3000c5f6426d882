import { Client } from 'undici';

// A request on a connection of its own, destroyed before the promise settles: for calls seconds or
// minutes apart (health probes, OAuth token exchanges) where a pooled keep-alive socket would outlive
// close() and hide the connect failures a probe is there to see.

export interface OneShotRequest {
  method: string;
  /** Path and query. */
  path: string;
  headers: Record<string, string>;
  body?: string | null;
  signal?: AbortSignal;
  /** Connect, headers and body each within this. */
  timeoutMs: number;
  rejectUnauthorized?: boolean;
  /** TLS server name, when not the origin's host. */
  servername?: string;
  /** Read the body (as UTF-8 text) up to this many bytes; absent = drop it unread. */
  maxBodyBytes?: number;
}

export async function oneShot(origin: string, req: OneShotRequest): Promise<{ status: number; body: string }> {
  const client = new Client(origin, {
    connect: {
      rejectUnauthorized: req.rejectUnauthorized ?? true,
      timeout: req.timeoutMs,
      ...(req.servername !== undefined ? { servername: req.servername } : {}),
    },
    headersTimeout: req.timeoutMs,
    bodyTimeout: req.timeoutMs,
    pipelining: 1,
  });
  try {
    const res = await client.request({
      path: req.path,
      method: req.method.toUpperCase() as 'GET',
      headers: req.headers,
      body: req.body ?? null,
      ...(req.signal ? { signal: req.signal } : {}),
    });
    if (req.maxBodyBytes === undefined) {
      res.body.on('error', () => undefined);
      res.body.destroy();
      return { status: res.statusCode, body: '' };
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > req.maxBodyBytes) break;
      chunks.push(chunk as Buffer);
    }
    return { status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') };
  } finally {
    await client.destroy().catch(() => undefined);
  }
}
