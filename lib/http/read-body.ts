import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../errors.ts';

/** Reads the request body, refusing more than `limit` bytes (413) without buffering the excess. */
export async function readRequestBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limit) throw tooLarge(limit);
    chunks.push(buf);
  }
  // An HTTP/2 request whose stream was reset ends like a complete one: only the stream tells.
  const stream = (req as IncomingMessage & { stream?: { aborted: boolean } }).stream;
  if (stream?.aborted) throw new Error('the client reset the stream while sending its body');
  return chunks.length === 1 && chunks[0] ? chunks[0] : Buffer.concat(chunks, size);
}

function tooLarge(limit: number): GatewayError {
  return new GatewayError('BODY_TOO_LARGE', 413, `request body exceeds the limit of ${limit} bytes`);
}

export function isJsonContentType(value: string | undefined): boolean {
  if (value === undefined || value === '') return true; // curl without -H: try to parse it anyway
  const type = value.split(';')[0]?.trim().toLowerCase() ?? '';
  return type === 'application/json' || type.endsWith('+json');
}
