import type { IncomingHttpHeaders } from 'node:http';

// docs/protocols.md#header-hygiene: hop-by-hop headers (RFC 9110 7.6.1) and what undici sets itself
// never go upstream.
const alwaysDropped = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  'accept-encoding',
  'expect',
  // The body read from the client is decoded before it is forwarded (lib/http/read-body.ts).
  'content-encoding',
]);

// The client's credentials belong to the gateway, not to the provider. OpenAI org/project headers
// would pair the client's organisation with our key, so they go too.
const credentialHeaders = new Set([
  'authorization',
  'x-api-key',
  'api-key',
  'cookie',
  'x-goog-api-key',
  'openai-organization',
  'openai-project',
]);

export function upstreamHeaders(
  client: IncomingHttpHeaders,
  auth: ReadonlyArray<readonly [string, string]>,
  forwardClientCredentials: boolean,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(client)) {
    // HTTP/2 pseudo-headers (`:path`, `:authority`...) describe the client's request, not ours.
    if (value === undefined || alwaysDropped.has(name) || name.startsWith(':')) continue;
    if (!forwardClientCredentials && (credentialHeaders.has(name) || name.startsWith('x-amz-'))) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  // A client header named like a connection-scoped one (`Connection: x-foo`) must not pass either.
  const connection = client['connection'];
  if (typeof connection === 'string') {
    for (const token of connection.split(',')) delete out[token.trim().toLowerCase()];
  }
  for (const [name, value] of auth) out[name] = value;
  out['content-type'] = 'application/json';
  return out;
}

const relayedExact = new Set([
  'content-type',
  'x-request-id',
  'request-id',
  'openai-processing-ms',
  'openai-version',
  'x-amzn-requestid',
  'apim-request-id',
  'retry-after',
  'retry-after-ms',
]);

/** Provider response headers the client may see: request ids and rate-limit state, nothing else. */
export function relayedHeaders(upstream: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(upstream)) {
    if (value === undefined) continue;
    if (relayedExact.has(name) || name.startsWith('x-ratelimit-') || name.startsWith('anthropic-ratelimit-')) {
      out[name] = Array.isArray(value) ? value.join(', ') : value;
    }
  }
  return out;
}
