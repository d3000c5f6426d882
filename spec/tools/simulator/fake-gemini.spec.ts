import assert from 'node:assert/strict';
import { request } from 'undici';
import type { FakeGemini } from '../../../tools/simulator/fake-gemini.ts';
import { startFakeGemini } from '../../../tools/simulator/fake-gemini.ts';
import { createSseDecoder } from '../../../lib/transport/sse-decoder.ts';

// The fake over real HTTP: it must refuse what Gemini refuses, or the integration specs prove nothing
// about the native wire format (docs/protocols.md#google-genai).
const KEY = 'AIza-fake-key';
const body = { contents: [{ role: 'user', parts: [{ text: 'Hello' }] }] };

describe('fake Gemini (native generateContent)', () => {
  let fake: FakeGemini;
  before(async () => {
    fake = await startFakeGemini({ apiKey: KEY, behavior: { kind: 'ok', content: 'Hi there, friend.', chunks: 3 } });
  });
  after(() => fake.close());

  async function post(path: string, json: unknown, headers: Record<string, string> = { 'x-goog-api-key': KEY }) {
    const res = await request(`${fake.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(json) });
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
  }

  it('answers generateContent with a candidate, STOP and consistent usage', async () => {
    const res = await post('/v1beta/models/gemini-2.5-flash:generateContent', body);
    assert.equal(res.status, 200);
    const answer = JSON.parse(res.text);
    assert.equal(answer.candidates[0].content.parts[0].text, 'Hi there, friend.');
    assert.equal(answer.candidates[0].finishReason, 'STOP');
    const u = answer.usageMetadata;
    assert.equal(u.totalTokenCount, u.promptTokenCount + u.candidatesTokenCount);
    assert.equal(answer.modelVersion, 'gemini-2.5-flash');
  });

  it('streams SSE chunks with alt=sse, the finishReason on the last, and takes ?key= too', async () => {
    const res = await post(`/v1beta/models/m:streamGenerateContent?alt=sse&key=${KEY}`, body, {});
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /text\/event-stream/);
    const decoder = createSseDecoder();
    const chunks = [...decoder.push(Buffer.from(res.text)), ...decoder.end()].map((e) => JSON.parse(e.data));
    assert.equal(chunks.length, 3);
    assert.equal(chunks.map((c) => c.candidates[0].content.parts[0]?.text ?? '').join(''), 'Hi there, friend.');
    assert.deepEqual(chunks.map((c) => c.candidates[0].finishReason ?? null), [null, null, 'STOP']);
  });

  const refusals: Array<[string, string, unknown, Record<string, string> | undefined, number, RegExp]> = [
    ['a wrong key', '/v1beta/models/m:generateContent', body, { 'x-goog-api-key': 'other' }, 400, /API key not valid/],
    ['no key', '/v1beta/models/m:generateContent', body, {}, 400, /API key not valid/],
    ['a bearer token instead of a key', '/v1beta/models/m:generateContent', body, { authorization: `Bearer ${KEY}` }, 400, /API key not valid/],
    ['a model field in the body', '/v1beta/models/m:generateContent', { ...body, model: 'm' }, undefined, 400, /Unknown name "model"/],
    ['a stream field in the body', '/v1beta/models/m:generateContent', { ...body, stream: true }, undefined, 400, /Unknown name "stream"/],
    ['an OpenAI chat body', '/v1beta/models/m:generateContent', { messages: [{ role: 'user', content: 'hi' }] }, undefined, 400, /Unknown name "messages"/],
    ['an assistant role', '/v1beta/models/m:generateContent', { contents: [{ role: 'assistant', parts: [{ text: 'x' }] }] }, undefined, 400, /valid role/],
    ['a stream without alt=sse', '/v1beta/models/m:streamGenerateContent', body, undefined, 400, /alt=sse/],
    ['an OpenAI-compatible path', '/v1beta/openai/chat/completions', body, undefined, 404, /not found/],
  ];
  for (const [what, path, json, headers, status, message] of refusals) {
    it(`refuses ${what} with ${status} in Google's error shape`, async () => {
      const res = await post(path, json, headers);
      assert.equal(res.status, status);
      const error = JSON.parse(res.text).error;
      assert.equal(error.code, status);
      assert.match(error.message, message);
    });
  }
});
