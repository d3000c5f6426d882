import { defineProvider, openaiChatPaths } from './define-provider.ts';

// Any server speaking OpenAI's wire format (vLLM, Ollama, LM Studio, TGI...). The endpoint is required.
export const openaiCompatible = defineProvider({
  name: 'openai-compatible',
  capabilities: openaiChatPaths('/v1'),
  passthroughBase: '/v1',
  maxTokensField: 'max_tokens',
  validate: (instance) =>
    instance.override.endpoint ? [] : [['override/endpoint', 'is required for provider openai-compatible']],
});
