import { defineProvider, openaiChatPaths } from './define-provider.ts';

// https://platform.openai.com/docs/api-reference/chat
export const openai = defineProvider({
  name: 'openai',
  baseUrl: 'https://api.openai.com',
  capabilities: { ...openaiChatPaths('/v1'), 'openai-responses': { path: '/v1/responses' } },
  passthroughBase: '/v1',
  priceTable: 'openai',
  maxTokensField: 'max_completion_tokens',
});
