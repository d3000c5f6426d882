import assert from 'node:assert/strict';
import { createSseDecoder, type SseEvent } from '../../lib/transport/sse-decoder.ts';
import { encodeSseData, encodeSseEvent, SSE_DONE } from '../../lib/transport/sse-encoder.ts';

function decode(text: string): SseEvent[] {
  const decoder = createSseDecoder();
  return [...decoder.push(new TextEncoder().encode(text)), ...decoder.end()];
}

describe('encodeSseEvent', () => {
  it('writes a data-only event as one data line and a blank line', () => {
    assert.equal(encodeSseEvent({ data: '{"a":1}' }), 'data: {"a":1}\n\n');
  });

  it('writes the event name and id before the data', () => {
    assert.equal(
      encodeSseEvent({ event: 'message_stop', data: '{}', id: '9' }),
      'event: message_stop\nid: 9\ndata: {}\n\n',
    );
  });

  it('writes one data line per line of multi-line data, whatever the line break', () => {
    assert.equal(encodeSseEvent({ data: 'a\nb\r\nc\rd' }), 'data: a\ndata: b\ndata: c\ndata: d\n\n');
  });

  it('refuses an event name or id containing a line break, which would inject fields', () => {
    assert.throws(() => encodeSseEvent({ event: 'x\ndata: injected', data: '' }), TypeError);
    assert.throws(() => encodeSseEvent({ id: '1\r2', data: '' }), TypeError);
  });

  it('round-trips through the decoder', () => {
    const events: SseEvent[] = [
      { data: '{"choices":[{"delta":{"content":"Café 😀"}}]}' },
      { event: 'content_block_delta', data: '{"type":"content_block_delta"}' },
      { data: 'line one\nline two\n' },
      { data: '' },
      { data: '  leading spaces' },
      { data: ': not a comment' },
      { event: 'named', data: 'with id', id: 'evt-3' },
    ];
    assert.deepEqual(decode(events.map(encodeSseEvent).join('')), events);
  });
});

describe('encodeSseData', () => {
  it('writes the value as JSON in one data frame that decodes back to the same value', () => {
    const chunk = { choices: [{ delta: { content: 'two\nlines' } }] };
    const frame = encodeSseData(chunk);
    assert.equal(frame, 'data: {"choices":[{"delta":{"content":"two\\nlines"}}]}\n\n');
    const [event] = decode(frame);
    assert.deepEqual(JSON.parse(event?.data ?? 'null'), chunk);
  });

  it('refuses a value JSON cannot represent instead of sending "undefined"', () => {
    assert.throws(() => encodeSseData(undefined), TypeError);
  });
});

describe('SSE_DONE', () => {
  it("is OpenAI's [DONE] sentinel frame", () => {
    assert.equal(SSE_DONE, 'data: [DONE]\n\n');
    assert.deepEqual(decode(SSE_DONE), [{ data: '[DONE]' }]);
  });
});
