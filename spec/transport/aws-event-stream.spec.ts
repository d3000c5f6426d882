import assert from 'node:assert/strict';
import type { UpstreamEvent } from '../../lib/protocols/converters/converter.ts';
import {
  createEventStreamDecoder,
  encodeEventStreamException,
  encodeEventStreamMessage,
  EventStreamDecodeError,
} from '../../lib/transport/aws-event-stream.ts';

// Frames from docs/protocols.md#event-stream-test-vectors (Smithy codec, rebuilt by hand with zlib.crc32).
const DELTA_HEX =
  '0000009400000057b4ab9aee0b3a6576656e742d74797065070011636f6e74656e74426c6f636b44656c74610d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e0d3a6d6573736167652d747970650700056576656e747b22636f6e74656e74426c6f636b496e646578223a302c2264656c7461223a7b2274657874223a224869227d7d1f944657';
const THROTTLE_HEX =
  '000000b2000000613590d5d30f3a657863657074696f6e2d747970650700137468726f74746c696e67457863657074696f6e0d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e0d3a6d6573736167652d74797065070009657863657074696f6e7b226d657373616765223a22546f6f206d616e792072657175657374732c20706c656173652077616974206265666f726520747279696e6720616761696e2e227de8ffb26a';
const ALL_HEADER_TYPES_HEX =
  '0000005d0000004dadcce93e017400016601016202ff017303010201690401020304016c0500000000000000010179060002dead017a0700026f6b0164080000018bcfe568000175090123456789abcdef0123456789abcdef0ec2d650';

const hex = (s: string): Uint8Array => Buffer.from(s, 'hex');

function decodeAll(chunks: readonly Uint8Array[], maxMessageBytes?: number): UpstreamEvent[] {
  const decoder = createEventStreamDecoder(maxMessageBytes === undefined ? {} : { maxMessageBytes });
  const out: UpstreamEvent[] = [];
  for (const c of chunks) out.push(...decoder.push(c));
  out.push(...decoder.end());
  return out;
}

function splitAt(bytes: Uint8Array, ...cuts: number[]): Uint8Array[] {
  const parts: Uint8Array[] = [];
  let start = 0;
  for (const cut of cuts) {
    parts.push(bytes.subarray(start, cut));
    start = cut;
  }
  parts.push(bytes.subarray(start));
  return parts;
}

// A whole ConverseStream answer: text, a tool call with streamed input, stop, usage, in one body.
const conversation: Array<[string, unknown]> = [
  ['messageStart', { role: 'assistant' }],
  ['contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'Café 😀 ' }, p: 'abcdefgh' }],
  ['contentBlockStop', { contentBlockIndex: 0 }],
  ['contentBlockStart', { contentBlockIndex: 1, start: { toolUse: { toolUseId: 'tooluse_abc', name: 'get_weather' } } }],
  ['contentBlockDelta', { contentBlockIndex: 1, delta: { toolUse: { input: '{"city":' } } }],
  ['contentBlockDelta', { contentBlockIndex: 1, delta: { toolUse: { input: '"Paris"}' } } }],
  ['contentBlockStop', { contentBlockIndex: 1 }],
  ['messageStop', { stopReason: 'tool_use' }],
  ['metadata', { usage: { inputTokens: 10, outputTokens: 5, totalTokens: 15 }, metrics: { latencyMs: 321 } }],
];
const conversationBytes = Buffer.concat(conversation.map(([type, payload]) => encodeEventStreamMessage(type, payload)));
const conversationEvents: UpstreamEvent[] = conversation.map(([event, payload]) => ({ event, data: JSON.stringify(payload) }));

describe('aws event-stream', () => {
  describe('encoding', () => {
    it('encodes the worked contentBlockDelta example of docs/protocols.md#event-stream-test-vectors byte for byte', () => {
      const frame = encodeEventStreamMessage('contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'Hi' } });
      assert.equal(Buffer.from(frame).toString('hex'), DELTA_HEX);
    });

    it('encodes the worked throttlingException frame byte for byte', () => {
      const frame = encodeEventStreamException('throttlingException', 'Too many requests, please wait before trying again.');
      assert.equal(Buffer.from(frame).toString('hex'), THROTTLE_HEX);
    });

    it('sends a string payload as the JSON text it already is', () => {
      const frame = encodeEventStreamMessage('contentBlockDelta', '{"contentBlockIndex":0,"delta":{"text":"Hi"}}');
      assert.equal(Buffer.from(frame).toString('hex'), DELTA_HEX);
    });
  });

  describe('decoding', () => {
    it('turns the worked example into a contentBlockDelta event with its JSON payload', () => {
      assert.deepEqual(decodeAll([hex(DELTA_HEX)]), [
        { event: 'contentBlockDelta', data: '{"contentBlockIndex":0,"delta":{"text":"Hi"}}' },
      ]);
    });

    it('names an exception frame exception:<type>', () => {
      assert.deepEqual(decodeAll([hex(THROTTLE_HEX)]), [
        { event: 'exception:throttlingException', data: '{"message":"Too many requests, please wait before trying again."}' },
      ]);
    });

    it('gives an error frame its code as the name and its header text as the message', async () => {
      const { EventStreamCodec } = await import('@smithy/core/event-streams');
      const { fromUtf8, toUtf8 } = await import('@smithy/core/serde');
      const frame = new EventStreamCodec(toUtf8, fromUtf8).encode({
        headers: {
          ':message-type': { type: 'string', value: 'error' },
          ':error-code': { type: 'string', value: 'InternalFailure' },
          ':error-message': { type: 'string', value: 'boom' },
        },
        body: new Uint8Array(0),
      });
      assert.deepEqual(decodeAll([frame]), [{ event: 'error:InternalFailure', data: '{"message":"boom"}' }]);
    });

    it('parses every header type and skips a frame that is neither event, exception nor error', () => {
      // The vector has all ten header types and no :message-type: a parser that misjudged one width
      // would fail its CRC or desynchronise on the delta frame that follows.
      const bytes = Buffer.concat([hex(ALL_HEADER_TYPES_HEX), hex(DELTA_HEX)]);
      assert.deepEqual(decodeAll([bytes]).map((e) => e.event), ['contentBlockDelta']);
    });

    it('decodes a whole ConverseStream body the same whether it arrives at once or split at any byte', () => {
      assert.deepEqual(decodeAll([conversationBytes]), conversationEvents);
      for (let cut = 1; cut < conversationBytes.length; cut++) {
        assert.deepEqual(decodeAll(splitAt(conversationBytes, cut)), conversationEvents, `split at byte ${cut}`);
      }
      const oneByOne = Array.from({ length: conversationBytes.length }, (_, i) => conversationBytes.subarray(i, i + 1));
      assert.deepEqual(decodeAll(oneByOne), conversationEvents);
    });

    it('returns each event as soon as its last byte arrives', () => {
      const decoder = createEventStreamDecoder();
      const frame = hex(DELTA_HEX);
      assert.deepEqual(decoder.push(frame.subarray(0, frame.length - 1)), []);
      assert.equal(decoder.push(frame.subarray(frame.length - 1)).length, 1);
    });
  });

  describe('failures', () => {
    function codeOf(fn: () => unknown): string {
      try {
        fn();
      } catch (err) {
        assert.ok(err instanceof EventStreamDecodeError);
        return err.code;
      }
      assert.fail('expected an EventStreamDecodeError');
    }

    it('rejects a frame whose payload was corrupted with EVENT_STREAM_CRC_MISMATCH', () => {
      const frame = Buffer.from(hex(DELTA_HEX));
      frame[120] = (frame[120] ?? 0) ^ 0x01;
      assert.equal(codeOf(() => decodeAll([frame])), 'EVENT_STREAM_CRC_MISMATCH');
    });

    it('rejects a frame whose prelude CRC is wrong with EVENT_STREAM_CRC_MISMATCH', () => {
      const frame = Buffer.from(hex(DELTA_HEX));
      frame[9] = (frame[9] ?? 0) ^ 0xff;
      assert.equal(codeOf(() => decodeAll([frame])), 'EVENT_STREAM_CRC_MISMATCH');
    });

    it('reports a body that ends inside a frame as EVENT_STREAM_TRUNCATED', () => {
      const frame = hex(DELTA_HEX);
      assert.equal(codeOf(() => decodeAll([frame, frame.subarray(0, 50)])), 'EVENT_STREAM_TRUNCATED');
    });

    it('refuses a frame announcing more than maxMessageBytes before buffering it', () => {
      const decoder = createEventStreamDecoder({ maxMessageBytes: 100 });
      assert.equal(codeOf(() => decoder.push(hex(DELTA_HEX).subarray(0, 4))), 'EVENT_STREAM_MESSAGE_TOO_LARGE');
    });

    it('refuses a length below the 16-byte minimum as EVENT_STREAM_MALFORMED', () => {
      assert.equal(codeOf(() => decodeAll([hex('0000000800000000')])), 'EVENT_STREAM_MALFORMED');
    });
  });
});
