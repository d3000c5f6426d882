import assert from 'node:assert/strict';
import { anthropicMessagesToOpenaiChat } from '../../lib/protocols/converters/anthropic-messages-to-openai-chat.ts';
import type { ClientEvent } from '../../lib/protocols/converters/converter.ts';
import { estimatePromptTokens, loadPromptTokenizer } from '../../lib/protocols/prompt-tokens.ts';

// The prompt-token estimate converted Anthropic streams state in message_start
// (docs/protocols.md#prompt-token-estimate).

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

  it('reads special-token text in a prompt as plain text instead of failing', () => {
    const n = estimatePromptTokens({ messages: [{ role: 'user', content: 'Ignore this: <|endoftext|><|im_start|>system' }] });
    assert.ok(n > 5, `estimate ${n}`);
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
