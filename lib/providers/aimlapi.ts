import { defineProvider, openaiChatPaths } from './define-provider.ts';

export const aimlapi = defineProvider({
  name: 'aimlapi',
  baseUrl: 'https://api.aimlapi.com',
  capabilities: openaiChatPaths('/v1'),
  passthroughBase: '/v1',
  maxTokensField: 'max_tokens',
});
