import assert from 'node:assert/strict';
import type { StreamEventClass, StreamObserver } from '../../lib/protocols/client-protocol.ts';
import { openaiChat } from '../../lib/protocols/openai-chat.ts';
import type { SseEvent } from '../../lib/transport/sse-decoder.ts';
import { checkPlainContent } from '../support/plain-content.ts';

// Chunks as OpenAI sends them (https://platform.openai.com/docs/api-reference/chat/streaming).
const head = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini-2024-07-18' };
const chunk = (delta: object, finish_reason: string | null = null) =>
  JSON.stringify({ ...head, choices: [{ index: 0, delta, logprobs: null, finish_reason }] });
const usage = {
  prompt_tokens: 19,
  completion_tokens: 10,
  total_tokens: 29,
  prompt_tokens_details: { cached_tokens: 6, audio_tokens: 0 },
  completion_tokens_details: { reasoning_tokens: 4, audio_tokens: 0 },
};
const usageChunk = JSON.stringify({ ...head, choices: [], usage });
const expectedUsage = { prompt_tokens: 19, completion_tokens: 10, total_tokens: 29, cached_tokens: 6, reasoning_tokens: 4 };

const ev = (data: string, event?: string): SseEvent => (event === undefined ? { data } : { event, data });

function classifyAll(observer: StreamObserver, events: SseEvent[]): StreamEventClass[] {
  return events.map((e) => observer.classify(e));
}

describe('openaiChat stream observer', () => {
  const single: Array<[string, SseEvent, StreamEventClass]> = [
    ['a role-only first chunk', ev(chunk({ role: 'assistant', content: '' })), 'lifecycle'],
    ['a chunk with text', ev(chunk({ content: 'Hello' })), 'content'],
    [
      'a chunk with tool_calls',
      ev(chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } }] })),
      'content',
    ],
    ['a chunk with a refusal', ev(chunk({ refusal: 'I cannot help with that.' })), 'content'],
    ['a chunk with reasoning_content (DeepSeek)', ev(chunk({ reasoning_content: 'Let me think' })), 'content'],
    ['a chunk with only a finish_reason', ev(chunk({}, 'stop')), 'content'],
    ['an in-band {"error":...} chunk', ev(JSON.stringify({ error: { message: 'The server had an error', type: 'server_error' } })), 'error'],
    ['an event named error', ev('{"message":"overloaded"}', 'error'), 'error'],
    ['a usage-only chunk', ev(usageChunk), 'usage'],
    ['the [DONE] marker', ev('[DONE]'), 'done'],
    ['a keep-alive that is not JSON', ev('ping'), 'lifecycle'],
  ];
  for (const [what, event, expected] of single) {
    it(`classifies ${what} as ${expected}`, () => {
      assert.equal(openaiChat.createStreamObserver(false).classify(event), expected);
    });
  }

  it('classifies a whole stream in order and reports it finished, with model and usage', () => {
    const observer = openaiChat.createStreamObserver(false);
    const classes = classifyAll(observer, [
      ev(chunk({ role: 'assistant', content: '' })),
      ev(chunk({ content: 'Hel' })),
      ev(chunk({ content: 'lo' })),
      ev(chunk({}, 'stop')),
      ev(usageChunk),
    ]);
    assert.deepEqual(classes, ['lifecycle', 'content', 'content', 'content', 'usage']);
    assert.equal(observer.classify(ev('[DONE]')), 'done');
    assert.equal(observer.finished(), true);
    assert.deepEqual(observer.usage(), expectedUsage);
    assert.equal(observer.model(), 'gpt-4o-mini-2024-07-18');
    assert.equal(observer.errorMessage(), undefined);
  });

  it('is not finished when the stream stops before finish_reason and [DONE]', () => {
    const observer = openaiChat.createStreamObserver(false);
    classifyAll(observer, [ev(chunk({ role: 'assistant', content: '' })), ev(chunk({ content: 'Hel' }))]);
    assert.equal(observer.finished(), false);
  });

  it('counts a finish_reason as the end even without [DONE]', () => {
    const observer = openaiChat.createStreamObserver(false);
    classifyAll(observer, [ev(chunk({ content: 'Hi' })), ev(chunk({}, 'length'))]);
    assert.equal(observer.finished(), true);
  });

  it('keeps the message of an in-band error, also one that arrives after content', () => {
    const observer = openaiChat.createStreamObserver(false);
    const classes = classifyAll(observer, [
      ev(chunk({ content: 'Hi' })),
      ev(JSON.stringify({ error: { message: 'Rate limit reached', type: 'rate_limit_error' } })),
    ]);
    assert.deepEqual(classes, ['content', 'error']);
    assert.equal(observer.errorMessage(), 'Rate limit reached');
  });

  it('counts usage from a last chunk that also carries finish_reason', () => {
    const observer = openaiChat.createStreamObserver(false);
    const last = JSON.stringify({ ...head, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage });
    assert.deepEqual(classifyAll(observer, [ev(chunk({ content: 'Hi' })), ev(last)]), ['content', 'content']);
    assert.deepEqual(observer.usage(), expectedUsage);
  });

  it('collects the generated text only when asked to capture payloads', () => {
    const events = [ev(chunk({ role: 'assistant', content: '' })), ev(chunk({ content: 'Hel' })), ev(chunk({ content: 'lo' }))];
    const capturing = openaiChat.createStreamObserver(true);
    classifyAll(capturing, events);
    assert.equal(capturing.text(), 'Hello');
    const plain = openaiChat.createStreamObserver(false);
    classifyAll(plain, events);
    assert.equal(plain.text(), '');
  });

  // After the commit point the observer only parses chunks that look like usage; Python's json.dumps
  // (used by some OpenAI-compatible servers) puts a space after the colon.
  it('recognises a usage-only chunk serialised with spaces after content has started', () => {
    const observer = openaiChat.createStreamObserver(false);
    const spaced = JSON.stringify({ ...head, choices: [], usage }).replaceAll('":', '": ').replaceAll(',"', ', "');
    assert.deepEqual(classifyAll(observer, [ev(chunk({ content: 'Hi' })), ev(spaced)]), ['content', 'usage']);
    assert.deepEqual(observer.usage(), expectedUsage);
  });

  it('classifies the error frame it writes itself as an in-band error', () => {
    const frame = String(openaiChat.streamErrorFrame('upstream stream failed: reset'));
    assert.ok(frame.startsWith('data: ') && frame.endsWith('\n\n'));
    const data = frame.slice('data: '.length, -2);
    assert.deepEqual(JSON.parse(data), {
      error: { message: 'upstream stream failed: reset', type: 'server_error', param: null, code: 'upstream_stream_error' },
    });
    const observer = openaiChat.createStreamObserver(false);
    assert.equal(observer.classify(ev(data)), 'error');
    assert.equal(observer.errorMessage(), 'upstream stream failed: reset');
  });
});

describe('openaiChat JSON responses', () => {
  const completion = {
    id: 'chatcmpl-2',
    object: 'chat.completion',
    created: 1,
    model: 'gpt-4o-2024-08-06',
    choices: [{ index: 0, message: { role: 'assistant', content: 'Paris.', refusal: null }, logprobs: null, finish_reason: 'stop' }],
    usage,
  };

  it('reads usage with cached and reasoning tokens, the model and the text', () => {
    assert.deepEqual(openaiChat.usageFromJson(completion), expectedUsage);
    assert.equal(openaiChat.modelFromJson(completion), 'gpt-4o-2024-08-06');
    assert.equal(openaiChat.textFromJson(completion), 'Paris.');
  });

  it('computes total_tokens when a provider leaves it out and omits absent details', () => {
    assert.deepEqual(openaiChat.usageFromJson({ usage: { prompt_tokens: 3, completion_tokens: 4 } }), {
      prompt_tokens: 3,
      completion_tokens: 4,
      total_tokens: 7,
    });
  });

  it('finds nothing in a body without usage, model or text', () => {
    const toolCall = { choices: [{ message: { role: 'assistant', content: null, tool_calls: [] } }] };
    assert.equal(openaiChat.usageFromJson(toolCall), undefined);
    assert.equal(openaiChat.modelFromJson(toolCall), undefined);
    assert.equal(openaiChat.textFromJson(toolCall), undefined);
    assert.equal(openaiChat.usageFromJson('not an object'), undefined);
  });

  it('tells a streaming request by stream true and reads the requested model', () => {
    assert.equal(openaiChat.isStream({ stream: true, messages: [] }, '/v1/chat/completions'), true);
    assert.equal(openaiChat.isStream({ stream: 'true', messages: [] }, '/v1/chat/completions'), false);
    assert.equal(openaiChat.requestModel({ model: 'gpt-4o', messages: [] }), 'gpt-4o');
    assert.equal(openaiChat.requestModel({ messages: [] }), undefined);
  });
});

describe('openaiChat stream observer: plainContent, the relay\'s test for chunks it need not decode', () => {
  const frame = (data: string): string => `data: ${data}\n\n`;
  const bytesOf = (...frames: string[]): Buffer => Buffer.from(frames.join(''));
  const committed = (capturePayload = false): StreamObserver => {
    const observer = openaiChat.createStreamObserver(capturePayload);
    assert.equal(observer.classify(ev(chunk({ content: 'Hi' }))), 'content');
    return observer;
  };

  it('is false before the commit point and when the text is kept for the payload log', () => {
    const plain = bytesOf(frame(chunk({ content: 'Hello' })));
    assert.equal(openaiChat.createStreamObserver(false).plainContent?.(plain), false);
    assert.equal(committed(true).plainContent?.(plain), false);
    assert.equal(committed().plainContent?.(plain), true);
  });

  it('is true for content chunks whose finish_reason is null, however the JSON is spaced', () => {
    const observer = committed();
    assert.equal(observer.plainContent?.(bytesOf(frame(chunk({ content: 'a' })), frame(chunk({ content: 'b' })))), true);
    assert.equal(observer.plainContent?.(bytesOf(frame(JSON.stringify(JSON.parse(chunk({ content: 'c' })), null, 1).replace(/\n/g, ' ')))), true);
    // Keys inside the text have their quotes escaped: they are text, not keys.
    assert.equal(observer.plainContent?.(bytesOf(frame(chunk({ content: 'the "usage", "error" and "finish_reason":"stop" keys, [DON E]' })))), true);
  });

  const notPlain: Array<[string, string]> = [
    ['a finish_reason', frame(chunk({}, 'stop'))],
    ['a spaced finish_reason', frame(chunk({}, 'length').replace('"finish_reason":', '"finish_reason" :  '))],
    ['usage', frame(usageChunk)],
    ['a null usage key', frame(chunk({ content: 'x' }).replace('"choices"', '"usage":null,"choices"'))],
    ['an error', frame(JSON.stringify({ error: { message: 'overloaded' } }))],
    ['the [DONE] marker', 'data: [DONE]\n\n'],
    ['a tool call', frame(chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'f', arguments: '' } }] }))],
    ['a finish_reason that is neither null nor a string', frame(chunk({}).replace('"finish_reason":null', '"finish_reason":1'))],
    ['the finish_reason key without its colon', frame(chunk({ content: 'x' }).replace('"finish_reason":null', '"finish_reason" ,"x":null'))],
  ];
  for (const [what, text] of notPlain) {
    it(`is false for a chunk holding ${what}, even after plain ones`, () => {
      assert.equal(committed().plainContent?.(bytesOf(frame(chunk({ content: 'a' })), text)), false);
    });
  }

  it('leaves the observer where classifying every event would, on a stream of every kind of chunk', () => {
    const frames = [
      frame(chunk({ content: 'one' })),
      frame(chunk({ content: 'two "usage"' })),
      frame(chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'f', arguments: '' } }] })),
      frame(chunk({ tool_calls: [{ index: 0, function: { arguments: '{"a":1}' } }] })),
      frame(chunk({ content: 'three' }).replace('"finish_reason":null', '"finish_reason" : null')),
      frame(chunk({}, 'tool_calls')),
      frame(usageChunk),
      'data: [DONE]\n\n',
    ];
    assert.ok(checkPlainContent(openaiChat, [frame(chunk({ content: 'Hi' }))], frames) >= 3);
  });
});
