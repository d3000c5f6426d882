import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { deepFreeze } from '../../../lib/config/normalise.ts';
import { ProtocolNotSupportedError } from '../../../lib/errors.ts';
import type { ClientEvent, ConversionContext, Converter, UpstreamEvent } from '../../../lib/protocols/converters/converter.ts';
import { findConverter } from '../../../lib/protocols/converters/registry.ts';
import type { JsonObject } from '../../../lib/protocols/types.ts';
import { isJsonObject } from '../../../lib/protocols/types.ts';
import { encodeEventStreamException, encodeEventStreamMessage } from '../../../lib/transport/aws-event-stream.ts';
import { checkConvertedStream, clientStream, decodeStream } from '../../support/converted-stream.ts';
import { checkConvertedRequest, checkConvertedResponse } from '../../support/protocol-invariants.ts';

// OpenAI Responses clients served by Anthropic Messages and Bedrock Converse providers (composed
// through the Chat pivot, docs/protocols.md#composed-conversions). Table-driven over the recorded
// provider answers and streams the other converter specs use (spec/fixtures/converters/), each case
// held to both protocols' rules (spec/support/), plus the mappings only this pair has.

const FIXTURES = new URL('../../fixtures/converters/', import.meta.url).pathname;
const readJson = (path: string): unknown => JSON.parse(readFileSync(path, 'utf8'));
const files = (dir: string, suffix: string): string[] => readdirSync(dir).filter((f) => f.endsWith(suffix)).sort();

function converter(to: 'anthropic-messages' | 'bedrock-converse'): Converter {
  const found = findConverter('openai-responses', to);
  assert.ok(found, `a converter openai-responses → ${to}`);
  return found;
}
const toAnthropic = converter('anthropic-messages');
const toBedrock = converter('bedrock-converse');

const ctx = (request?: JsonObject, stream = false): ConversionContext => ({ model: 'claude-x', stream, ...(request ? { request } : {}) });

/** Recorded Anthropic SSE streams (the first line of each file says what it records). */
function anthropicStreams(): Array<[string, UpstreamEvent[]]> {
  const dir = join(FIXTURES, 'anthropic-openai/openai-to-anthropic/streams');
  return files(dir, '.upstream.txt').map((f) => [f, decodeStream('anthropic-messages', readFileSync(join(dir, f)))]);
}

/** Recorded ConverseStream events, encoded to real event-stream bytes and decoded again. */
function bedrockStreams(): Array<[string, UpstreamEvent[]]> {
  const dir = join(FIXTURES, 'bedrock/converse-streams');
  return files(dir, '.json').map((f) => {
    const events = readJson(join(dir, f)) as Array<[string, JsonObject]>;
    const bytes = Buffer.concat(
      events.map(([type, payload]) =>
        type.startsWith('exception:') ? encodeEventStreamException(type.slice('exception:'.length), String(payload['message'])) : encodeEventStreamMessage(type, payload),
      ),
    );
    return [f, decodeStream('bedrock-converse', bytes)];
  });
}

function anthropicAnswers(): Array<[string, JsonObject]> {
  const dir = join(FIXTURES, 'anthropic-openai/openai-to-anthropic/responses');
  return files(dir, '.json').map((f) => [f, (readJson(join(dir, f)) as JsonObject)['input'] as JsonObject]);
}

function bedrockAnswers(): Array<[string, JsonObject]> {
  const cases = readJson(join(FIXTURES, 'bedrock/openai-chat-to-bedrock-converse/responses.json')) as JsonObject[];
  return cases.map((c) => [String(c['name']), c['input'] as JsonObject]);
}

const WEATHER_TOOL = {
  type: 'function',
  name: 'get_weather',
  description: 'Weather of a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  strict: true,
};

/** A Responses tool round trip: the call the model made and its output come back as history. */
const TOOL_ROUND_TRIP: JsonObject = {
  model: 'gpt-5',
  instructions: 'Be brief.',
  input: [
    { role: 'user', content: 'Weather in Paris?' },
    { type: 'reasoning', id: 'rs_1', summary: [{ type: 'summary_text', text: 'I should call the tool.' }] },
    { type: 'function_call', id: 'fc_1', call_id: 'toolu_1', name: 'get_weather', arguments: '{"city":"Paris"}', status: 'completed' },
    { type: 'function_call_output', call_id: 'toolu_1', output: '{"tempC":21}' },
  ],
  tools: [WEATHER_TOOL],
  max_output_tokens: 20000,
  reasoning: { effort: 'high' },
};

describe('openai-responses → anthropic-messages / bedrock-converse requests', () => {
  it('are registered for both providers, with streams', () => {
    assert.equal(typeof toAnthropic.stream, 'function');
    assert.equal(typeof toBedrock.stream, 'function');
  });

  it('send a tool round trip to Anthropic as tool_use / tool_result blocks, instructions as system', () => {
    const out = toAnthropic.request(deepFreeze(structuredClone(TOOL_ROUND_TRIP)), ctx());
    checkConvertedRequest(toAnthropic, TOOL_ROUND_TRIP, out);
    assert.equal(out['system'], 'Be brief.');
    assert.deepEqual(out['tools'], [{ name: 'get_weather', description: 'Weather of a city', input_schema: WEATHER_TOOL.parameters }]);
    assert.deepEqual(blocks(out['messages']), [
      { role: 'user', content: [{ type: 'text', text: 'Weather in Paris?' }] },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: '{"tempC":21}' }] },
    ]);
    // The last assistant turn used a tool and carries no signed thinking: Anthropic would refuse thinking.
    assert.equal(out['thinking'], undefined);
  });

  it('send the same round trip to Bedrock as toolUse / toolResult blocks', () => {
    const out = toBedrock.request(deepFreeze(structuredClone(TOOL_ROUND_TRIP)), { model: 'anthropic.claude-sonnet-4', stream: true });
    checkConvertedRequest(toBedrock, TOOL_ROUND_TRIP, out);
    assert.deepEqual(out['system'], [{ text: 'Be brief.' }]);
    const messages = out['messages'] as JsonObject[];
    assert.deepEqual(messages.map((m) => m['role']), ['user', 'assistant', 'user']);
    assert.deepEqual((messages[1]?.['content'] as JsonObject[])[0], { toolUse: { toolUseId: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } } });
    const result = (messages[2]?.['content'] as JsonObject[])[0]?.['toolResult'] as JsonObject;
    assert.equal(result['toolUseId'], 'toolu_1');
    assert.equal(out['additionalModelRequestFields'], undefined, 'no thinking in a tool loop without signed thinking');
  });

  const efforts: Array<[string, number | undefined, JsonObject | undefined, number]> = [
    ['minimal', undefined, { type: 'enabled', budget_tokens: 1024 }, 4096 + 1024],
    ['low', undefined, { type: 'enabled', budget_tokens: 2048 }, 4096 + 2048],
    ['medium', 30000, { type: 'enabled', budget_tokens: 8192 }, 30000],
    ['high', 20000, { type: 'enabled', budget_tokens: 10000 }, 20000],
    ['high', 1500, undefined, 1500],
    ['none', undefined, undefined, 4096],
  ];
  for (const [effort, limit, thinking, maxTokens] of efforts) {
    const body: JsonObject = { model: 'gpt-5', input: 'Prove it.', reasoning: { effort }, temperature: 0.5 };
    if (limit !== undefined) body['max_output_tokens'] = limit;
    it(`maps reasoning.effort ${effort} (max_output_tokens ${String(limit)}) to Anthropic thinking ${JSON.stringify(thinking)}`, () => {
      const out = toAnthropic.request(deepFreeze(structuredClone(body)), ctx());
      checkConvertedRequest(toAnthropic, body, out);
      assert.deepEqual(out['thinking'], thinking);
      assert.equal(out['max_tokens'], maxTokens);
      assert.equal(out['temperature'], thinking ? undefined : 0.5, 'thinking takes no temperature');
    });
    it(`maps reasoning.effort ${effort} (max_output_tokens ${String(limit)}) to Claude-on-Bedrock thinking`, () => {
      const out = toBedrock.request(deepFreeze(structuredClone(body)), { model: 'us.anthropic.claude-sonnet-4-20250514-v1:0', stream: false });
      checkConvertedRequest(toBedrock, body, out);
      assert.deepEqual(out['additionalModelRequestFields'], thinking ? { thinking } : undefined);
      if (thinking) assert.deepEqual(out['inferenceConfig'], { maxTokens }, 'maxTokens leaves room above the budget; no temperature');
    });
  }

  it('sends no thinking control to a Bedrock model that is not Claude', () => {
    const out = toBedrock.request({ input: 'Prove it.', reasoning: { effort: 'high' } }, { model: 'amazon.nova-pro-v1:0', stream: false });
    assert.equal(out['additionalModelRequestFields'], undefined);
  });

  it('converts every recorded Responses request a chat provider accepts, or refuses it with a 400', () => {
    const dir = join(FIXTURES, 'responses/request');
    let converted = 0;
    for (const f of files(dir, '.json')) {
      const client = (readJson(join(dir, f)) as JsonObject)['client'] as JsonObject;
      for (const c of [toAnthropic, toBedrock]) {
        try {
          checkConvertedRequest(c, client, c.request(deepFreeze(structuredClone(client)), ctx()));
          converted++;
        } catch (err) {
          assert.ok(err instanceof ProtocolNotSupportedError && err.status === 400, `${f} → ${c.to}: ${String(err)}`);
        }
      }
    }
    assert.ok(converted >= 4, `${converted} recorded requests converted`);
  });

  it('refuses what neither provider can honour, with a 400', () => {
    for (const c of [toAnthropic, toBedrock]) {
      for (const body of [{ input: 'hi', previous_response_id: 'resp_1' }, { input: 'hi', tools: [{ type: 'web_search' }] }]) {
        assert.throws(() => c.request(body, ctx()), (err: unknown) => err instanceof ProtocolNotSupportedError && err.status === 400);
      }
    }
  });
});

/** Anthropic content as the converter writes it, a lone string read as one text block. */
function blocks(messages: unknown): unknown {
  return (messages as JsonObject[]).map((m) => ({ ...m, content: typeof m['content'] === 'string' ? [{ type: 'text', text: m['content'] }] : m['content'] }));
}

describe('anthropic-messages / bedrock-converse answers → a Response', () => {
  for (const [name, answer] of anthropicAnswers()) {
    it(`converts the Anthropic answer ${name} and holds it to the Responses rules`, () => {
      checkConvertedResponse(toAnthropic, answer, toAnthropic.response(deepFreeze(structuredClone(answer)), ctx()));
    });
  }
  for (const [name, answer] of bedrockAnswers()) {
    it(`converts the Bedrock answer "${name}" and holds it to the Responses rules`, () => {
      checkConvertedResponse(toBedrock, answer, toBedrock.response(deepFreeze(structuredClone(answer)), ctx()));
    });
  }

  const anthropicStops: Array<[string, string, string | null]> = [
    ['end_turn', 'completed', null],
    ['stop_sequence', 'completed', null],
    ['tool_use', 'completed', null],
    ['max_tokens', 'incomplete', 'max_output_tokens'],
    ['model_context_window_exceeded', 'incomplete', 'max_output_tokens'],
    ['refusal', 'incomplete', 'content_filter'],
  ];
  for (const [stop, status, reason] of anthropicStops) {
    it(`maps Anthropic stop_reason ${stop} to status ${status}${reason ? ` (${reason})` : ''}`, () => {
      const content = stop === 'tool_use' ? [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }] : [{ type: 'text', text: 'Hi' }];
      const answer = { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-x', content, stop_reason: stop, stop_sequence: stop === 'stop_sequence' ? 'END' : null, usage: { input_tokens: 5, output_tokens: 2 } };
      const out = toAnthropic.response(answer, ctx());
      checkConvertedResponse(toAnthropic, answer, out);
      assert.equal(out['status'], status);
      assert.deepEqual(out['incomplete_details'], reason ? { reason } : null);
    });
  }

  const bedrockStops: Array<[string, string, string | null]> = [
    ['end_turn', 'completed', null],
    ['tool_use', 'completed', null],
    ['max_tokens', 'incomplete', 'max_output_tokens'],
    ['guardrail_intervened', 'incomplete', 'content_filter'],
    ['content_filtered', 'incomplete', 'content_filter'],
  ];
  for (const [stop, status, reason] of bedrockStops) {
    it(`maps Bedrock stopReason ${stop} to status ${status}${reason ? ` (${reason})` : ''}`, () => {
      const content = stop === 'tool_use' ? [{ toolUse: { toolUseId: 'tooluse_1', name: 'get_weather', input: { city: 'Paris' } } }] : [{ text: 'Hi' }];
      const answer = { output: { message: { role: 'assistant', content } }, stopReason: stop, usage: { inputTokens: 5, outputTokens: 2, totalTokens: 7 } };
      const out = toBedrock.response(answer, ctx());
      checkConvertedResponse(toBedrock, answer, out);
      assert.equal(out['status'], status);
      assert.deepEqual(out['incomplete_details'], reason ? { reason } : null);
    });
  }

  it('gives text, a function_call item, usage and the client\'s own tools back', () => {
    const answer = {
      id: 'msg_01',
      type: 'message',
      role: 'assistant',
      model: 'claude-x',
      content: [
        { type: 'thinking', thinking: 'Paris, so call the tool.', signature: 'sig-real' },
        { type: 'text', text: 'Checking.' },
        { type: 'tool_use', id: 'toolu_9', name: 'get_weather', input: { city: 'Paris' } },
      ],
      stop_reason: 'tool_use',
      usage: { input_tokens: 100, output_tokens: 20, cache_read_input_tokens: 50 },
    };
    const request = { model: 'gpt-5', input: 'Weather?', tools: [WEATHER_TOOL], tool_choice: 'required' };
    const out = toAnthropic.response(answer, ctx(request));
    checkConvertedResponse(toAnthropic, answer, out);
    assert.deepEqual(out['tools'], [WEATHER_TOOL], 'the tools the client sent, not []');
    assert.equal(out['tool_choice'], 'required');
    const output = out['output'] as JsonObject[];
    assert.deepEqual(output.map((o) => o['type']), ['reasoning', 'message', 'function_call']);
    assert.deepEqual(output[0]?.['summary'], [{ type: 'summary_text', text: 'Paris, so call the tool.' }]);
    assert.equal(output[0]?.['encrypted_content'], undefined, 'nothing the gateway would have to sign');
    assert.deepEqual((output[1]?.['content'] as JsonObject[])[0], { type: 'output_text', text: 'Checking.', annotations: [] });
    assert.deepEqual({ ...output[2], id: undefined }, { id: undefined, type: 'function_call', status: 'completed', arguments: '{"city":"Paris"}', call_id: 'toolu_9', name: 'get_weather' });
    assert.deepEqual(out['usage'], {
      input_tokens: 150,
      input_tokens_details: { cached_tokens: 50 },
      output_tokens: 20,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 170,
    });
  });

  it('echoes the API defaults when the client sent no tools', () => {
    const out = toBedrock.response({ output: { message: { role: 'assistant', content: [{ text: 'Hi' }] } }, stopReason: 'end_turn' }, ctx({ input: 'Hi' }));
    assert.deepEqual([out['tools'], out['tool_choice'], out['parallel_tool_calls']], [[], 'auto', true]);
  });
});

function types(events: readonly ClientEvent[]): string[] {
  return events.map((e) => (isJsonObject(e.data) ? String(e.data['type']) : String(e.data)));
}

describe('anthropic-messages / bedrock-converse streams → Responses events', () => {
  for (const [name, upstream] of anthropicStreams()) {
    it(`converts the Anthropic stream ${name}: legal order, items closed, ids paired, same reply`, () => {
      checkConvertedStream(toAnthropic, ctx(undefined, true), upstream);
    });
  }
  for (const [name, upstream] of bedrockStreams()) {
    it(`converts the Bedrock stream ${name}: legal order, items closed, ids paired, same reply`, () => {
      checkConvertedStream(toBedrock, ctx(undefined, true), upstream);
    });
  }

  it('streams Anthropic thinking as a reasoning summary before the message', () => {
    const [, upstream] = anthropicStreams().find(([n]) => n.startsWith('thinking')) ?? ['', []];
    const events = clientStream(toAnthropic, ctx(undefined, true), upstream);
    const seen = types(events);
    const at = (t: string): number => seen.indexOf(t);
    assert.ok(at('response.reasoning_summary_text.delta') > at('response.reasoning_summary_part.added'));
    assert.ok(at('response.reasoning_summary_part.done') < at('response.output_text.delta'), 'the reasoning item closes before the text starts');
    const last = events.at(-1)?.data as JsonObject;
    assert.equal(last['type'], 'response.incomplete');
    assert.deepEqual((last['response'] as JsonObject)['incomplete_details'], { reason: 'max_output_tokens' });
  });

  it('streams Bedrock reasoning as a reasoning summary', () => {
    const [, upstream] = bedrockStreams().find(([n]) => n === 'reasoning.json') ?? ['', []];
    const events = clientStream(toBedrock, ctx(undefined, true), upstream);
    const done = events.find((e) => isJsonObject(e.data) && e.data['type'] === 'response.completed')?.data as JsonObject;
    const output = (done['response'] as JsonObject)['output'] as JsonObject[];
    assert.deepEqual(output[0]?.['summary'], [{ type: 'summary_text', text: 'Let me think step by step.' }]);
    assert.equal(output[1]?.['type'], 'message');
  });

  it('ends with error and response.failed when the provider fails mid-stream', () => {
    for (const [c, streams, name] of [[toAnthropic, anthropicStreams(), 'overloaded-mid-stream.upstream.txt'], [toBedrock, bedrockStreams(), 'exception-mid-stream.json']] as const) {
      const upstream = streams.find(([n]) => n === name)?.[1] ?? [];
      const seen = types(clientStream(c, ctx(undefined, true), upstream));
      assert.deepEqual(seen.slice(-2), ['error', 'response.failed'], `${c.to}: ${seen.join(', ')}`);
    }
  });

  it('echoes the client\'s tools in response.created and response.completed', () => {
    const [, upstream] = anthropicStreams().find(([n]) => n.startsWith('tool-use')) ?? ['', []];
    const request = { input: 'Weather?', tools: [WEATHER_TOOL] };
    const events = clientStream(toAnthropic, ctx(request, true), upstream);
    for (const type of ['response.created', 'response.completed']) {
      const e = events.find((x) => isJsonObject(x.data) && x.data['type'] === type)?.data as JsonObject;
      assert.deepEqual((e['response'] as JsonObject)['tools'], [WEATHER_TOOL], type);
    }
  });
});
