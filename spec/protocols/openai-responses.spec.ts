import assert from 'node:assert/strict';
import { openaiResponses, responsesUsage } from '../../lib/protocols/openai-responses.ts';
import { createSseDecoder } from '../../lib/transport/sse-decoder.ts';
import type { SseEvent } from '../../lib/transport/sse-decoder.ts';

// As OpenAI streams them, `event:` equals the payload's `type` (docs/protocols.md#openai-responses-stream).
const ev = (type: string, fields: object = {}): SseEvent => ({ event: type, data: JSON.stringify({ type, sequence_number: 0, ...fields }) });
const wireUsage = {
  input_tokens: 36,
  input_tokens_details: { cached_tokens: 12 },
  output_tokens: 87,
  output_tokens_details: { reasoning_tokens: 40 },
  total_tokens: 123,
};
const ourUsage = { prompt_tokens: 36, completion_tokens: 87, total_tokens: 123, cached_tokens: 12, reasoning_tokens: 40 };
const response = (status: string, extra: object = {}) => ({ id: 'resp_1', object: 'response', status, model: 'gpt-4o-mini-2024-07-18', output: [], ...extra });
const item = { id: 'msg_1', type: 'message', status: 'in_progress', role: 'assistant', content: [] };
const ref = { item_id: 'msg_1', output_index: 0, content_index: 0 };

describe('openaiResponses protocol', () => {
  it('maps Responses usage onto prompt/completion naming, keeping cached and reasoning subsets', () => {
    assert.deepEqual(responsesUsage(wireUsage), ourUsage);
    assert.deepEqual(openaiResponses.usageFromJson(response('completed', { usage: wireUsage })), ourUsage);
    assert.deepEqual(responsesUsage({ input_tokens: 5, output_tokens: 2 }), { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 });
    assert.equal(openaiResponses.usageFromJson({ usage: null }), undefined);
  });

  it('reads the model, the stream flag and the concatenated output_text of a Response', () => {
    const body = response('completed', {
      output: [
        { type: 'reasoning', id: 'rs_1', summary: [] },
        { type: 'message', id: 'msg_1', role: 'assistant', content: [{ type: 'output_text', text: 'Hi ', annotations: [] }, { type: 'refusal', refusal: 'no' }] },
        { type: 'function_call', id: 'fc_1', call_id: 'call_1', name: 'f', arguments: '{}' },
        { type: 'message', id: 'msg_2', role: 'assistant', content: [{ type: 'output_text', text: 'there', annotations: [] }] },
      ],
    });
    assert.equal(openaiResponses.textFromJson(body), 'Hi there');
    assert.equal(openaiResponses.modelFromJson(body), 'gpt-4o-mini-2024-07-18');
    assert.equal(openaiResponses.requestModel({ model: 'gpt-4o', input: 'x' }), 'gpt-4o');
    assert.equal(openaiResponses.isStream({ input: 'x', stream: true }, '/v1/responses'), true);
    assert.equal(openaiResponses.isStream({ input: 'x' }, '/v1/responses'), false);
  });
});

describe('openaiResponses stream observer', () => {
  const table: Array<[SseEvent, string]> = [
    [ev('response.created', { response: response('in_progress') }), 'lifecycle'],
    [ev('response.in_progress', { response: response('in_progress') }), 'lifecycle'],
    [ev('response.queued', { response: response('queued') }), 'lifecycle'],
    [ev('response.output_item.added', { output_index: 0, item }), 'lifecycle'],
    [ev('response.content_part.added', { ...ref, part: { type: 'output_text', text: '', annotations: [] } }), 'lifecycle'],
    [ev('response.output_text.delta', { ...ref, delta: 'Hi', logprobs: [] }), 'content'],
    [ev('response.refusal.delta', { ...ref, delta: 'I cannot' }), 'content'],
    [ev('response.function_call_arguments.delta', { item_id: 'fc_1', output_index: 0, delta: '{"a"' }), 'content'],
    [ev('response.reasoning_summary_text.delta', { item_id: 'rs_1', output_index: 0, summary_index: 0, delta: 'thinking' }), 'content'],
    [ev('response.output_item.done', { output_index: 0, item }), 'content'],
    [ev('response.completed', { response: response('completed', { usage: wireUsage }) }), 'done'],
    [ev('response.incomplete', { response: response('incomplete', { incomplete_details: { reason: 'max_output_tokens' } }) }), 'done'],
    [ev('response.failed', { response: response('failed', { error: { code: 'server_error', message: 'boom' } }) }), 'error'],
    [ev('error', { code: 'rate_limit_exceeded', message: 'slow down', param: null }), 'error'],
    [{ data: '[DONE]' }, 'done'],
    [{ data: 'not json' }, 'lifecycle'],
  ];
  for (const [event, expected] of table) {
    it(`classifies ${event.event ?? event.data} as ${expected}`, () => {
      assert.equal(openaiResponses.createStreamObserver(false).classify(event), expected);
    });
  }

  it('classifies by the payload type when the event line is missing', () => {
    const observer = openaiResponses.createStreamObserver(false);
    const { event: _name, ...unnamed } = ev('response.output_text.delta', { ...ref, delta: 'x' });
    assert.equal(observer.classify(unnamed), 'content');
  });

  it('follows a whole stream: model from response.created, usage from response.completed, then finished', () => {
    const observer = openaiResponses.createStreamObserver(true);
    const classes = [
      ev('response.created', { response: response('in_progress', { usage: null }) }),
      ev('response.output_item.added', { output_index: 0, item }),
      ev('response.output_text.delta', { ...ref, delta: 'Hel' }),
      ev('response.output_text.delta', { ...ref, delta: 'lo' }),
      ev('response.output_text.done', { ...ref, text: 'Hello' }),
    ].map((e) => observer.classify(e));
    assert.deepEqual(classes, ['lifecycle', 'lifecycle', 'content', 'content', 'content']);
    assert.equal(observer.finished(), false);
    assert.equal(observer.model(), 'gpt-4o-mini-2024-07-18');
    assert.equal(observer.usage(), undefined);
    assert.equal(observer.classify(ev('response.completed', { response: response('completed', { usage: wireUsage }) })), 'done');
    assert.equal(observer.finished(), true);
    assert.deepEqual(observer.usage(), ourUsage);
    assert.equal(observer.text(), 'Hello');
  });

  it('does not capture text unless asked, even though it still counts deltas as content', () => {
    const observer = openaiResponses.createStreamObserver(false);
    observer.classify(ev('response.output_text.delta', { ...ref, delta: 'a' }));
    assert.equal(observer.classify(ev('response.output_text.delta', { ...ref, delta: 'b' })), 'content');
    assert.equal(observer.text(), '');
  });

  it('keeps the message of an error event and of response.failed', () => {
    const a = openaiResponses.createStreamObserver(false);
    a.classify(ev('error', { code: 'server_error', message: 'The server had an error', param: null }));
    assert.equal(a.errorMessage(), 'The server had an error');
    const b = openaiResponses.createStreamObserver(false);
    b.classify(ev('response.failed', { response: response('failed', { error: { code: 'server_error', message: 'model crashed' } }) }));
    assert.equal(b.errorMessage(), 'model crashed');
    assert.equal(b.finished(), true);
  });

  it('ends a committed stream with an error event then response.failed, which a decoder reads back', () => {
    const frame = openaiResponses.streamErrorFrame('upstream stream failed: ECONNRESET');
    assert.equal(typeof frame, 'string');
    const events = createSseDecoder().push(Buffer.from(frame as string));
    assert.deepEqual(events.map((e) => e.event), ['error', 'response.failed']);
    const [error, failed] = events.map((e) => JSON.parse(e.data) as Record<string, unknown>);
    assert.equal(error?.['type'], 'error');
    assert.equal(error?.['message'], 'upstream stream failed: ECONNRESET');
    assert.deepEqual((failed?.['response'] as Record<string, unknown>)['error'], { code: 'server_error', message: 'upstream stream failed: ECONNRESET' });
    // The observer of a client reading this frame sees an error and a terminal event.
    const observer = openaiResponses.createStreamObserver(false);
    assert.deepEqual(events.map((e) => observer.classify(e)), ['error', 'error']);
    assert.equal(observer.finished(), true);
  });

  it('encodes a converted event with an event line equal to its type', () => {
    const data = { type: 'response.output_text.delta', sequence_number: 4, delta: 'Hi' };
    assert.equal(openaiResponses.encodeEvent({ event: 'response.output_text.delta', data }), `event: response.output_text.delta\ndata: ${JSON.stringify(data)}\n\n`);
    assert.equal(openaiResponses.encodeEvent({ data }), `event: response.output_text.delta\ndata: ${JSON.stringify(data)}\n\n`);
  });
});
