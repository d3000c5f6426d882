import type { Converter } from './converter.ts';
import { anthropicMessagesToBedrockConverse } from './anthropic-messages-to-bedrock-converse.ts';
import { anthropicMessagesToOpenaiChat } from './anthropic-messages-to-openai-chat.ts';
import { bedrockConverseToAnthropicMessages } from './bedrock-converse-to-anthropic-messages.ts';
import { bedrockConverseToOpenaiChat } from './bedrock-converse-to-openai-chat.ts';
import { googleGenaiConverters } from './google-genai-converters.ts';
import { openaiChatToAnthropicMessages } from './openai-chat-to-anthropic-messages.ts';
import { openaiChatToBedrockConverse } from './openai-chat-to-bedrock-converse.ts';
import { openaiEmbeddingsToVertexPredict } from './openai-embeddings-to-vertex-predict.ts';
import { openaiResponsesToOpenaiChat } from './openai-responses-to-openai-chat.ts';
import { openaiResponsesToAnthropicMessages, openaiResponsesToBedrockConverse } from './openai-responses-via-chat.ts';

// Every conversion the gateway can make: client protocol (`from`) → what a provider speaks (`to`).
const converters: readonly Converter[] = [
  anthropicMessagesToOpenaiChat,
  openaiChatToAnthropicMessages,
  openaiChatToBedrockConverse,
  bedrockConverseToOpenaiChat,
  anthropicMessagesToBedrockConverse,
  bedrockConverseToAnthropicMessages,
  openaiResponsesToOpenaiChat,
  openaiResponsesToAnthropicMessages,
  openaiResponsesToBedrockConverse,
  openaiEmbeddingsToVertexPredict,
  ...googleGenaiConverters,
];

export function findConverter(from: string, to: string): Converter | undefined {
  return converters.find((c) => c.from === from && c.to === to);
}
