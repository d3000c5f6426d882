import { STATUS_CODES } from 'node:http';
import type { GatewayError } from '../errors.ts';
import { renderError } from '../protocols/render-error.ts';

/**
 * A whole HTTP/1.1 error response, written straight to a socket where node:http has no response
 * object (a request it could not parse, headers that never ended). The path is unknown, so the body
 * takes the OpenAI error shape; the connection is closed after it.
 */
export function rawErrorResponse(err: GatewayError): string {
  const rendered = renderError('openai', err);
  const head = [`HTTP/1.1 ${rendered.status} ${STATUS_CODES[rendered.status] ?? ''}`];
  for (const [name, value] of Object.entries(rendered.headers)) head.push(`${name}: ${value}`);
  head.push(`content-length: ${Buffer.byteLength(rendered.body)}`, 'connection: close');
  return `${head.join('\r\n')}\r\n\r\n${rendered.body}`;
}
