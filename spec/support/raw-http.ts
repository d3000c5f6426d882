import { connect } from 'node:net';

// HTTP/1.1 over a bare socket, for requests no well-behaved client would send: raw `..` segments,
// CR/LF in headers, bytes that are not UTF-8. One request per connection (`Connection: close`).

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  text: string;
  /** The body parsed as JSON, or undefined. */
  json: unknown;
}

function dechunk(body: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  while (at < body.length) {
    const eol = body.indexOf('\r\n', at);
    if (eol === -1) break;
    const size = Number.parseInt(body.subarray(at, eol).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    parts.push(body.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

function parse(raw: Buffer): RawResponse {
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, end === -1 ? raw.length : end).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? '')?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const line of head.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = end === -1 ? Buffer.alloc(0) : raw.subarray(end + 4);
  if (headers['transfer-encoding'] === 'chunked') body = dechunk(body);
  const text = body.toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status, headers, body, text, json };
}

/**
 * Sends `head` (request line and headers, CRLF-separated, without the blank line) and `body` exactly
 * as given, adding `Content-Length` unless the head has one or says chunked.
 */
export function rawRequest(port: number, head: string, body: Buffer | string = Buffer.alloc(0), timeoutMs = 10_000): Promise<RawResponse> {
  const payload = typeof body === 'string' ? Buffer.from(body) : body;
  const lower = head.toLowerCase();
  const length = lower.includes('\r\ncontent-length:') || lower.includes('transfer-encoding:') ? '' : `\r\nContent-Length: ${payload.length}`;
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms to ${JSON.stringify(head.split('\r\n')[0])}`));
    }, timeoutMs);
    socket.on('connect', () => {
      socket.write(Buffer.concat([Buffer.from(`${head}${length}\r\nConnection: close\r\n\r\n`, 'latin1'), payload]));
    });
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    // A reset after the answer arrived (the server closing on an unread body) is not a failure.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(parse(Buffer.concat(chunks)));
    });
  });
}
