import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deepFreeze } from '../../../lib/config/normalise.ts';
import { ProtocolNotSupportedError } from '../../../lib/errors.ts';
import { anthropicMessagesToBedrockConverse } from '../../../lib/protocols/converters/anthropic-messages-to-bedrock-converse.ts';
import { bedrockConverseToAnthropicMessages } from '../../../lib/protocols/converters/bedrock-converse-to-anthropic-messages.ts';
import { bedrockConverseToOpenaiChat } from '../../../lib/protocols/converters/bedrock-converse-to-openai-chat.ts';
import type { ClientEvent, ConversionContext, Converter, UpstreamEvent } from '../../../lib/protocols/converters/converter.ts';
import { openaiChatToBedrockConverse } from '../../../lib/protocols/converters/openai-chat-to-bedrock-converse.ts';
import type { JsonObject } from '../../../lib/protocols/types.ts';
import { clientProtocol } from '../../../lib/protocols/detect.ts';
import { isJsonObject } from '../../../lib/protocols/types.ts';
import { createEventStreamDecoder, encodeEventStreamException, encodeEventStreamMessage } from '../../../lib/transport/aws-event-stream.ts';
import { createSseDecoder } from '../../../lib/transport/sse-decoder.ts';
import { checkConvertedStream, decodeClientFrames, decodeStream } from '../../support/converted-stream.ts';
import { checkConvertedRequest, checkConvertedResponse, wire } from '../../support/protocol-invariants.ts';

// Table-driven over fixture files (spec/fixtures/converters/bedrock/<converter>/): requests.json and
// responses.json hold [{name, ctx, input, output | error}]; streams/ hold recorded upstream streams and
// the client stream each must become. ConverseStream recordings (converse-streams/*.json, one
// [event, payload] per line) are encoded to real event-stream bytes and decoded again, so every stream
// case also runs split at each byte boundary. UPDATE_FIXTURES=1 rewrites the expected outputs; the
// protocol invariants (spec/support/) still run on every case, so a regenerated file cannot hide a bug.

const ROOT = new URL('../../fixtures/converters/bedrock/', import.meta.url).pathname;
const CONVERSE_STREAMS = join(ROOT, 'converse-streams');
const UPDATE = process.env['UPDATE_FIXTURES'] === '1';

type Framing = 'aws-event-stream' | 'sse';
interface Row {
  converter: Converter;
  /** How the provider frames its stream, and how the client's stream is written down in fixtures. */
  upstream: Framing;
  client: Framing;
}

const table: Row[] = [
  { converter: openaiChatToBedrockConverse, upstream: 'aws-event-stream', client: 'sse' },
  { converter: anthropicMessagesToBedrockConverse, upstream: 'aws-event-stream', client: 'sse' },
  { converter: bedrockConverseToOpenaiChat, upstream: 'sse', client: 'aws-event-stream' },
  { converter: bedrockConverseToAnthropicMessages, upstream: 'sse', client: 'aws-event-stream' },
];

interface Case {
  name: string;
  ctx: ConversionContext;
  input: JsonObject;
  output?: JsonObject;
  error?: string;
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
  if (out['type'] === 'message' && typeof out['id'] === 'string') out['id'] = 'msg_ID';
  return out;
}

function upstreamBytes(row: Row, file: string): Buffer {
  if (row.upstream === 'sse') return readFileSync(file);
  const events = readJson(file) as Array<[string, unknown]>;
  return Buffer.concat(
    events.map(([type, payload]) =>
      type.startsWith('exception:')
        ? encodeEventStreamException(type.slice('exception:'.length), String((payload as JsonObject)['message']))
        : encodeEventStreamMessage(type, payload),
    ),
  );
}

/** Bytes → the provider's decoder → the converter → client events, as the gateway's relay runs them. */
function convertStream(row: Row, chunks: readonly Uint8Array[], ctx: ConversionContext): ClientEvent[] {
  const stream = row.converter.stream?.(ctx);
  assert.ok(stream, `${row.converter.from} → ${row.converter.to} has no stream converter`);
  const decoder = row.upstream === 'sse' ? createSseDecoder() : createEventStreamDecoder();
  const out: ClientEvent[] = [];
  const feed = (events: ReadonlyArray<{ event?: string; data: string }>): void => {
    for (const e of events) {
      const upstream: UpstreamEvent = deepFreeze(e.event === undefined ? { data: e.data } : { event: e.event, data: e.data });
      out.push(...stream.push(upstream));
    }
  };
  for (const chunk of chunks) feed(decoder.push(chunk));
  feed(decoder.end());
  out.push(...stream.end());
  return out;
}

/**
 * Client events as the client receives them, written by the client protocol's own encoder: SSE text,
 * or for Bedrock clients the event-stream frames decoded back into readable [event, payload] pairs.
 */
function render(row: Row, events: readonly ClientEvent[]): string {
  const client = clientProtocol(row.converter.from);
  const frames = events.map((e) => client.encodeEvent({ ...e, data: normalise(e.data) }));
  if (row.client === 'aws-event-stream') {
    const decoded = decodeClientFrames(row.converter.from, frames);
    return `[\n${decoded.map((e) => `  ${JSON.stringify([e.event, e.data])}`).join(',\n')}\n]\n`;
  }
  return frames.map((f) => (typeof f === 'string' ? f : Buffer.from(f).toString('utf8'))).join('');
}

function cases(path: string): Case[] {
  return readJson(path) as Case[];
}

for (const row of table) {
  const name = `${row.converter.from}-to-${row.converter.to}`;
  const dir = join(ROOT, name);

  describe(`${row.converter.from} → ${row.converter.to} converter (fixtures ${name}/)`, () => {
    describe('request', () => {
      const path = join(dir, 'requests.json');
      const all = cases(path);
      for (const c of all) {
        it(c.name, () => {
          const input = deepFreeze(structuredClone(c.input));
          if (c.error) {
            assert.throws(() => row.converter.request(input, c.ctx), (err: unknown) => err instanceof ProtocolNotSupportedError && err.code === c.error);
            return;
          }
          const output = row.converter.request(input, c.ctx);
          checkConvertedRequest(row.converter, input, output);
          if (UPDATE) c.output = output;
          else assert.deepEqual(output, c.output);
          // The converter returns a fresh body: the lead's body builder may patch it freely.
          assert.ok(!Object.isFrozen(output));
        });
      }
      after(() => UPDATE && writeJson(path, all));
    });

    describe('response', () => {
      const path = join(dir, 'responses.json');
      const all = cases(path);
      for (const c of all) {
        it(c.name, () => {
          const input = deepFreeze(structuredClone(c.input));
          const raw = row.converter.response(input, c.ctx);
          checkConvertedResponse(row.converter, input, raw);
          const output = normalise(raw);
          if (UPDATE) c.output = output as JsonObject;
          else assert.deepEqual(output, c.output);
        });
      }
      after(() => UPDATE && writeJson(path, all));
    });

    describe('stream', () => {
      const ctx: ConversionContext = { model: row.client === 'sse' ? 'anthropic.claude-3-5-sonnet-20240620-v1:0' : 'upstream-model', stream: true };
      const streams = row.upstream === 'sse' ? join(dir, 'streams') : CONVERSE_STREAMS;
      const suffix = row.upstream === 'sse' ? '.upstream.sse.txt' : '.json';
      const expectedSuffix = row.client === 'sse' ? '.expected.sse.txt' : '.expected.json';
      for (const file of readdirSync(streams).filter((f) => f.endsWith(suffix)).sort()) {
        const label = file.slice(0, -suffix.length);
        const expectedPath = join(dir, 'streams', `${label}${expectedSuffix}`);
        const bytes = upstreamBytes(row, join(streams, file));

        it(`turns the recorded ${label} stream into the expected client stream`, () => {
          checkConvertedStream(row.converter, ctx, decodeStream(wire(row.converter.to), bytes));
          const actual = render(row, convertStream(row, [bytes], ctx));
          if (UPDATE) writeFileSync(expectedPath, actual);
          assert.ok(existsSync(expectedPath), `missing ${expectedPath}`);
          assert.equal(actual, readFileSync(expectedPath, 'utf8'));
        });

        it(`gives the same ${label} output with the upstream bytes split at every boundary`, () => {
          const whole = render(row, convertStream(row, [bytes], ctx));
          for (let cut = 1; cut < bytes.length; cut++) {
            const split = render(row, convertStream(row, [bytes.subarray(0, cut), bytes.subarray(cut)], ctx));
            assert.equal(split, whole, `split at byte ${cut}`);
          }
          const oneByOne = Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1));
          assert.equal(render(row, convertStream(row, oneByOne, ctx)), whole);
        });
      }
    });
  });
}
