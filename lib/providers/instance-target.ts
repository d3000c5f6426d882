import type { InstanceConfig } from '../config/types.ts';
import type { ProtocolName } from '../protocols/types.ts';
import type { ProviderDefinition } from './define-provider.ts';
import { getProvider } from './registry.ts';

/** Where and how one instance is called; computed once at config load. */
export interface InstanceTarget {
  provider: Readonly<ProviderDefinition>;
  /** scheme://host[:port] — the key of the connection pool. */
  origin: string;
  /** Lower-case header names with the instance's credentials. */
  authHeaders: ReadonlyArray<readonly [string, string]>;
  /** `auth.query` as an encoded query string ('' when none). */
  authQuery: string;
  supports(protocol: ProtocolName): boolean;
  /** Path and query to request on `origin`; `clientPathAndQuery` is used for passthrough. */
  pathFor(protocol: ProtocolName, clientPathAndQuery: string): string;
}

function withQuery(path: string, extra: string): string {
  if (!extra) return path;
  return path + (path.includes('?') ? '&' : '?') + extra;
}

export function createInstanceTarget(instance: InstanceConfig): InstanceTarget {
  const provider = getProvider(instance.provider);
  const endpoint = instance.override.endpoint;
  const origin = endpoint ? endpoint.url : provider.baseUrl ? new URL(provider.baseUrl) : undefined;
  if (!origin) throw new Error(`instance ${instance.name}: provider ${provider.name} needs override.endpoint`);
  const authQuery = new URLSearchParams(Object.entries(instance.auth.query)).toString();
  const authHeaders = Object.entries(instance.auth.header).map(([k, v]) => [k.toLowerCase(), v] as const);

  // A full endpoint URL is used verbatim (APISIX); only the chat ↔ embeddings tail is swapped so one
  // instance can serve both.
  const verbatim = endpoint?.pathGiven ? endpoint.url.pathname + endpoint.url.search : undefined;
  const paths = new Map<ProtocolName, string>();
  for (const [protocol, capability] of Object.entries(provider.capabilities) as [ProtocolName, { path: string }][]) {
    let path: string;
    if (verbatim !== undefined) {
      path =
        protocol === 'openai-embeddings'
          ? verbatim.replace(/\/chat\/completions(?=\?|$)/, '/embeddings')
          : verbatim;
    } else {
      path = provider.pathFor?.(protocol, instance) ?? capability.path;
    }
    paths.set(protocol, withQuery(path, authQuery));
  }

  // Passthrough maps the client's `/v1/...` onto the provider's own tree, unless a full endpoint says where.
  const base = endpoint?.pathGiven ? undefined : provider.passthroughBase;
  const passthroughPath = (clientPath: string): string =>
    base !== undefined && clientPath.startsWith('/v1/') ? base + clientPath.slice(3) : clientPath;

  return {
    provider,
    origin: origin.origin,
    authHeaders,
    authQuery,
    supports: (protocol) => protocol === 'passthrough' || paths.has(protocol),
    pathFor(protocol, clientPathAndQuery) {
      const path = paths.get(protocol);
      if (path !== undefined) return path;
      return withQuery(passthroughPath(clientPathAndQuery), authQuery);
    },
  };
}
