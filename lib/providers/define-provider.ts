import type { InstanceConfig } from '../config/types.ts';
import type { UpstreamProtocolName } from '../protocols/types.ts';

/** What a provider can be sent: the client protocols, plus provider-only ones such as Vertex's `:predict`. */
export type UpstreamProtocol = UpstreamProtocolName;

/** Where one protocol lives on a provider: a path under the provider's base URL. */
export interface Capability {
  path: string;
}

export type MaxTokensField = 'max_completion_tokens' | 'max_tokens';

/** What the path of one upstream request may depend on. */
export interface PathRequest {
  model: string | undefined;
  stream: boolean;
}

/** The request as it will be sent, for authorizers that sign it (SigV4) or fetch a token (GCP). */
export interface OutgoingRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body: Buffer;
}

/** Per-instance credentials that are not plain headers: computed for each request. */
export interface Authorizer {
  headers(req: OutgoingRequest, signal: AbortSignal): Promise<Record<string, string>>;
  /** The provider said 401: drop cached credentials (a token) so the next request gets fresh ones. */
  invalidate?(): void;
  /** Credentials minted at run time (cached OAuth tokens) that the secret scrubber must also hide. */
  secrets?(): readonly string[];
}

export interface ProviderDefinition {
  name: string;
  /** Default base URL (scheme + host [+ port]); absent → `baseUrlFor` or the instance's `override.endpoint`. */
  baseUrl?: string;
  /** Base URL that depends on the instance (Bedrock's and Vertex's region). */
  baseUrlFor?: (instance: InstanceConfig) => string | undefined;
  /** Protocols the provider speaks natively, in order of preference for conversions. */
  capabilities: Partial<Record<UpstreamProtocol, Capability>>;
  /** Capabilities an instance may switch on or off (Anthropic's OpenAI-compatible endpoint). */
  capabilitiesFor?: (instance: InstanceConfig) => Partial<Record<UpstreamProtocol, Capability>>;
  /**
   * Where the provider's OpenAI-style `/v1` tree lives, for passthrough: a client path `/v1/models` goes
   * to `${passthroughBase}/models`. Absent → the client's path is used as it is.
   */
  passthroughBase?: string;
  /** `passthroughBase` when it depends on the instance (a native Gemini instance's tree is Google's own). */
  passthroughBaseFor?: (instance: InstanceConfig) => string | undefined;
  /** false: the provider has no API tree to pass other requests to (Bedrock, Vertex): skipped for them. */
  passthrough?: boolean;
  /** Field that `override.llm_options.max_tokens` maps to in chat bodies. */
  maxTokensField: MaxTokensField;
  /** The model is in the URL (Azure deployments, Bedrock model ids), not in the body. */
  dropModel?: boolean;
  /** Build the target path when it depends on the instance or the request (Azure, Bedrock, Vertex). */
  pathFor?: (protocol: UpstreamProtocol, instance: InstanceConfig, req: PathRequest) => string;
  /** Headers the provider needs on every request unless the client sent them (anthropic-version). */
  defaultHeaders?: (instance: InstanceConfig) => Record<string, string>;
  /** Credentials computed per request (SigV4, OAuth tokens). */
  createAuthorizer?: (instance: InstanceConfig) => Authorizer;
  /**
   * The provider's id in the price table (@pydantic/genai-prices: lib/cost/cost-usd.ts); absent → the
   * table is not consulted and only an instance's own `price` gives a cost (resellers, self-hosted).
   */
  priceTable?: string;
  /** `provider_conf.api: "native"` is allowed: the instance may call the vendor's own API instead (Gemini, Vertex). */
  nativeApi?: boolean;
  /** Validation of provider-specific required fields; returns problems as [relative path, message]. */
  validate?: (instance: InstanceConfig) => Array<[string, string]>;
}

export function defineProvider(def: ProviderDefinition): Readonly<ProviderDefinition> {
  return Object.freeze({ ...def, capabilities: Object.freeze({ ...def.capabilities }) });
}

export const openaiChatPaths = (prefix: string) => ({
  'openai-chat': { path: `${prefix}/chat/completions` },
  'openai-embeddings': { path: `${prefix}/embeddings` },
});
