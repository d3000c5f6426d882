import { defineProvider, openaiChatPaths } from './define-provider.ts';

// https://openrouter.ai/docs — model ids are vendor/model.
export const openrouter = defineProvider({
  name: 'openrouter',
  baseUrl: 'https://openrouter.ai',
  capabilities: openaiChatPaths('/api/v1'),
  passthroughBase: '/api/v1',
  priceTable: 'openrouter',
  maxTokensField: 'max_tokens',
});
