import assert from 'node:assert/strict';
import { clientProtocol, detectProtocol, errorShapeForPath } from '../../lib/protocols/detect.ts';
import type { ProtocolName } from '../../lib/protocols/types.ts';

const messages = [{ role: 'user', content: 'hi' }];

describe('detectProtocol', () => {
  // On a known endpoint the path decides (the body is then checked against that protocol's schema);
  // elsewhere the body decides, first match wins.
  const cases: Array<[string, string, Record<string, unknown>, ProtocolName]> = [
    ['Converse with messages', '/model/anthropic.claude-3-haiku/converse', { messages }, 'bedrock-converse'],
    ['ConverseStream with messages', '/model/amazon.nova-lite-v1:0/converse-stream', { messages }, 'bedrock-converse'],
    ['a Converse path without messages, by path (its schema then refuses it)', '/model/m/converse', { inferenceConfig: {} }, 'bedrock-converse'],
    ['/v1/messages with messages, before openai-chat', '/v1/messages', { model: 'claude', messages, max_tokens: 5 }, 'anthropic-messages'],
    ['/v1/messages under a prefix', '/anthropic/v1/messages', { messages }, 'anthropic-messages'],
    ['/v1/messages by path alone', '/v1/messages', { model: 'claude' }, 'anthropic-messages'],
    ['/v1/responses with input', '/v1/responses', { model: 'gpt-4o', input: 'hi' }, 'openai-responses'],
    ['/v1/responses with input and messages, before openai-chat', '/v1/responses', { input: 'hi', messages }, 'openai-responses'],
    ['/v1/responses without input but with messages, by path', '/v1/responses', { messages }, 'openai-responses'],
    ['an Azure-style /openai/responses, by path', '/openai/responses', { input: 'hi' }, 'openai-responses'],
    ['/v1/embeddings with messages too, by path', '/v1/embeddings', { input: 'a', messages }, 'openai-embeddings'],
    ["OpenAI's /v1/threads/{id}/messages, as passthrough", '/v1/threads/t1/messages', { role: 'user', content: 'hi' }, 'passthrough'],
    ['/v1/chat/completions with messages', '/v1/chat/completions', { model: 'gpt-4o', messages }, 'openai-chat'],
    ['any path with messages, by body', '/llm/anything', { messages }, 'openai-chat'],
    ['messages and input together, as openai-chat', '/v1/chat/completions', { messages, input: 'x' }, 'openai-chat'],
    ['/v1/embeddings with input', '/v1/embeddings', { model: 'text-embedding-3-small', input: ['a', 'b'] }, 'openai-embeddings'],
    ['any path with input, by body', '/embed', { input: 'a' }, 'openai-embeddings'],
    ['an image request, as passthrough', '/v1/images/generations', { prompt: 'a cat' }, 'passthrough'],
    ['an empty object on the chat endpoint, by path (its schema then refuses it)', '/v1/chat/completions', {}, 'openai-chat'],
    ['an empty object elsewhere, as passthrough', '/llm/anything', {}, 'passthrough'],
    ['Gemini generateContent on /v1beta', '/v1beta/models/gemini-2.5-flash:generateContent', { contents: [] }, 'google-genai'],
    ['Gemini streamGenerateContent on /v1 (the SDK default)', '/v1/models/gemini-2.5-flash:streamGenerateContent', { contents: [] }, 'google-genai'],
    ['a Vertex publisher path, by path even with messages', '/v1/projects/p/locations/l/publishers/google/models/m:generateContent', { messages }, 'google-genai'],
    ['Gemini countTokens, as passthrough', '/v1beta/models/gemini-2.5-flash:countTokens', { contents: [] }, 'passthrough'],
  ];
  for (const [what, path, body, expected] of cases) {
    it(`detects ${what} → ${expected}`, () => {
      assert.equal(detectProtocol(path, body), expected);
    });
  }

  it('has a client protocol for openai-chat, openai-embeddings and passthrough', () => {
    for (const name of ['openai-chat', 'openai-embeddings', 'passthrough'] as const) {
      assert.equal(clientProtocol(name)?.name, name);
    }
  });
});

describe('errorShapeForPath', () => {
  const cases: Array<[string, 'openai' | 'anthropic' | 'bedrock' | 'google']> = [
    ['/v1beta/models/gemini-2.5-flash:generateContent', 'google'],
    ['/v1/models/gemini-2.5-flash:streamGenerateContent', 'google'],
    ['/model/m/converse', 'bedrock'],
    ['/model/m/converse-stream', 'bedrock'],
    ['/v1/messages', 'anthropic'],
    ['/proxy/v1/messages', 'anthropic'],
    ['/v1/chat/completions', 'openai'],
    ['/v1/embeddings', 'openai'],
    ['/v1/responses', 'openai'],
    ['/unknown', 'openai'],
  ];
  for (const [path, shape] of cases) {
    it(`answers errors on ${path} in the ${shape} shape`, () => {
      assert.equal(errorShapeForPath(path), shape);
    });
  }
});

describe('google-genai paths', () => {
  it('read the model and streaming from the path, whatever the body says', () => {
    const p = clientProtocol('google-genai');
    assert.equal(p.requestModel({ model: 'other' }, '/v1beta/models/gemini-2.5-flash:streamGenerateContent'), 'gemini-2.5-flash');
    assert.equal(p.requestModel({}, '/v1/projects/p/locations/l/publishers/google/models/gemini%2D2.0:generateContent'), 'gemini-2.0');
    assert.equal(p.isStream({ stream: true }, '/v1beta/models/m:generateContent'), false);
    assert.equal(p.isStream({}, '/v1beta/models/m:streamGenerateContent'), true);
  });
});
