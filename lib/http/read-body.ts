import type { IncomingMessage } from 'node:http';
import type { Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { GatewayError } from '../errors.ts';

type Coding = 'gzip' | 'deflate' | 'br';

// RFC 9110 8.4.1: `deflate` is the zlib format; `x-gzip` is an old alias of gzip.
const decoders: Record<Coding, () => Transform> = {
  gzip: createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
};

const codingNames: Readonly<Record<string, Coding>> = { gzip: 'gzip', 'x-gzip': 'gzip', deflate: 'deflate', br: 'br' };

/** The body's content coding, undefined for none or `identity`; 415 for anything else. */
export function contentCoding(header: string | string[] | undefined): Coding | undefined {
  const value = Array.isArray(header) ? header.join(',') : (header ?? '');
  const codings = value
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
  if (codings.length === 0) return undefined;
  const [first] = codings;
  const coding = codings.length === 1 && first !== undefined ? codingNames[first] : undefined;
  if (coding === undefined) {
    const named = JSON.stringify(value.slice(0, 40));
    throw new GatewayError('UNSUPPORTED_CONTENT_ENCODING', 415, `content encoding ${named} is not supported (one of gzip, deflate, br or identity)`);
  }
  return coding;
}

export function bodyTooLarge(limit: number): GatewayError {
  return new GatewayError('BODY_TOO_LARGE', 413, `request body exceeds the limit of ${limit} bytes`);
}

/**
 * Reads the request body, decoded when it has a content coding. `limit` bounds both the bytes on the
 * wire and the decoded bytes, so a zip bomb is stopped after `limit` bytes of output (413). On a
 * refusal the rest of the body is read and dropped, so the error response can still be delivered.
 */
export async function readRequestBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  let coding: Coding | undefined;
  try {
    coding = contentCoding(req.headers['content-encoding']);
  } catch (err) {
    req.resume();
    throw err;
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw bodyTooLarge(limit);
  const decoder = coding === undefined ? undefined : decoders[coding]();
  const output = decoder ?? req;

  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let wire = 0;
    let settled = false;
    const finish = (err?: unknown): void => {
      if (settled) return;
      settled = true;
      if (decoder) {
        req.unpipe(decoder);
        decoder.destroy();
      }
      // An HTTP/2 request whose stream was reset ends like a complete one: only the stream tells.
      const stream = (req as IncomingMessage & { stream?: { aborted: boolean } }).stream;
      if (err === undefined && stream?.aborted) err = new Error('the client reset the stream while sending its body');
      if (err === undefined) {
        resolve(Buffer.concat(chunks, size));
        return;
      }
      if (!req.destroyed) req.resume();
      reject(err);
    };
    output.on('data', (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > limit) finish(bodyTooLarge(limit));
      else chunks.push(chunk);
    });
    output.once('end', () => finish());
    // The client went away while sending: not a GatewayError, so the caller drops the connection.
    req.once('error', (err) => finish(err));
    req.once('close', () => {
      if (!req.complete) finish(new Error('the client closed the connection before sending the whole body'));
    });
    if (decoder) {
      // Highly compressed bytes do not count toward the output: bound what the client may send too.
      req.on('data', (chunk: Buffer) => {
        wire += chunk.length;
        if (wire > limit) finish(bodyTooLarge(limit));
      });
      decoder.once('error', (err) => {
        finish(new GatewayError('INVALID_CONTENT_ENCODING', 400, `request body is not valid ${coding} data (${err.message})`, { cause: err }));
      });
      req.pipe(decoder);
    }
  });
}

export function isJsonContentType(value: string | undefined): boolean {
  if (value === undefined || value === '') return true; // curl without -H: try to parse it anyway
  const type = value.split(';')[0]?.trim().toLowerCase() ?? '';
  return type === 'application/json' || type.endsWith('+json');
}
