import assert from 'node:assert/strict';
import { clientProtocol } from '../../lib/protocols/detect.ts';
import { createSseDecoder } from '../../lib/transport/sse-decoder.ts';

// The Google GenAI descriptor's stream grammar: what commits a stream, what ends it, what it counts
// (docs/architecture.md#commit-point, docs/protocols.md#google-genai).
const google = clientProtocol('google-genai');
const chunk = (candidate: object | undefined, more: object = {}) => ({
  data: JSON.stringify({ ...(candidate && { candidates: [{ index: 0, ...candidate }] }), modelVersion: 'gemini-2.5-flash-001', responseId: 'r', ...more }),
});

describe('google-genai stream observer', () => {
  it('holds usage-only chunks, commits on the first part, ends on the finishReason and keeps the last usage', () => {
    const o = google.createStreamObserver(true);
    assert.equal(o.classify(chunk(undefined, { usageMetadata: { promptTokenCount: 5, totalTokenCount: 5 } })), 'lifecycle');
    assert.equal(o.classify(chunk({ content: { role: 'model', parts: [{ text: 'Pondering', thought: true }] } })), 'content');
    assert.equal(o.classify(chunk({ content: { role: 'model', parts: [{ text: 'Hello' }] } })), 'content');
    assert.equal(o.finished(), false);
    const last = chunk({ content: { role: 'model', parts: [{ text: '!' }] }, finishReason: 'STOP' }, { usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 2, thoughtsTokenCount: 3, totalTokenCount: 10 } });
    assert.equal(o.classify(last), 'content');
    assert.equal(o.finished(), true);
    assert.deepEqual(o.usage(), { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10, reasoning_tokens: 3 });
    assert.equal(o.text(), 'Hello!', 'thoughts are not the answer text');
    assert.equal(o.model(), 'gemini-2.5-flash-001');
    assert.equal(o.toolCalls(), false);
  });

  it('reads an error chunk as an in-band error with its message, and a blocked prompt as the end', () => {
    const o = google.createStreamObserver(false);
    assert.equal(o.classify({ data: JSON.stringify({ error: { code: 503, message: 'The model is overloaded.', status: 'UNAVAILABLE' } }) }), 'error');
    assert.equal(o.errorMessage(), 'The model is overloaded.');
    const blocked = google.createStreamObserver(false);
    assert.equal(blocked.classify(chunk(undefined, { promptFeedback: { blockReason: 'SAFETY' } })), 'content');
    assert.equal(blocked.finished(), true);
  });

  it('notices function calls, in snake_case too', () => {
    const o = google.createStreamObserver(false);
    o.classify(chunk({ content: { role: 'model', parts: [{ function_call: { name: 'f', args: {} } }] } }));
    assert.equal(o.toolCalls(), true);
  });

  it('ends a failed stream with a chunk the SDK throws on: an error with an HTTP code', () => {
    const frame = google.streamErrorFrame('upstream stream failed: reset');
    const events = createSseDecoder().push(Buffer.from(frame as string));
    assert.equal(events.length, 1);
    assert.deepEqual(JSON.parse(events[0]?.data ?? ''), { error: { code: 500, message: 'upstream stream failed: reset', status: 'INTERNAL' } });
  });

  it('reads usage and text from a whole answer, and counts declarations as tools', () => {
    const answer = { candidates: [{ content: { role: 'model', parts: [{ text: 'a', thought: true }, { text: 'b' }, { functionCall: { name: 'f' } }] } }], usageMetadata: { promptTokenCount: 2, candidatesTokenCount: 1, cachedContentTokenCount: 1, totalTokenCount: 3 } };
    assert.equal(google.textFromJson(answer), 'b');
    assert.equal(google.hasToolCalls(answer), true);
    assert.deepEqual(google.usageFromJson(answer), { prompt_tokens: 2, completion_tokens: 1, total_tokens: 3, cached_tokens: 1 });
    assert.equal(google.toolCount({ tools: [{ functionDeclarations: [{ name: 'a' }, { name: 'b' }] }, { googleSearch: {} }] }), 3);
  });
});
