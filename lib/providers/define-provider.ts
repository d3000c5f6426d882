import type { ProtocolName } from '../protocols/types.ts';
import type { InstanceConfig } from '../config/types.ts';

/** Where one protocol lives on a provider: a path under the provider's base URL. */
export interface Capability {
  path: string;
}

export type MaxTokensField = 'max_completion_tokens' | 'max_tokens';

export interface ProviderDefinition {
  name: string;
  /** Default base URL (scheme + host [+ port]); absent → the instance must set `override.endpoint`. */
  baseUrl?: string;
  capabilities: Partial<Record<ProtocolName, Capability>>;
  /**
   * Where the provider's OpenAI-style `/v1` tree lives, for passthrough: a client path `/v1/models` goes
   * to `${passthroughBase}/models`. Absent → the client's path is used as it is.
   */
  passthroughBase?: string;
  /** Field that `override.llm_options.max_tokens` maps to in chat bodies. */
  maxTokensField: MaxTokensField;
  /** Azure routes by deployment in the path and wants no `model` in the body. */
  dropModel?: boolean;
  /** Build the target path for an instance whose endpoint is host-only (e.g. Azure deployments). */
  pathFor?: (protocol: ProtocolName, instance: InstanceConfig) => string;
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
