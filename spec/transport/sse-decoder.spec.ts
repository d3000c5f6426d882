import assert from 'node:assert/strict';
import {
  createLineDecoder,
  createSseDecoder,
  SseBufferOverflowError,
  type SseDecoderOptions,
  type SseEvent,
} from '../../lib/transport/sse-decoder.ts';

const utf8 = new TextEncoder();

function decodeChunks(chunks: readonly Uint8Array[], opts?: SseDecoderOptions): SseEvent[] {
  const decoder = createSseDecoder(opts);
  const events: SseEvent[] = [];
  for (const chunk of chunks) events.push(...decoder.push(chunk));
  events.push(...decoder.end());
  return events;
}

function bytesOneByOne(bytes: Uint8Array): Uint8Array[] {
  return Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1));
}

// Shapes from the providers' documented streams; the text carries 2-, 3- and 4-byte UTF-8 characters
// so that splitting at every byte also splits characters.
const openaiPayloads = [
  '{"id":"chatcmpl-9","object":"chat.completion.chunk","created":1718000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}',
  '{"id":"chatcmpl-9","object":"chat.completion.chunk","created":1718000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Café "},"finish_reason":null}]}',
  '{"id":"chatcmpl-9","object":"chat.completion.chunk","created":1718000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"😀 日本"},"finish_reason":null}]}',
  '{"id":"chatcmpl-9","object":"chat.completion.chunk","created":1718000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}',
  '{"id":"chatcmpl-9","object":"chat.completion.chunk","created":1718000000,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4,"total_tokens":13}}',
  '[DONE]',
];
const openaiStream = openaiPayloads.map((p) => `data: ${p}\n\n`).join('');
const openaiEvents: SseEvent[] = openaiPayloads.map((data) => ({ data }));

const anthropicStream = [
  'event: message_start',
  'data: {"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5","stop_reason":null,"usage":{"input_tokens":25,"output_tokens":1}}}',
  '',
  'event: content_block_start',
  'data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}',
  '',
  ': ping',
  '',
  'event: ping',
  'data: {"type": "ping"}',
  '',
  'event: content_block_delta',
  'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Héllo 😀"}}',
  '',
  'event: content_block_stop',
  'data: {"type":"content_block_stop","index":0}',
  '',
  'event: message_delta',
  'data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}',
  '',
  'event: message_stop',
  'data: {"type":"message_stop"}',
  '',
  '',
].join('\n');
const anthropicEvents: SseEvent[] = [
  {
    event: 'message_start',
    data: '{"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5","stop_reason":null,"usage":{"input_tokens":25,"output_tokens":1}}}',
  },
  {
    event: 'content_block_start',
    data: '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}',
  },
  { event: 'ping', data: '{"type": "ping"}' },
  {
    event: 'content_block_delta',
    data: '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Héllo 😀"}}',
  },
  { event: 'content_block_stop', data: '{"type":"content_block_stop","index":0}' },
  {
    event: 'message_delta',
    data: '{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}',
  },
  { event: 'message_stop', data: '{"type":"message_stop"}' },
];

const fixtures = [
  { name: 'an OpenAI chat stream', text: openaiStream, events: openaiEvents },
  { name: 'an Anthropic stream with event lines and a comment', text: anthropicStream, events: anthropicEvents },
];
const lineEndings = [
  { name: 'LF', eol: '\n' },
  { name: 'CRLF', eol: '\r\n' },
  { name: 'CR', eol: '\r' },
];

describe('createSseDecoder', () => {
  for (const fixture of fixtures) {
    for (const { name: eolName, eol } of lineEndings) {
      describe(`on ${fixture.name} with ${eolName} line endings`, () => {
        const bytes = utf8.encode(fixture.text.replaceAll('\n', eol));

        it('decodes the whole stream pushed at once', () => {
          assert.deepEqual(decodeChunks([bytes]), fixture.events);
        });

        it('decodes the same events when the stream is split at every byte boundary', () => {
          for (let i = 0; i <= bytes.length; i++) {
            const events = decodeChunks([bytes.subarray(0, i), bytes.subarray(i)]);
            assert.deepEqual(events, fixture.events, `split at byte ${i}`);
          }
        });

        it('decodes the same events when pushed one byte at a time', () => {
          assert.deepEqual(decodeChunks(bytesOneByOne(bytes)), fixture.events);
        });
      });
    }
  }

  it('dispatches each event from the push that completes it, not later', () => {
    const decoder = createSseDecoder();
    assert.deepEqual(decoder.push(utf8.encode('data: one\n\ndata: tw')), [{ data: 'one' }]);
    assert.deepEqual(decoder.push(utf8.encode('o\n')), []);
    assert.deepEqual(decoder.push(utf8.encode('\n')), [{ data: 'two' }]);
  });

  it('reassembles a 2-byte and a 4-byte character split inside their UTF-8 bytes', () => {
    const bytes = utf8.encode('data: é😀\n\n');
    const start = 'data: '.length;
    // Cut inside "é" (2 bytes) and at each of the three interior points of "😀" (4 bytes).
    for (const cut of [start + 1, start + 3, start + 4, start + 5]) {
      assert.deepEqual(decodeChunks([bytes.subarray(0, cut), bytes.subarray(cut)]), [{ data: 'é😀' }], `cut ${cut}`);
    }
  });

  it('ignores comment lines, including a keep-alive comment between events', () => {
    const events = decodeChunks([utf8.encode(': hello\ndata: a\n: inside\n\n: ping\n\ndata: b\n\n')]);
    assert.deepEqual(events, [{ data: 'a' }, { data: 'b' }]);
  });

  it('strips exactly one space after the colon', () => {
    const events = decodeChunks([utf8.encode('data:none\n\ndata: one\n\ndata:  two\n\n')]);
    assert.deepEqual(events, [{ data: 'none' }, { data: 'one' }, { data: ' two' }]);
  });

  it('joins several data lines of one event with newlines', () => {
    const events = decodeChunks([utf8.encode('event: multi\ndata: first\ndata:\ndata: third\n\n')]);
    assert.deepEqual(events, [{ event: 'multi', data: 'first\n\nthird' }]);
  });

  it('does not dispatch blank lines, comments, retry or id alone as events', () => {
    const events = decodeChunks([utf8.encode('\n\n: keep-alive\n\nretry: 3000\n\nid: 7\n\n\n')]);
    assert.deepEqual(events, []);
  });

  it('dispatches a named event that has no data, with empty data', () => {
    assert.deepEqual(decodeChunks([utf8.encode('event: heartbeat\n\n')]), [{ event: 'heartbeat', data: '' }]);
  });

  it('dispatches a bare "data" field as an empty data line', () => {
    assert.deepEqual(decodeChunks([utf8.encode('data\n\n')]), [{ data: '' }]);
  });

  it('carries the id on its own event only and ignores unknown fields', () => {
    const events = decodeChunks([utf8.encode('id: 42\nfoo: bar\ndata: x\n\ndata: y\n\n')]);
    assert.deepEqual(events, [{ data: 'x', id: '42' }, { data: 'y' }]);
  });

  it('flushes on end() an event whose stream ended without a blank line', () => {
    const decoder = createSseDecoder();
    assert.deepEqual(decoder.push(utf8.encode('data: done\n\nevent: last\ndata: partial')), [{ data: 'done' }]);
    assert.deepEqual(decoder.end(), [{ event: 'last', data: 'partial' }]);
  });

  it('flushes on end() an event that ended after a single line break', () => {
    assert.deepEqual(decodeChunks([utf8.encode('data: [DONE]\n')]), [{ data: '[DONE]' }]);
  });

  it('returns nothing from end() when the stream ended cleanly', () => {
    const decoder = createSseDecoder();
    decoder.push(utf8.encode('data: a\n\n'));
    assert.deepEqual(decoder.end(), []);
  });

  describe('wholeEvents: a chunk whose decode would change nothing but dispatch whole events', () => {
    const frame = utf8.encode('data: {"a":1}\n\nevent: x\ndata: 2\n\n');

    it('is true at a boundary for a chunk ending with a blank line, and pushing it leaves the decoder at one', () => {
      const decoder = createSseDecoder();
      assert.equal(decoder.wholeEvents(frame), true);
      assert.equal(decoder.push(frame).length, 2);
      assert.equal(decoder.atBoundary(), true);
      assert.equal(decoder.wholeEvents(utf8.encode(': ping\n\n')), true);
    });

    it('is false when the bytes so far left a line, an event or a CR open', () => {
      for (const before of ['data: {"a"', 'data: 1\n', 'event: x\n', 'id: 3\n', 'data: 1\r']) {
        const decoder = createSseDecoder();
        decoder.push(utf8.encode(before));
        assert.equal(decoder.wholeEvents(frame), false, JSON.stringify(before));
      }
    });

    it('is false for a chunk that does not end with LF LF, or is longer than the buffer bound', () => {
      const decoder = createSseDecoder({ maxBufferBytes: 64 });
      for (const chunk of ['data: 1\n', 'data: 1', 'data: 1\r\n\r\n', '\n', '']) assert.equal(decoder.wholeEvents(utf8.encode(chunk)), false, JSON.stringify(chunk));
      const long = utf8.encode(`data: ${'q'.repeat(70)}\n\n`);
      assert.equal(decoder.wholeEvents(long), false);
      assert.throws(() => decoder.push(long), SseBufferOverflowError, 'the decode it must not skip throws');
    });

    it('is never true where a push would leave the decoder holding something, on every split of a stream', () => {
      const stream = utf8.encode(': c\n\ndata: 1\n\n\ndata: 2\r\n\r\nevent: e\ndata: 3\n\ndata: 4\n\n');
      for (let i = 1; i < stream.length; i++) {
        const decoder = createSseDecoder();
        for (const part of [stream.subarray(0, i), stream.subarray(i)]) {
          const whole = decoder.wholeEvents(part);
          decoder.push(part);
          if (whole) assert.equal(decoder.atBoundary(), true, `split at ${i}`);
        }
      }
    });
  });

  describe('buffer bound', () => {
    it('throws SSE_BUFFER_OVERFLOW when one line grows past maxBufferBytes', () => {
      const decoder = createSseDecoder({ maxBufferBytes: 64 });
      decoder.push(utf8.encode(`data: ${'x'.repeat(40)}`));
      assert.throws(
        () => decoder.push(utf8.encode('y'.repeat(40))),
        (err: unknown) => err instanceof SseBufferOverflowError && err.code === 'SSE_BUFFER_OVERFLOW',
      );
    });

    it('throws SSE_BUFFER_OVERFLOW when an event accumulates data lines past maxBufferBytes', () => {
      const decoder = createSseDecoder({ maxBufferBytes: 64 });
      const line = utf8.encode(`data: ${'z'.repeat(20)}\n`);
      assert.throws(() => {
        for (let i = 0; i < 5; i++) decoder.push(line);
      }, SseBufferOverflowError);
    });

    it('lets through any number of complete events whose total exceeds the bound', () => {
      const frame = utf8.encode(`data: ${'q'.repeat(40)}\n\n`);
      const events = decodeChunks(Array.from({ length: 100 }, () => frame), { maxBufferBytes: 64 });
      assert.equal(events.length, 100);
    });

    it('defaults to 8 MiB', () => {
      const decoder = createSseDecoder();
      const mib = new Uint8Array(1024 * 1024).fill(0x61);
      decoder.push(utf8.encode('data: '));
      for (let i = 0; i < 7; i++) decoder.push(mib);
      assert.throws(() => decoder.push(mib), SseBufferOverflowError);
    });
  });
});

describe('createLineDecoder', () => {
  it('treats a CRLF split across two chunks as one line break', () => {
    const lines = createLineDecoder();
    assert.deepEqual(lines.push(utf8.encode('first\r')), ['first']);
    assert.deepEqual(lines.push(utf8.encode('\nsecond\r\n')), ['second']);
    assert.deepEqual(lines.end(), []);
  });

  it('keeps an empty line between two CRs and between CR and a later CRLF', () => {
    const lines = createLineDecoder();
    assert.deepEqual(lines.push(utf8.encode('a\r\rb\r')), ['a', '', 'b']);
    assert.deepEqual(lines.push(utf8.encode('\r\n')), ['']);
  });

  it('counts the bytes of the unterminated line, multi-byte characters included', () => {
    const lines = createLineDecoder();
    lines.push(utf8.encode('done\npart é'));
    assert.equal(lines.pendingBytes, 'part é'.length + 1);
    assert.deepEqual(lines.end(), ['part é']);
    assert.equal(lines.pendingBytes, 0);
  });

  it('assembles a long line from many chunks in linear time', () => {
    const lines = createLineDecoder();
    const piece = utf8.encode('x'.repeat(1024));
    const started = performance.now();
    for (let i = 0; i < 4096; i++) lines.push(piece);
    const [line] = lines.push(utf8.encode('\n'));
    assert.equal(line?.length, 4 * 1024 * 1024);
    // Quadratic re-scanning of 4 MiB in 4096 pushes would take tens of seconds.
    assert.ok(performance.now() - started < 2000);
  });
});
