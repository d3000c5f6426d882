import assert from 'node:assert/strict';
import { deepFreeze } from '../../lib/config/normalise.ts';
import { anthropicMessagesToBedrockConverse } from '../../lib/protocols/converters/anthropic-messages-to-bedrock-converse.ts';
import { anthropicMessagesToOpenaiChat } from '../../lib/protocols/converters/anthropic-messages-to-openai-chat.ts';
import { bedrockConverseToAnthropicMessages } from '../../lib/protocols/converters/bedrock-converse-to-anthropic-messages.ts';
import { bedrockConverseToOpenaiChat } from '../../lib/protocols/converters/bedrock-converse-to-openai-chat.ts';
import type { ClientEvent } from '../../lib/protocols/converters/converter.ts';
import { openaiChatToBedrockConverse } from '../../lib/protocols/converters/openai-chat-to-bedrock-converse.ts';
import { estimatePromptTokens, loadPromptTokenizer } from '../../lib/protocols/prompt-tokens.ts';
import type { JsonObject } from '../../lib/protocols/types.ts';
import { anthropicWithoutUnsignedThinking, converseWithoutUnsignedThinking } from '../../lib/protocols/unsigned-thinking.ts';
import { checkConvertedRequest } from '../support/protocol-invariants.ts';

// Issue 14 items 2 and 3 at the unit level: reasoning effort ↔ thinking controls toward Bedrock, the
// rule for thinking blocks the gateway cannot sign (docs/protocols.md#thinking-signatures), and the
// prompt-token estimate converted Anthropic streams state in message_start.

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

describe('the prompt-token estimate', () => {
  before(loadPromptTokenizer);

  it('counts the text a model reads, not ids, signatures or base64 media', () => {
    const text = { model: 'claude-x', system: 'You are terse.', messages: [{ role: 'user', content: [{ type: 'text', text: 'What is the capital of France?' }] }] };
    const base = estimatePromptTokens(text);
    assert.ok(base >= 8 && base <= 20, `estimate ${base}`);
    const image = { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo'.repeat(10_000) } };
    const withMedia = { ...text, messages: [{ role: 'user', content: [...text.messages[0]!.content, image] }] };
    assert.equal(estimatePromptTokens(withMedia), base);
    assert.equal(estimatePromptTokens({ model: 'x', messages: [] }), 0);
  });

  it('scales a huge body from a bounded sample instead of tokenizing all of it', () => {
    const sentence = 'The quick brown fox jumps over the lazy dog. ';
    const small = estimatePromptTokens({ messages: [{ role: 'user', content: sentence.repeat(100) }] });
    const huge = estimatePromptTokens({ messages: [{ role: 'user', content: sentence.repeat(100_000) }] });
    const ratio = huge / small;
    assert.ok(ratio > 900 && ratio < 1100, `a body 1000× larger is estimated ${ratio.toFixed(0)}× larger`);
  });

  it('is what a converted Anthropic stream states in message_start, before the provider counts', () => {
    let asked = 0;
    const ctx = { model: 'gpt-x', stream: true, promptTokens: () => (asked++, 123) };
    const stream = anthropicMessagesToOpenaiChat.stream?.(ctx);
    assert.ok(stream);
    const chunk = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'gpt-x', choices: [{ index: 0, delta: { role: 'assistant', content: 'Hi' }, finish_reason: null }] };
    const events: ClientEvent[] = stream.push({ data: JSON.stringify(chunk) });
    const start = events.find((e) => e.event === 'message_start')?.data as { message: { usage: { input_tokens: number } } };
    assert.equal(start.message.usage.input_tokens, 123);
    const done = { ...chunk, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage: { prompt_tokens: 130, completion_tokens: 1, total_tokens: 131 } };
    const rest = [...stream.push({ data: JSON.stringify(done) }), ...stream.push({ data: '[DONE]' }), ...stream.end()];
    const delta = rest.find((e) => e.event === 'message_delta')?.data as { usage: { input_tokens: number } };
    assert.equal(delta.usage.input_tokens, 130, 'message_delta has the provider\'s exact count');
    assert.equal(asked, 1, 'estimated once, when message_start is written');
  });
});
