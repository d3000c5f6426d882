import assert from 'node:assert/strict';
import { bestMatch, normalise } from '../../lib/balancer/semantic.ts';
import { parseEmbeddings } from '../../lib/pipeline/semantic-router.ts';
import { clientProtocol } from '../../lib/protocols/registry.ts';

const cand = (name: string, threshold: number, ...examples: number[][]) => ({ name, threshold, examples: examples.map(normalise) });

describe('semantic balancing math', () => {
  it('normalises to unit length and leaves a zero vector zero (no NaN)', () => {
    assert.deepEqual([...normalise([3, 4])], [0.6, 0.8]);
    assert.deepEqual([...normalise([0, 0])], [0, 0]);
  });

  it('scores each candidate by its best example and picks the highest above its threshold', () => {
    const prompt = normalise([1, 0]);
    const m = bestMatch(prompt, [cand('far', 0, [0, 1]), cand('near', 0, [0, 1], [1, 0.1])]);
    assert.equal(m.name, 'near');
    assert.equal(m.bestName, 'near');
    assert.ok(m.bestScore !== undefined && m.bestScore > 0.99);
  });

  it('skips a better-scoring candidate whose own threshold is not cleared', () => {
    const prompt = normalise([1, 0.2]);
    const m = bestMatch(prompt, [cand('strict', 0.9999, [1, 0]), cand('loose', 0.1, [1, 1])]);
    assert.equal(m.name, 'loose');
    assert.equal(m.bestName, 'strict');
  });

  it('chooses none when nothing clears a threshold', () => {
    assert.equal(bestMatch(normalise([0, 1]), [cand('a', 0.5, [1, 0])]).name, undefined);
  });
});

describe('embeddings answers', () => {
  const parse = (body: unknown, n: number) => parseEmbeddings(Buffer.from(JSON.stringify(body)), n, 'http://e/v1/embeddings');
  it('puts vectors back in input order by index', () => {
    assert.deepEqual(parse({ data: [{ index: 1, embedding: [2] }, { index: 0, embedding: [1] }] }, 2), [[1], [2]]);
  });
  it('refuses a missing vector, a bad index, non-finite numbers and non-JSON, quoting no body', () => {
    assert.throws(() => parse({ data: [{ index: 0, embedding: [1] }] }, 2), /no vector for input 1/);
    assert.throws(() => parse({ data: [{ index: 5, embedding: [1] }] }, 1), /bad index/);
    assert.throws(() => parse({ data: [{ index: 0, embedding: ['x'] }] }, 1), /finite numbers/);
    assert.throws(() => parseEmbeddings(Buffer.from('secret-echo <html>'), 1, 'http://e'), (e: Error) => !e.message.includes('secret-echo'));
  });
});

describe('the last user text of each client protocol', () => {
  const text = (name: Parameters<typeof clientProtocol>[0], body: Record<string, unknown>) => clientProtocol(name).lastUserText(body);
  it('reads the last user turn, text parts only', () => {
    const messages = [{ role: 'user', content: 'first' }, { role: 'assistant', content: 'x' }, { role: 'user', content: [{ type: 'text', text: 'last' }, { type: 'image_url', image_url: { url: 'u' } }] }];
    assert.equal(text('openai-chat', { messages }), 'last');
    assert.equal(text('anthropic-messages', { messages: [{ role: 'user', content: [{ type: 'tool_result', content: 'r' }, { type: 'text', text: 'why' }] }] }), 'why');
    assert.equal(text('bedrock-converse', { messages: [{ role: 'user', content: [{ text: 'hola' }] }, { role: 'assistant', content: [{ text: 'x' }] }] }), 'hola');
    assert.equal(text('openai-responses', { input: 'plain' }), 'plain');
    assert.equal(text('openai-responses', { input: [{ role: 'user', content: [{ type: 'input_text', text: 'listed' }] }] }), 'listed');
    assert.equal(text('openai-embeddings', { input: ['a', 'b'] }), 'b');
    assert.equal(text('openai-embeddings', { input: [1, 2] }), undefined);
    assert.equal(text('openai-chat', { messages: [{ role: 'system', content: 's' }] }), undefined);
    const contents = [{ role: 'user', parts: [{ text: 'early' }] }, { role: 'model', parts: [{ text: 'x' }] }, { parts: [{ text: 'thinking', thought: true }, { text: 'gemini' }, { inlineData: {} }] }];
    assert.equal(text('google-genai', { contents }), 'gemini');
    assert.equal(text('google-genai', { contents: [{ role: 'model', parts: [{ text: 'x' }] }] }), undefined);
  });
});
