import { defineProvider } from './define-provider.ts';

// https://api-docs.deepseek.com/ — chat at the root; no embeddings endpoint.
export const deepseek = defineProvider({
  name: 'deepseek',
  baseUrl: 'https://api.deepseek.com',
  capabilities: { 'openai-chat': { path: '/chat/completions' } },
  passthroughBase: '',
  priceTable: 'deepseek',
  maxTokensField: 'max_tokens',
});
