import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deepFreeze } from '../../../lib/config/normalise.ts';
import { ProtocolNotSupportedError } from '../../../lib/errors.ts';
import type { ClientEvent, ConversionContext, Converter } from '../../../lib/protocols/converters/converter.ts';
import { googleGenaiToOpenaiChat } from '../../../lib/protocols/converters/google-genai-to-openai-chat.ts';
import { openaiChatToGoogleGenai } from '../../../lib/protocols/converters/openai-chat-to-google-genai.ts';
import { findConverter } from '../../../lib/protocols/converters/registry.ts';
import type { JsonObject } from '../../../lib/protocols/types.ts';
import { isJsonObject } from '../../../lib/protocols/types.ts';
import { conversationOf } from '../../support/conversation-view.ts';
import { checkConvertedStream, clientStream } from '../../support/converted-stream.ts';
import { checkConvertedRequest, checkConvertedResponse, checkRequestBody, checkResponseBody } from '../../support/protocol-invariants.ts';
import { replyOf } from '../../support/reply-view.ts';
import { checkStream } from '../../support/stream-invariants.ts';

// Table-driven over spec/fixtures/converters/google-genai/: <converter>/{requests,responses}.json hold
// [{name, ctx, input, output | error}], streams/<converter>/<case>.json {it, ctx, upstream (SSE data
// payloads), expected}. UPDATE_FIXTURES=1 rewrites the expected outputs; the protocol and stream
// invariants still run on every case, so a regenerated file cannot hide a broken body.

const ROOT = new URL('../../fixtures/converters/google-genai/', import.meta.url).pathname;
const UPDATE = process.env['UPDATE_FIXTURES'] === '1';
const converters: Converter[] = [googleGenaiToOpenaiChat, openaiChatToGoogleGenai];

interface Case {
  name: string;
  ctx: ConversionContext;
  input: JsonObject;
  output?: JsonObject;
  error?: string;
}
interface StreamCase {
  it: string;
  ctx: ConversionContext;
  upstream: string[];
  expected?: ClientEvent[];
}

const readJson = (path: string): unknown => JSON.parse(readFileSync(path, 'utf8'));
const writeJson = (path: string, value: unknown): void => writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);

/** Minted ids and timestamps differ per call; fixtures hold fixed stand-ins. */
function normalise(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalise);
  if (!isJsonObject(value)) return value;
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(value)) out[k] = normalise(v);
  if (typeof out['object'] === 'string' && out['object'].startsWith('chat.completion')) {
    out['id'] = 'chatcmpl-ID';
    out['created'] = 0;
  }
  if (typeof out['responseId'] === 'string' && /^[0-9a-f]{32}$|^[0-9a-f-]{36}$/.test(out['responseId'])) out['responseId'] = 'RESPONSE-ID';
  return out;
}

function dirOf(c: Converter): string {
  return `${c.from}-to-${c.to}`;
}

for (const converter of converters) {
  describe(`${converter.from} → ${converter.to} on golden cases`, () => {
    for (const kind of ['requests', 'responses'] as const) {
      const file = join(ROOT, dirOf(converter), `${kind}.json`);
      const cases = readJson(file) as Case[];
      let dirty = false;
      after(() => {
        if (UPDATE && dirty) writeJson(file, cases);
      });
      for (const c of cases) {
        it(`${kind === 'requests' ? 'request' : 'response'}: ${c.name}`, () => {
          const input = deepFreeze(structuredClone(c.input));
          const run = () => (kind === 'requests' ? converter.request(input, c.ctx) : converter.response(input, c.ctx));
          if (c.error !== undefined) {
            assert.throws(run, (err: unknown) => err instanceof ProtocolNotSupportedError && err.message.includes(c.error as string));
            return;
          }
          const out = run();
          if (kind === 'requests') checkConvertedRequest(converter, c.input, out);
          else checkConvertedResponse(converter, c.input, out);
          if (UPDATE) {
            c.output = normalise(out) as JsonObject;
            dirty = true;
          }
          assert.deepEqual(normalise(out), c.output);
        });
      }
    }

    const streamDir = join(ROOT, 'streams', dirOf(converter));
    for (const name of readdirSync(streamDir).filter((f) => f.endsWith('.json')).sort()) {
      const path = join(streamDir, name);
      const c = readJson(path) as StreamCase;
      it(`stream ${name}: ${c.it}`, () => {
        const upstream = c.upstream.map((data) => ({ data }));
        const events = clientStream(converter, c.ctx, upstream);
        checkConvertedStream(converter, c.ctx, upstream);
        if (UPDATE) writeJson(path, { ...c, expected: normalise(events) });
        else assert.deepEqual(normalise(events), c.expected);
      });
    }
  });
}

describe('google-genai conversions beyond the golden files', () => {
  const ctx = { model: 'gpt-4o-mini', stream: false };

  it('mints a distinct id for each id-less Gemini call, and the responses after it take the same ids', () => {
    const body = readJson(join(ROOT, 'google-genai-to-openai-chat', 'requests.json')) as Case[];
    const input = (body.find((c) => c.name.includes('id-less')) as Case).input;
    const out = googleGenaiToOpenaiChat.request(input, ctx) as { messages: Array<Record<string, any>> };
    const ids = out.messages[1]?.['tool_calls'].map((c: { id: string }) => c.id);
    assert.equal(new Set(ids).size, 2);
    // The responses came in the other order: each pairs with its call by name.
    assert.deepEqual(out.messages.slice(2, 4).map((m) => [m['tool_call_id'], m['content']]), [
      [ids[1], '9:00'],
      [ids[0], '{"temperature":21,"unit":"C"}'],
    ]);
  });

  it('mints an id for a Gemini answer that calls a function without one (chat clients must have ids)', () => {
    const answer = { candidates: [{ content: { role: 'model', parts: [{ functionCall: { name: 'a', args: {} } }, { functionCall: { name: 'b', args: {} } }] }, finishReason: 'STOP' }] };
    const out = openaiChatToGoogleGenai.response(answer, ctx) as { choices: Array<{ message: { tool_calls: Array<{ id: string }> }; finish_reason: string }> };
    const ids = out.choices[0]?.message.tool_calls.map((c) => c.id) ?? [];
    assert.equal(ids.length, 2);
    assert.ok(ids.every((id) => /^call_[0-9a-f]{24}$/.test(id)) && ids[0] !== ids[1], ids.join());
    assert.equal(out.choices[0]?.finish_reason, 'tool_calls');
  });

  it('keeps a stream that never sends a finish reason open-ended: end() closes it with STOP and no usage', () => {
    const chunk = JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content: 'Hi' }, finish_reason: null }] });
    const stream = googleGenaiToOpenaiChat.stream?.(ctx);
    assert.ok(stream);
    const events = [...stream.push({ data: chunk }), ...stream.end()];
    const summary = checkStream('google-genai', events);
    assert.deepEqual(summary.reply, { text: 'Hi', calls: [], stop: 'stop' });
  });

  it('never mutates its input (a fallback converts the same body again)', () => {
    for (const converter of converters) {
      for (const c of readJson(join(ROOT, dirOf(converter), 'requests.json')) as Case[]) {
        if (c.error === undefined) converter.request(deepFreeze(structuredClone(c.input)), c.ctx);
      }
    }
  });
});

// The pairs joined through OpenAI chat: every golden Google request reaches Anthropic and Bedrock as a
// body their APIs accept, keeping the conversation; every golden chat answer and stream comes back.
describe('google-genai through OpenAI chat to Anthropic, Bedrock and Responses', () => {
  const goldenGoogle = (readJson(join(ROOT, 'google-genai-to-openai-chat', 'requests.json')) as Case[]).filter((c) => c.error === undefined);
  // Media and JSON schemas have their own rules per target (tested with those converters).
  const mediaFree = goldenGoogle.filter((c) => !JSON.stringify(c.input).match(/inlineData|inline_data|fileData|responseMimeType/));

  for (const to of ['anthropic-messages', 'bedrock-converse'] as const) {
    const converter = findConverter('google-genai', to) as Converter;
    for (const c of mediaFree) {
      it(`google-genai → ${to}: ${c.name}`, () => {
        const out = converter.request(deepFreeze(structuredClone(c.input)), { ...c.ctx, model: 'model-x' });
        checkRequestBody(to, out, { strict: true });
        const back = conversationOf(to, out);
        const original = conversationOf('google-genai', c.input);
        assert.deepEqual(back.turns.map((t) => t.calls.map((x) => x.name)), original.turns.map((t) => t.calls.map((x) => x.name)), 'tool calls per turn');
        assert.equal(back.turns.flatMap((t) => t.results).length, original.turns.flatMap((t) => t.results).length, 'tool results');
      });
    }
  }

  const clients = ['anthropic-messages', 'bedrock-converse', 'openai-responses'] as const;
  const goldenAnswers = (readJson(join(ROOT, 'openai-chat-to-google-genai', 'responses.json')) as Case[]).filter((c) => c.error === undefined);
  for (const from of clients) {
    const converter = findConverter(from, 'google-genai') as Converter;
    for (const c of goldenAnswers) {
      it(`${from} ← google-genai answer: ${c.name}`, () => {
        const out = converter.response(deepFreeze(structuredClone(c.input)), c.ctx);
        if (from !== 'openai-responses' || c.input['candidates'] !== undefined) checkResponseBody(from, out, { strict: true });
        const want = replyOf('google-genai', c.input);
        const got = replyOf(from, out);
        assert.equal(got.text, want.text);
        assert.deepEqual(got.calls.map((x) => [x.name, x.input]), want.calls.map((x) => [x.name, x.input]));
      });
    }
    const streamDir = join(ROOT, 'streams', 'openai-chat-to-google-genai');
    for (const name of readdirSync(streamDir).filter((f) => f.endsWith('.json')).sort()) {
      const c = readJson(join(streamDir, name)) as StreamCase;
      it(`${from} ← google-genai stream ${name}`, () => {
        checkConvertedStream(converter, c.ctx, c.upstream.map((data) => ({ data })));
      });
    }
  }

  it('builds a Bedrock request from a Google one with the model nowhere in the body', () => {
    const out = (findConverter('google-genai', 'bedrock-converse') as Converter).request({ contents: [{ role: 'user', parts: [{ text: 'Hi' }] }] }, { model: 'm', stream: true });
    assert.deepEqual(out['messages'], [{ role: 'user', content: [{ text: 'Hi' }] }]);
  });
});
