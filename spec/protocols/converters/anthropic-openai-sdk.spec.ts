import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Anthropic, { APIError as AnthropicAPIError } from '@anthropic-ai/sdk';
import { APIError as OpenAIAPIError, OpenAI } from 'openai';
import type { ChatCompletion } from 'openai/resources/chat/completions';
import { startFakeAnthropic } from '../../../tools/simulator/fake-anthropic.ts';
import { directions, encodeAll, FIXTURES, jsonFixtures, runStream } from './anthropic-openai-support.ts';
import type { Direction } from './anthropic-openai-support.ts';

// The converted streams are read by the official SDKs' own accumulators: what a user of each SDK would
// get. Each final result must equal the converter's answer for the same content as one JSON body, so
// the stream and JSON paths can never tell a client two different things.

const [toAnthropicClient, toOpenAIClient] = directions as [Direction, Direction];

function upstream(d: Direction, name: string): Buffer {
  return readFileSync(join(FIXTURES, d.dir, 'streams', `${name}.upstream.txt`));
}

/** A fetch that answers every call with the converted stream as an SSE body. */
function serving(d: Direction, name: string): typeof fetch {
  const body = encodeAll(d, runStream(d, upstream(d, name)));
  return async () => new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
}

/** Drops undefined-valued keys and non-enumerable SDK bookkeeping, as a JSON client would see it. */
const plain = <T>(x: T): unknown => JSON.parse(JSON.stringify(x));

describe('anthropic ↔ openai converted streams, read by the official SDKs', () => {
  it('gives an Anthropic SDK stream user the same final message as the converted JSON completion', async () => {
    const client = new Anthropic({ apiKey: 'k', baseURL: 'http://sdk.test', maxRetries: 0, fetch: serving(toAnthropicClient, 'tool-calls-streamed') });
    const final = await client.messages.stream({ model: 'm', max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }] }).finalMessage();
    const completion = {
      id: 'chatcmpl-9',
      object: 'chat.completion',
      created: 1,
      model: 'gpt-4o',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: 'Checking.',
            tool_calls: [
              { id: 'call_abc', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
              { id: 'call_def', type: 'function', function: { name: 'get_time', arguments: '{"zone":"CET"}' } },
            ],
          },
          finish_reason: 'tool_calls',
        },
      ],
      usage: { prompt_tokens: 82, completion_tokens: 17, total_tokens: 99 },
    };
    // `parsed_output` is the SDK's own addition for structured outputs, not part of the wire message.
    const { parsed_output: _parsed, ...wire } = final;
    assert.deepEqual(plain(wire), toAnthropicClient.converter.response(completion, { model: undefined, stream: false }));
    assert.deepEqual(final.content[1], { type: 'tool_use', id: 'call_abc', name: 'get_weather', input: { city: 'Paris' } });
  });

  it('makes the Anthropic SDK throw the converted in-band error with its Anthropic type', async () => {
    const client = new Anthropic({ apiKey: 'k', baseURL: 'http://sdk.test', maxRetries: 0, fetch: serving(toAnthropicClient, 'error-mid-stream') });
    const stream = client.messages.stream({ model: 'm', max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }] });
    const texts: string[] = [];
    stream.on('text', (t) => texts.push(t));
    await assert.rejects(stream.finalMessage(), (err) => err instanceof AnthropicAPIError && err.type === 'api_error');
    assert.deepEqual(texts, ['Partial']);
  });

  it('gives an OpenAI SDK stream user the same final completion as the converted JSON message', async () => {
    const client = new OpenAI({ apiKey: 'k', baseURL: 'http://sdk.test', maxRetries: 0, fetch: serving(toOpenAIClient, 'tool-use') });
    const final = await client.chat.completions.stream({ model: 'm', messages: [{ role: 'user', content: 'Hi' }] }).finalChatCompletion();
    const message = {
      id: 'msg_019Q1hrJbZG26Fb9BQhrkHEr',
      type: 'message',
      role: 'assistant',
      model: 'claude-opus-4-8',
      content: [
        { type: 'text', text: "I'll check the current weather in Paris for you." },
        { type: 'tool_use', id: 'toolu_01NRLabsLyVHZPKxbKvkfSMn', name: 'get_weather', input: { location: 'Paris' } },
      ],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: { input_tokens: 377, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 65 },
    };
    const expected = plain(toOpenAIClient.converter.response(message, { model: undefined, stream: false })) as ChatCompletion;
    const got = final.choices[0];
    const want = expected.choices[0];
    assert.equal(final.id, expected.id);
    assert.equal(got?.message.content, want?.message.content);
    assert.equal(got?.finish_reason, 'tool_calls');
    const call = got?.message.tool_calls?.[0];
    const wantCall = want?.message.tool_calls?.[0];
    assert.ok(call?.type === 'function' && wantCall?.type === 'function');
    assert.equal(call.id, wantCall.id);
    assert.equal(call.function.name, wantCall.function.name);
    // The streamed fragments keep Anthropic's spacing; the JSON path re-serialises: same object either way.
    assert.deepEqual(JSON.parse(call.function.arguments), JSON.parse(wantCall.function.arguments));
    assert.deepEqual(plain(final.usage), expected.usage);
  });

  it('makes the OpenAI SDK throw on the converted in-band error after the text it already yielded', async () => {
    const client = new OpenAI({ apiKey: 'k', baseURL: 'http://sdk.test', maxRetries: 0, fetch: serving(toOpenAIClient, 'overloaded-mid-stream') });
    const stream = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'Hi' }], stream: true });
    const texts: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const chunk of stream) texts.push(chunk.choices[0]?.delta.content ?? '');
      })(),
      (err) => err instanceof OpenAIAPIError && /Overloaded/.test(err.message),
    );
    assert.equal(texts.join(''), 'Partial');
  });
});

describe('converted requests, sent with the official Anthropic SDK to the fake Anthropic API', () => {
  it('are all accepted: max_tokens present, roles valid, tool results first in their turn', async () => {
    const sim = await startFakeAnthropic({ behavior: { kind: 'ok', content: 'ok' } });
    try {
      const client = new Anthropic({ apiKey: 'k', baseURL: sim.url, maxRetries: 0 });
      const fixtures = jsonFixtures(toOpenAIClient.dir, 'requests').filter((f) => !f.error);
      for (const f of fixtures) {
        const body = toOpenAIClient.converter.request(f.input, { model: 'claude-x', stream: false });
        const answer = await client.messages.create(body as unknown as Anthropic.MessageCreateParamsNonStreaming);
        assert.equal(answer.model, 'claude-x', f.file);
      }
      assert.equal(sim.calls('/v1/messages'), fixtures.length);
    } finally {
      await sim.close();
    }
  });
});
