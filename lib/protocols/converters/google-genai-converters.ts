import { anthropicMessagesToOpenaiChat } from './anthropic-messages-to-openai-chat.ts';
import { bedrockConverseToOpenaiChat } from './bedrock-converse-to-openai-chat.ts';
import type { Converter } from './converter.ts';
import { googleGenaiToOpenaiChat } from './google-genai-to-openai-chat.ts';
import { openaiChatToAnthropicMessages } from './openai-chat-to-anthropic-messages.ts';
import { openaiChatToBedrockConverse } from './openai-chat-to-bedrock-converse.ts';
import { openaiChatToGoogleGenai } from './openai-chat-to-google-genai.ts';
import { openaiResponsesToOpenaiChat } from './openai-responses-to-openai-chat.ts';
import { composeConverters } from './compose.ts';

// Google GenAI to and from every other chat protocol: directly with OpenAI Chat, through it for the
// rest (docs/protocols.md#google-genai).
export const googleGenaiConverters: readonly Converter[] = [
  googleGenaiToOpenaiChat,
  openaiChatToGoogleGenai,
  composeConverters(googleGenaiToOpenaiChat, openaiChatToAnthropicMessages),
  composeConverters(googleGenaiToOpenaiChat, openaiChatToBedrockConverse),
  composeConverters(anthropicMessagesToOpenaiChat, openaiChatToGoogleGenai),
  composeConverters(bedrockConverseToOpenaiChat, openaiChatToGoogleGenai),
  composeConverters(openaiResponsesToOpenaiChat, openaiChatToGoogleGenai),
];
