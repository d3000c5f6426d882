import type { IncomingHttpHeaders } from 'node:http';

// docs/protocols.md#header-hygiene: hop-by-hop headers (RFC 9110 7.6.1) and what undici sets itself
// never go upstream.
const hopByHop = [
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
  'expect',
];
const alwaysDropped = new Set([
  ...hopByHop,
  'accept-encoding',
  // The body read from the client is decoded before it is forwarded (lib/http/read-body.ts).
  'content-encoding',
]);
// Pass-through forwards the client's bytes as they are: their encoding and the client's wish for one stay.
const passthroughDropped = new Set(hopByHop);
// An answer keeps its length: only the client connection's own headers go.
const responseDropped = new Set(hopByHop.filter((name) => name !== 'content-length' && name !== 'host'));

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

/**
 * The headers of a request to a provider, from the client's: hop-by-hop and credential headers go,
 * the instance's `auth` comes in. `passthrough` keeps the client's body as it is (its content type and
 * encoding); otherwise the gateway sends JSON it decoded itself.
 */
export function upstreamHeaders(
  client: IncomingHttpHeaders,
  auth: ReadonlyArray<readonly [string, string]>,
  forwardClientCredentials: boolean,
  passthrough = false,
): Record<string, string> {
  const out: Record<string, string> = {};
  const dropped = passthrough ? passthroughDropped : alwaysDropped;
  for (const [name, value] of Object.entries(client)) {
    // HTTP/2 pseudo-headers (`:path`, `:authority`...) describe the client's request, not ours.
    if (value === undefined || dropped.has(name) || name.startsWith(':')) continue;
    if (!forwardClientCredentials && (credentialHeaders.has(name) || name.startsWith('x-amz-'))) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  // A client header named like a connection-scoped one (`Connection: x-foo`) must not pass either.
  const connection = client['connection'];
  if (typeof connection === 'string') {
    for (const token of connection.split(',')) delete out[token.trim().toLowerCase()];
  }
  for (const [name, value] of auth) out[name] = value;
  if (!passthrough) out['content-type'] = 'application/json';
  return out;
}

/** A pass-through answer goes back as it came, less what belongs to one connection. */
export function passthroughResponseHeaders(upstream: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const connection = upstream['connection'];
  const scoped = new Set(typeof connection === 'string' ? connection.split(',').map((t) => t.trim().toLowerCase()) : []);
  for (const [name, value] of Object.entries(upstream)) {
    if (value === undefined || responseDropped.has(name) || scoped.has(name)) continue;
    out[name] = value;
  }
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
