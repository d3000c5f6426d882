import { defineProvider } from './define-provider.ts';

const DEFAULT_VERSION = '2023-06-01';

// https://docs.anthropic.com/en/api/messages — `x-api-key` comes from the instance's auth.header.
// Anthropic's OpenAI-compatible endpoint is documented for testing and ignores many fields, so OpenAI
// chat clients are converted to Messages unless `provider_conf.openai_compat` asks for the endpoint.
export const anthropic = defineProvider({
  name: 'anthropic',
  baseUrl: 'https://api.anthropic.com',
  capabilities: { 'anthropic-messages': { path: '/v1/messages' } },
  capabilitiesFor: (instance) =>
    instance.provider_conf.openai_compat
      ? { 'anthropic-messages': { path: '/v1/messages' }, 'openai-chat': { path: '/v1/chat/completions' } }
      : { 'anthropic-messages': { path: '/v1/messages' } },
  passthroughBase: '/v1',
  priceTable: 'anthropic',
  maxTokensField: 'max_tokens',
  defaultHeaders: (instance) => ({ 'anthropic-version': instance.provider_conf.anthropic_version ?? DEFAULT_VERSION }),
});
