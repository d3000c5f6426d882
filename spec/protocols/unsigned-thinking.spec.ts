import assert from 'node:assert/strict';
import { deepFreeze } from '../../lib/config/normalise.ts';
import { anthropicMessagesToBedrockConverse } from '../../lib/protocols/converters/anthropic-messages-to-bedrock-converse.ts';
import { bedrockConverseToAnthropicMessages } from '../../lib/protocols/converters/bedrock-converse-to-anthropic-messages.ts';
import { bedrockConverseToOpenaiChat } from '../../lib/protocols/converters/bedrock-converse-to-openai-chat.ts';
import { openaiChatToBedrockConverse } from '../../lib/protocols/converters/openai-chat-to-bedrock-converse.ts';
import type { JsonObject } from '../../lib/protocols/types.ts';
import { anthropicWithoutUnsignedThinking, converseWithoutUnsignedThinking } from '../../lib/protocols/unsigned-thinking.ts';
import { checkConvertedRequest } from '../support/protocol-invariants.ts';

// The rule for thinking blocks the gateway cannot sign (docs/protocols.md#thinking-signatures), and
// reasoning effort ↔ Claude-on-Bedrock thinking, which leaves thinking off where that rule requires.

const signed = { type: 'thinking', thinking: 'Reasoning.', signature: 'sig-real' };
const unsigned = { type: 'thinking', thinking: 'Borrowed reasoning.', signature: '' };
const toolUse = { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } };
const toolResult = { type: 'tool_result', tool_use_id: 'toolu_1', content: '21' };

describe('thinking blocks the gateway cannot sign', () => {
  it('leaves an Anthropic body without unsigned thinking alone (its bytes go as they are)', () => {
    const body = { model: 'c', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: [signed, { type: 'text', text: 'Hello' }] }] };
    assert.equal(anthropicWithoutUnsignedThinking(deepFreeze(body)), undefined);
  });

  it('drops unsigned (empty or missing signature) thinking blocks and keeps signed ones', () => {
    const { signature: _none, ...missing } = unsigned;
    const body = {
      model: 'c',
      max_tokens: 10,
      thinking: { type: 'enabled', budget_tokens: 1024 },
      messages: [
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: [unsigned, { type: 'text', text: 'Hello' }] },
        { role: 'user', content: 'And?' },
        { role: 'assistant', content: [missing] },
        { role: 'user', content: 'Well?' },
        { role: 'assistant', content: [signed, { type: 'text', text: 'So.' }] },
        { role: 'user', content: 'Thanks' },
      ],
    };
    const out = anthropicWithoutUnsignedThinking(deepFreeze(body));
    assert.deepEqual(out, {
      ...body,
      messages: [
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: [{ type: 'text', text: 'Hello' }] },
        { role: 'user', content: 'And?' },
        { role: 'user', content: 'Well?' },
        body.messages[5],
        { role: 'user', content: 'Thanks' },
      ],
    });
  });

  it('turns thinking off when the last assistant turn of a tool loop loses its thinking', () => {
    const body = {
      model: 'c',
      max_tokens: 2000,
      thinking: { type: 'enabled', budget_tokens: 1024 },
      messages: [{ role: 'user', content: 'Weather?' }, { role: 'assistant', content: [unsigned, toolUse] }, { role: 'user', content: [toolResult] }],
    };
    const out = anthropicWithoutUnsignedThinking(deepFreeze(body));
    assert.equal(out?.['thinking'], undefined);
    assert.deepEqual((out?.['messages'] as JsonObject[])[1], { role: 'assistant', content: [toolUse] });
  });

  it('does the same for Bedrock Converse reasoning blocks, and Claude-on-Bedrock thinking', () => {
    const body = {
      messages: [
        { role: 'user', content: [{ text: 'Weather?' }] },
        { role: 'assistant', content: [{ reasoningContent: { reasoningText: { text: 'r' } } }, { toolUse: { toolUseId: 't1', name: 'get_weather', input: {} } }] },
        { role: 'user', content: [{ toolResult: { toolUseId: 't1', content: [{ text: '21' }] } }] },
      ],
      additionalModelRequestFields: { thinking: { type: 'enabled', budget_tokens: 1024 }, top_k: 5 },
    };
    const out = converseWithoutUnsignedThinking(deepFreeze(body));
    assert.deepEqual((out?.['messages'] as JsonObject[])[1], { role: 'assistant', content: [{ toolUse: { toolUseId: 't1', name: 'get_weather', input: {} } }] });
    assert.deepEqual(out?.['additionalModelRequestFields'], { top_k: 5 });
    const signedBody = { messages: [{ role: 'assistant', content: [{ reasoningContent: { reasoningText: { text: 'r', signature: 's' } } }] }] };
    assert.equal(converseWithoutUnsignedThinking(deepFreeze(signedBody)), undefined);
  });

  it('drops unsigned thinking in converted history too: Anthropic client → Bedrock, Bedrock client → Anthropic', () => {
    const anthropicBody = {
      model: 'c',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: [unsigned, signed, { type: 'text', text: 'Hello' }] }, { role: 'user', content: 'More' }],
    };
    const toBedrock = anthropicMessagesToBedrockConverse.request(deepFreeze(anthropicBody), { model: 'anthropic.claude-x', stream: false });
    assert.deepEqual((toBedrock['messages'] as JsonObject[])[1]?.['content'], [
      { reasoningContent: { reasoningText: { text: 'Reasoning.', signature: 'sig-real' } } },
      { text: 'Hello' },
    ]);
    const converseBody = {
      messages: [
        { role: 'user', content: [{ text: 'Hi' }] },
        { role: 'assistant', content: [{ reasoningContent: { reasoningText: { text: 'r' } } }, { reasoningContent: { reasoningText: { text: 'R', signature: 'sig' } } }, { text: 'Hello' }] },
        { role: 'user', content: [{ text: 'More' }] },
      ],
    };
    const toAnthropic = bedrockConverseToAnthropicMessages.request(deepFreeze(converseBody), { model: 'claude-x', stream: false });
    checkConvertedRequest(bedrockConverseToAnthropicMessages, converseBody, toAnthropic);
    assert.deepEqual((toAnthropic['messages'] as JsonObject[])[1]?.['content'], [
      { type: 'thinking', thinking: 'R', signature: 'sig' },
      { type: 'text', text: 'Hello' },
    ]);
  });
});

describe('reasoning effort ↔ Claude-on-Bedrock thinking', () => {
  const chat = (extra: JsonObject): JsonObject => ({ model: 'gpt-x', messages: [{ role: 'user', content: 'Prove it.' }], ...extra });

  it('maps an OpenAI chat client\'s reasoning_effort to additionalModelRequestFields.thinking', () => {
    const body = chat({ reasoning_effort: 'medium', temperature: 0.2 });
    const out = openaiChatToBedrockConverse.request(deepFreeze(body), { model: 'us.anthropic.claude-sonnet-4-20250514-v1:0', stream: false });
    checkConvertedRequest(openaiChatToBedrockConverse, body, out);
    assert.deepEqual(out['additionalModelRequestFields'], { thinking: { type: 'enabled', budget_tokens: 8192 } });
    assert.deepEqual(out['inferenceConfig'], { maxTokens: 4096 + 8192 });
  });

  it('leaves thinking off for a forced tool, in a tool loop, and for models that are not Claude', () => {
    const tools = [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: {} } } }];
    const claude = { model: 'anthropic.claude-3-7-sonnet-20250219-v1:0', stream: false };
    const forced = openaiChatToBedrockConverse.request(chat({ reasoning_effort: 'high', tools, tool_choice: 'required' }), claude);
    assert.equal(forced['additionalModelRequestFields'], undefined);
    const loop = chat({
      reasoning_effort: 'high',
      tools,
      messages: [
        { role: 'user', content: 'Go' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }] },
        { role: 'tool', tool_call_id: 'c1', content: 'done' },
      ],
    });
    assert.equal(openaiChatToBedrockConverse.request(loop, claude)['additionalModelRequestFields'], undefined);
    const nova = openaiChatToBedrockConverse.request(chat({ reasoning_effort: 'high' }), { model: 'amazon.nova-pro-v1:0', stream: false });
    assert.equal(nova['additionalModelRequestFields'], undefined);
  });

  it('maps a Bedrock client\'s thinking control back to reasoning_effort for an OpenAI provider', () => {
    for (const [budget, effort] of [[1024, 'low'], [8192, 'medium'], [24576, 'high']] as const) {
      const body = { messages: [{ role: 'user', content: [{ text: 'Prove it.' }] }], additionalModelRequestFields: { thinking: { type: 'enabled', budget_tokens: budget } } };
      const out = bedrockConverseToOpenaiChat.request(deepFreeze(body), { model: 'o3', stream: false });
      assert.equal(out['reasoning_effort'], effort);
    }
  });
});
