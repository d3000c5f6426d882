import { composeConverters } from './compose.ts';
import type { Converter } from './converter.ts';
import { openaiChatToAnthropicMessages } from './openai-chat-to-anthropic-messages.ts';
import { openaiChatToBedrockConverse } from './openai-chat-to-bedrock-converse.ts';
import { openaiResponsesToOpenaiChat } from './openai-responses-to-openai-chat.ts';

// An OpenAI Responses client served by an Anthropic or a Bedrock provider, through the Chat pivot
// (docs/protocols.md#composed-conversions): Responses → Chat → provider, and back. Every rule of the
// two halves applies unchanged — tools, stop reasons, usage, reasoning — so a Responses client sees
// the same answer whichever of the three vendors served it.

export const openaiResponsesToAnthropicMessages: Converter = composeConverters(openaiResponsesToOpenaiChat, openaiChatToAnthropicMessages);

export const openaiResponsesToBedrockConverse: Converter = composeConverters(openaiResponsesToOpenaiChat, openaiChatToBedrockConverse);
