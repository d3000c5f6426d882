import { defineProvider, openaiChatPaths } from './define-provider.ts';

// https://ai.google.dev/gemini-api/docs/openai — Gemini's OpenAI-compatible surface.
export const gemini = defineProvider({
  name: 'gemini',
  genAiName: 'gcp.gemini',
  baseUrl: 'https://generativelanguage.googleapis.com',
  capabilities: openaiChatPaths('/v1beta/openai'),
  passthroughBase: '/v1beta/openai',
  maxTokensField: 'max_completion_tokens',
});
