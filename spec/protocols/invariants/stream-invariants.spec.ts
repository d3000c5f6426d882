import assert from 'node:assert/strict';
import type { ClientEvent, Converter } from '../../../lib/protocols/converters/converter.ts';
import { findConverter } from '../../../lib/protocols/converters/registry.ts';
import type { WireProtocol } from '../../support/conversation-view.ts';
import { checkConvertedStream, clientStream } from '../../support/converted-stream.ts';
import { checkStream } from '../../support/stream-invariants.ts';

// Each stream-order invariant accepts a well-formed stream and rejects one broken in exactly the way
// it exists to catch, by its own message.

const anthropic = (type: string, rest: object = {}): ClientEvent => ({ event: type, data: { type, ...rest } });
const chunk = (delta: object, finish: string | null = null): ClientEvent => ({
  data: { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o', choices: [{ index: 0, delta, finish_reason: finish }] },
});
const converse = (event: string, data: object): ClientEvent => ({ event, data });
let seq = 0;
const responses = (type: string, rest: object = {}): ClientEvent => ({ event: type, data: { type, sequence_number: seq++, ...rest } });

const message = { type: 'message', id: 'msg_1', status: 'in_progress', role: 'assistant', content: [] };
const doneMessage = { ...message, status: 'completed', content: [{ type: 'output_text', text: 'Hi', annotations: [] }] };
const fc = { type: 'function_call', id: 'fc_1', call_id: 'call_1', name: 'get_weather', arguments: '', status: 'in_progress' };
const doneFc = { ...fc, arguments: '{"city":"Paris"}', status: 'completed' };
const response = (status: string, output: object[], usage: object | null = null) => ({ id: 'resp_1', object: 'response', status, incomplete_details: null, output, usage });

const gemini = (parts: object[], more: object = {}): ClientEvent => ({
  data: { candidates: [{ content: { role: 'model', parts }, index: 0, ...more }], modelVersion: 'gemini-2.5-flash', responseId: 'r1' },
});

const streams: Record<WireProtocol, ClientEvent[]> = {
  'google-genai': [
    gemini([{ text: 'Thinking about it.', thought: true }]),
    gemini([{ text: 'Checking.' }]),
    gemini([{ functionCall: { id: 'fc_1', name: 'get_weather', args: { city: 'Paris' } } }], { finishReason: 'STOP' }),
    { data: { modelVersion: 'gemini-2.5-flash', responseId: 'r1', usageMetadata: { promptTokenCount: 9, candidatesTokenCount: 5, totalTokenCount: 14 } } },
  ],
  'anthropic-messages': [
    anthropic('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'c', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 9, output_tokens: 0 } } }),
    anthropic('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
    anthropic('ping'),
    anthropic('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Checking.' } }),
    anthropic('content_block_stop', { index: 0 }),
    anthropic('content_block_start', { index: 1, content_block: { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: {} } }),
    anthropic('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: '{"city":' } }),
    anthropic('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: '"Paris"}' } }),
    anthropic('content_block_stop', { index: 1 }),
    anthropic('message_delta', { delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 5 } }),
    anthropic('message_stop'),
  ],
  'openai-chat': [
    chunk({ role: 'assistant', content: '' }),
    chunk({ content: 'Checking.' }),
    chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
    chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":"Paris"}' } }] }),
    chunk({}, 'tool_calls'),
    { data: { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o', choices: [], usage: { prompt_tokens: 9, completion_tokens: 5, total_tokens: 14 } } },
    { data: '[DONE]' },
  ],
  'bedrock-converse': [
    converse('messageStart', { role: 'assistant' }),
    converse('contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'Checking.' } }),
    converse('contentBlockStop', { contentBlockIndex: 0 }),
    converse('contentBlockStart', { contentBlockIndex: 1, start: { toolUse: { toolUseId: 'tooluse_1', name: 'get_weather' } } }),
    converse('contentBlockDelta', { contentBlockIndex: 1, delta: { toolUse: { input: '{"city":"Paris"}' } } }),
    converse('contentBlockStop', { contentBlockIndex: 1 }),
    converse('messageStop', { stopReason: 'tool_use' }),
    converse('metadata', { usage: { inputTokens: 9, outputTokens: 5, totalTokens: 14 }, metrics: { latencyMs: 1 } }),
  ],
  'openai-responses': [
    responses('response.created', { response: response('in_progress', []) }),
    responses('response.in_progress', { response: response('in_progress', []) }),
    responses('response.output_item.added', { output_index: 0, item: message }),
    responses('response.content_part.added', { item_id: 'msg_1', output_index: 0, content_index: 0, part: { type: 'output_text', text: '' } }),
    responses('response.output_text.delta', { item_id: 'msg_1', output_index: 0, content_index: 0, delta: 'Hi' }),
    responses('response.output_text.done', { item_id: 'msg_1', output_index: 0, content_index: 0, text: 'Hi' }),
    responses('response.content_part.done', { item_id: 'msg_1', output_index: 0, content_index: 0, part: { type: 'output_text', text: 'Hi' } }),
    responses('response.output_item.done', { output_index: 0, item: doneMessage }),
    responses('response.output_item.added', { output_index: 1, item: fc }),
    responses('response.function_call_arguments.delta', { item_id: 'fc_1', output_index: 1, delta: '{"city":"Paris"}' }),
    responses('response.function_call_arguments.done', { item_id: 'fc_1', output_index: 1, arguments: '{"city":"Paris"}' }),
    responses('response.output_item.done', { output_index: 1, item: doneFc }),
    responses('response.completed', { response: response('completed', [doneMessage, doneFc], { input_tokens: 9, output_tokens: 5, total_tokens: 14 }) }),
  ],
};

/** A copy of the sample changed in place by `change`; Responses events are then renumbered. */
function broken(protocol: WireProtocol, change: (events: any[]) => void): ClientEvent[] {
  const copy = structuredClone(streams[protocol]);
  change(copy);
  if (protocol === 'openai-responses') copy.forEach((e, i) => ((e.data as { sequence_number: number }).sequence_number = i));
  return copy;
}

describe('stream invariants', () => {
  for (const protocol of Object.keys(streams) as WireProtocol[]) {
    it(`accept a well-formed ${protocol} stream and read its text, tool call and stop reason`, () => {
      const { reply, ending } = checkStream(protocol, streams[protocol]);
      assert.equal(ending, 'complete');
      assert.deepEqual(reply.calls, [{ id: reply.calls[0]?.id, name: 'get_weather', input: { city: 'Paris' } }]);
      assert.ok(reply.text === 'Checking.' || reply.text === 'Hi');
      assert.equal(reply.stop, 'tool');
    });

    it(`reject an empty ${protocol} stream`, () => {
      assert.throws(() => checkStream(protocol, []), new RegExp(`an empty ${protocol} stream`));
    });
  }

  const cases: Array<[string, WireProtocol, (events: any[]) => void, RegExp]> = [
    ['content before message_start', 'anthropic-messages', (e) => e.shift(), /comes before message_start/],
    ['a block opened inside another', 'anthropic-messages', (e) => e.splice(4, 1), /content_block_start 1 while block 0 is open/],
    ['a block numbered out of order', 'anthropic-messages', (e) => e.slice(5, 9).forEach((x) => (x.data.index = 2)), /numbered 0, 1, 2/],
    ['a delta for a closed block', 'anthropic-messages', (e) => (e[6].data.index = 0), /block 0, which is not open/],
    ['a stop for another block', 'anthropic-messages', (e) => (e[8].data.index = 0), /content_block_stop for block 0/],
    ['a text delta in a tool_use block', 'anthropic-messages', (e) => (e[6].data.delta = { type: 'text_delta', text: 'x' }), /cannot go to a tool_use block/],
    ['tool input that is not JSON', 'anthropic-messages', (e) => e.splice(7, 1), /is not JSON/],
    ['message_delta while a block is open', 'anthropic-messages', (e) => e.splice(8, 1), /closed before message_delta/],
    ['message_stop without message_delta', 'anthropic-messages', (e) => e.splice(9, 1), /comes before message_stop/],
    ['an event after message_stop', 'anthropic-messages', (e) => e.push(e[2]), /follows the end of the stream/],
    ['a stream that never stops', 'anthropic-messages', (e) => e.pop(), /ends with message_stop or an error/],
    ['an event named other than its type', 'anthropic-messages', (e) => (e[1].event = 'message'), /named after its payload type/],
    ['an illegal stop reason', 'anthropic-messages', (e) => (e[9].data.delta.stop_reason = 'tool_calls'), /not a anthropic-messages stop reason/],
    ['a tool stop without tool calls', 'anthropic-messages', (e) => e.splice(5, 4), /announces tool calls it never sent/],
    ['a chunk with another id', 'openai-chat', (e) => (e[3].data.id = 'chatcmpl-2'), /same id/],
    ['a chunk with another model', 'openai-chat', (e) => (e[1].data.model = 'gpt-4'), /same model/],
    ['[DONE] before the end', 'openai-chat', (e) => e.splice(5, 0, { data: '[DONE]' }), /follows the end of the stream/],
    ['no [DONE]', 'openai-chat', (e) => e.pop(), /ends with \[DONE\] or an error/],
    ['a tool call index that skips one', 'openai-chat', (e) => e.slice(2, 4).forEach((x) => (x.data.choices[0].delta.tool_calls[0].index = 1)), /index 1 skips past 0/],
    ['a tool call without an id', 'openai-chat', (e) => delete e[2].data.choices[0].delta.tool_calls[0].id, /has its id, type and name/],
    ['a tool call whose id changes', 'openai-chat', (e) => (e[3].data.choices[0].delta.tool_calls[0].id = 'call_2'), /keeps its id/],
    ['arguments that are not JSON at the finish', 'openai-chat', (e) => (e[3].data.choices[0].delta.tool_calls[0].function.arguments = '{"city":'), /is not JSON/],
    ['an illegal finish_reason', 'openai-chat', (e) => (e[4].data.choices[0].finish_reason = 'tool_use'), /not a openai-chat stop reason/],
    ['content after the finish_reason', 'openai-chat', (e) => e.splice(5, 0, structuredClone(e[1])), /nothing follows the finish_reason/],
    ['a usage chunk with choices', 'openai-chat', (e) => (e[5].data.choices = e[1].data.choices), /usage chunk has no choices/],
    ['usage whose total is wrong', 'openai-chat', (e) => (e[5].data.usage.total_tokens = 15), /total_tokens = prompt_tokens/],
    ['an event name on a chat chunk', 'openai-chat', (e) => (e[1].event = 'message'), /have no event name/],
    ['a first chunk without the role', 'openai-chat', (e) => e.shift(), /first chunk gives the role/],
    ['content before messageStart', 'bedrock-converse', (e) => e.shift(), /starts with messageStart/],
    ['a delta after its block stopped', 'bedrock-converse', (e) => e.splice(3, 0, e[1]), /after its contentBlockStop/],
    ['a tool block opened without contentBlockStart', 'bedrock-converse', (e) => e.splice(3, 1), /opens with contentBlockStart/],
    ['a block numbered out of order', 'bedrock-converse', (e) => e.slice(3, 6).forEach((x) => (x.data.contentBlockIndex = 2)), /numbered 0, 1, 2/],
    ['messageStop with a block open', 'bedrock-converse', (e) => e.splice(5, 1), /stopped before messageStop/],
    ['metadata before messageStop', 'bedrock-converse', (e) => e.push(e.splice(6, 1)[0]), /metadata follows messageStop/],
    ['no metadata', 'bedrock-converse', (e) => e.pop(), /ends with metadata or an exception/],
    ['an event after metadata', 'bedrock-converse', (e) => e.push(e[6]), /follows the end of the stream/],
    ['an illegal stopReason', 'bedrock-converse', (e) => (e[6].data.stopReason = 'stop'), /not a bedrock-converse stop reason/],
    ['a totalTokens that is not the sum', 'bedrock-converse', (e) => (e[7].data.usage.totalTokens = 13), /totalTokens = inputTokens/],
    ['a tool id Bedrock would reject', 'bedrock-converse', (e) => (e[3].data.start.toolUse.toolUseId = ''), /Bedrock tool id/],
    ['content before response.created', 'openai-responses', (e) => e.shift(), /starts with response.created/],
    ['an item closed under another output_index', 'openai-responses', (e) => (e[7].data.output_index = 1), /not open/],
    ['an item added out of order', 'openai-responses', (e) => (e[8].data.output_index = 3), /numbered 0, 1, 2/],
    ['text done that differs from its deltas', 'openai-responses', (e) => (e[5].data.text = 'Hello'), /repeats the streamed text/],
    ['an item closed before its content part', 'openai-responses', (e) => e.splice(6, 1), /content parts close before their item/],
    ['response.completed with an item still open', 'openai-responses', (e) => e.splice(11, 1), /every output item is done/],
    ['response.completed listing other items', 'openai-responses', (e) => e[12].data.response.output.pop(), /lists the items the stream completed/],
    ['no terminal event', 'openai-responses', (e) => e.pop(), /ends with response.completed/],
    ['an event after response.completed', 'openai-responses', (e) => e.push(structuredClone(e[2])), /follows the end of the stream/],
    ['a Gemini event with a name', 'google-genai', (e) => (e[1].event = 'message'), /have no event name/],
    ['Gemini content after the finishReason', 'google-genai', (e) => e.splice(3, 0, structuredClone(e[1])), /content after the finishReason/],
    ['a Gemini stream without a finishReason', 'google-genai', (e) => delete e[2].data.candidates[0].finishReason, /ends with a finishReason or an error chunk/],
    ['a chunk with another responseId', 'google-genai', (e) => (e[1].data.responseId = 'r2'), /same responseId/],
    ['an error chunk without an HTTP code', 'google-genai', (e) => e.splice(2, 2, { data: { error: { message: 'x', status: 'INTERNAL' } } }), /has an HTTP code/],
    ['a chunk after the error chunk', 'google-genai', (e) => e.splice(2, 0, { data: { error: { code: 500, message: 'x', status: 'INTERNAL' } } }), /follows the error/],
    ['Gemini usage whose total is wrong', 'google-genai', (e) => (e[3].data.usageMetadata.totalTokenCount = 13), /totalTokenCount = prompt/],
    ['content after an error event', 'openai-responses', (e) => e.splice(5, 0, { event: 'error', data: { type: 'error', message: 'x' } }), /only response.failed follows an error/],
  ];
  for (const [what, protocol, change, message] of cases) {
    it(`reject ${what} (${protocol})`, () => {
      assert.throws(() => checkStream(protocol, broken(protocol, change)), message);
    });
  }

  it('reject a Responses event out of sequence', () => {
    const events = broken('openai-responses', () => undefined);
    (events[4]?.data as { sequence_number: number }).sequence_number = 9;
    assert.throws(() => checkStream('openai-responses', events), /event 4: sequence_number/);
  });
});

describe('converted streams as the client receives them', () => {
  const anthropicClient = findConverter('anthropic-messages', 'openai-chat') as Converter;
  const upstream = [
    { data: JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { role: 'assistant', content: 'Hi' }, finish_reason: null }] }) },
    { data: JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }) },
    { data: '[DONE]' },
  ];
  const ctx = { model: 'm', stream: true };

  it('pass a correct conversion, decoded from the bytes the production encoder wrote', () => {
    assert.deepEqual(checkConvertedStream(anthropicClient, ctx, upstream).reply, { text: 'Hi', calls: [], stop: 'stop' });
  });

  it('end a cut upstream stream with the client protocol error frame, as the relay does', () => {
    const events = clientStream(anthropicClient, ctx, upstream.slice(0, 1));
    assert.equal(events.at(-1)?.event, 'error');
    assert.equal(checkStream('anthropic-messages', events).ending, 'error');
  });

  it('fail a converter that loses text the provider sent, though its stream is well-formed', () => {
    const lossy: Converter = {
      ...anthropicClient,
      stream: (c) => {
        const inner = anthropicClient.stream!(c);
        const keep = (events: ClientEvent[]) => events.filter((e) => e.event !== 'content_block_delta');
        return { push: (e) => keep(inner.push(e)), end: () => keep(inner.end()) };
      },
    };
    assert.equal(checkStream('anthropic-messages', clientStream(lossy, ctx, upstream)).ending, 'complete');
    assert.throws(() => checkConvertedStream(lossy, ctx, upstream), /text/);
  });

  it('fail a converter that forgets to end its stream', () => {
    const forgetful: Converter = { ...anthropicClient, stream: (c) => ({ push: anthropicClient.stream!(c).push, end: () => [] }) };
    // Without [DONE] the relay still counts a finish_reason as the end, so only end() can close the stream.
    checkConvertedStream(anthropicClient, ctx, upstream.slice(0, 2));
    assert.throws(() => checkConvertedStream(forgetful, ctx, upstream.slice(0, 2)), /ends with message_stop or an error/);
  });
});
