import type { GatewayError } from '../errors.ts';
import type { ErrorShape } from '../protocols/client-protocol.ts';
import { errorShapeForPath } from '../protocols/detect.ts';
import { renderError } from '../protocols/render-error.ts';
import { STATUS_CODES } from '../runtime/node-http.ts';

/**
 * The error shape for a request node:http could not parse, from its request line when that much
 * arrived (`POST /v1/messages HTTP/1.1`), else OpenAI's.
 */
export function shapeOfRawRequest(raw: Buffer | undefined, knownUrl?: string): ErrorShape {
  let target = knownUrl;
  if (target === undefined && raw) {
    const line = raw.subarray(0, Math.min(raw.length, 8192)).toString('latin1').split(/[\r\n]/, 1)[0] ?? '';
    const match = /^[A-Z]{3,10} (\/\S*)/.exec(line);
    target = match?.[1];
  }
  if (target === undefined) return 'openai';
  const q = target.indexOf('?');
  return errorShapeForPath(q === -1 ? target : target.slice(0, q));
}

/**
 * A whole HTTP/1.1 error response, written straight to a socket where node:http has no response
 * object (a request it could not parse, headers that never ended), in `shape`; the connection is
 * closed after it.
 */
export function rawErrorResponse(err: GatewayError, shape: ErrorShape = 'openai'): string {
  const rendered = renderError(shape, err);
  const head = [`HTTP/1.1 ${rendered.status} ${STATUS_CODES[rendered.status] ?? ''}`];
  for (const [name, value] of Object.entries(rendered.headers)) head.push(`${name}: ${value}`);
  head.push(`content-length: ${Buffer.byteLength(rendered.body)}`, 'connection: close');
  return `${head.join('\r\n')}\r\n\r\n${rendered.body}`;
}
