import type { InstanceConfig } from '../config/types.ts';
import type { Authorizer, ProviderDefinition, UpstreamProtocol } from './define-provider.ts';
import { getProvider } from './registry.ts';

/** What one request's path depends on. */
export interface TargetRequest {
  /** The client's own path and query (passthrough forwards them). */
  clientPathAndQuery: string;
  model: string | undefined;
  stream: boolean;
}

/** Where and how one instance is called; computed once at config load. */
export interface InstanceTarget {
  provider: Readonly<ProviderDefinition>;
  /** scheme://host[:port] — the key of the connection pool. */
  origin: string;
  /** Lower-case header names with the instance's credentials and the provider's required headers. */
  authHeaders: ReadonlyArray<readonly [string, string]>;
  /** Headers sent unless the client sent its own (anthropic-version). */
  defaultHeaders: ReadonlyArray<readonly [string, string]>;
  /** `auth.query` as an encoded query string ('' when none). */
  authQuery: string;
  /** Per-request credentials (SigV4 signature, OAuth token), when the provider needs them. */
  authorizer: Authorizer | undefined;
  /** Native protocols, in the provider's order of preference. */
  protocols: readonly UpstreamProtocol[];
  supports(protocol: UpstreamProtocol): boolean;
  /** Path and query to request on `origin`. */
  pathFor(protocol: UpstreamProtocol, req: TargetRequest): string;
}

function withQuery(path: string, extra: string): string {
  if (!extra) return path;
  return path + (path.includes('?') ? '&' : '?') + extra;
}

function paramName(pair: string): string {
  const eq = pair.indexOf('=');
  const name = (eq === -1 ? pair : pair.slice(0, eq)).replace(/\+/g, ' ');
  try {
    return decodeURIComponent(name).toLowerCase();
  } catch {
    return name.toLowerCase();
  }
}

/**
 * The client's path and query without the parameters `auth.query` sets: the instance's credentials
 * must win, and a server reading the first `key=` of two would otherwise take the client's. Names
 * compare decoded and case-blind, so `%6Bey=` or `KEY=` cannot slip past; the rest stays byte for byte.
 */
function withoutParams(pathAndQuery: string, names: ReadonlySet<string>): string {
  const q = pathAndQuery.indexOf('?');
  if (q === -1 || names.size === 0) return pathAndQuery;
  const kept = pathAndQuery
    .slice(q + 1)
    .split('&')
    .filter((pair) => pair !== '' && !names.has(paramName(pair)));
  return kept.length > 0 ? `${pathAndQuery.slice(0, q)}?${kept.join('&')}` : pathAndQuery.slice(0, q);
}

const CLIENT_CREDENTIAL_PARAMS = ['key', 'api_key', 'api-key', 'apikey', 'access_token', 'x-goog-api-key'];

export function createInstanceTarget(instance: InstanceConfig): InstanceTarget {
  const provider = getProvider(instance.provider);
  const endpoint = instance.override.endpoint;
  const defaultBase = provider.baseUrlFor?.(instance) ?? provider.baseUrl;
  const origin = endpoint ? endpoint.url : defaultBase ? new URL(defaultBase) : undefined;
  if (!origin) throw new Error(`instance ${instance.name}: provider ${provider.name} needs override.endpoint`);
  const authQuery = new URLSearchParams(Object.entries(instance.auth.query)).toString();
  // The instance's own parameters, and the ones clients put credentials in (Google's `?key=`): a
  // client's credential never reaches a provider, as with its Authorization header.
  const authNames = new Set([...CLIENT_CREDENTIAL_PARAMS, ...Object.keys(instance.auth.query).map((name) => name.toLowerCase())]);
  const authHeaders = Object.entries(instance.auth.header).map(([k, v]) => [k.toLowerCase(), v] as const);
  const defaultHeaders = Object.entries(provider.defaultHeaders?.(instance) ?? {}).map(([k, v]) => [k.toLowerCase(), v] as const);
  const capabilities = provider.capabilitiesFor?.(instance) ?? provider.capabilities;
  const protocols = Object.keys(capabilities) as UpstreamProtocol[];

  // A full endpoint URL is used verbatim (APISIX); only the chat ↔ embeddings tail is swapped so one
  // instance can serve both.
  const verbatim = endpoint?.pathGiven ? endpoint.url.pathname + endpoint.url.search : undefined;
  const staticPaths = new Map<UpstreamProtocol, string>();
  for (const protocol of protocols) {
    if (verbatim !== undefined) {
      const path = protocol === 'openai-embeddings' ? verbatim.replace(/\/chat\/completions(?=\?|$)/, '/embeddings') : verbatim;
      staticPaths.set(protocol, withQuery(path, authQuery));
    } else if (!provider.pathFor) {
      staticPaths.set(protocol, withQuery(capabilities[protocol]?.path ?? '/', authQuery));
    }
  }

  // Passthrough maps the client's `/v1/...` onto the provider's own tree, unless a full endpoint says where.
  const base = endpoint?.pathGiven ? undefined : provider.passthroughBaseFor ? provider.passthroughBaseFor(instance) : provider.passthroughBase;
  const passthroughPath = (clientPath: string): string =>
    base !== undefined && clientPath.startsWith('/v1/') ? base + clientPath.slice(3) : clientPath;

  return {
    provider,
    origin: origin.origin,
    authHeaders,
    defaultHeaders,
    authQuery,
    authorizer: provider.createAuthorizer?.(instance),
    protocols,
    supports: (protocol) => (protocol === 'passthrough' ? provider.passthrough !== false : protocols.includes(protocol)),
    pathFor(protocol, req) {
      const fixed = staticPaths.get(protocol);
      if (fixed !== undefined) return fixed;
      if (protocol !== 'passthrough' && provider.pathFor && protocols.includes(protocol)) {
        return withQuery(provider.pathFor(protocol, instance, { model: req.model, stream: req.stream }), authQuery);
      }
      return withQuery(passthroughPath(withoutParams(req.clientPathAndQuery, authNames)), authQuery);
    },
  };
}
